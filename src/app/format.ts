/**
 * Display helpers: turn numbers the engine produced into text. No model math happens here.
 */
import type { ExperimentRecord } from '../engine/record';

const intFormat = new Intl.NumberFormat('en-US');

export function formatInt(n: number): string {
  return intFormat.format(n);
}

/** 260176 → "260.2K", 134515008 → "134.5M". */
export function formatCompact(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Milliseconds → "850 ms", "12.3 s", "4 min 05 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const sec = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${sec} s`;
}

export function formatPpl(ppl: number): string {
  return ppl.toFixed(3);
}

export function windowsText(w: { start: number; end: number }): string {
  return `${w.start}:${w.end}`;
}

export function backendText(b: { name: string; device: string }): string {
  return `${b.name} — ${b.device}`;
}

/** Which backend the engine runs on, and why when Auto passed over WebGPU's software adapter. */
export function engineText(s: { backend: { name: string }; fallbackReason?: string; softwareAdapter?: string } | null): string {
  if (!s) return '';
  const name = s.backend.name === 'webgpu' ? 'WebGPU' : s.backend.name === 'wasm' ? 'the CPU (WebAssembly SIMD)' : 'the CPU reference backend';
  if (s.softwareAdapter) return `The engine runs on ${name}: the WebGPU adapter is a software renderer (slower than the CPU backend here); choose WebGPU in the Backend menu to use it anyway.`;
  return `The engine runs on ${name}.`;
}

/**
 * Why the backend runs, for the model panel's backend line: Auto's choice (the details of a
 * fallback are on the line below it), or the Backend menu's.
 */
export function backendWhy(s: { reason?: string; fallbackReason?: string; softwareAdapter?: string }): string | null {
  if (s.softwareAdapter) return 'Auto: the WebGPU adapter is a software renderer, slower than the CPU backend here';
  if (s.fallbackReason) return 'Auto: WebGPU is not available';
  if (!s.reason) return null;
  if (s.reason.startsWith('Auto: ')) return s.reason;
  return `chosen in the Backend menu${/software renderer/.test(s.reason) ? ' (the WebGPU adapter is a software renderer, slower than the CPU backend here)' : ''}`;
}

/** The evaluation protocol in one line, shown under every number. */
export function protocolLine(r: ExperimentRecord): string {
  const p = r.protocol;
  const stream = p.stream === 'bos+text' ? 'BOS + whole text' : 'whole text (no BOS)';
  return `${p.dataset.name} · seqlen ${p.seqlen} · windows ${windowsText(p.windows)} · ${stream}, first token of each window is context only`;
}

const METHOD_TITLE: Record<ExperimentRecord['method']['name'], string> = {
  dense: 'Dense',
  magnitude: 'Magnitude',
  wanda: 'Wanda',
  flap: 'FLAP',
  rtn: 'RTN',
  l4q: 'L4Q',
};

export function methodTitle(m: ExperimentRecord['method']): string {
  return METHOD_TITLE[m.name];
}

function percent(x: number, digits = 0): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** The method's key settings in one line ("50% unstructured · sequential"). */
export function methodSettingsText(m: ExperimentRecord['method']): string {
  switch (m.name) {
    case 'dense':
      return 'no method (dense model)';
    case 'magnitude':
      return [m.pattern === 'unstructured' ? `${percent(m.sparsity)} unstructured` : `${m.pattern} pattern`, `threshold per ${m.granularity}`].join(' · ');
    case 'wanda':
      return [m.pattern === 'unstructured' ? `${percent(m.sparsity)} unstructured` : `${m.pattern} pattern`, m.mode, ...(m.variant ? ['α variant'] : [])].join(' · ');
    case 'flap':
      return [
        `${percent(m.pruningRatio)} removed`,
        m.metric,
        m.structure,
        ...(m.removeHeads !== null ? [`remove ${m.removeHeads} heads`] : []),
        `head cost ${m.headCost}`,
        `GQA unit ${m.gqaUnit}`,
        m.biasCompensation ? 'bias compensation' : 'no bias compensation',
        ...(m.fluctuation !== 'official' ? [`${m.fluctuation} fluctuation`] : []),
        ...(m.baselineDtype !== 'fp32' ? [`${m.baselineDtype} baseline`] : []),
      ].join(' · ');
    case 'rtn':
      return [`${m.bits}-bit`, m.groupSize === null ? 'per channel' : `group ${m.groupSize}`, m.symmetric ? (m.symmetricRule === 'gptq' ? 'symmetric (GPTQ scale)' : 'symmetric') : 'asymmetric'].join(' · ');
    case 'l4q':
      return [
        `${m.bits}-bit`,
        m.groupSize === null ? 'per channel' : `group ${m.groupSize}`,
        m.symmetric ? 'symmetric' : 'learned offset',
        `LoRA r ${m.rank} α ${m.alpha}`,
        `${m.steps} steps (${m.warmup} warm-up)`,
        ...(m.prune ? [`after ${methodTitle(m.prune)} ${methodSettingsText(m.prune)}`] : []),
      ].join(' · ');
  }
}

/** Achieved sparsity with its kind: "50.00% zeros" or "20.13% parameters removed". */
export function sparsityText(s: NonNullable<ExperimentRecord['sparsity']>): string {
  return `${percent(s.achieved, 2)} ${s.kind === 'zeros' ? 'zeros' : 'parameters removed'}`;
}

/** How much of the decoder linears: "of 147,456 weights in the decoder linears". */
export function sparsityDetail(s: NonNullable<ExperimentRecord['sparsity']>): string {
  return s.kind === 'zeros'
    ? `${formatInt(s.zerosAfter)} of ${formatInt(s.linearParamsAfter)} decoder linear weights are zero`
    : `decoder linear weights ${formatInt(s.linearParamsBefore)} → ${formatInt(s.linearParamsAfter)}`;
}

export function calibrationText(c: NonNullable<ExperimentRecord['calibration']>): string {
  const where = c.sampling === 'random' ? `random offsets, seed ${c.seed ?? '?'}` : `from token ${formatInt(c.offset ?? 0)}`;
  return `${c.dataset.name} · ${formatInt(c.samples)} × ${formatInt(c.seqlen)} tokens · ${where}`;
}
