/**
 * What a Hub model is before it is downloaded: config.json (refused here if unsupported,
 * before any weight byte is requested), the shard index if any, and the safetensors
 * header of every weight file read with Range requests. From these come the parameter
 * count, the download size, the dtypes, and a check that every tensor the forward pass
 * needs is present with the right shape — so a broken repository fails in seconds, not
 * after a gigabyte.
 */
import { StudioError } from '../errors';
import { type ModelConfig } from '../model/config';
import { loadConfig, loadShardIndex } from '../model/load';
import { DTYPE_BYTES, type TensorEntry } from '../model/safetensors';
import { loadHostWeights } from '../model/weights';
import { checkShardContents, INDEX_FILE, SINGLE_FILE } from '../model/shard-index';
import type { HubSource } from './hub-source';
import type { HubRepo } from './repo';

export interface HubPreview {
  repo: HubRepo;
  config: ModelConfig;
  /** Weight files with their sizes and whether the cache already has them. */
  files: { name: string; bytes: number; cached: boolean }[];
  sharded: boolean;
  /** Bytes of all weight files. */
  totalBytes: number;
  /** Bytes still to download (files not in the cache). */
  downloadBytes: number;
  /** Weights the forward pass uses (a tied head counted once). */
  parameters: number;
  /** Stored dtypes of those weights, e.g. ["BF16"]. */
  dtypes: string[];
  /** The largest weight tensor (its float32 copy is the largest GPU buffer). */
  largestTensor: { name: string; elements: number };
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

export async function hubPreview(src: HubSource, signal?: AbortSignal): Promise<HubPreview> {
  const config = await loadConfig(src, signal);
  const index = await loadShardIndex(src, signal);
  const names = index ? index.shards : [SINGLE_FILE];
  const entries = new Map<string, TensorEntry>();
  const files: HubPreview['files'] = [];
  const byShard = new Map<string, Set<string>>();
  for (const name of names) {
    const { header, size, cached } = await src.readHeader(name, signal);
    files.push({ name, bytes: size, cached });
    byShard.set(name, new Set(header.tensors.keys()));
    for (const e of header.tensors.values()) {
      if (entries.has(e.name)) throw new StudioError('weights', `${src.label}/${name}: tensor "${e.name}" is also in another shard`);
      entries.set(e.name, e);
    }
  }
  const where = `${src.label}/${index ? INDEX_FILE : SINGLE_FILE}`;
  if (index) checkShardContents(index, (shard, t) => byShard.get(shard)?.has(t) ?? false, where);

  // The loader's own checks, on shapes only: a tensor missing or misshapen is found now.
  const used = new Map<string, TensorEntry>();
  loadHostWeights(
    config,
    {
      has: (n) => entries.has(n),
      shape: (n) => entries.get(n)!.shape,
      float32: (n) => {
        const e = entries.get(n)!;
        if (!FLOAT_DTYPES.has(e.dtype)) throw new StudioError('weights', `${where}: tensor "${n}" is ${e.dtype}; the studio reads F32, F16 or BF16 weights`);
        used.set(n, e);
        return new Float32Array(0);
      },
    },
    where,
  );
  let parameters = 0;
  let largest = { name: '', elements: 0 };
  const dtypes = new Set<string>();
  for (const e of used.values()) {
    const elements = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
    parameters += elements;
    dtypes.add(e.dtype);
    if (elements > largest.elements) largest = { name: e.name, elements };
  }
  const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  const downloadBytes = files.reduce((a, f) => a + (f.cached ? 0 : f.bytes), 0);
  return { repo: src.repo, config, files, sharded: index !== null, totalBytes, downloadBytes, parameters, dtypes: [...dtypes].sort(), largestTensor: largest };
}
