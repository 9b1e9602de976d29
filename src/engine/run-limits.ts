/**
 * Limits of one run, checked before it is queued (the page's forms and re-runs) and again
 * before the engine starts it (src/worker/engine-api.ts). The numbers are the record
 * schema's (RECORD_LIMITS in record.ts): a run inside them gives a record that can be
 * saved and read back; a run outside them is refused with the limit in the message, so no
 * finished run is lost at save time. Also the work a run will do, so that a re-run of a
 * stranger's experiment that would take hours says so before it is queued.
 */
import type { CalibrationSampling } from './calibrate';
import { RECORD_LIMITS, type MethodSpec } from './record';

/** Windows named by an explicit spec ("A:B", "N"); null when the count depends on the text ("all", "A:"). */
export function windowSpecCount(spec: string): number | null {
  const s = spec.trim();
  if (/^\d+$/.test(s)) return 1;
  const m = /^(\d*):(\d+)$/.exec(s);
  if (!m) return null;
  return Number(m[2]) - (m[1] ? Number(m[1]) : 0);
}

/** Why these calibration (or L4Q training window) settings are over the limits, or null. */
export function samplingLimitProblem(s: Pick<CalibrationSampling, 'samples' | 'seqlen'>, what = 'Calibration'): string | null {
  if (s.samples > RECORD_LIMITS.calibrationSamples) return `${what}: ${s.samples} samples is over the limit of ${RECORD_LIMITS.calibrationSamples}.`;
  if (s.seqlen > RECORD_LIMITS.seqlen) return `${what}: ${s.seqlen} tokens per sample is over the limit of ${RECORD_LIMITS.seqlen}.`;
  return null;
}

/** Why a method's settings are over the limits (L4Q steps, rank, batch), or null. */
export function methodLimitProblem(m: MethodSpec): string | null {
  if (m.name !== 'l4q') return null;
  if (m.steps > RECORD_LIMITS.l4qSteps) return `L4Q: ${m.steps} steps is over the limit of ${RECORD_LIMITS.l4qSteps}.`;
  if (m.rank > RECORD_LIMITS.l4qRank) return `L4Q: rank ${m.rank} is over the limit of ${RECORD_LIMITS.l4qRank}.`;
  if (m.batch > RECORD_LIMITS.l4qBatch) return `L4Q: ${m.batch} windows per step is over the limit of ${RECORD_LIMITS.l4qBatch}.`;
  return null;
}

export interface RunLimitInputs {
  seqlen: number;
  /** The windows spec as typed ("0:4", "all"). */
  windows: string;
  method?: MethodSpec;
  sampling?: Pick<CalibrationSampling, 'samples' | 'seqlen'>;
}

/** The first limit a run is over, as a sentence naming the limit; null when it is within all of them. */
export function runLimitProblem(r: RunLimitInputs): string | null {
  if (r.seqlen > RECORD_LIMITS.seqlen) return `seqlen ${r.seqlen} is over the limit of ${RECORD_LIMITS.seqlen}.`;
  const n = windowSpecCount(r.windows);
  if (n !== null && n > RECORD_LIMITS.evalWindows) return `windows ${r.windows.trim()} are ${n} windows, over the limit of ${RECORD_LIMITS.evalWindows} per run; choose fewer windows.`;
  if (r.method) {
    const p = methodLimitProblem(r.method);
    if (p) return p;
  }
  if (r.sampling) return samplingLimitProblem(r.sampling, r.method?.name === 'l4q' ? 'L4Q training windows' : 'Calibration');
  return null;
}

/** What one run will compute, in tokens through the model (a backward pass counted as two forwards). */
export interface RunWork {
  /** Tokens evaluated: the windows, twice for a method run (dense baseline and result), more for L4Q's comparisons. */
  evalTokens: number;
  /** Calibration forward tokens (pruning) or training tokens × 3 (L4Q: forward + backward). */
  computeTokens: number;
  /** L4Q steps (both trainings when the RTN-then-LoRA baseline is trained too). */
  steps: number;
  total: number;
}

export function runWork(r: { method: MethodSpec; seqlen: number; windows: number; sampling?: Pick<CalibrationSampling, 'samples' | 'seqlen'>; rtnLora?: boolean }): RunWork {
  const evalOnce = r.windows * r.seqlen;
  const m = r.method;
  if (m.name === 'dense') return { evalTokens: evalOnce, computeTokens: 0, steps: 0, total: evalOnce };
  if (m.name === 'rtn') return { evalTokens: 2 * evalOnce, computeTokens: 0, steps: 0, total: 2 * evalOnce };
  const sampleTokens = r.sampling ? r.sampling.samples * r.sampling.seqlen : 0;
  if (m.name === 'l4q') {
    const trainings = r.rtnLora ? 2 : 1;
    const seqlen = r.sampling?.seqlen ?? r.seqlen;
    const steps = m.steps * trainings;
    // Dense, RTN, result (and the baseline's two) evaluations; each step: batch × seqlen forward and backward.
    const evalTokens = (r.rtnLora ? 5 : 3) * evalOnce;
    const computeTokens = 3 * steps * m.batch * seqlen + (m.prune ? sampleTokens : 0);
    return { evalTokens, computeTokens, steps, total: evalTokens + computeTokens };
  }
  // Pruning: dense and pruned evaluation, one calibration pass (Wanda sequential: about one more per layer, counted once).
  return { evalTokens: 2 * evalOnce, computeTokens: m.name === 'magnitude' ? 0 : sampleTokens, steps: 0, total: 2 * evalOnce + (m.name === 'magnitude' ? 0 : sampleTokens) };
}

/** Above this many tokens, a re-run asks before it is queued (stories260K on a laptop CPU: minutes; a Hub model: hours). */
export const RERUN_CONFIRM_TOKENS = 20_000_000;
/** Above this, a re-run is refused (days even for the bundled model). */
export const RERUN_MAX_TOKENS = 20_000_000_000;
