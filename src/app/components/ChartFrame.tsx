/**
 * The frame every chart sits in: title, legend, the protocol caption, downloads (PNG of
 * the picture, CSV and JSON of the data) and a full-screen presenter view for projecting.
 */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { chartPng, fileStem } from '../charts/export';
import { downloadBlob, downloadText } from '../download';
import { toCsv } from '../charts/data';
import { useStudio } from '../store';

export interface LegendItem {
  label: string;
  color: string;
}

interface Props {
  title: string;
  caption: string;
  /** Flat rows behind the picture (what CSV and JSON contain). */
  rows: Record<string, unknown>[];
  legend?: LegendItem[];
  testId: string;
  /** Draws the chart at this height (px): the normal view and the presenter view. */
  children: (height: number) => ReactNode;
  height?: number;
  /** Builds the PNG itself (for a picture that is not a recharts SVG, such as a canvas); the SVG route otherwise. */
  png?: () => Promise<Blob>;
}

function Legend({ items }: { items: LegendItem[] }) {
  if (items.length === 0) return null;
  return (
    <ul className="chart-legend">
      {items.map((i) => (
        <li key={i.label}>
          <span className="swatch" style={{ background: i.color }} aria-hidden="true" />
          {i.label}
        </li>
      ))}
    </ul>
  );
}

function Presenter({ title, caption, legend, onClose, children }: { title: string; caption: string; legend: LegendItem[]; onClose: () => void; children: (h: number) => ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const [height, setHeight] = useState(() => Math.max(300, window.innerHeight - 260));
  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    const onResize = () => setHeight(Math.max(300, window.innerHeight - 260));
    window.addEventListener('keydown', onKey);
    window.addEventListener('resize', onResize);
    // Real full screen where the browser allows it; the overlay alone covers the window otherwise.
    ref.current?.requestFullscreen?.().catch(() => {});
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('resize', onResize);
      if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
    };
  }, [onClose]);
  return (
    <div className="presenter" role="dialog" aria-modal="true" aria-label={`${title} (presenter view)`} ref={ref} data-testid="presenter">
      <div className="presenter-head">
        <h2>{title}</h2>
        <button type="button" ref={closeRef} onClick={onClose}>
          Close presenter view (Esc)
        </button>
      </div>
      <Legend items={legend} />
      <div className="chart-plot">{children(height)}</div>
      <p className="chart-caption">{caption}</p>
    </div>
  );
}

export function ChartFrame({ title, caption, rows, legend = [], testId, children, height = 280, png }: Props) {
  const plot = useRef<HTMLDivElement>(null);
  const [presenting, setPresenting] = useState(false);
  const presentButton = useRef<HTMLButtonElement>(null);
  // Keyboard users land back on the button that opened the view.
  const closePresenter = useCallback(() => {
    setPresenting(false);
    requestAnimationFrame(() => presentButton.current?.focus());
  }, []);
  const reportError = useStudio((s) => s.reportError);
  const stem = fileStem(title);

  const onPng = async () => {
    if (png) {
      try {
        downloadBlob(await png(), `${stem}.png`);
      } catch (e) {
        reportError('Could not save the chart as PNG', e instanceof Error ? e.message : String(e));
      }
      return;
    }
    const svg = plot.current?.querySelector('svg.recharts-surface');
    if (!(svg instanceof SVGSVGElement)) {
      reportError('Could not save the chart', 'The chart has not been drawn yet.');
      return;
    }
    try {
      downloadBlob(await chartPng({ svg, title, caption, legend }), `${stem}.png`);
    } catch (e) {
      reportError('Could not save the chart as PNG', e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <figure className="chart" data-testid={testId}>
      <div className="chart-head">
        <h3 className="chart-title">{title}</h3>
        <div className="chart-actions" role="group" aria-label={`${title}: save or present`}>
          <button type="button" onClick={() => void onPng()} aria-label={`Save ${title} as PNG`}>
            PNG
          </button>
          <button type="button" onClick={() => downloadText(toCsv(rows), `${stem}.csv`, 'text/csv')} aria-label={`Save the data of ${title} as CSV`}>
            CSV
          </button>
          <button type="button" onClick={() => downloadText(JSON.stringify(rows, null, 2), `${stem}.json`, 'application/json')} aria-label={`Save the data of ${title} as JSON`}>
            JSON
          </button>
          <button type="button" ref={presentButton} onClick={() => setPresenting(true)} aria-label={`Present ${title} full screen`}>
            Present
          </button>
        </div>
      </div>
      <Legend items={legend} />
      <div className="chart-plot" ref={plot}>
        {children(height)}
      </div>
      <figcaption className="chart-caption" data-testid="chart-caption">
        {caption}
      </figcaption>
      {presenting && (
        <Presenter title={title} caption={caption} legend={legend} onClose={closePresenter}>
          {children}
        </Presenter>
      )}
    </figure>
  );
}
