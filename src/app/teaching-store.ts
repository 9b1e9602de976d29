/**
 * State of teaching mode and of the weight histogram (zustand, apart from the main store).
 * The page builds the request from its form; the engine worker computes everything
 * (statistics, scores, masks, output change, histogram bins).
 */
import { create } from 'zustand';
import { DEFAULT_CALIBRATION } from '../engine/calibrate';
import type { BundledDatasetName } from '../engine/data';
import { FLAP_DEFAULTS } from '../engine/prune/flap';
import type { ExperimentRecord, MethodSpec } from '../engine/record';
import type { HistogramReply, InspectLayerRequest, JobEvent, LayerInspection } from '../worker/protocol';
import { DEFAULT_DATASET, pageUrl, DATASETS_PATH, useStudio } from './store';

export type TeachMethod = 'magnitude' | 'wanda' | 'flap';
export type MatrixName = InspectLayerRequest['matrix'];
export const MATRICES: readonly MatrixName[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

export interface TeachingForm {
  method: TeachMethod;
  /** Percent: sparsity (magnitude, Wanda) or pruning ratio (FLAP). */
  percent: string;
  layer: number;
  matrix: MatrixName;
  dataset: BundledDatasetName;
  samples: string;
  seqlen: string;
  offset: string;
}

export interface TeachingState {
  form: TeachingForm;
  /** Full settings copied from a run ("use the latest run"), used when the method matches. */
  base: Exclude<MethodSpec, { name: 'dense' }> | null;
  status: 'idle' | 'running' | 'done' | 'error';
  jobId: string | null;
  progress: JobEvent | null;
  result: LayerInspection | null;
  /** The request the result answers (for its caption). */
  resultFor: { method: MethodSpec; dataset: string; samples: number; seqlen: number; offset: number } | null;
  error: string | null;
  step: number;
  setForm(patch: Partial<TeachingForm>): void;
  /** Copies a run's method settings and calibration into the form. */
  copyRun(r: ExperimentRecord): void;
  inspect(): Promise<void>;
  cancel(): Promise<void>;
  setStep(step: number): void;
}

let counter = 0;
const int = (s: string) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN);

/** The method spec the form describes (a copied run's settings kept, its amount replaced). */
export function teachingMethod(f: TeachingForm, base: TeachingState['base']): Exclude<MethodSpec, { name: 'dense' }> | string {
  const p = Number(f.percent);
  if (!(p >= 0 && p < 100)) return 'The percentage must be a number from 0 to below 100.';
  const x = p / 100;
  if (f.method === 'flap') return { ...FLAP_DEFAULTS, ...(base?.name === 'flap' ? base : {}), name: 'flap', pruningRatio: x };
  if (f.method === 'wanda')
    return { name: 'wanda', pattern: 'unstructured', mode: 'sequential', variant: false, ...(base?.name === 'wanda' ? base : {}), sparsity: x } as MethodSpec as Exclude<MethodSpec, { name: 'dense' }>;
  return { name: 'magnitude', pattern: 'unstructured', granularity: 'matrix', ...(base?.name === 'magnitude' ? base : {}), sparsity: x } as MethodSpec as Exclude<MethodSpec, { name: 'dense' }>;
}

export const useTeaching = create<TeachingState>()((set, get) => ({
  form: {
    method: 'wanda',
    percent: '50',
    layer: 0,
    matrix: 'q',
    dataset: DEFAULT_DATASET,
    samples: '16',
    seqlen: String(DEFAULT_CALIBRATION.seqlen),
    offset: String(DEFAULT_CALIBRATION.offset),
  },
  base: null,
  status: 'idle',
  jobId: null,
  progress: null,
  result: null,
  resultFor: null,
  error: null,
  step: 0,

  setForm(patch) {
    set((s) => ({ form: { ...s.form, ...patch }, error: null }));
  },

  copyRun(r) {
    const m = r.method;
    if (m.name !== 'magnitude' && m.name !== 'wanda' && m.name !== 'flap') return;
    const c = r.calibration;
    set((s) => ({
      base: m,
      form: {
        ...s.form,
        method: m.name as TeachMethod,
        percent: String(Math.round((m.name === 'flap' ? m.pruningRatio : m.sparsity) * 1000) / 10),
        ...(c && c.dataset.source === 'bundled' ? { dataset: c.dataset.name as BundledDatasetName, samples: String(c.samples), seqlen: String(c.seqlen), ...(c.offset !== undefined ? { offset: String(c.offset) } : {}) } : {}),
      },
    }));
  },

  async inspect() {
    const { client, backendPreference, model } = useStudio.getState();
    if (!client || !model) return set({ status: 'error', error: 'Wait for the model to load first.' });
    if (get().status === 'running') return;
    const f = get().form;
    const method = teachingMethod(f, get().base);
    if (typeof method === 'string') return set({ status: 'error', error: method });
    const samples = int(f.samples);
    const seqlen = int(f.seqlen);
    const offset = int(f.offset);
    if (!(samples >= 1 && samples <= 256)) return set({ status: 'error', error: 'Calibration samples must be a whole number from 1 to 256.' });
    if (!(seqlen >= 2)) return set({ status: 'error', error: 'Calibration seqlen must be a whole number ≥ 2.' });
    if (!(offset >= 0)) return set({ status: 'error', error: 'Calibration offset must be a whole number ≥ 0.' });
    const jobId = `teach-${++counter}`;
    set({ status: 'running', jobId, progress: null, error: null });
    try {
      const result = await client.inspectLayer(
        {
          jobId,
          method,
          layer: f.layer,
          matrix: f.matrix,
          calibration: { dataset: { kind: 'bundled', name: f.dataset }, sampling: { samples, seqlen, offset, seed: null } },
          datasetsUrl: pageUrl(DATASETS_PATH),
          backend: backendPreference,
        },
        (e) => get().jobId === jobId && set({ progress: e }),
      );
      if (get().jobId !== jobId) return;
      set({ status: 'done', result, resultFor: { method, dataset: f.dataset, samples, seqlen, offset }, step: 0, jobId: null });
    } catch (e) {
      if (get().jobId !== jobId) return;
      const msg = e instanceof Error ? e.message : String(e);
      set({ status: /cancelled/.test(msg) ? 'idle' : 'error', error: /cancelled/.test(msg) ? null : msg, jobId: null });
    }
  },

  async cancel() {
    const id = get().jobId;
    if (!id) return;
    await useStudio.getState().client?.cancel(id);
  },

  setStep(step) {
    set({ step });
  },
}));

export interface HistogramState {
  layer: number;
  matrix: MatrixName;
  bins: number;
  status: 'idle' | 'loading' | 'done' | 'error';
  reply: HistogramReply | null;
  error: string | null;
  set(patch: Partial<Pick<HistogramState, 'layer' | 'matrix' | 'bins'>>): void;
  load(): Promise<void>;
}

export const useHistogram = create<HistogramState>()((set, get) => ({
  layer: 0,
  matrix: 'q',
  bins: 60,
  status: 'idle',
  reply: null,
  error: null,
  set(patch) {
    set(patch);
  },
  async load() {
    const client = useStudio.getState().client;
    if (!client) return set({ status: 'error', error: 'Wait for the model to load first.' });
    set({ status: 'loading', error: null });
    try {
      const { layer, matrix, bins } = get();
      set({ status: 'done', reply: await client.weightHistogram({ layer, matrix, bins }) });
    } catch (e) {
      set({ status: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  },
}));
