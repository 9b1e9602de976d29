/**
 * The studio page's state (zustand). The page never computes anything about the model:
 * every load and evaluation goes through the engine worker's typed client, and the
 * results come back as ExperimentRecords that are kept, in memory, newest first.
 */
import '../engine/no-eval';
import { create } from 'zustand';
import { createHubSlice, HUB_DEFAULT_SEQLEN, type HubSlice } from './hub-slice';
import { filesByName } from '../engine/model/blob-source';
import { BUNDLED_DATASETS, type BundledDatasetName } from '../engine/data';
import type { ExperimentRecord, MethodSpec, RtnMethod } from '../engine/record';
import { DEFAULT_CALIBRATION, type CalibrationSampling } from '../engine/calibrate';
import { createStudioClient, type StudioClient, type WorkerCrashedError } from '../worker/client';
import * as history from './history';
import { setRenderFault } from './render-faults';
import { methodSettingsText, methodTitle } from './format';
import { decodeShareHash, isShareHash, shareWork, type ShareDocument, type ShareRun, type ShareWork } from '../engine/share-link';
import { RERUN_MAX_TOKENS, runLimitProblem } from '../engine/run-limits';
import { InvalidRecordError } from '../engine/record';
import type { BackendPreference } from '../engine/backend/select';
import type { ExperimentPhase, ProgressUnit } from '../engine/experiment-phases';
import type { BackendStatus, DatasetChoice, JobEvent, ModelSummary, TestHoldCommand } from '../worker/protocol';
import { isL4QStepEvent, type L4QStepEvent } from '../worker/protocol';
import type { L4QMethod } from '../engine/record';

/** The model the studio opens with, served beside the page (public/models/). */
export const BUNDLED_MODEL = { id: 'stories260K', path: 'models/stories260K/' } as const;
/** Bundled texts, served beside the page (public/datasets/). */
export const DATASETS_PATH = 'datasets/';
export const DEFAULT_DATASET: BundledDatasetName = 'tinystories';
export const DEFAULT_WINDOWS = '0:4';

/** Which backend a loaded model runs on, and why (the banner and the model panel show it). */
function backendStatusOf(summary: ModelSummary): BackendStatus {
  const { backend, reason, fallbackReason, softwareAdapter } = summary;
  return { backend, ...(reason ? { reason } : {}), ...(fallbackReason ? { fallbackReason } : {}), ...(softwareAdapter ? { softwareAdapter } : {}) };
}
/** Used until the model says its own max_position_embeddings. */
const FALLBACK_SEQLEN = 512;
/** Larger uploads are refused before they are read (the whole text is tokenized at once). */
export const MAX_TEXT_BYTES = 32 * 1024 * 1024;

export type DataSource = BundledDatasetName | 'paste' | 'file';
export type LoadStatus = 'idle' | 'loading' | 'loaded' | 'error';

export interface Job {
  id: string;
  kind: 'load' | 'evaluate' | 'prune' | 'quantize';
  /** What the job works on, for the progress line ("stories260K", "tinystories"). */
  subject: string;
  /** The run as the Runs panel names it ("Wanda 50% · tinystories 0:4"). */
  label?: string;
  phase: ExperimentPhase;
  done: number;
  /** null while unknown. */
  total: number | null;
  unit: ProgressUnit;
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

/** A run waiting in the queue; its inputs were checked and fixed when it was queued. */
export interface QueuedRun {
  id: string;
  kind: 'evaluate' | 'prune' | 'quantize';
  label: string;
  subject: string;
  firstPhase: ExperimentPhase;
  unit: ProgressUnit;
  start(client: StudioClient, jobId: string, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** Notice titles when the run is cancelled or fails. */
  what: string;
  done(): void;
}

/** An experiment opened from a share link: its results are shown as they came, apart from the history. */
export interface SharedView {
  doc: ShareDocument;
  /** Set when "re-run here" was pressed and the runs were queued. */
  rerunQueued: boolean;
  /** Set when "re-run here" was pressed on a large experiment: its numbers, until the user confirms or declines. */
  confirmWork?: ShareWork;
}

/**
 * What a notice offers besides dismissing it: ways back that work without the Results
 * panel (a broken record, a history that cannot be read, a full storage).
 */
export type NoticeAction = 'export-history' | 'clear-history' | 'clear-hub-cache';

export interface Notice {
  id: string;
  kind: 'error' | 'info';
  title: string;
  message: string;
  actions?: NoticeAction[];
}

/** A history import whose ids are already in the history: waits for the user to choose. */
export interface PendingImport {
  fileName: string;
  batch: history.HistoryBatch;
  /** Ids of the file's records that are already in the history (they would be replaced). */
  existing: string[];
}

export interface UploadedText {
  name: string;
  text: string;
  bytes: number;
}

/** The live view of an L4Q training job: its loss curve so far and whether it is paused. */
export interface TrainingView {
  jobId: string;
  label: string;
  points: { step: number; loss: number; phase: L4QStepEvent['phase'] }[];
  /** The RTN-then-LoRA baseline's steps, when the run trains it (before L4Q's). */
  baseline: { step: number; loss: number }[];
  total: number;
  etaMs: number | null;
  paused: boolean;
  /** running until the job ends; then the outcome. */
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
}

export interface StudioState extends HubSlice {
  client: StudioClient | null;
  model: ModelSummary | null;
  /** How many files a model loaded from the disk came from (shown with it). */
  localFiles: number | null;
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

