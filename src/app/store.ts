/**
 * The studio page's state (zustand). The page never computes anything about the model:
 * every load and evaluation goes through the engine worker's typed client, and the
 * results come back as ExperimentRecords that are kept, in memory, newest first.
 */
import { create } from 'zustand';
import { BUNDLED_DATASETS, type BundledDatasetName } from '../engine/data';
import type { ExperimentRecord, MethodSpec } from '../engine/record';
import type { CalibrationSampling } from '../engine/calibrate';
import { createStudioClient, type StudioClient } from '../worker/client';
import * as history from './history';
import type { BackendPreference } from '../engine/backend/select';
import type { BackendStatus, DatasetChoice, JobEvent, JobPhase, ModelSummary } from '../worker/protocol';

/** The model the studio opens with, served beside the page (public/models/). */
export const BUNDLED_MODEL = { id: 'stories260K', path: 'models/stories260K/' } as const;
/** Bundled texts, served beside the page (public/datasets/). */
export const DATASETS_PATH = 'datasets/';
export const DEFAULT_DATASET: BundledDatasetName = 'tinystories';
export const DEFAULT_WINDOWS = '0:4';
/** Used until the model says its own max_position_embeddings. */
const FALLBACK_SEQLEN = 512;
/** Larger uploads are refused before they are read (the whole text is tokenized at once). */
export const MAX_TEXT_BYTES = 32 * 1024 * 1024;

export type DataSource = BundledDatasetName | 'paste' | 'file';
export type LoadStatus = 'idle' | 'loading' | 'loaded' | 'error';

export interface Job {
  id: string;
  kind: 'load' | 'evaluate' | 'prune';
  /** What the job works on, for the progress line ("stories260K", "tinystories"). */
  subject: string;
  phase: JobPhase;
  done: number;
  /** null while unknown. */
  total: number | null;
  unit: JobEvent['unit'];
  /** performance.now() timestamps. */
  startedAt: number;
  phaseStartedAt: number;
  lastEventAt: number;
  cancelling: boolean;
}

/** Calibration settings of the Method panel (bundled texts only). */
export interface PruneCalibration {
  dataset: BundledDatasetName;
  sampling: CalibrationSampling;
}

export interface Notice {
  id: string;
  kind: 'error' | 'info';
  title: string;
  message: string;
}

export interface UploadedText {
  name: string;
  text: string;
  bytes: number;
}

export interface StudioState {
  client: StudioClient | null;
  model: ModelSummary | null;
  /** Which backend the user asked for; 'auto' = WebGPU when the browser has an adapter. */
  backendPreference: BackendPreference;
  /** The backend in use and, after a fallback, why. */
  backendStatus: BackendStatus | null;
  loadStatus: LoadStatus;
  loadError: string | null;

  dataSource: DataSource;
  pasteText: string;
  upload: UploadedText | null;
  /** Kept as typed so the field can be edited freely; checked on Evaluate. */
  seqlenText: string;
  seqlenTouched: boolean;
  windows: string;

  job: Job | null;
  results: ExperimentRecord[];
  notices: Notice[];
  /** 'loading' until the saved history is read; 'memory' when the browser offers no IndexedDB. */
  historyStatus: 'loading' | 'saved' | 'memory';

  init(): void;
  loadBundledModel(): Promise<void>;
  setBackendPreference(preference: BackendPreference): Promise<void>;
  setDataSource(source: DataSource): void;
  setPasteText(text: string): void;
  setUpload(file: File | null): Promise<void>;
  setSeqlenText(text: string): void;
  setWindows(text: string): void;
  evaluate(): Promise<void>;
  /**
   * Prunes the loaded model with this method and scores the dense and the pruned model on
   * the Data & evaluate form's text, seqlen and windows.
   */
  prune(method: Exclude<MethodSpec, { name: 'dense' }>, calibration: PruneCalibration): Promise<void>;
  cancel(): Promise<void>;
  /** Reads the saved history into results (called by init). */
  loadHistory(): Promise<void>;
  /** Removes one result from the page and the saved history. */
  removeResult(id: string): Promise<void>;
  /** Removes every result from the page and the saved history. */
  clearHistory(): Promise<void>;
  /** The history as one JSON document (the saved one, or the page's results when nothing is saved). */
  exportHistory(): Promise<string>;
  /** Adds the valid records of a history file; invalid entries are skipped and counted in a notice. */
  importHistory(text: string, fileName: string): Promise<void>;
  dismissNotice(id: string): void;
  /** Shows an error notice (form checks done in a panel). */
  reportError(title: string, message: string): void;
}

