/**
 * A small ONNX graph builder: unique value names, typed constants, nodes with attributes,
 * weight initializers (f32 or f16 storage) and graph inputs/outputs. It knows nothing about
 * Llama; llama-graph.ts writes the decoder with it.
 */
import { AttributeType, DataType, type Attribute, type DataTypeCode, type NodeSpec, type TensorInit, type ValueInfo } from './proto';
import { StudioError } from '../../errors';
import { encodeF16 } from '../../half';

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

function toAttribute(name: string, v: AttrValue): Attribute {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorInit[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private used = new Set<string>();
  private constCache = new Map<string, string>();

  /** A fresh value name starting with `base`. */
  name(base: string): string {
    let n = base;
    for (let k = 1; this.used.has(n); k++) n = `${base}_${k}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: DataTypeCode, shape: (number | string)[]): string {
    this.used.add(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  output(name: string, elemType: DataTypeCode, shape: (number | string)[]): void {
    this.outputs.push({ name, elemType, shape });
  }

  /** Adds one node; returns its output names (one fresh name per requested output). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { outputs?: number | string[]; domain?: string; name?: string } = {}): string[] {
    const outs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, () => this.name(`${opts.name ?? opType}_out`));
    for (const o of outs) this.used.add(o);
    this.nodes.push({
      opType,
      ...(opts.domain ? { domain: opts.domain } : {}),
      name: this.name(`node_${opts.name ?? opType}`),
      inputs,
      outputs: outs,
      attributes: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    return outs;
  }

  /** Single-output shorthand for `node`. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name ? { name } : {})[0]!;
  }

  initializer(name: string, dataType: DataTypeCode, dims: number[], raw: Uint8Array): string {
    const n = this.name(name);
    this.initializers.push({ name: n, dataType, dims, raw });
    return n;
  }

  /**
   * A float weight. Stored as f16 when asked, followed by a Cast to f32 so that every
   * computation stays in f32 (ORT folds the Cast at session load).
   */
  weight(name: string, data: Float32Array, dims: number[], dtype: 'f32' | 'f16'): string {
    if (dtype === 'f32') return this.initializer(name, DataType.FLOAT, dims, bytesOf(data));
    const half = encodeF16(data, (i) => {
      throw new StudioError('input', `${name}: value ${data[i]} at index ${i} is beyond the f16 range (±65504); export with --dtype f32`);
    });
    const stored = this.initializer(`${name}_f16`, DataType.FLOAT16, dims, bytesOf(half));
    return this.op('Cast', [stored], { to: DataType.FLOAT }, `${name}_cast`);
  }

  /** An int64 constant (shared between uses). */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.initializer('const_i64', DataType.INT64, dims, bytesOf(BigInt64Array.from(values, (v) => BigInt(v))));
    this.constCache.set(key, n);
    return n;
  }

  /** A float32 constant (shared between uses). */
  float(values: number[], dims: number[] = [values.length]): string {
    const key = `f32:${dims.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.initializer('const_f32', DataType.FLOAT, dims, bytesOf(Float32Array.from(values)));
    this.constCache.set(key, n);
    return n;
  }
}
