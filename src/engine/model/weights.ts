/**
 * Named host tensors (float32) per decoder layer, checked against the config.
 *
 * Each layer records its own head and channel counts, read from the tensor shapes: after
 * structured pruning (FLAP) layers differ, and the forward pass follows the shapes.
 */
import { shapeStr } from '../backend/backend';
import { StudioError } from '../errors';
import type { ModelConfig } from './config';
import type { PackedLinear } from '../backend/packed-linear';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
  /**
   * A quantized decoder linear (RTN, L4Q): the packed integers the forward pass really
   * uses; `data` is then their dequantization (see quant/quantized-linear.ts; the forward pass, llama.ts, multiplies with the packed integers).
   */
  packed?: PackedLinear;
}

export type LinearName = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export const LINEAR_NAMES: readonly LinearName[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

export interface LayerWeights<T> {
  inputNorm: T;
  q: T;
  k: T;
  v: T;
  o: T;
  qBias: T | null;
  kBias: T | null;
  vBias: T | null;
  /** Output biases: absent in Llama checkpoints, added by FLAP's bias compensation. */
  oBias: T | null;
  postNorm: T;
  gate: T;
  up: T;
  down: T;
  downBias: T | null;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  /**
   * Key/value head of each query head (length numHeads, values < numKvHeads), when it is
   * not the standard grouping ⌊h·kv/heads⌋: after FLAP removes single query heads of a GQA
   * layer, groups can have different sizes. Absent or null = standard grouping.
   * `LlamaModel` turns such a layer into an equivalent uniformly grouped one before
   * uploading it (see uniformizeKvGroups), so backends only ever see uniform groups.
   */
  kvHeadMap?: readonly number[] | null;
}

export interface ModelWeights<T> {
  embed: T;
  layers: LayerWeights<T>[];
  norm: T;
  /** Same object as `embed` when the head is tied. */
  lmHead: T;
}

/** Hugging Face tensor names for one decoder layer. */
export function hfLayerNames(i: number) {
  const p = `model.layers.${i}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    qBias: `${p}.self_attn.q_proj.bias`,
    kBias: `${p}.self_attn.k_proj.bias`,
    vBias: `${p}.self_attn.v_proj.bias`,
    oBias: `${p}.self_attn.o_proj.bias`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    downBias: `${p}.mlp.down_proj.bias`,
  };
}

/** Where tensors come from: a safetensors file, several shards, or a test fixture. */
export interface TensorProvider {
  has(name: string): boolean;
  shape(name: string): number[];
  float32(name: string): Float32Array;
}

/**
 * Reads every tensor the forward pass needs and checks its shape. Head counts per layer
 * come from the q/k row counts, so a FLAP-pruned checkpoint loads with the same code.
 */
export function loadHostWeights(cfg: ModelConfig, src: TensorProvider, file = 'model.safetensors'): ModelWeights<HostTensor> {
  const fail = (m: string): never => {
    throw new StudioError('weights', `${file}: ${m}`);
  };
  const get = (name: string, expect: (number | null)[]): HostTensor => {
    if (!src.has(name)) fail(`missing tensor "${name}"`);
    const shape = src.shape(name);
    const ok = shape.length === expect.length && expect.every((e, i) => e === null || e === shape[i]);
    if (!ok) fail(`tensor "${name}" has shape ${shapeStr(shape)}, expected ${shapeStr(expect.map((e) => e ?? -1)).replaceAll('-1', '*')}`);
    return { shape, data: src.float32(name) };
  };
  const optional = (name: string, expect: number[]): HostTensor | null => (src.has(name) ? get(name, expect) : null);

  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const embed = get('model.embed_tokens.weight', [cfg.vocabSize, H]);
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const n = hfLayerNames(i);
    const q = get(n.q, [null, H]);
    const k = get(n.k, [null, H]);
    if (q.shape[0]! % hd !== 0) fail(`tensor "${n.q}" has ${q.shape[0]} rows, not a multiple of head_dim ${hd}`);
    if (k.shape[0]! % hd !== 0) fail(`tensor "${n.k}" has ${k.shape[0]} rows, not a multiple of head_dim ${hd}`);
    const numHeads = q.shape[0]! / hd;
    const numKvHeads = k.shape[0]! / hd;
    const shape = cfg.layerShapes?.[i];
    const kvHeadMap = shape?.kvHeadMap ?? null;
    if (shape && (shape.numHeads !== numHeads || shape.numKvHeads !== numKvHeads)) {
      fail(`layer ${i}: config.json says ${shape.numHeads} heads / ${shape.numKvHeads} key/value heads, the tensors have ${numHeads} / ${numKvHeads}`);
    }
    // A structurally pruned layer may have no heads at all (then no key/value heads either).
    if (numHeads === 0 || numKvHeads === 0) {
      if (numHeads !== numKvHeads) fail(`layer ${i}: ${numHeads} query heads cannot be grouped over ${numKvHeads} key/value heads`);
    } else if (kvHeadMap) {
      const problem = checkKvHeadMap(kvHeadMap, numHeads, numKvHeads);
      if (problem) fail(`layer ${i}: ${problem}`);
    } else if (numHeads % numKvHeads !== 0) {
      fail(`layer ${i}: ${numHeads} query heads cannot be grouped over ${numKvHeads} key/value heads`);
    }
    const gate = get(n.gate, [null, H]);
    const inter = gate.shape[0]!;
    if (shape && shape.intermediateSize !== inter) {
      fail(`layer ${i}: config.json says intermediate size ${shape.intermediateSize}, the tensors have ${inter}`);
    }
    // Without per-layer sizes every layer must have the config's: the records, the memory
    // estimate and the exports take the head counts from the config, not from the tensors.
    if (!cfg.layerShapes) {
      if (numHeads !== cfg.numHeads) fail(`tensor "${n.q}" has ${q.shape[0]} rows = ${numHeads} heads × head_dim ${hd}, but config.json says num_attention_heads ${cfg.numHeads}`);
      if (numKvHeads !== cfg.numKvHeads) fail(`tensor "${n.k}" has ${k.shape[0]} rows = ${numKvHeads} heads × head_dim ${hd}, but config.json says num_key_value_heads ${cfg.numKvHeads}`);
      if (inter !== cfg.intermediateSize) fail(`tensor "${n.gate}" has ${inter} rows, but config.json says intermediate_size ${cfg.intermediateSize}`);
    }
    layers.push({
      inputNorm: get(n.inputNorm, [H]),
      q,
      k,
      v: get(n.v, [numKvHeads * hd, H]),
      o: get(n.o, [H, numHeads * hd]),
      qBias: cfg.attentionBias ? get(n.qBias, [numHeads * hd]) : optional(n.qBias, [numHeads * hd]),
      kBias: cfg.attentionBias ? get(n.kBias, [numKvHeads * hd]) : optional(n.kBias, [numKvHeads * hd]),
      vBias: cfg.attentionBias ? get(n.vBias, [numKvHeads * hd]) : optional(n.vBias, [numKvHeads * hd]),
      oBias: optional(n.oBias, [H]),
      postNorm: get(n.postNorm, [H]),
      gate,
      up: get(n.up, [inter, H]),
      down: get(n.down, [H, inter]),
      downBias: optional(n.downBias, [H]),
      numHeads,
      numKvHeads,
      intermediateSize: inter,
      ...(kvHeadMap ? { kvHeadMap } : {}),
    });
  }
  const norm = get('model.norm.weight', [H]);
  let lmHead = embed;
  if (!cfg.tieWordEmbeddings) {
    lmHead = get('lm_head.weight', [cfg.vocabSize, H]);
  } else if (src.has('lm_head.weight')) {
    // Some tied checkpoints still store the head; use it only if it is a real copy.
    lmHead = get('lm_head.weight', [cfg.vocabSize, H]);
  }
  return { embed, layers, norm, lmHead };
}

/** Maps every tensor of one layer through `f`; sizes and head map are kept. */
export function mapLayer<A, B>(l: LayerWeights<A>, f: (t: A) => B): LayerWeights<B> {
  const opt = (t: A | null) => (t === null ? null : f(t));
  return {
    inputNorm: f(l.inputNorm),
    q: f(l.q),
    k: f(l.k),
    v: f(l.v),
    o: f(l.o),
    qBias: opt(l.qBias),
    kBias: opt(l.kBias),
    vBias: opt(l.vBias),
    oBias: opt(l.oBias),
    postNorm: f(l.postNorm),
    gate: f(l.gate),
    up: f(l.up),
    down: f(l.down),
    downBias: opt(l.downBias),
    numHeads: l.numHeads,
    numKvHeads: l.numKvHeads,
    intermediateSize: l.intermediateSize,
    ...(l.kvHeadMap ? { kvHeadMap: l.kvHeadMap } : {}),
  };
}

/** Maps every tensor of a weight set through `f`, keeping tied tensors tied. */
export function mapWeights<A, B>(w: ModelWeights<A>, f: (t: A) => B): ModelWeights<B> {
  const embed = f(w.embed);
  return {
    embed,
    norm: f(w.norm),
    lmHead: w.lmHead === w.embed ? embed : f(w.lmHead),
    layers: w.layers.map((l) => mapLayer(l, f)),
  };
}

/**
 * Why a query→key/value head map is unusable, or null: one entry per query head, each a
 * key/value head index, and every key/value head read by at least one query head.
 */
export function checkKvHeadMap(map: readonly number[], numHeads: number, numKvHeads: number): string | null {
  if (map.length !== numHeads) return `key/value head map has ${map.length} entries for ${numHeads} query heads`;
  const used = new Uint8Array(numKvHeads);
  for (const g of map) {
    if (!Number.isInteger(g) || g < 0 || g >= numKvHeads) return `key/value head map entry ${g} is not a head index below ${numKvHeads}`;
    used[g] = 1;
  }
  const unused = used.indexOf(0);
  if (unused >= 0) return `key/value head ${unused} is read by no query head`;
  return null;
}

export function countWeightParameters(w: ModelWeights<HostTensor>): number {
  let n = 0;
  const seen = new Set<HostTensor>();
  mapWeights(w, (t) => {
    if (!seen.has(t)) {
      seen.add(t);
      n += t.data.length;
    }
    return t;
  });
  return n;
}
