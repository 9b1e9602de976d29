/**
 * The studio's Hub-model state and actions (docs/models.md#hub-models), mixed into the store (store.ts).
 *
 * - hubUrl: the Hub's base URL, a setting kept in localStorage (tests point it at a local
 *   server in the Hub's layout).
 * - hubToken: the access token for gated models. Kept in memory; in sessionStorage (this
 *   tab only, gone when it closes) only if the user ticks "remember for this tab". It goes
 *   to the worker with each Hub request and from there only to the Hub host; it is never
 *   put in a URL, a share link, a history record or a notice.
 * - previewHubModel: config + safetensors headers → parameters, download size, memory
 *   needs against the backend's limits. loadHubModel: the download itself (refused by the
 *   worker when the model cannot fit), with byte progress and cancel through the job.
 */
import { DEFAULT_HUB_URL, parseHubBaseUrl, parseHubRepo, repoLabel } from '../engine/hub/repo';
import type { StudioClient } from '../worker/client';
import type { ExperimentPhase, ProgressUnit } from '../engine/experiment-phases';
import type { HubCacheUsage, HubPreviewReply, JobEvent, ModelSummary } from '../worker/protocol';
import type { Job, Notice, StudioState } from './store';

const URL_KEY = 'studio.hubUrl';
/**
 * Sequence length a Hub model starts with (unless the user set one): the one the preview's
 * memory estimate assumes, and a window the CPU backend finishes in reasonable time.
 */
export const HUB_DEFAULT_SEQLEN = 512;

/** Set by vite.config.ts from STUDIO_HUB_URL: the Hub host the build's Content-Security-Policy allows. */
declare const __STUDIO_HUB_URL__: string | undefined;
const BUILD_HUB_URL = typeof __STUDIO_HUB_URL__ === 'string' ? __STUDIO_HUB_URL__ : DEFAULT_HUB_URL;
const TOKEN_KEY = 'studio.hubToken';

export interface HubPreviewState {
  id: string;
  revision: string;
  status: 'loading' | 'ready' | 'error';
  reply?: HubPreviewReply;
  error?: string;
}

export interface HubSlice {
  hubUrl: string;
  hubToken: string;
  /** Token also kept in sessionStorage (this tab only). */
  hubRememberToken: boolean;
  hubPreview: HubPreviewState | null;
  hubCacheUsage: HubCacheUsage | null;
  setHubUrl(url: string): void;
  setHubToken(token: string, remember: boolean): void;
  /** Reads a Hub model's config and headers (no weights) and checks its memory needs. */
  previewHubModel(id: string, revision?: string): Promise<HubPreviewReply | null>;
  /**
   * Downloads and loads a Hub model (progress, cancel through `cancel`). The share-link
   * code calls this after asking the user; the worker refuses a model that cannot fit.
   */
  loadHubModel(id: string, revision?: string): Promise<void>;
  clearHubCache(): Promise<void>;
}

function storage(kind: 'local' | 'session'): Storage | null {
  try {
    return kind === 'local' ? globalThis.localStorage : globalThis.sessionStorage;
  } catch {
    return null; // storage disabled (privacy settings): settings live in memory only
  }
}

export interface HubSliceDeps {
  set: (partial: Partial<StudioState> | ((s: StudioState) => Partial<StudioState>)) => void;
  get: () => StudioState;
  notify: (kind: Notice['kind'], title: string, message: string) => void;
  onEvent: (e: JobEvent) => void;
  newJob: (kind: Job['kind'], subject: string, phase: ExperimentPhase, unit: ProgressUnit) => Job;
  endJob: (id: string) => void;
  errorMessage: (e: unknown) => string;
  isCancellation: (e: unknown) => boolean;
  /** Applies a loaded model's summary to the page (as the bundled model's load does). */
  applyModel: (summary: ModelSummary) => void;
}

let previewCounter = 0;

