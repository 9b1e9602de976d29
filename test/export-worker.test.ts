/**
 * The worker's export job (what the studio's download buttons call), driven from Node
 * against the bundled files served over HTTP: the dense and the FLAP-pruned model as a
 * zip (safetensors and ONNX) and as separate files, and the zip's ONNX model running in
 * onnxruntime-web with the compressed model's perplexity.
 */
import { unzipSync } from 'fflate';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { tokenStream } from '../src/engine/data';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { createOrtDecoder, ortPerplexity } from '../src/engine/export/onnx/ort-run';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import type { FileSource } from '../src/engine/model/source';
import { StudioError } from '../src/engine/errors';
import { FLAP_DEFAULTS } from '../src/engine/prune/flap';
import type { OrtRunResult } from '../src/worker/protocol';
import { loadBundled, PASTED_STORY, servedEngineApi, storyPruneJob } from './support/served-engine';

ort.env.wasm.numThreads = 1;
// The prune job keeps the connection idle for a while: no keep-alive race on the reuse.
const served = servedEngineApi({ keepAliveTimeout: 120_000 });

/** The files of an unzipped export as a FileSource (loadModel reads it as a folder). */
function filesSource(files: Record<string, Uint8Array>): FileSource {
  return {
    label: 'zip',
    async readBytes(name: string) {
      const f = files[name];
      if (!f) throw new StudioError('not-found', `zip: no ${name}`);
      return f;
    },
  } as FileSource;
}

describe('worker export job', () => {
  it('refuses before a model is loaded and before a compressed model exists', async () => {
    await expect(served.api.exportModel({ which: 'dense', format: 'onnx', dtype: 'f32', container: 'zip' })).rejects.toThrow(/no model is loaded/);
    await loadBundled(served.api, served.base);
    await expect(served.api.exportModel({ which: 'compressed', format: 'onnx', dtype: 'f32', container: 'zip' })).rejects.toThrow(/no compressed model yet/);
  });

  it('zips the dense model as safetensors that load back as the same model', async () => {
    const r = await served.api.exportModel({ which: 'dense', format: 'safetensors', dtype: 'f32', container: 'zip' });
    expect(r.name).toBe('stories260K-dense-safetensors-f32');
    const files = unzipSync(r.zip!);
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    const back = await loadModel('back', filesSource(files));
    expect(back.parameters).toBe(260_032);
  });

  it('exports the FLAP-pruned model as ONNX that runs with its perplexity', async () => {
    const rec = await served.api.prune(
      storyPruneJob(served.base, 'prune', { name: 'flap', ...FLAP_DEFAULTS, pruningRatio: 0.5 }),
      () => {},
    );
    const asFiles = await served.api.exportModel({ which: 'compressed', format: 'onnx', dtype: 'f32', container: 'files' });
    expect(asFiles.zip).toBeNull();
    const names = asFiles.files.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['config.json', 'model.onnx', 'tokenizer.json']));
    const zipped = await served.api.exportModel({ which: 'compressed', format: 'onnx', dtype: 'f32', container: 'zip' });
    const files = unzipSync(zipped.zip!);
    expect(files['model.onnx']).toEqual(asFiles.files.find((f) => f.name === 'model.onnx')!.bytes);
    const config = JSON.parse(new TextDecoder().decode(files['config.json']));
    expect(config.intermediate_size_per_layer).toEqual(rec.layers!.map((l) => l.channels.after));

    const c = served.api.lastCompressed()!;
    const loaded = await loadModel('x', filesSource(unzipSync((await served.api.exportModel({ which: 'dense', format: 'safetensors', dtype: 'f32', container: 'zip' })).zip!)));
    const stream = tokenStream(loaded.tokenizer, PASTED_STORY.text, 1).ids;
    const d = await createOrtDecoder(ort, files['model.onnx']!);
    const onnx = await ortPerplexity(d, stream, 64, { start: 0, end: 2 });
    await d.session.release();
    const engine = await evaluatePerplexity(new LlamaModel(c.config, new CpuBackend(), c.weights), stream, { seqlen: 64, windows: { start: 0, end: 2 } });
    expect(Math.abs(onnx.meanNll - engine.meanNll) / engine.meanNll).toBeLessThan(1e-3);
  });

  it('runs the dense and the compressed model in onnxruntime-web: greedy text as the engine, latency, bytes', async () => {
    const r = await served.api.ortRun({ jobId: 'ort', prompt: 'Once upon a time', newTokens: 12, ep: 'auto' });
    expect(r.results.map((x) => x.which)).toEqual(['dense', 'compressed']);
    const [dense, pruned] = r.results as [OrtRunResult, OrtRunResult];
    expect(dense.ep).toBe('wasm'); // Node: no WebGPU
    expect(dense.newTokens).toBe(12);
    expect(dense.msPerToken).toBeGreaterThan(0);
    expect(pruned.modelBytes).toBeLessThan(dense.modelBytes);
    // The same greedy continuation the engine's own generation gives.
    const gen = await served.api.generate({ jobId: 'gen', model: 'dense', prompt: 'Once upon a time', maxNewTokens: 12, temperature: 0, topK: 0, topP: 1, seed: 0, backend: 'cpu' }, () => {});
    expect(dense.text).toBe(gen.text);
  });
});
