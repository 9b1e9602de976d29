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

/** The evaluation protocol in one line, shown under every number. */
export function protocolLine(r: ExperimentRecord): string {
  const p = r.protocol;
  const stream = p.stream === 'bos+text' ? 'BOS + whole text' : 'whole text (no BOS)';
  return `${p.dataset.name} · seqlen ${p.seqlen} · windows ${windowsText(p.windows)} · ${stream}, first token of each window is context only`;
}