export function createHubSlice(d: HubSliceDeps): HubSlice {
  const { set, get } = d;
  const savedToken = storage('session')?.getItem(TOKEN_KEY) ?? '';
  const request = (s: StudioState, id: string, revision: string) => ({ baseUrl: s.hubUrl, id, revision, token: s.hubToken.trim() || null });
  const checkUrl = (s: StudioState): string | null => {
    try {
      parseHubBaseUrl(s.hubUrl);
      return null;
    } catch (e) {
      return d.errorMessage(e);
    }
  };

  return {
    hubUrl: storage('local')?.getItem(URL_KEY) ?? BUILD_HUB_URL,
    hubToken: savedToken,
    hubRememberToken: savedToken !== '',
    hubPreview: null,
    hubCacheUsage: null,

    setHubUrl(url) {
      set({ hubUrl: url, hubPreview: null });
      storage('local')?.setItem(URL_KEY, url);
    },

    setHubToken(token, remember) {
      set({ hubToken: token, hubRememberToken: remember });
      const ss = storage('session');
      if (remember && token) ss?.setItem(TOKEN_KEY, token);
      else ss?.removeItem(TOKEN_KEY);
    },

    async previewHubModel(id, revision) {
      const s = get();
      if (!s.client) return null;
      let repo;
      try {
        repo = parseHubRepo(id, revision);
      } catch (e) {
        set({ hubPreview: { id, revision: revision ?? '', status: 'error', error: d.errorMessage(e) } });
        return null;
      }
      const urlProblem = checkUrl(s);
      if (urlProblem) {
        set({ hubPreview: { id: repo.id, revision: repo.revision, status: 'error', error: urlProblem } });
        return null;
      }
      set({ hubPreview: { id: repo.id, revision: repo.revision, status: 'loading' } });
      const seqlen = s.seqlenTouched && Number(s.seqlenText) > 1 ? Number(s.seqlenText) : HUB_DEFAULT_SEQLEN;
      previewCounter += 1;
      try {
        const reply = await s.client.hubPreview({ ...request(s, repo.id, repo.revision), jobId: `hub-preview-${previewCounter}`, backend: s.backendPreference, seqlen });
        // A later preview (another id) wins.
        if (get().hubPreview?.id === repo.id && get().hubPreview?.revision === repo.revision) set({ hubPreview: { id: repo.id, revision: repo.revision, status: 'ready', reply }, hubCacheUsage: reply.cacheUsage });
        return reply;
      } catch (e) {
        if (get().hubPreview?.id === repo.id) set({ hubPreview: { id: repo.id, revision: repo.revision, status: 'error', error: d.errorMessage(e) } });
        return null;
      }
    },

    async loadHubModel(id, revision) {
      const { client, job } = get();
      if (!client || job) return;
      let repo;
      try {
        repo = parseHubRepo(id, revision);
      } catch (e) {
        d.notify('error', 'Not a Hub model id', d.errorMessage(e));
        return;
      }
      const urlProblem = checkUrl(get());
      if (urlProblem) {
        d.notify('error', 'Hub URL', urlProblem);
        return;
      }
      const label = repoLabel(repo);
      const j = d.newJob('load', label, 'download', 'bytes');
      set({ job: j, loadStatus: 'loading', loadError: null });
      try {
        const summary = await client.loadModel(
          { jobId: j.id, id: repo.id, url: '', source: 'hub', backend: get().backendPreference, hub: request(get(), repo.id, repo.revision) },
          d.onEvent,
        );
        d.applyModel(summary);
        for (const w of summary.warnings ?? []) d.notify('error', `${label} is loaded but not cached`, w);
        set({ hubPreview: null });
      } catch (e) {
        const message = d.errorMessage(e);
        set((s) => ({ loadStatus: s.model ? 'loaded' : 'error', loadError: message }));
        if (d.isCancellation(e)) d.notify('info', 'Download cancelled', `${label}: ${message}. Nothing of it was cached.`);
        else d.notify('error', `Could not load ${label}`, message);
      } finally {
        d.endJob(j.id);
      }
    },

    async clearHubCache() {
      const client: StudioClient | null = get().client;
      if (!client) return;
      try {
        const usage = await client.clearHubCache();
        set({ hubCacheUsage: usage, hubPreview: null });
        d.notify('info', 'Hub cache cleared', 'Downloaded Hub models were removed from this browser; they are downloaded again when loaded.');
      } catch (e) {
        d.notify('error', 'Could not clear the Hub cache', d.errorMessage(e));
      }
    },
  };
}
