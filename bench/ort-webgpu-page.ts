/**
 * The page bench/ort-webgpu.ts opens in Chromium: our WebGPU backend and onnxruntime-web's
 * WebGPU EP on the same adapter, the same model (our ONNX export of the same weights) and
 * the same tokens, alternating runs; the result is written as JSON into #out.
 * Query: ?models=stories260K,smollm2&tokens=512&smolTokens=32&reps=3&variants=dense,flap,q4
 */
import * as ort from 'onnxruntime-web';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { exportOnnxModel } from '../src/engine/export/onnx/export';
import { createOrtDecoder, ortStep } from '../src/engine/export/onnx/ort-run';
import type { ModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import { urlSource } from '../src/engine/model/source';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { compressLayer } from '../src/engine/prune/flap';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { seededRandom } from '../src/engine/random';

const q = new URLSearchParams(location.search);
const models = (q.get('models') ?? 'stories260K').split(',');
const variants = (q.get('variants') ?? 'dense,flap,q4').split(',');
const reps = Number(q.get('reps') ?? '3');
const out = document.getElementById('out')!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const VARIANT_LABELS: Record<string, string> = { dense: 'dense', flap: 'FLAP shapes 50%', q4: 'RTN 4-bit g32' };

/** FLAP's shapes at 50 %: half the MLP channels, and half the key/value groups (rounded alternately). */
function flapShapes(cfg: ModelConfig, w: ModelWeights<HostTensor>) {
  const g = cfg.numHeads / cfg.numKvHeads;
  const layers = w.layers.map((l, i) => {
    const keep = Math.max(1, i % 2 === 0 ? Math.floor(l.numKvHeads / 2) : Math.ceil(l.numKvHeads / 2));
    const groups = Array.from({ length: keep }, (_, k) => k);
    return compressLayer(l, cfg.headDim, groups.flatMap((k) => Array.from({ length: g }, (_, j) => k * g + j)), groups, Array.from({ length: Math.floor(l.intermediateSize / 2) }, (_, c) => 2 * c), null);
  });
  const pw = { ...w, layers };
  const c = { ...cfg, layerShapes: layers.map((l) => ({ numHeads: l.numHeads, numKvHeads: l.numKvHeads, intermediateSize: l.intermediateSize, kvHeadMap: null })) };
  return { cfg: c, weights: pw };
}

const q4 = (w: ModelWeights<HostTensor>) => quantizeLinears(w, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 32, symmetric: false }));

async function main() {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const info = adapter.info;
  const rows: Record<string, unknown>[] = [];
  const summary = (r: Record<string, unknown>[]) => ({
    adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(),
    isFallback: (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? null,
    ort: ort.env.versions.web,
    rows: r,
  });
  const ours = await createWebGpuBackend(navigator.gpu);
  for (const name of models) {
    let cfg: ModelConfig;
    let weights: ModelWeights<HostTensor>;
    let tokens: number;
    if (name === 'stories260K') {
      const m = await loadModel('stories260K', urlSource(new URL('/models/stories260K/', location.href).href));
      cfg = m.config;
      weights = m.weights;
      tokens = Number(q.get('tokens') ?? '512');
    } else {
      cfg = shapeConfig('SmolLM2-135M');
      weights = randomWeights(cfg, 1);
      tokens = Number(q.get('smolTokens') ?? '32');
    }
    for (const v of variants) {
      const m = v === 'flap' ? flapShapes(cfg, weights) : v === 'q4' ? { cfg, weights: q4(weights) } : { cfg, weights };
      const rand = seededRandom(7);
      const ids = Int32Array.from({ length: tokens }, () => Math.floor(rand() * cfg.vocabSize));
      const lm = new LlamaModel(m.cfg, ours, m.weights);
      const exported = exportOnnxModel(m.cfg, m.weights);
      const d = await createOrtDecoder(ort as never, exported.model, { externalData: exported.externalData, executionProviders: ['webgpu'] });
      const runOurs = async () => {
        const t0 = performance.now();
        const t = lm.forward(ids);
        const logits = await ours.read(t);
        ours.dispose(t);
        return { ms: performance.now() - t0, logits };
      };
      const runOrt = async () => {
        const t0 = performance.now();
        const r = await ortStep(d, ids, 0, null);
        return { ms: performance.now() - t0, logits: r.logits };
      };
      const a = await runOurs();
      const b = await runOrt();
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < a.logits.length; i++) {
        diff = Math.max(diff, Math.abs(a.logits[i]! - b.logits[i]!));
        scale = Math.max(scale, Math.abs(a.logits[i]!));
      }
      const mine: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < reps; r++) {
        mine.push((await runOurs()).ms);
        theirs.push((await runOrt()).ms);
      }
      rows.push({ model: name, variant: VARIANT_LABELS[v] ?? v, tokens, oursMs: median(mine), ortMs: median(theirs), oursAll: mine, ortAll: theirs, logitsRelDiff: diff / scale });
      out.textContent = JSON.stringify(summary(rows));
      await d.session.release();
      lm.dispose();
    }
  }
  out.textContent = JSON.stringify(summary(rows));
  out.dataset.done = '1';
}

main().catch((e) => {
  out.textContent = `error: ${e instanceof Error ? e.stack : String(e)}`;
  out.dataset.done = '1';
});
