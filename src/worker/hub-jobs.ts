/**
 * The worker's Hub jobs: preview (config + headers, memory needs against the backend's
 * limits) and load (refused when the check says so, then streamed into the Cache API).
 * The token arrives with each request and lives only as long as the request.
 */
import type { Backend } from '../engine/backend/backend';
import { WebGpuBackend } from '../engine/backend/webgpu';
import { StudioError } from '../engine/errors';
import type { HubCache } from '../engine/hub/cache';
import { loadHubModel, type HubLoadResult } from '../engine/hub/load-hub';
import type { HubOriginPolicy } from '../engine/hub/origins';
import { checkMemory, estimateMemory, reportedDeviceMemoryBytes, type MemoryLimits } from '../engine/hub/memory';
import { hubSource } from '../engine/hub/hub-source';
import { hubPreview, type HubPreview } from '../engine/hub/preview';
import { parseHubRepo } from '../engine/hub/repo';
import type { ByteProgress } from '../engine/model/source';
import type { HubCacheUsage, HubModelRequest, HubPreviewReply } from './protocol';

/** Sequence length assumed by the check done at load time (the page's preview passes its own). */
const LOAD_CHECK_SEQLEN = 512;

export function memoryLimits(backend: Backend): MemoryLimits {
  const deviceMemoryBytes = reportedDeviceMemoryBytes();
  if (backend instanceof WebGpuBackend) {
    const l = backend.runtime.limits;
    return { backend: 'webgpu', maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, adapter: backend.info.device, deviceMemoryBytes };
  }
  return { backend: backend.info.name === 'wasm' ? 'wasm' : 'cpu', deviceMemoryBytes };
}

export async function cacheUsage(cache: HubCache | null): Promise<HubCacheUsage> {
  if (!cache) return { cache: null, used: null, quota: null };
  const u = await cache.usage().catch(() => ({ used: null, quota: null }));
  return { cache: cache.kind, ...u };
}

/**
 * The request's endpoint and repository. `origins` is the site's connect-src (the worker
 * enforces it itself: on a host that sends no CSP header the worker has no policy of its
 * own), null where nothing restricts fetches (Node).
 */
export function endpointOf(req: HubModelRequest, origins: HubOriginPolicy | null = null) {
  return { endpoint: { baseUrl: req.baseUrl, token: req.token ?? null, allowedOrigins: origins }, repo: parseHubRepo(req.id, req.revision) };
}

function assess(preview: HubPreview, limits: MemoryLimits, seqlen: number) {
  const memory = estimateMemory(preview.config, preview.parameters, preview.largestTensor.elements, seqlen);
  return { memory, check: checkMemory(memory, limits) };
}

export async function previewHubJob(
  req: HubModelRequest & { seqlen: number },
  backend: Backend,
  cache: HubCache | null,
  signal: AbortSignal,
  origins: HubOriginPolicy | null = null,
): Promise<HubPreviewReply> {
  const { endpoint, repo } = endpointOf(req, origins);
  const preview = await hubPreview(hubSource({ endpoint, repo, cache }), signal);
  const limits = memoryLimits(backend);
  return { preview, ...assess(preview, limits, req.seqlen), limits, cacheUsage: await cacheUsage(cache) };
}

export async function loadHubJob(
  req: HubModelRequest,
  backend: Backend,
  cache: HubCache | null,
  signal: AbortSignal,
  onProgress: (p: ByteProgress) => void,
  origins: HubOriginPolicy | null = null,
): Promise<HubLoadResult> {
  const { endpoint, repo } = endpointOf(req, origins);
  return loadHubModel({
    endpoint,
    repo,
    cache,
    signal,
    onProgress,
    beforeDownload: (preview) => {
      const { check } = assess(preview, memoryLimits(backend), LOAD_CHECK_SEQLEN);
      if (check.verdict === 'refuse') throw new StudioError('input', `${req.id} does not fit: ${check.messages[0]}`);
    },
  });
}
