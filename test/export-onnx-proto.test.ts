/**
 * The hand-written (eval-free) ONNX encoder against protobufjs reflection over the same
 * onnx.proto subset: every field the exporter writes decodes to what was put in.
 */
import { describe, expect, it } from 'vitest';
import { AttributeType, DataType, encodeModel, type ModelSpec } from '../src/engine/export/onnx/proto';
import { decodeModel } from '../src/engine/export/onnx/proto-reflect';
import { GraphBuilder } from '../src/engine/export/onnx/graph-builder';

describe('ONNX protobuf encoder', () => {
  it('round-trips models, graphs, nodes, attributes, tensors, external data and shapes', () => {
    const g = new GraphBuilder();
    const x = g.input('x', DataType.FLOAT, ['batch', 3]);
    const w = g.initializer('w', DataType.FLOAT, [3, 2], new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer));
    const y = g.op('Gemm', [x, w], { transB: 1, alpha: { float: 0.5 } });
    g.node('Reshape', [y, g.int64([-1, 2, 1])], {}, { outputs: ['out'] });
    g.node('Foo', [x], { perm: [0, -1, 2 ** 40], mode: 'max' }, { domain: 'com.example', outputs: ['unused'] });
    g.output('out', DataType.FLOAT, ['batch', 2, 1]);
    g.initializers.push({ name: 'ext', dataType: DataType.UINT8, dims: [4096], external: { location: 'model.onnx_data', offset: 128, length: 4096 } });
    const spec: ModelSpec = {
      irVersion: 8,
      opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      producerName: 'p',
      producerVersion: '1',
      docString: 'doc',
      metadata: { a: 'b' },
      graph: { name: 'g', nodes: g.nodes, initializers: g.initializers, inputs: g.inputs, outputs: g.outputs },
    };
    const m = decodeModel(encodeModel(spec)) as any;
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport).toEqual([{ version: 17 }, { domain: 'com.microsoft', version: 1 }]);
    expect(m.metadataProps).toEqual([{ key: 'a', value: 'b' }]);
    expect(m.producerName).toBe('p');
    const gemm = m.graph.node[0];
    expect(gemm.opType).toBe('Gemm');
    expect(gemm.input).toEqual(['x', 'w']);
    expect(gemm.attribute).toEqual([
      { name: 'transB', i: 1, type: AttributeType.INT },
      { name: 'alpha', f: 0.5, type: AttributeType.FLOAT },
    ]);
    const foo = m.graph.node[2];
    expect(foo.domain).toBe('com.example');
    expect(foo.attribute[0]).toEqual({ name: 'perm', ints: [0, -1, 2 ** 40], type: AttributeType.INTS });
    expect(new TextDecoder().decode(Uint8Array.from(foo.attribute[1].s))).toBe('max');
    const [wt, shape, ext] = m.graph.initializer;
    expect(wt.dims).toEqual([3, 2]);
    expect(wt.dataType).toBe(DataType.FLOAT);
    expect([...new Float32Array(Uint8Array.from(wt.rawData).buffer)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...new BigInt64Array(Uint8Array.from(shape.rawData).buffer)]).toEqual([-1n, 2n, 1n]);
    expect(ext.dataLocation).toBe(1);
    expect(ext.rawData).toBeUndefined();
    expect(ext.externalData).toEqual([
      { key: 'location', value: 'model.onnx_data' },
      { key: 'offset', value: '128' },
      { key: 'length', value: '4096' },
    ]);
    expect(m.graph.input[0]).toEqual({ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } } });
    expect(m.graph.output[0].type.tensorType.shape.dim).toEqual([{ dimParam: 'batch' }, { dimValue: 2 }, { dimValue: 1 }]);
  });
});