let counter = 0;
function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Date.now().toString(36)}`;
}

/** Resolves a path against the page (the app is built with base './'). */
export function pageUrl(path: string): string {
  return new URL(path, document.baseURI).href;
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

function isCancellation(e: unknown): boolean {
  // Errors cross the worker boundary as plain Errors that keep name and message.
  if (!(e instanceof Error)) return false;
  return e.name === 'CancelledError' || e.name === 'AbortError' || (e as { code?: unknown }).code === 'cancelled';
}

function newJob(kind: Job['kind'], subject: string, phase: JobPhase, unit: JobEvent['unit']): Job {
  const now = performance.now();
  return { id: nextId(kind), kind, subject, phase, done: 0, total: null, unit, startedAt: now, phaseStartedAt: now, lastEventAt: now, cancelling: false };
}

export function bundledTitle(name: BundledDatasetName): string {
  return BUNDLED_DATASETS[name].title;
}

export const useStudio = create<StudioState>()((set, get) => {
  const notify = (kind: Notice['kind'], title: string, message: string) =>
    set((s) => ({ notices: [...s.notices, { id: nextId('notice'), kind, title, message }] }));

  /** Applies a worker progress event to the current job; events of older jobs are ignored. */
  const onEvent = (e: JobEvent) =>
    set((s) => {
      const job = s.job;
      if (!job || job.id !== e.jobId) return {};
      const now = performance.now();
      const phaseChanged = e.phase !== job.phase;
      return {
        job: {
          ...job,
          phase: e.phase,
          done: e.done,
          total: e.total,
          unit: e.unit,
          phaseStartedAt: phaseChanged ? now : job.phaseStartedAt,
          lastEventAt: now,
        },
      };
    });

  /** Adds records to results (newest first; a record already shown is replaced). */
  const mergeResults = (records: ExperimentRecord[]) =>
    set((s) => {
      const ids = new Set(records.map((r) => r.id));
      return { results: history.newestFirst([...records, ...s.results.filter((r) => !ids.has(r.id))]) };
    });

  let memoryNoticeShown = false;
  /** Switches to in-memory results (one info notice); true when the error meant IndexedDB is unavailable. */
  const historyFailed = (e: unknown, what: string): void => {
    if (e instanceof history.HistoryUnavailableError) {
      set({ historyStatus: 'memory' });
      if (!memoryNoticeShown) {
        memoryNoticeShown = true;
        notify('info', 'History is not saved', `${e.message} Results are kept on this page only and are lost on reload.`);
      }
      return;
    }
    notify('error', `Could not ${what}`, errorMessage(e));
  };

  /** Saves a finished run; the page keeps it whether or not the save works. */
  const keepRecord = (record: ExperimentRecord) => {
    set((st) => ({ results: [record, ...st.results.filter((r) => r.id !== record.id)] }));
    if (get().historyStatus === 'memory') return;
    history.save(record).catch((e: unknown) => historyFailed(e, 'save the result to the history'));
  };

  const endJob = (id: string) => set((s) => (s.job?.id === id ? { job: null } : {}));

  /** The dataset request for the current form, or a message saying what is missing. */
  const datasetChoice = (s: StudioState): DatasetChoice | string => {
    if (s.dataSource === 'paste') {
      if (s.pasteText.trim() === '') return 'Paste some text into the box first.';
      return { kind: 'text', name: 'pasted text', text: s.pasteText, source: 'paste' };
    }
    if (s.dataSource === 'file') {
      if (!s.upload) return 'Choose a .txt file first.';
      if (s.upload.text.trim() === '') return `${s.upload.name} is empty.`;
      return { kind: 'text', name: s.upload.name, text: s.upload.text, source: 'file' };
    }
    return { kind: 'bundled', name: s.dataSource };
  };

  /** The Data & evaluate form checked (a notice and null when something is wrong). */
  const evalInputs = (s: StudioState, what: 'evaluate' | 'prune'): { dataset: DatasetChoice; seqlen: number; windows: string } | null => {
    const verb = what === 'prune' ? 'pruning' : 'evaluating';
    if (!s.model) {
      notify('error', 'No model loaded', `Wait for the model to load (or reload it) before ${verb}.`);
      return null;
    }
    const dataset = datasetChoice(s);
    if (typeof dataset === 'string') {
      notify('error', 'No text to evaluate', dataset);
      return null;
    }
    const max = s.model.maxPositionEmbeddings;
    const seqlen = Number(s.seqlenText.trim());
    if (!/^\d+$/.test(s.seqlenText.trim()) || !Number.isSafeInteger(seqlen) || seqlen < 2 || seqlen > max) {
      notify('error', 'Invalid sequence length', `seqlen "${s.seqlenText}" must be a whole number from 2 to ${max} (the model's max_position_embeddings).`);
      return null;
    }
    const windows = s.windows.trim();
    if (windows === '') {
      notify('error', 'Invalid windows', 'Give the windows to evaluate as A:B, for example 0:4.');
      return null;
    }
    return { dataset, seqlen, windows };
  };

  return {
    client: null,
    model: null,
    backendPreference: 'auto',
    backendStatus: null,
    loadStatus: 'idle',
    loadError: null,

    dataSource: DEFAULT_DATASET,
    pasteText: '',
    upload: null,
    seqlenText: String(FALLBACK_SEQLEN),
    seqlenTouched: false,
    windows: DEFAULT_WINDOWS,

    job: null,
    results: [],
    notices: [],
    historyStatus: 'loading',

    init() {
      if (get().client) return;
      set({ client: createStudioClient() });
      void get().loadHistory();
      void get().loadBundledModel();
    },

    async loadHistory() {
      try {
        const { records, skipped } = await history.loadAll();
        set({ historyStatus: 'saved' });
        mergeResults(records);
        if (skipped > 0) {
          const entries = `${skipped} saved ${skipped === 1 ? 'entry' : 'entries'}`;
          notify(
            'info',
            `History: ${skipped} ${skipped === 1 ? 'entry' : 'entries'} skipped`,
            `${entries} could not be read as experiment records and ${skipped === 1 ? 'was' : 'were'} skipped; ${records.length} loaded. Clear history removes ${skipped === 1 ? 'it' : 'them'}.`,
          );
        }
      } catch (e) {
        if (!(e instanceof history.HistoryUnavailableError)) set({ historyStatus: 'saved' });
        historyFailed(e, 'read the saved history');
      }
    },

    async removeResult(id) {
      set((s) => ({ results: s.results.filter((r) => r.id !== id) }));
      if (get().historyStatus === 'memory') return;
      try {
        await history.remove(id);
      } catch (e) {
        historyFailed(e, 'remove the result from the history');
      }
    },

    async clearHistory() {
      set({ results: [] });
      if (get().historyStatus === 'memory') return;
      try {
        await history.clear();
      } catch (e) {
        historyFailed(e, 'clear the history');
      }
    },

    async exportHistory() {
      if (get().historyStatus === 'saved') {
        try {
          return await history.exportJson();
        } catch (e) {
          historyFailed(e, 'read the saved history');
        }
      }
      return history.historyJson(get().results);
    },

    async importHistory(text, fileName) {
      let batch: history.HistoryBatch;
      try {
        batch = history.parseHistoryJson(text);
      } catch (e) {
        notify('error', `Could not import ${fileName}`, errorMessage(e));
        return;
      }
      mergeResults(batch.records);
      if (get().historyStatus !== 'memory') {
        try {
          await history.saveMany(batch.records);
        } catch (e) {
          historyFailed(e, 'save the imported records');
        }
      }
      const n = batch.records.length;
      notify(
        'info',
        `Imported ${n} record${n === 1 ? '' : 's'}`,
        batch.skipped > 0
          ? `${fileName}: ${batch.skipped} invalid ${batch.skipped === 1 ? 'entry was' : 'entries were'} skipped.`
          : `${fileName}: every entry was a valid experiment record.`,
      );
    },

    async loadBundledModel() {
      const { client, job } = get();
      if (!client || job) return;
      const j = newJob('load', BUNDLED_MODEL.id, 'download', 'bytes');
      set({ job: j, loadStatus: 'loading', loadError: null });
      try {
        const summary = await client.loadModel({ jobId: j.id, id: BUNDLED_MODEL.id, url: pageUrl(BUNDLED_MODEL.path), source: 'bundled', backend: get().backendPreference }, onEvent);
        set((s) => ({
          model: summary,
          backendStatus: { backend: summary.backend, ...(summary.fallbackReason ? { fallbackReason: summary.fallbackReason } : {}) },
          loadStatus: 'loaded',
          seqlenText: s.seqlenTouched ? s.seqlenText : String(summary.maxPositionEmbeddings),
        }));
      } catch (e) {
        const message = errorMessage(e);
        // A failed load keeps an earlier model in the worker, so keep showing it here too.
        set((s) => ({ loadStatus: s.model ? 'loaded' : 'error', loadError: message }));
        if (isCancellation(e)) notify('info', 'Model load cancelled', message);
        else notify('error', `Could not load ${BUNDLED_MODEL.id}`, message);
      } finally {
        endJob(j.id);
      }
    },

    async setBackendPreference(preference) {
      const { client, job } = get();
      if (!client || job) return;
      set({ backendPreference: preference });
      try {
        set({ backendStatus: await client.setBackend(preference) });
      } catch (e) {
        notify('error', `Could not switch to ${preference === 'webgpu' ? 'WebGPU' : preference}`, errorMessage(e));
        // The worker keeps its earlier backend when the new one cannot be had.
        set({ backendPreference: get().backendStatus?.backend.name ?? 'cpu' });
      }
    },

    setDataSource(source) {
      set({ dataSource: source });
    },

    setPasteText(text) {
      set({ pasteText: text });
    },

    async setUpload(file) {
      if (!file) {
        set({ upload: null });
        return;
      }
      if (file.size > MAX_TEXT_BYTES) {
        notify('error', 'File too large', `${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB; the studio takes text files up to ${MAX_TEXT_BYTES / 1024 / 1024} MiB.`);
        return;
      }
      try {
        const text = await file.text();
        set({ upload: { name: file.name, text, bytes: file.size } });
      } catch (e) {
        notify('error', `Could not read ${file.name}`, errorMessage(e));
      }
    },

    setSeqlenText(text) {
      set({ seqlenText: text, seqlenTouched: true });
    },

    setWindows(text) {
      set({ windows: text });
    },

    async evaluate() {
      const s = get();
      if (!s.client || s.job) return;
      const inputs = evalInputs(s, 'evaluate');
      if (!inputs) return;
      const { dataset, seqlen, windows } = inputs;
      const j = newJob('evaluate', dataset.name, dataset.kind === 'bundled' ? 'download' : 'tokenize', 'windows');
      set({ job: j });
      try {
        const record = await s.client.evaluate({ jobId: j.id, dataset, datasetsUrl: pageUrl(DATASETS_PATH), seqlen, windows, backend: s.backendPreference }, onEvent);
        keepRecord(record);
      } catch (e) {
        const message = errorMessage(e);
        if (isCancellation(e)) notify('info', 'Evaluation cancelled', `${message}. Earlier results are kept.`);
        else notify('error', 'Evaluation failed', message);
      } finally {
        endJob(j.id);
      }
    },

    async prune(method, calibration) {
      const s = get();
      if (!s.client || s.job) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs) return;
      const { dataset, seqlen, windows } = inputs;
      const j = newJob('prune', dataset.name, dataset.kind === 'bundled' ? 'download' : 'tokenize', 'steps');
      set({ job: j });
      try {
        const record = await s.client.prune(
          {
            jobId: j.id,
            method,
            dataset,
            datasetsUrl: pageUrl(DATASETS_PATH),
            seqlen,
            windows,
            calibration: { dataset: { kind: 'bundled', name: calibration.dataset }, sampling: calibration.sampling },
            backend: s.backendPreference,
          },
          onEvent,
        );
        keepRecord(record);
      } catch (e) {
        const message = errorMessage(e);
        if (isCancellation(e)) notify('info', 'Pruning cancelled', `${message}. Earlier results are kept.`);
        else notify('error', 'Pruning failed', message);
      } finally {
        endJob(j.id);
      }
    },

    async cancel() {
      const { client, job } = get();
      if (!client || !job || job.cancelling) return;
      set({ job: { ...job, cancelling: true } });
      try {
        await client.cancel(job.id);
      } catch (e) {
        notify('error', 'Could not cancel', errorMessage(e));
      }
    },

    reportError(title, message) {
      notify('error', title, message);
    },

    dismissNotice(id) {
      set((s) => ({ notices: s.notices.filter((n) => n.id !== id) }));
    },
  };
});
