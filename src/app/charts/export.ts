/**
 * Saving a chart's picture as PNG (its data goes out through ../download.ts). The PNG is the chart's own
 * SVG drawn onto a canvas, with the title, legend and protocol caption written under it so
 * that a saved image still says what it shows.
 */

/** A file-name-safe stem: "Perplexity vs sparsity" → "perplexity-vs-sparsity". */
export function fileStem(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'chart';
}

const STYLE_PROPS = ['fill', 'stroke', 'stroke-width', 'stroke-dasharray', 'opacity', 'fill-opacity', 'stroke-opacity', 'font-size', 'font-family', 'font-weight', 'text-anchor', 'dominant-baseline'];

/**
 * Copies the computed paint of every element onto the clone: the page styles the chart
 * with CSS variables and currentColor, which a standalone SVG image would not resolve.
 * Presentation attributes, not a style attribute: the page's Content-Security-Policy
 * (style-src 'self') refuses inline style attributes.
 */
function inlineStyles(source: Element, target: Element): void {
  const cs = getComputedStyle(source);
  for (const p of STYLE_PROPS) {
    const v = cs.getPropertyValue(p);
    if (v) target.setAttribute(p, v);
  }
  target.removeAttribute('style');
  const a = source.children;
  const b = target.children;
  for (let i = 0; i < a.length && i < b.length; i++) inlineStyles(a[i]!, b[i]!);
}

function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (ctx.measureText(next).width > width && line) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

export interface PngParts {
  svg: SVGSVGElement;
  title: string;
  caption: string;
  legend: { label: string; color: string }[];
}

/** The chart as a PNG at twice its on-screen size, on the page's background colour. */
export async function chartPng({ svg, title, caption, legend }: PngParts): Promise<Blob> {
  const box = svg.getBoundingClientRect();
  const w = Math.max(1, Math.round(box.width));
  const h = Math.max(1, Math.round(box.height));
  const clone = svg.cloneNode(true) as SVGSVGElement;
  inlineStyles(svg, clone);
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(w));
  clone.setAttribute('height', String(h));
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(clone))}`;
  await img.decode();

  const root = getComputedStyle(document.documentElement);
  const bg = root.getPropertyValue('--panel').trim() || '#ffffff';
  const fg = root.getPropertyValue('--text').trim() || '#14171c';
  const muted = root.getPropertyValue('--muted').trim() || '#4f5866';
  const font = getComputedStyle(document.body).fontFamily || 'sans-serif';
  const scale = 2;
  const pad = 16;
  const measure = document.createElement('canvas').getContext('2d')!;
  measure.font = `14px ${font}`;
  const captionLines = wrap(measure, caption, w - 2 * pad);
  const legendH = legend.length > 0 ? 24 : 0;
  const height = 36 + h + legendH + captionLines.length * 20 + pad;

  const canvas = document.createElement('canvas');
  canvas.width = w * scale;
  canvas.height = height * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.scale(scale, scale);
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, w, height);
  ctx.fillStyle = fg;
  ctx.font = `bold 18px ${font}`;
  ctx.fillText(title, pad, 24);
  ctx.drawImage(img, 0, 36, w, h);
  let y = 36 + h;
  if (legend.length > 0) {
    ctx.font = `14px ${font}`;
    let x = pad;
    for (const item of legend) {
      ctx.fillStyle = item.color;
      ctx.fillRect(x, y + 6, 14, 14);
      ctx.fillStyle = fg;
      ctx.fillText(item.label, x + 20, y + 18);
      x += 20 + ctx.measureText(item.label).width + 18;
    }
    y += legendH;
  }
  ctx.fillStyle = muted;
  ctx.font = `14px ${font}`;
  captionLines.forEach((line, i) => ctx.fillText(line, pad, y + 16 + i * 20));
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}
