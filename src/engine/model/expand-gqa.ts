/**
 * Key/value head layouts: the standard grouped-query map, turning a layer with an arbitrary
 * query→key/value head map into an equivalent uniformly grouped one, and the MHA expansion
 * of a GQA model (every key/value head copied once per query head that reads it).
 *
 * All functions are pure: they return new weights and never modify their inputs (tensors
 * that do not change are shared between input and output).
 */
import type { ModelConfig } from './config';
import type { HostTensor, LayerWeights, ModelWeights } from './weights';

/** Standard grouped-query attention: query head h reads key/value head ⌊h·kv/heads⌋. */
export function standardKvMap(numHeads: number, numKvHeads: number): number[] {
  const map: number[] = [];
  for (let h = 0; h < numHeads; h++) map.push(Math.floor((h * numKvHeads) / numHeads));
  return map;
}

/** The key/value head each query head of a layer reads. */
export function kvMapOf(l: Pick<LayerWeights<unknown>, 'numHeads' | 'numKvHeads' | 'kvHeadMap'>): number[] {
  return l.kvHeadMap ? [...l.kvHeadMap] : standardKvMap(l.numHeads, l.numKvHeads);
}

export function isStandardKvMap(map: readonly number[], numKvHeads: number): boolean {
  if (numKvHeads === 0) return map.length === 0;
  if (map.length % numKvHeads !== 0) return false;
  const std = standardKvMap(map.length, numKvHeads);
  return map.every((g, h) => g === std[h]);
}

/** Rows [r·block, (r+1)·block) of a [rows, cols] (or 1-D) tensor, for each r of `pick`, in that order. */
export function pickRowBlocks(t: HostTensor, pick: readonly number[], block: number): HostTensor {
  const cols = t.shape.length === 1 ? 1 : t.shape[1]!;
  const span = block * cols;
  const out = new Float32Array(pick.length * span);
  pick.forEach((r, i) => out.set(t.data.subarray(r * span, (r + 1) * span), i * span));
  return { shape: t.shape.length === 1 ? [pick.length * block] : [pick.length * block, cols], data: out };
}

/** Columns [c·block, (c+1)·block) of a [rows, cols] tensor, for each c of `pick`, in that order. */
export function pickColBlocks(t: HostTensor, pick: readonly number[], block: number): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const n = pick.length * block;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    const dst = r * n;
    pick.forEach((c, i) => out.set(t.data.subarray(src + c * block, src + (c + 1) * block), dst + i * block));
  }
  return { shape: [rows, n], data: out };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * An equivalent layer whose query heads are grouped uniformly (query head h reads key/value
 * head ⌊h/G⌋): query heads are reordered by their key/value head (q rows and o columns move
 * together, so the output is unchanged) and each key/value head with s query heads is
 * stored s/G times, G = gcd of the group sizes. Returns the layer itself when its map is
 * already standard. Used when uploading to a backend, whose attention takes uniform groups.
 */
export function uniformizeLayer(l: LayerWeights<HostTensor>, headDim: number): LayerWeights<HostTensor> {
  if (!l.kvHeadMap) return l;
  const map = l.kvHeadMap;
  if (isStandardKvMap(map, l.numKvHeads)) {
    const { kvHeadMap: _drop, ...rest } = l;
    return rest;
  }
  const order = [...map.keys()].sort((a, b) => map[a]! - map[b]! || a - b);
  const sizes = new Array<number>(l.numKvHeads).fill(0);
  for (const g of map) sizes[g]!++;
  const G = sizes.reduce((a, b) => gcd(a, b), 0);
  const kvPick: number[] = [];
  sizes.forEach((s, g) => {
    for (let r = 0; r < s / G; r++) kvPick.push(g);
  });
  const rows = (t: HostTensor) => pickRowBlocks(t, kvPick, headDim);
  const qRows = (t: HostTensor) => pickRowBlocks(t, order, headDim);
  const { kvHeadMap: _drop, ...rest } = l;
  return {
    ...rest,
    q: qRows(l.q),
    qBias: l.qBias ? qRows(l.qBias) : null,
    o: pickColBlocks(l.o, order, headDim),
    k: rows(l.k),
    v: rows(l.v),
    kBias: l.kBias ? rows(l.kBias) : null,
    vBias: l.vBias ? rows(l.vBias) : null,
    numKvHeads: kvPick.length,
  };
}

export function uniformizeKvGroups(w: ModelWeights<HostTensor>, headDim: number): ModelWeights<HostTensor> {
  if (!w.layers.some((l) => l.kvHeadMap)) return w;
  return { ...w, layers: w.layers.map((l) => uniformizeLayer(l, headDim)) };
}

/**
 * `uniformizeKvGroups` with the config that describes the result (configForWeights): the
 * model as given when every layer already has the standard map.
 */
export function uniformKvModel(cfg: ModelConfig, w: ModelWeights<HostTensor>): { config: ModelConfig; weights: ModelWeights<HostTensor> } {
  const weights = uniformizeKvGroups(w, cfg.headDim);
  return weights === w ? { config: cfg, weights } : { config: configForWeights(cfg, weights), weights };
}

/**
 * Multi-head copy of a (grouped-query) layer: key/value head of query head h is copied to
 * position h, so every query head has its own key/value head. The function is unchanged.
 */
export function expandLayerToMha(l: LayerWeights<HostTensor>, headDim: number): LayerWeights<HostTensor> {
  const map = kvMapOf(l);
  const rows = (t: HostTensor) => pickRowBlocks(t, map, headDim);
  const { kvHeadMap: _drop, ...rest } = l;
  return {
    ...rest,
    k: rows(l.k),
    v: rows(l.v),
    kBias: l.kBias ? rows(l.kBias) : null,
    vBias: l.vBias ? rows(l.vBias) : null,
    numKvHeads: l.numHeads,
  };
}

/** The MHA-expanded model: same outputs, num_key_value_heads = num_attention_heads in every layer. */
export function expandGqaToMha(cfg: ModelConfig, w: ModelWeights<HostTensor>): { config: ModelConfig; weights: ModelWeights<HostTensor> } {
  const weights = { ...w, layers: w.layers.map((l) => expandLayerToMha(l, cfg.headDim)) };
  return { config: configForWeights({ ...cfg, numKvHeads: cfg.numHeads }, weights), weights };
}

/**
 * The config that describes `w`: per-layer shapes when layers differ from the top-level
 * sizes (or carry a key/value head map), none otherwise.
 */
export function configForWeights(cfg: ModelConfig, w: ModelWeights<HostTensor>): ModelConfig {
  const uniform = w.layers.every(
    (l) => l.numHeads === cfg.numHeads && l.numKvHeads === cfg.numKvHeads && l.intermediateSize === cfg.intermediateSize && !l.kvHeadMap,
  );
  const { layerShapes: _drop, ...rest } = cfg;
  if (uniform) return rest;
  return {
    ...rest,
    layerShapes: w.layers.map((l) => ({
      numHeads: l.numHeads,
      numKvHeads: l.numKvHeads,
      intermediateSize: l.intermediateSize,
      kvHeadMap: l.kvHeadMap ? [...l.kvHeadMap] : null,
    })),
  };
}
