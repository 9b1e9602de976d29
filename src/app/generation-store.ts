/**
 * State of the side-by-side generation panel (zustand, apart from the main store): one
 * prompt, the same decoding settings for the dense and the last compressed model, the text
 * of each side as it streams in, and its tokens/s. Generation runs in the engine worker
 * (KV-cached); the page only parses the form and shows what comes back.
 */
import { create } from 'zustand';
import type { GenerateReply, GenerateRequest, GenerationModel } from '../worker/protocol';
import { useStudio } from './store';

export type DecodeMode = 'greedy' | 'sampled';

export interface GenerationSide {
  status: 'idle' | 'running' | 'done' | 'error' | 'cancelled';
  /** Prompt + continuation so far. */
  text: string;
  tokens: number;
  reply: GenerateReply | null;
  error: string | null;
}

export interface GenerationForm {
  prompt: string;
  maxNewTokens: string;
  mode: DecodeMode;
  temperature: string;
  topK: string;
  topP: string;
  seed: string;
}

export interface GenerationState {
  form: GenerationForm;
  sides: Record<GenerationModel, GenerationSide>;
  /** Job ids of the running generation (dense then compressed). */
  running: string | null;
  formError: string | null;
  setForm(patch: Partial<GenerationForm>): void;
  run(): Promise<void>;
  cancel(): Promise<void>;
}

const idle = (): GenerationSide => ({ status: 'idle', text: '', tokens: 0, reply: null, error: null });

let counter = 0;

/** The request settings, or the first problem with the form. */
export function parseGenerationForm(f: GenerationForm): Omit<GenerateRequest, 'jobId' | 'model' | 'backend'> | string {
  const int = (s: string) => (/^\s*-?\d+\s*$/.test(s) ? Number(s) : NaN);
  const maxNewTokens = int(f.maxNewTokens);
  if (!(maxNewTokens >= 1 && maxNewTokens <= 1024)) return 'New tokens must be a whole number from 1 to 1024.';
  const seed = int(f.seed);
  if (!Number.isSafeInteger(seed)) return 'The seed must be a whole number.';
  if (f.mode === 'greedy') return { prompt: f.prompt, maxNewTokens, temperature: 0, topK: 0, topP: 1, seed };
  const temperature = Number(f.temperature);
  if (!(temperature > 0 && temperature <= 5)) return 'Temperature must be a number above 0 and at most 5.';
  const topK = int(f.topK);
  if (!(topK >= 0)) return 'Top-k must be a whole number ≥ 0 (0 = no cut).';
  const topP = Number(f.topP);
  if (!(topP > 0 && topP <= 1)) return 'Top-p must be a number above 0 and at most 1 (1 = no cut).';
  return { prompt: f.prompt, maxNewTokens, temperature, topK, topP, seed };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message || e.name : String(e);
}

function isCancel(e: unknown): boolean {
  return e instanceof Error && (e.name === 'CancelledError' || /cancelled/.test(e.message));
}

export const useGeneration = create<GenerationState>()((set, get) => ({
  form: { prompt: 'Once upon a time', maxNewTokens: '64', mode: 'greedy', temperature: '0.8', topK: '40', topP: '0.95', seed: '1' },
  sides: { dense: idle(), compressed: idle() },
  running: null,
  formError: null,

  setForm(patch) {
    set((s) => ({ form: { ...s.form, ...patch }, formError: null }));
  },

  async run() {
    if (get().running) return;
    const { client, backendPreference, model } = useStudio.getState();
    if (!client || !model) {
      set({ formError: 'Wait for the model to load first.' });
      return;
    }
    const settings = parseGenerationForm(get().form);
    if (typeof settings === 'string') {
      set({ formError: settings });
      return;
    }
    const runId = `gen-${++counter}`;
    set({ running: runId, formError: null, sides: { dense: { ...idle(), status: 'running' }, compressed: { ...idle(), status: 'running' } } });
    const patch = (which: GenerationModel, p: Partial<GenerationSide>) => set((s) => ({ sides: { ...s.sides, [which]: { ...s.sides[which], ...p } } }));
    // One model after the other: both share the worker and its backend, and tokens/s
    // must not be measured while the other side competes for them.
    for (const which of ['dense', 'compressed'] as const) {
      if (get().running !== runId) {
        patch(which, { status: 'cancelled' });
        continue;
      }
      const jobId = `${runId}-${which}`;
      try {
        const reply = await client.generate({ ...settings, jobId, model: which, backend: backendPreference }, (e) => patch(which, { text: e.text, tokens: e.tokens }));
        patch(which, { status: 'done', reply, text: reply.text, tokens: reply.ids.length });
      } catch (e) {
        patch(which, isCancel(e) ? { status: 'cancelled' } : { status: 'error', error: messageOf(e) });
      }
    }
    if (get().running === runId) set({ running: null });
  },

  async cancel() {
    const runId = get().running;
    if (!runId) return;
    set({ running: null });
    const client = useStudio.getState().client;
    await Promise.all((['dense', 'compressed'] as const).map((w) => client?.cancel(`${runId}-${w}`)));
  },
}));
