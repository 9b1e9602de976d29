/**
 * The subset of onnx.proto (ONNX IR 8) the exporter writes, and its encoder, written with
 * protobufjs's minimal Writer the way `pbjs --target static` would generate it: no runtime
 * code generation, which the studio's Content-Security-Policy (no 'unsafe-eval') forbids.
 * Field numbers are those of onnx/onnx.proto; proto-reflect.ts holds the same subset as a
 * protobufjs descriptor, and a test checks both encoders give the same bytes.
 */
import protobuf from 'protobufjs/minimal.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface ValueInfo {
  name: string;
  elemType: DataTypeCode;
  shape: (number | string)[];
}

export interface TensorInit {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  /** Little-endian bytes of the tensor (raw_data), or where they lie in the external file. */
  raw?: Uint8Array;
  external?: { location: string; offset: number; length: number };
}

export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorInit;
  floats?: number[];
  ints?: number[];
}

export interface NodeSpec {
  opType: string;
  domain?: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
}

export interface ModelSpec {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
  graph: { name: string; nodes: NodeSpec[]; initializers: TensorInit[]; inputs: ValueInfo[]; outputs: ValueInfo[] };
}

type Writer = protobuf.Writer;

// Wire types: 0 varint, 2 length-delimited, 5 fixed32.
const tag = (field: number, wire: number) => (field << 3) | wire;

function str(w: Writer, field: number, v: string | undefined): void {
  if (v !== undefined && v !== '') w.uint32(tag(field, 2)).string(v);
}

function message(w: Writer, field: number, write: (w: Writer) => void): void {
  w.uint32(tag(field, 2)).fork();
  write(w);
  w.ldelim();
}

function entry(w: Writer, field: number, key: string, value: string): void {
  message(w, field, (m) => {
    str(m, 1, key);
    m.uint32(tag(2, 2)).string(value);
  });
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.uint32(tag(1, 0)).int64(d);
  w.uint32(tag(2, 0)).int32(t.dataType);
  str(w, 8, t.name);
  if (t.external) {
    entry(w, 13, 'location', t.external.location);
    entry(w, 13, 'offset', String(t.external.offset));
    entry(w, 13, 'length', String(t.external.length));
    w.uint32(tag(14, 0)).int32(1);
  } else {
    w.uint32(tag(9, 2)).bytes(t.raw ?? new Uint8Array(0));
  }
}

function writeAttribute(w: Writer, a: Attribute): void {
  str(w, 1, a.name);
  if (a.f !== undefined) w.uint32(tag(2, 5)).float(a.f);
  if (a.i !== undefined) w.uint32(tag(3, 0)).int64(a.i);
  if (a.s !== undefined) w.uint32(tag(4, 2)).bytes(a.s);
  if (a.t !== undefined) message(w, 5, (m) => writeTensor(m, a.t!));
  for (const f of a.floats ?? []) w.uint32(tag(7, 5)).float(f);
  for (const i of a.ints ?? []) w.uint32(tag(8, 0)).int64(i);
  w.uint32(tag(20, 0)).int32(a.type);
}

function writeNode(w: Writer, n: NodeSpec): void {
  for (const i of n.inputs) w.uint32(tag(1, 2)).string(i);
  for (const o of n.outputs) w.uint32(tag(2, 2)).string(o);
  str(w, 3, n.name);
  str(w, 4, n.opType);
  for (const a of n.attributes) message(w, 5, (m) => writeAttribute(m, a));
  str(w, 7, n.domain);
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  str(w, 1, v.name);
  message(w, 2, (type) =>
    message(type, 1, (tt) => {
      tt.uint32(tag(1, 0)).int32(v.elemType);
      message(tt, 2, (shape) => {
        for (const d of v.shape) {
          message(shape, 1, (dim) => {
            if (typeof d === 'number') dim.uint32(tag(1, 0)).int64(d);
            else dim.uint32(tag(2, 2)).string(d);
          });
        }
      });
    }),
  );
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(tag(1, 0)).int64(spec.irVersion);
  str(w, 2, spec.producerName);
  str(w, 3, spec.producerVersion);
  str(w, 6, spec.docString);
  message(w, 7, (g) => {
    for (const n of spec.graph.nodes) message(g, 1, (m) => writeNode(m, n));
    str(g, 2, spec.graph.name);
    for (const t of spec.graph.initializers) message(g, 5, (m) => writeTensor(m, t));
    for (const v of spec.graph.inputs) message(g, 11, (m) => writeValueInfo(m, v));
    for (const v of spec.graph.outputs) message(g, 12, (m) => writeValueInfo(m, v));
  });
  for (const o of spec.opsets) {
    message(w, 8, (m) => {
      str(m, 1, o.domain);
      m.uint32(tag(2, 0)).int64(o.version);
    });
  }
  for (const [k, v] of Object.entries(spec.metadata)) entry(w, 14, k, v);
  const bytes = w.finish();
  // In Node protobufjs returns a Buffer, which may share a pooled ArrayBuffer: hand out a plain
  // Uint8Array that owns its bytes.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes);
}
