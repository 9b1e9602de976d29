/**
 * What the in-browser benchmark pages share (bench/browser, bench/browser-train): the page
 * side that shows the worker's JSON result, the worker side that answers the page's query
 * options, and the model a benchmark runs on.
 */
import type { ModelConfig } from '../../src/engine/model/config';
import { loadModel } from '../../src/engine/model/load';
import { randomWeights, shapeConfig } from '../../src/engine/model/random-model';
import { urlSource } from '../../src/engine/model/source';
import type { HostTensor, ModelWeights } from '../../src/engine/model/weights';

/** Page side: post the query options to the worker and show its JSON answer in #result. */
export function showWorkerResult(worker: Worker): void {
  const out = document.getElementById('result')!;
  const done = (data: unknown) => {
    out.textContent = JSON.stringify(data, null, 2);
    out.dataset.done = '1';
  };
  worker.onmessage = (e: MessageEvent) => done(e.data);
  worker.onerror = (e) => done({ error: e.message });
  worker.postMessage(Object.fromEntries(new URLSearchParams(location.search)));
}

/** Worker side: answer each message with run's result, or { error } (the Node driver throws it). */
export function serveBenchmark<O>(run: (options: O) => Promise<unknown>): void {
  self.onmessage = async (e: MessageEvent<O>) => {
    try {
      self.postMessage(await run(e.data));
    } catch (err) {
      self.postMessage({ error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
    }
  };
}

/** The bundled stories260K (served from public/), or a random-weight SmolLM2-135M-shaped model. */
export async function benchModel(o: { model?: string; layers?: string; vocab?: string }): Promise<{ name: string; cfg: ModelConfig; weights: ModelWeights<HostTensor> }> {
  if ((o.model ?? 'stories260K') === 'stories260K') {
    const m = await loadModel('stories260K', urlSource(new URL('/models/stories260K/', self.location.href).href));
    return { name: 'stories260K', cfg: m.config, weights: m.weights };
  }
  const cfg = shapeConfig('SmolLM2-135M', { ...(o.layers ? { layers: Number(o.layers) } : {}), ...(o.vocab ? { vocab: Number(o.vocab) } : {}) });
  const vocab = o.vocab ? `, vocab ${cfg.vocabSize}` : '';
  return { name: `SmolLM2-135M shape, ${cfg.numLayers} layers${vocab} (random weights)`, cfg, weights: randomWeights(cfg, 1) };
}
