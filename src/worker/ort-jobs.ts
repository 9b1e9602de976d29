/**
 * onnxruntime-web inside the studio's worker: the dense and the last compressed model,
 * exported to ONNX here, generate with the WebGPU EP (wasm when the browser has no WebGPU
 * or the EP fails) — greedy, with the past_key_values cache, as transformers.js decodes —
 * and report first-token and per-token latency and the model's bytes. onnxruntime-web is
 * loaded on first use only (its wasm is large).
 */
import { StudioError, throwIfAborted } from '../engine/errors';
import { exportOnnxModel } from '../engine/export/onnx/export';
import { createOrtDecoder, ortStep, type OrtDecoder, type OrtModule } from '../engine/export/onnx/ort-run';
import type { LoadedModel } from '../engine/model/load';
import type { CompressedModel } from './export-jobs';
import type { OrtRunReply, OrtRunRequest, OrtRunResult } from './protocol';

let ortModule: Promise<OrtModule> | null = null;

/**
 * The package's default build (WebGPU through JSEP, and wasm), a module instance of its
 * own: the '/webgpu' build is the one transformers.js imports and configures, and
 * initializing that instance here failed in Chromium ("previous call to initWasm() failed").
 */
function loadOrt(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-web').then((m) => m as unknown as OrtModule);
  ortModule.catch(() => (ortModule = null));
  return ortModule;
}

async function session(ort: OrtModule, model: Uint8Array, externalData: Uint8Array | null, ep: OrtRunRequest['ep']): Promise<{ d: OrtDecoder; ep: 'webgpu' | 'wasm'; note?: string }> {
  const gpu = typeof navigator !== 'undefined' && 'gpu' in navigator;
  if (ep !== 'wasm' && gpu) {
    try {
      return { d: await createOrtDecoder(ort, model, { externalData, executionProviders: ['webgpu'] }), ep: 'webgpu' };
    } catch (e) {
      if (ep === 'webgpu') throw e;
      const note = `WebGPU EP failed (${e instanceof Error ? e.message.slice(0, 160) : String(e)}); ran on wasm`;
      return { d: await createOrtDecoder(ort, model, { externalData, executionProviders: ['wasm'] }), ep: 'wasm', note };
    }
  }
  if (ep === 'webgpu') throw new StudioError('input', 'onnxruntime-web: this browser has no WebGPU');
  return { d: await createOrtDecoder(ort, model, { externalData, executionProviders: ['wasm'] }), ep: 'wasm', ...(ep === 'auto' ? { note: 'no WebGPU in this browser; ran on wasm' } : {}) };
}

function argmaxLast(logits: Float32Array, vocab: number): number {
  const off = logits.length - vocab;
  let best = 0;
  for (let v = 1; v < vocab; v++) if (logits[off + v]! > logits[off + best]!) best = v;
  return best;
}

export async function ortRunJob(model: LoadedModel, compressed: CompressedModel | null, req: OrtRunRequest, signal: AbortSignal): Promise<OrtRunReply> {
  if (!(req.newTokens >= 1 && req.newTokens <= 512)) throw new StudioError('input', `onnxruntime-web: new tokens ${req.newTokens} must be from 1 to 512`);
  const ort = await loadOrt();
  const bos = model.tokenizer.bosTokenId ?? model.config.bosTokenId;
  const prompt = [...(bos === null ? [] : [bos]), ...model.tokenizer.encode(req.prompt)];
  const targets: { which: 'dense' | 'compressed'; recordId: string | null; m: { config: LoadedModel['config']; weights: LoadedModel['weights'] } }[] = [
    { which: 'dense', recordId: null, m: model },
  ];
  if (compressed) targets.push({ which: 'compressed', recordId: compressed.recordId, m: compressed });
  const results: OrtRunResult[] = [];
  for (const t of targets) {
    throwIfAborted(signal, 'onnxruntime-web run');
    if (prompt.length + req.newTokens > t.m.config.maxPositionEmbeddings) throw new StudioError('input', `prompt + new tokens exceed the model's context of ${t.m.config.maxPositionEmbeddings}`);
    const t0 = performance.now();
    const exported = exportOnnxModel(t.m.config, t.m.weights);
    const exportMs = performance.now() - t0;
    const t1 = performance.now();
    const s = await session(ort, exported.model, exported.externalData, req.ep);
    const sessionMs = performance.now() - t1;
    try {
      const ids: number[] = [];
      const t2 = performance.now();
      let step = await ortStep(s.d, prompt, 0, null);
      const prefillMs = performance.now() - t2;
      ids.push(argmaxLast(step.logits, step.vocab));
      const t3 = performance.now();
      for (let i = 1; i < req.newTokens; i++) {
        throwIfAborted(signal, 'onnxruntime-web run');
        step = await ortStep(s.d, [ids[ids.length - 1]!], prompt.length + i - 1, step.cache);
        ids.push(argmaxLast(step.logits, step.vocab));
      }
      const decodeMs = performance.now() - t3;
      results.push({
        which: t.which,
        recordId: t.recordId,
        ep: s.ep,
        ...(s.note ? { note: s.note } : {}),
        modelBytes: exported.model.byteLength + (exported.externalData?.byteLength ?? 0),
        matMulNBits: exported.quantized.filter((q) => q.as === 'MatMulNBits').length,
        exportMs,
        sessionMs,
        prefillMs,
        msPerToken: req.newTokens > 1 ? decodeMs / (req.newTokens - 1) : prefillMs,
        text: model.tokenizer.decode([...prompt, ...ids], { skipSpecialTokens: true }),
        newTokens: ids.length,
      });
    } finally {
      await s.d.session.release();
    }
  }
  return { promptTokens: prompt.length, results };
}
