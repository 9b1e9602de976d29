/**
 * `--model owner/name [--revision R] [--hub-url URL] [--hub-cache DIR | --no-hub-cache]`:
 * a Hub model for the CLI. The token comes from the HF_TOKEN environment variable only
 * (never an argument, so it stays out of shell history and process lists) and is never
 * printed. The preview (parameters, download size, memory) goes to stderr before the
 * download starts; unsupported or broken repositories fail there.
 */
import os from 'node:os';
import { DEFAULT_HUB_URL, parseHubBaseUrl, parseHubRepo, repoLabel } from '../engine/hub/repo';
import { loadHubModel } from '../engine/hub/load-hub';
import { estimateMemory } from '../engine/hub/memory';
import type { HubPreview } from '../engine/hub/preview';
import { hubSource } from '../engine/hub/hub-source';
import type { LoadedModel } from '../engine/model/load';
import type { FileSource } from '../engine/model/source';
import type { HubCache } from '../engine/hub/cache';
import { defaultHubCacheDir, diskCache } from './hub-disk-cache';

/** parseArgs options every command that takes --model accepts. */
export const HUB_CLI_OPTIONS = {
  revision: { type: 'string' },
  'hub-url': { type: 'string' },
  'hub-cache': { type: 'string' },
  'no-hub-cache': { type: 'boolean' },
} as const;

export interface HubArgs {
  revision?: string;
  'hub-url'?: string;
  'hub-cache'?: string;
  'no-hub-cache'?: boolean;
}

export const HUB_USAGE = `  --model owner/name   a Hugging Face Hub model (downloaded once, then read from the cache)
  --revision R         branch, tag or commit of a Hub model (default main)
  --hub-url URL        the Hub's base URL (default $STUDIO_HUB_URL or ${DEFAULT_HUB_URL})
  --hub-cache DIR      where Hub files are cached (default $STUDIO_HUB_CACHE or ~/.cache/prune-quantize-studio/hub);
                       --no-hub-cache downloads without caching. Gated models: set HF_TOKEN in the environment.`;

const mb = (b: number) => (b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

export function previewLines(p: HubPreview): string[] {
  const est = estimateMemory(p.config, p.parameters, p.largestTensor.elements, 512);
  const cached = p.files.filter((f) => f.cached).length;
  const lines = [
    `${repoLabel(p.repo)}: ${p.config.architecture}, ${p.parameters.toLocaleString('en-US')} parameters (${p.dtypes.join(', ')}), ${p.files.length} weight file${p.files.length === 1 ? '' : 's'}`,
    `download ${mb(p.downloadBytes)} of ${mb(p.totalBytes)}${cached ? ` (${cached} file${cached === 1 ? '' : 's'} cached)` : ''}; memory: ${mb(est.weights)} float32 weights, about ${mb(est.evaluate.gpu)} to evaluate at seqlen 512, up to ${mb(est.prune.gpu)} to prune`,
  ];
  if (est.prune.host > os.totalmem() / 2) lines.push(`warning: this machine has ${mb(os.totalmem())} of memory; pruning this model needs about ${mb(est.prune.host)}`);
  return lines;
}

export async function loadCliHubModel(
  arg: string,
  hub: HubArgs,
  log: (line: string) => void,
  progress?: (loaded: number, total: number | null) => void,
): Promise<{ model: LoadedModel; source: FileSource; revision: string }> {
  const repo = parseHubRepo(arg, hub.revision);
  const baseUrl = parseHubBaseUrl(hub['hub-url'] ?? process.env.STUDIO_HUB_URL ?? DEFAULT_HUB_URL).href;
  const token = process.env.HF_TOKEN?.trim() || null;
  const cache: HubCache | null = hub['no-hub-cache'] ? null : diskCache(hub['hub-cache'] ?? defaultHubCacheDir());
  const endpoint = { baseUrl, token };
  const { model, warnings } = await loadHubModel({
    endpoint,
    repo,
    cache,
    beforeDownload: (p) => previewLines(p).forEach(log),
    onProgress: progress ? (p) => progress(p.loaded, p.total) : undefined,
  });
  for (const w of warnings) log(`warning: ${w}`);
  // Companion files (tokenizer, config) for --out come from the same cache.
  return { model, source: hubSource({ endpoint, repo, cache }), revision: repo.revision };
}