  /** The job running now (a model load or the head of the run queue). */
  job: Job | null;
  /** Runs waiting for the current job to end, in order. */
  queue: QueuedRun[];
  results: ExperimentRecord[];
  /** The experiment of the share link the page was opened with. */
  shared: SharedView | null;
  /** Why the page's share link could not be opened. */
  shareError: string | null;
  notices: Notice[];
  /** 'loading' until the saved history is read; 'memory' when the browser offers no IndexedDB. */
  historyStatus: 'loading' | 'saved' | 'memory';
  /** The browser's answer to navigator.storage.persist() (null: not asked yet, or no API). */
  historyPersisted: boolean | null;
  /** Ids of shown results that are not in the saved history (the save failed: storage full, invalid). */
  unsaved: string[];
  /** An import waiting for "replace" or "keep" (some of its ids are in the history already). */
  pendingImport: PendingImport | null;

  init(): void;
  loadBundledModel(): Promise<void>;
  /** Loads a model from files the user chose on their disk (a Hub-layout folder). */
  loadLocalModel(files: File[]): Promise<void>;
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
  /**
   * Quantizes the loaded model (or, with afterPrune, the last pruned one) to packed integers
   * with round-to-nearest; scores it before and after on the Data & evaluate form's windows.
   */
  quantize(method: RtnMethod, opts?: { afterPrune?: boolean }): Promise<void>;
  /** Queues one RTN run per method (a bits sweep: the same settings at several bit widths). */
  quantizeSweep(methods: RtnMethod[], opts?: { afterPrune?: boolean }): Promise<void>;
  /** The loss curve of the running (or last) L4Q training job. */
  training: TrainingView | null;
  /**
   * Queues L4Q training on the loaded (or, with afterPrune, the last pruned) model; calibration = the training windows.
   * rtnLora: also train the RTN-then-LoRA baseline first (the same LoRA budget on the RTN model, unmerged).
   */
  trainL4Q(method: L4QMethod, calibration: PruneCalibration, opts?: { afterPrune?: boolean; rtnLora?: boolean }): Promise<void>;
  /** Holds / continues the running L4Q job between two steps. */
  pauseTraining(): Promise<void>;
  resumeTraining(): Promise<void>;
  /** Queues one prune run per method (a sweep: the same method at several sparsities). */
  sweep(methods: Exclude<MethodSpec, { name: 'dense' }>[], calibration: PruneCalibration): Promise<void>;
  /** Cancels the running job. */
  cancel(): Promise<void>;
  /** Cancels the run with this id: the running one, or a queued one (removed before it starts). */
  cancelRun(id: string): Promise<void>;
  /** Opens a share link's hash ("#pq1=…"): shows its results, or the reason it cannot be read. */
  openShareLink(hash: string): void;
  closeShared(): void;
  /**
   * Queues the shared experiment's runs on the loaded model. A large experiment (see
   * shareWork) first sets shared.confirmWork; it is queued when called with confirmed.
   */
  rerunShared(opts?: { confirmed?: boolean }): void;
  /** Declines the confirmation of a large re-run. */
  declineRerun(): void;
  /** Reads the saved history into results (called by init). */
  loadHistory(): Promise<void>;
  /** Removes one result from the page and the saved history. */
  removeResult(id: string): Promise<void>;
  /** Removes every result from the page and the saved history. */
  clearHistory(): Promise<void>;
  /** The history as one JSON document (the saved one, or the page's results when nothing is saved). */
  exportHistory(): Promise<string>;
  /**
   * Adds the valid records of a history file; invalid entries are skipped and counted in a
   * notice. When some of its ids are in the history already, nothing is stored until
   * resolveImport says whether to replace them.
   */
  importHistory(text: string, fileName: string): Promise<void>;
  /** importHistory for a chosen file, refused from its size before it is read. */
  importHistoryFile(file: File): Promise<void>;
  /** replace: store every record; new-only: store those whose id is not in the history; cancel: store nothing. */
  resolveImport(choice: 'replace' | 'new-only' | 'cancel'): Promise<void>;
  /** Saves again the shown results whose save failed (after the Hub cache was cleared). */
  saveUnsaved(): Promise<void>;
  /** Another tab saved, removed or cleared runs (history.onHistoryChange): this page's results follow. */
  applyHistoryChange(change: history.HistoryChange): void;
  dismissNotice(id: string): void;
  /** Shows an error notice (form checks done in a panel). */
  reportError(title: string, message: string): void;
}

/**
 * Fault injection for the reliability tests (`?testhooks=1`): window.__studioTestHooks can
 * lose the GPU device or crash the worker, and hold a job at a phase of its progress until
 * released (`holdAt`, `holdState`, `release`: the worker's testHold), so that a test acts on
 * a job that is certainly running. Without the flag nothing is exposed and the worker
 * refuses the hooks.
 */
function testHooksEnabled(): boolean {
  return typeof location !== 'undefined' && new URLSearchParams(location.search).get('testhooks') === '1';
}

function exposeTestHooks(client: () => StudioClient | null): void {
  const call = (name: 'lose-device' | 'crash' | 'memory' | 'hang') => client()?.testHook(name) ?? Promise.reject(new Error('no engine worker'));
  const hold = (command: TestHoldCommand) => client()?.testHold(command) ?? Promise.reject(new Error('no engine worker'));
  (window as unknown as { __studioTestHooks: unknown }).__studioTestHooks = {
    loseDevice: () => call('lose-device'),
    crashWorker: () => call('crash'),
    hangWorker: () => call('hang'),
    gpuMemory: () => call('memory'),
    /** Makes a component throw while rendering ("result:<id>", "charts:results"): the error boundaries' tests. */
    failRender: (key: string, on = true) => setRenderFault(key, on),
    /** Closes the history's database connection as the browser may: the next call must reopen it. */
    closeHistoryDb: () => history.closeConnectionForTests(),
    holdAt: (phase: ExperimentPhase, done = 0) => hold({ hold: { phase, done } }),
    holdState: () => hold({}),
    release: () => hold({ release: true }),
  };
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

function newJob(kind: Job['kind'], subject: string, phase: ExperimentPhase, unit: ProgressUnit): Job {
  const now = performance.now();
  return { id: nextId(kind), kind, subject, phase, done: 0, total: null, unit, startedAt: now, phaseStartedAt: now, lastEventAt: now, cancelling: false };
}

export function bundledTitle(name: BundledDatasetName): string {
  return BUNDLED_DATASETS[name].title;
}

/** Why the page cannot re-run a shared experiment as it is (null when it can). */
export function rerunProblem(doc: ShareDocument, model: ModelSummary | null): string | null {
  const { model: m, data, runs } = doc.experiment;
  if (!model) return 'Wait for the model to load first.';
  if (model.ref.id !== m.id) {
    return m.source === 'hub'
      ? `This experiment ran on the Hub model ${m.id}${m.revision ? ` (revision ${m.revision})` : ''}; the studio has ${model.ref.id} loaded. Load ${m.id} first.`
      : m.source === 'local'
        ? `This experiment ran on the local model "${m.id}", whose files are on the sender's computer. Load the same files in the Model panel first.`
        : `This experiment ran on the bundled model ${m.id}; the studio has ${model.ref.id} loaded.`;
  }
  if (data.dataset.source !== 'bundled' || !(data.dataset.name in BUNDLED_DATASETS))
    return `The experiment was evaluated on ${data.dataset.source === 'paste' ? 'pasted text' : 'the file'} "${data.dataset.name}" (SHA-256 ${data.dataset.sha256.slice(0, 12)}…), which a link does not carry. Choose the same text in Data and run the method there.`;
  for (const r of runs) {
    const name: string = r.method.name;
    if (name !== 'dense' && name !== 'magnitude' && name !== 'wanda' && name !== 'flap' && name !== 'rtn' && name !== 'l4q')
      return `The link holds a ${name.toUpperCase()} run; "re-run here" repeats evaluation, pruning and RTN runs. Set the same ${name.toUpperCase()} settings in its panel to run it.`;
    // Wanda and FLAP need their calibration text; the page offers the bundled ones.
    if ((name === 'wanda' || name === 'flap' || name === 'l4q') && (!r.calibration || !(r.calibration.dataset in BUNDLED_DATASETS)))
      return `A ${r.method.name} run was calibrated on "${r.calibration?.dataset ?? 'unknown text'}", which is not one of the bundled texts.`;
  }
  const work = shareWork(doc.experiment);
  if (work.tooLarge)
    return `This experiment computes about ${Math.round(work.total).toLocaleString('en-US')} tokens through the model (${work.lines.join('; ')}), over the ${RERUN_MAX_TOKENS.toLocaleString('en-US')} a re-run may queue: days of work in a browser tab. Set smaller settings in the panels to run a part of it.`;
  return null;
}

/** True while runs are queued or running (a model load is not a run): leaving the page then asks first. */
export function runsPending(s: Pick<StudioState, 'job' | 'queue'>): boolean {
  return s.queue.length > 0 || (s.job !== null && s.job.kind !== 'load');
}

function calibrationOfRun(run: ShareRun): PruneCalibration {
  const c = run.calibration;
  // Magnitude needs no calibration; the default settings are passed and not used.
  if (!c) return { dataset: DEFAULT_DATASET, sampling: { ...DEFAULT_CALIBRATION } };
  return { dataset: c.dataset as BundledDatasetName, sampling: { samples: c.samples, seqlen: c.seqlen, offset: c.offset, seed: c.seed } };
}

export const useStudio = create<StudioState>()((set, get) => {
  const notify = (kind: Notice['kind'], title: string, message: string, actions?: NoticeAction[]) =>
    set((s) => ({ notices: [...s.notices, { id: nextId('notice'), kind, title, message, ...(actions ? { actions } : {}) }] }));

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

  const markUnsaved = (ids: string[]) => set((st) => ({ unsaved: [...new Set([...st.unsaved, ...ids])] }));
  const markSaved = (ids: string[]) => set((st) => ({ unsaved: st.unsaved.filter((id) => !ids.includes(id)) }));

  /**
   * A save that failed: the run stays on the page (in `unsaved`) and the notice says why
   * and what to do. Storage full (the Hub cache shares the origin's quota): export the
   * history, or clear the Hub cache, after which the unsaved runs are saved again.
   */
  const saveFailed = (e: unknown, ids: string[], what: string) => {
    if (e instanceof history.HistoryUnavailableError) return historyFailed(e, what);
    markUnsaved(ids);
    const runs = `${ids.length === 1 ? 'The run is' : `${ids.length} runs are`} shown on this page but not saved`;
    if (history.isQuotaError(e))
      notify(
        'error',
        'Storage is full: not saved',
        `The browser refused to store more for this site (its quota is shared with the Hub model cache). ${runs}, and are lost on reload unless you export the history or clear the Hub cache (they are saved then).`,
        ['export-history', 'clear-hub-cache'],
      );
    else if (e instanceof InvalidRecordError) notify('error', 'Result not saved', `${e.message}. ${runs}; export the history to keep a copy.`, ['export-history']);
    else notify('error', `Could not ${what}`, `${errorMessage(e)}. ${runs}.`, ['export-history']);
  };

  /** Saves a finished run; the page keeps it whether or not the save works. */
  const keepRecord = (record: ExperimentRecord) => {
    set((st) => ({ results: [record, ...st.results.filter((r) => r.id !== record.id)] }));
    if (get().historyStatus === 'memory') return;
    history.save(record).then(
      () => markSaved([record.id]),
      (e: unknown) => saveFailed(e, [record.id], 'save the result to the history'),
    );
  };

  /** Stores imported records and shows them. */
  const storeImport = async (batch: history.HistoryBatch, fileName: string, replaced: number) => {
    mergeResults(batch.records);
    if (get().historyStatus !== 'memory') {
      try {
        await history.saveMany(batch.records);
        markSaved(batch.records.map((r) => r.id));
      } catch (e) {
        saveFailed(e, batch.records.map((r) => r.id), 'save the imported records');
      }
    }
    const n = batch.records.length;
    const notes = [
      batch.skipped > 0
        ? `${batch.skipped} invalid ${batch.skipped === 1 ? 'entry was' : 'entries were'} skipped${batch.firstProblem ? ` (the first: ${batch.firstProblem})` : ''}.`
        : 'every entry was a valid experiment record.',
      ...(replaced > 0 ? [`${replaced} existing ${replaced === 1 ? 'run was' : 'runs were'} replaced.`] : []),
    ];
    notify('info', `Imported ${n} record${n === 1 ? '' : 's'}`, `${fileName}: ${notes.join(' ')}`);
  };

  /** Applies a history change announced by another tab of the studio. */
  const applyHistoryChange = (change: history.HistoryChange) => {
    if (get().historyStatus !== 'saved') return;
    if (change.type === 'saved') {
      history.getMany(change.ids).then(mergeResults, () => undefined);
      return;
    }
    const unsaved = new Set(get().unsaved);
    const gone = get().results.filter((r) => !unsaved.has(r.id) && (change.type === 'cleared' || change.ids.includes(r.id)));
    if (gone.length === 0) return;
    const ids = new Set(gone.map((r) => r.id));
    set((st) => ({ results: st.results.filter((r) => !ids.has(r.id)) }));
    // A clear elsewhere must not empty this page without a word.
    if (change.type === 'cleared') notify('info', 'History cleared in another tab', `Another tab of the studio cleared the saved history; its ${gone.length} run${gone.length === 1 ? ' was' : 's were'} removed from this page too.`);
  };

  /** Ends a job and starts the next queued run (a load also ends here, so queued runs then start). */
  const endJob = (id: string) => {
    set((s) => (s.job?.id === id ? { job: null } : {}));
    // After the caller's own state updates of this tick.
    queueMicrotask(pump);
  };

  /** When the engine worker last died (ms), to stop restarting one that dies at once every time. */
  const crashTimes: number[] = [];
  /** The files of the last local model loaded (references to the user's files), to reload it. */
  let lastLocalFiles: File[] | null = null;
  /**
   * Loads the model the studio had into a new worker: the same bundled, Hub (from the
   * cache when it was cached) or local model (the files the user chose, read again).
   * Returns what the notice says about it.
   */
  const reloadModel = (model: ModelSummary | null): string => {
    const ref = model?.ref;
    if (ref?.source === 'hub') {
      void get().loadHubModel(ref.id, ref.revision);
      return `${ref.id} is being loaded again (from the Hub cache where it was cached)`;
    }
    if (ref?.source === 'local') {
      if (lastLocalFiles) {
        void get().loadLocalModel(lastLocalFiles);
        return `the local model "${ref.id}" is being read again from the chosen files`;
      }
      void get().loadBundledModel();
      return `the local model "${ref.id}" must be chosen again in the Model panel; ${BUNDLED_MODEL.id} is loaded meanwhile`;
    }
    void get().loadBundledModel();
    return `${BUNDLED_MODEL.id} is being reloaded`;
  };
  /**
   * A crashed worker took the loaded model (and its GPU device) with it: start a new worker,
   * reload the same model, keep every result. The crashed job's own promise rejects too and
   * shows its own notice. After three crashes within a minute the studio stops restarting.
   * A worker the client ended because a cancelled job did not stop ('unresponsive') is
   * replaced the same way; it does not count as a crash (the user asked for it).
   */
  const onWorkerCrash = (e: WorkerCrashedError) => {
    const model = get().model;
    if (e.reason !== 'unresponsive') {
      const now = Date.now();
      crashTimes.push(now);
      while (crashTimes.length && crashTimes[0]! < now - 60_000) crashTimes.shift();
      if (crashTimes.length > 3) {
        set({ client: null, job: null, loadStatus: 'error', loadError: e.message });
        notify('error', 'The engine keeps stopping', `${e.message}. It stopped ${crashTimes.length} times within a minute and was not restarted; reload the page. Your results are kept.`);
        return;
      }
    }
    // The new worker holds no model until the reload ends: queued runs wait for it.
    set({ client: startClient(), job: null, model: null, loadStatus: 'loading', loadError: null });
    const reloading = reloadModel(model);
    if (e.reason === 'unresponsive') {
      notify('error', 'The engine was restarted', `${e.detail.charAt(0).toUpperCase()}${e.detail.slice(1)}; a new one was started and ${reloading}. Your results are kept; queued runs start once it is loaded.`);
    } else {
      notify('error', 'The engine stopped and was restarted', `${e.message}. A new engine was started and ${reloading}; your results are kept.`);
    }
  };
  const startClient = () => createStudioClient({ onCrash: onWorkerCrash, testHooks: testHooksEnabled() });

  /** Starts the first queued run when nothing runs and a model is loaded. */
  const pump = () => {
    const s = get();
    if (s.job || !s.client || s.queue.length === 0 || !s.model) return;
    const [next, ...rest] = s.queue as [QueuedRun, ...QueuedRun[]];
    const j: Job = { ...newJob(next.kind, next.subject, next.firstPhase, next.unit), id: next.id, label: next.label };
    set({ job: j, queue: rest });
    const client = s.client;
    void (async () => {
      try {
        keepRecord(await next.start(client, j.id, onEvent));
      } catch (e) {
        const message = errorMessage(e);
        if (isCancellation(e)) notify('info', `${next.what} cancelled`, `${next.label}: ${message}. Earlier results are kept.`);
        else notify('error', `${next.what} failed`, `${next.label}: ${message}`);
      } finally {
        next.done();
        endJob(j.id);
      }
    })();
  };

  /** Adds a run to the queue; resolves when it has ended (finished, failed or cancelled). */
  const enqueue = (run: Omit<QueuedRun, 'id' | 'done'>): Promise<void> =>
    new Promise<void>((resolve) => {
      const queued: QueuedRun = { ...run, id: nextId(run.kind), done: resolve };
      set((s) => ({ queue: [...s.queue, queued] }));
      pump();
    });

  /** A prune run on a checked dataset/protocol. */
  const pruneRun = (
    inputs: { dataset: DatasetChoice; seqlen: number; windows: string },
    method: Exclude<MethodSpec, { name: 'dense' }>,
    calibration: PruneCalibration,
  ): Omit<QueuedRun, 'id' | 'done'> => {
    const { dataset, seqlen, windows } = inputs;
    return {
      kind: 'prune',
      subject: dataset.name,
      label: `${methodTitle(method)} ${methodSettingsText(method).split(' · ')[0]} · ${dataset.name} ${windows}`,
      firstPhase: dataset.kind === 'bundled' ? 'download' : 'tokenize',
      unit: 'steps',
      what: 'Pruning',
      start: (client, jobId, cb) =>
        client.prune(
          {
            jobId,
            method,
            dataset,
            datasetsUrl: pageUrl(DATASETS_PATH),
            seqlen,
            windows,
            calibration: { dataset: { kind: 'bundled', name: calibration.dataset }, sampling: calibration.sampling },
            backend: get().backendPreference,
          },
          cb,
        ),
    };
  };

  /** A quantization run on a checked dataset/protocol. */
  const quantizeRun = (inputs: { dataset: DatasetChoice; seqlen: number; windows: string }, method: RtnMethod, afterPrune: boolean): Omit<QueuedRun, 'id' | 'done'> => {
    const { dataset, seqlen, windows } = inputs;
    return {
      kind: 'quantize',
      subject: dataset.name,
      label: `${methodTitle(method)} ${methodSettingsText(method)}${afterPrune ? ' (after pruning)' : ''} · ${dataset.name} ${windows}`,
      firstPhase: dataset.kind === 'bundled' ? 'download' : 'tokenize',
      unit: 'steps',
      what: 'Quantization',
      start: (client, jobId, cb) => client.quantize({ jobId, method, dataset, datasetsUrl: pageUrl(DATASETS_PATH), seqlen, windows, afterPrune, backend: get().backendPreference }, cb),
    };
  };

  /** An L4Q run: its step events feed `training` (the live curve); phase events feed the job line. */
  const l4qRun = (inputs: { dataset: DatasetChoice; seqlen: number; windows: string }, method: L4QMethod, calibration: PruneCalibration, afterPrune: boolean, rtnLora = false): Omit<QueuedRun, 'id' | 'done'> => {
    const { dataset, seqlen, windows } = inputs;
    const label = `${methodTitle(method)} ${method.bits}-bit${afterPrune ? ' (after pruning)' : ''}${rtnLora ? ' + RTN-then-LoRA' : ''} · ${dataset.name} ${windows}`;
    return {
      kind: 'quantize',
      subject: dataset.name,
      label,
      firstPhase: dataset.kind === 'bundled' ? 'download' : 'tokenize',
      unit: 'steps',
      what: 'L4Q training',
      start: async (client, jobId, cb) => {
        set({ training: { jobId, label, points: [], baseline: [], total: method.steps, etaMs: null, paused: false, state: 'running' } });
        const onStep = (e: L4QStepEvent) =>
          set((st) => {
            if (st.training?.jobId !== e.jobId) return {};
            const t = st.training;
            return e.run === 'rtn-lora'
              ? { training: { ...t, baseline: [...t.baseline, { step: e.step, loss: e.loss }], etaMs: e.etaMs } }
              : { training: { ...t, points: [...t.points, { step: e.step, loss: e.loss, phase: e.phase }], etaMs: e.etaMs } };
          });
        const end = (state: TrainingView['state']) => set((st) => (st.training?.jobId === jobId ? { training: { ...st.training, state, paused: false } } : {}));
        try {
          const record = await client.l4q(
            {
              jobId,
              method,
              dataset,
              datasetsUrl: pageUrl(DATASETS_PATH),
              seqlen,
              windows,
              calibration: { dataset: { kind: 'bundled', name: calibration.dataset }, sampling: calibration.sampling },
              afterPrune,
              compareRtnLora: rtnLora,
              backend: get().backendPreference,
            },
            (e) => (isL4QStepEvent(e) ? onStep(e) : cb(e)),
          );
          end('done');
          return record;
        } catch (e) {
          end(isCancellation(e) ? 'cancelled' : 'failed');
          throw e;
        }
      },
    };
  };

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
    const limit = runLimitProblem({ seqlen, windows });
    if (limit) {
      notify('error', 'Run over the limits', limit);
      return null;
    }
    return { dataset, seqlen, windows };
  };

  /** The run's method and calibration within RECORD_LIMITS (a notice naming the limit when not). */
  const withinLimits = (inputs: { seqlen: number; windows: string }, method: MethodSpec, calibration?: PruneCalibration): boolean => {
    const limit = runLimitProblem({ ...inputs, method, ...(calibration ? { sampling: calibration.sampling } : {}) });
    if (limit) notify('error', 'Run over the limits', limit);
    return limit === null;
  };

  return {
    client: null,
    model: null,
    localFiles: null,
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
    queue: [],
    results: [],
    training: null,
    shared: null,
    shareError: null,
    notices: [],
    historyStatus: 'loading',
    historyPersisted: null,
    unsaved: [],
    pendingImport: null,

    init() {
      if (get().client) return;
      set({ client: startClient() });
      if (testHooksEnabled()) exposeTestHooks(() => get().client);
      if (typeof window !== 'undefined') {
        history.onHistoryChange((change) => get().applyHistoryChange(change));
        // Leaving or reloading drops the queue and the running job: ask first.
        window.addEventListener('beforeunload', (e) => {
          if (!runsPending(get())) return;
          e.preventDefault();
          e.returnValue = '';
        });
      }
      if (typeof location !== 'undefined') {
        if (isShareHash(location.hash)) get().openShareLink(location.hash);
        // A link pasted into this tab's address bar opens without a reload.
        window.addEventListener('hashchange', () => {
          if (isShareHash(location.hash)) get().openShareLink(location.hash);
        });
      }
      void get().loadHistory();
      void get().loadBundledModel();
    },

    async loadHistory() {
      // The history shares the origin's quota with the multi-GB Hub cache: ask the browser not to evict it.
      void history.requestPersistence().then((persisted) => set({ historyPersisted: persisted }));
      try {
        const { records, skipped, firstProblem } = await history.loadAll();
        set({ historyStatus: 'saved' });
        mergeResults(records);
        if (skipped > 0) {
          const entries = `${skipped} saved ${skipped === 1 ? 'entry' : 'entries'}`;
          notify(
            'info',
            `History: ${skipped} ${skipped === 1 ? 'entry' : 'entries'} skipped`,
            `${entries} could not be read as experiment records and ${skipped === 1 ? 'was' : 'were'} skipped; ${records.length} loaded. Clear history removes ${skipped === 1 ? 'it' : 'them'}.${firstProblem ? ` The first: ${firstProblem}.` : ''}`,
            ['clear-history'],
          );
        }
      } catch (e) {
        if (!(e instanceof history.HistoryUnavailableError)) {
          set({ historyStatus: 'saved' });
          // Without a readable history the Results panel may show nothing to act on: offer the way out here.
          notify('error', 'Could not read the saved history', `${errorMessage(e)}. Export what can be read, or clear the saved history to start afresh.`, ['export-history', 'clear-history']);
          return;
        }
        historyFailed(e, 'read the saved history');
      }
    },

    async removeResult(id) {
      set((s) => ({ results: s.results.filter((r) => r.id !== id), unsaved: s.unsaved.filter((x) => x !== id) }));
      if (get().historyStatus === 'memory') return;
      try {
        await history.remove(id);
      } catch (e) {
        historyFailed(e, 'remove the result from the history');
      }
    },

    async clearHistory() {
      set({ results: [], unsaved: [] });
      if (get().historyStatus === 'memory') return;
      try {
        await history.clear();
      } catch (e) {
        historyFailed(e, 'clear the history');
      }
    },

    async exportHistory() {
      // The saved records and the page's (some may not be saved: storage full), newest first.
      if (get().historyStatus === 'saved') {
        try {
          const saved = (await history.loadAll()).records;
          const ids = new Set(saved.map((r) => r.id));
          return history.historyJson(history.newestFirst([...saved, ...get().results.filter((r) => !ids.has(r.id))]));
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
      // Ids already in the history (this tab's or another's): ask before replacing those runs.
      const ids = batch.records.map((r) => r.id);
      const shown = new Set(get().results.map((r) => r.id));
      let stored: string[] = [];
      if (get().historyStatus === 'saved') {
        try {
          stored = await history.existingIds(ids);
        } catch {
          stored = [];
        }
      }
      const existing = ids.filter((id) => shown.has(id) || stored.includes(id));
      if (existing.length > 0) {
        set({ pendingImport: { fileName, batch, existing } });
        return;
      }
      await storeImport(batch, fileName, 0);
    },

    async importHistoryFile(file) {
      const problem = history.historyFileProblem(file);
      if (problem) {
        notify('error', `Could not import ${file.name}`, problem);
        return;
      }
      let text: string;
      try {
        text = await file.text();
      } catch (e) {
        notify('error', `Could not read ${file.name}`, errorMessage(e));
        return;
      }
      await get().importHistory(text, file.name);
    },

    async resolveImport(choice) {
      const pending = get().pendingImport;
      if (!pending) return;
      set({ pendingImport: null });
      if (choice === 'cancel') return;
      const { batch, fileName, existing } = pending;
      if (choice === 'replace') return storeImport(batch, fileName, existing.length);
      const kept = batch.records.filter((r) => !existing.includes(r.id));
      await storeImport({ records: kept, skipped: batch.skipped }, fileName, 0);
    },

    async saveUnsaved() {
      const ids = new Set(get().unsaved);
      const records = get().results.filter((r) => ids.has(r.id));
      if (records.length === 0 || get().historyStatus !== 'saved') return;
      try {
        await history.saveMany(records);
        markSaved(records.map((r) => r.id));
        notify('info', `Saved ${records.length} run${records.length === 1 ? '' : 's'}`, 'The runs that could not be saved earlier are in the history now.');
      } catch (e) {
        saveFailed(e, records.map((r) => r.id), 'save the results to the history');
      }
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
          backendStatus: backendStatusOf(summary),
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

    async loadLocalModel(files) {
      const { client, job } = get();
      if (!client || job) return;
      let byName: Map<string, Blob>;
      try {
        byName = filesByName(files);
        if (!byName.has('config.json')) throw new Error(`config.json is not among the ${files.length} chosen file${files.length === 1 ? '' : 's'}; choose the model's whole folder`);
      } catch (e) {
        notify('error', 'Could not load the chosen files', errorMessage(e));
        return;
      }
      // A folder picker gives "Folder/config.json": name the model after its folder.
      const folder = files[0]?.webkitRelativePath?.split('/')[0];
      const id = folder || 'local files';
      const j = newJob('load', id, 'download', 'bytes');
      set({ job: j, loadStatus: 'loading', loadError: null });
      try {
        const summary = await client.loadModel(
          { jobId: j.id, id, url: '', source: 'local', backend: get().backendPreference, local: { files: Object.fromEntries(byName) } },
          onEvent,
        );
        lastLocalFiles = files;
        set((s) => ({
          model: summary,
          localFiles: byName.size,
          backendStatus: backendStatusOf(summary),
          loadStatus: 'loaded',
          seqlenText: s.seqlenTouched ? s.seqlenText : String(Math.min(summary.maxPositionEmbeddings, HUB_DEFAULT_SEQLEN)),
        }));
      } catch (e) {
        const message = errorMessage(e);
        set((s) => ({ loadStatus: s.model ? 'loaded' : 'error', loadError: message }));
        if (isCancellation(e)) notify('info', 'Model load cancelled', message);
        else notify('error', `Could not load ${id}`, message);
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
      if (!s.client) return;
      const inputs = evalInputs(s, 'evaluate');
      if (!inputs) return;
      const { dataset, seqlen, windows } = inputs;
      await enqueue({
        kind: 'evaluate',
        subject: dataset.name,
        label: `Evaluate · ${dataset.name} ${windows}`,
        firstPhase: dataset.kind === 'bundled' ? 'download' : 'tokenize',
        unit: 'windows',
        what: 'Evaluation',
        start: (client, jobId, cb) => client.evaluate({ jobId, dataset, datasetsUrl: pageUrl(DATASETS_PATH), seqlen, windows, backend: get().backendPreference }, cb),
      });
    },

    async prune(method, calibration) {
      const s = get();
      if (!s.client) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs || !withinLimits(inputs, method, calibration)) return;
      await enqueue(pruneRun(inputs, method, calibration));
    },

    // ---- quantization (RTN): one queued run, like a prune run ----
    async quantize(method, opts = {}) {
      const s = get();
      if (!s.client) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs || !withinLimits(inputs, method)) return;
      await enqueue(quantizeRun(inputs, method, opts.afterPrune ?? false));
    },

    async quantizeSweep(methods, opts = {}) {
      const s = get();
      if (!s.client || methods.length === 0) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs || !methods.every((m) => withinLimits(inputs, m))) return;
      await Promise.all(methods.map((m) => enqueue(quantizeRun(inputs, m, opts.afterPrune ?? false))));
    },

    async trainL4Q(method, calibration, opts = {}) {
      const s = get();
      if (!s.client) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs || !withinLimits(inputs, method, calibration)) return;
      await enqueue(l4qRun(inputs, method, calibration, opts.afterPrune ?? false, opts.rtnLora ?? false));
    },

    async pauseTraining() {
      const { client, training } = get();
      if (!client || !training || training.state !== 'running') return;
      await client.pause(training.jobId);
      set((st) => (st.training?.jobId === training.jobId ? { training: { ...st.training, paused: true } } : {}));
    },

    async resumeTraining() {
      const { client, training } = get();
      if (!client || !training || training.state !== 'running') return;
      await client.resume(training.jobId);
      set((st) => (st.training?.jobId === training.jobId ? { training: { ...st.training, paused: false } } : {}));
    },

    async sweep(methods, calibration) {
      const s = get();
      if (!s.client || methods.length === 0) return;
      const inputs = evalInputs(s, 'prune');
      if (!inputs || !methods.every((m) => withinLimits(inputs, m, calibration))) return;
      await Promise.all(methods.map((m) => enqueue(pruneRun(inputs, m, calibration))));
    },

    async cancelRun(id) {
      const { job, queue } = get();
      if (job?.id === id) return get().cancel();
      const queued = queue.find((q) => q.id === id);
      if (!queued) return;
      set((s) => ({ queue: s.queue.filter((q) => q.id !== id) }));
      queued.done();
    },

    openShareLink(hash) {
      try {
        const doc = decodeShareHash(hash);
        set({ shared: { doc, rerunQueued: false }, shareError: null });
      } catch (e) {
        // A broken link leaves the studio empty of its content: no partial results are shown.
        set({ shared: null, shareError: errorMessage(e) });
      }
    },

    closeShared() {
      set({ shared: null, shareError: null });
    },

    declineRerun() {
      const shared = get().shared;
      if (shared?.confirmWork) set({ shared: { doc: shared.doc, rerunQueued: shared.rerunQueued } });
    },

    rerunShared(opts = {}) {
      const s = get();
      const shared = s.shared;
      if (!shared || !s.client) return;
      const problem = rerunProblem(shared.doc, s.model);
      if (problem) {
        notify('error', 'Cannot re-run this experiment here', problem);
        return;
      }
      // A stranger's link can hold hours of work: say how much before queueing it.
      const work = shareWork(shared.doc.experiment);
      if (work.large && !opts.confirmed) {
        set({ shared: { ...shared, confirmWork: work } });
        return;
      }
      const { data, runs } = shared.doc.experiment;
      const inputs = { dataset: { kind: 'bundled', name: data.dataset.name } as DatasetChoice, seqlen: data.seqlen, windows: `${data.windows.start}:${data.windows.end}` };
      for (const run of runs) {
        const limit = runLimitProblem({ seqlen: inputs.seqlen, windows: inputs.windows, method: run.method, ...(run.calibration ? { sampling: run.calibration } : {}) });
        if (limit) {
          notify('error', 'Cannot re-run this experiment here', limit);
          return;
        }
      }
      set({ shared: { doc: shared.doc, rerunQueued: true } });
      for (const run of runs) {
        if (run.method.name === 'dense') {
          void enqueue({
            kind: 'evaluate',
            subject: data.dataset.name,
            label: `Evaluate · ${data.dataset.name} ${inputs.windows}`,
            firstPhase: 'download',
            unit: 'windows',
            what: 'Evaluation',
            start: (client, jobId, cb) => client.evaluate({ jobId, dataset: inputs.dataset, datasetsUrl: pageUrl(DATASETS_PATH), seqlen: inputs.seqlen, windows: inputs.windows, backend: get().backendPreference }, cb),
          });
        } else if (run.method.name === 'rtn') {
          void enqueue(quantizeRun(inputs, run.method, false));
        } else if (run.method.name === 'l4q') {
          void enqueue(l4qRun(inputs, run.method, calibrationOfRun(run), false, run.rtnLora ?? false));
        } else {
          void enqueue(pruneRun(inputs, run.method, calibrationOfRun(run)));
        }
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

    // ---- Hub models: state and actions in hub-slice.ts ----
    ...createHubSlice({
      set,
      get,
      notify,
      onEvent,
      newJob,
      endJob,
      errorMessage,
      isCancellation,
      applyModel: (summary) =>
        set((s) => ({
          model: summary,
          backendStatus: backendStatusOf(summary),
          loadStatus: 'loaded',
          seqlenText: s.seqlenTouched ? s.seqlenText : String(Math.min(summary.maxPositionEmbeddings, HUB_DEFAULT_SEQLEN)),
        })),
    }),
    // ---- end of Hub models ----

    reportError(title, message) {
      notify('error', title, message);
    },

    applyHistoryChange,

    dismissNotice(id) {
      set((s) => ({ notices: s.notices.filter((n) => n.id !== id) }));
    },
  };
});
