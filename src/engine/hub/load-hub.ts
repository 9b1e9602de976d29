/**
 * Loading a Hub model, as the worker and the CLI both do it: preview first (config and
 * headers only; unsupported or broken repositories stop here), a check by the caller
 * against its memory limits, then the streamed download, then the cache writes settled.
 */
import { loadModel, type LoadedModel } from '../model/load';
import type { ByteProgress } from '../model/source';
import type { HubCache } from './cache';
import type { HubEndpoint } from './http';
import { hubSource } from './hub-source';
import { hubPreview, type HubPreview } from './preview';
import type { HubRepo } from './repo';

export interface HubLoadOptions {
  endpoint: HubEndpoint;
  repo: HubRepo;
  cache?: HubCache | null;
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
  /** Called with the preview before any weight byte is downloaded; throw to refuse. */
  beforeDownload?: (preview: HubPreview) => void | Promise<void>;
}

export interface HubLoadResult {
  model: LoadedModel;
  preview: HubPreview;
  /** Files that could not be cached (e.g. storage quota); the model loaded regardless. */
  warnings: string[];
}

export async function loadHubModel(opts: HubLoadOptions): Promise<HubLoadResult> {
  const src = hubSource({ endpoint: opts.endpoint, repo: opts.repo, cache: opts.cache });
  const preview = await hubPreview(src, opts.signal);
  await opts.beforeDownload?.(preview);
  const model = await loadModel(opts.repo.id, src, {
    signal: opts.signal,
    onProgress: opts.onProgress,
    weightFileSizes: Object.fromEntries(preview.files.map((f) => [f.name, f.bytes])),
  });
  return { model, preview, warnings: await src.settle() };
}
