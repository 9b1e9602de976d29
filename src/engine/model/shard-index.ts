/**
 * `model.safetensors.index.json` of a sharded checkpoint:
 *   {"metadata": {"total_size": N}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", …}}
 * Shard names come from the file, so they are checked to be plain .safetensors names in
 * the same folder before any request or path is made from them.
 */
import { z } from 'zod';
import { StudioError } from '../errors';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
/** More shards than this is not a checkpoint a browser can hold. */
const MAX_SHARDS = 1000;
const SHARD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/;

export interface ShardIndex {
  /** Shard file names in the order they first appear. */
  shards: string[];
  /** tensor name → shard file */
  weightMap: Map<string, string>;
  totalSize: number | null;
}

const schema = z.object({
  metadata: z.object({ total_size: z.number().nonnegative().optional() }).passthrough().nullable().optional(),
  weight_map: z.record(z.string(), z.string()),
});

export function parseShardIndex(json: unknown, file = INDEX_FILE): ShardIndex {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StudioError('weights', `${file}: field "${issue.path.join('.') || '(root)'}": ${issue.message}`);
  }
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [tensor, shard] of Object.entries(parsed.data.weight_map)) {
    if (!SHARD_NAME.test(shard) || shard.includes('..')) {
      throw new StudioError('weights', `${file}: tensor "${tensor}" is mapped to "${shard}", which is not a .safetensors file name in the same folder`);
    }
    if (!weightMap.has(tensor)) weightMap.set(tensor, shard);
    if (!shards.includes(shard)) shards.push(shard);
    if (shards.length > MAX_SHARDS) throw new StudioError('weights', `${file}: more than ${MAX_SHARDS} shards`);
  }
  if (shards.length === 0) throw new StudioError('weights', `${file}: weight_map is empty`);
  return { shards, weightMap, totalSize: parsed.data.metadata?.total_size ?? null };
}

/**
 * Checks that every tensor the index names is in the shard it names (`has(shard, name)`);
 * an index that disagrees with its shards is refused rather than half-loaded.
 */
export function checkShardContents(index: ShardIndex, has: (shard: string, tensor: string) => boolean, file = INDEX_FILE): void {
  for (const [tensor, shard] of index.weightMap) {
    if (!has(shard, tensor)) throw new StudioError('weights', `${file}: tensor "${tensor}" should be in ${shard}, but that shard does not have it`);
  }
}
