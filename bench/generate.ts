/**
 * Generation benchmark: `npx tsx bench/generate.ts [--tokens 200] [--model stories260K|smollm2]
 *                                                  [--backend cpu|wasm|webgpu] [--prompt 16]`
 *
 * Greedy generation of N tokens after a prompt of P tokens, with the KV cache and without
 * it (the whole prefix re-run per token), on one backend: tokens/s over the whole call
 * (prefill included) and whether both produced the same ids. The SmolLM2-135M shape has
 * random weights (the Hub is not reachable here), so its text is meaningless; its speed
 * is not.
 *
 * In Node without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWasmBackend } from '../src/engine/backend/wasm/wasm-backend';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { dirSource } from '../src/cli/fs-source';
import { generateWithStats } from '../src/engine/generate';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import { cliOption as opt } from './cli-args';

const N = Number(opt('tokens', '200'));
const P = Number(opt('prompt', '16'));
const which = opt('model', 'stories260K');
const backendName = opt('backend', 'cpu');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { cfg, weights } =
  which === 'smollm2'
    ? (() => {
        const c = shapeConfig('SmolLM2-135M');
        return { cfg: c, weights: randomWeights(c, 1) };
      })()
    : await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K'))).then((m) => ({ cfg: m.config, weights: m.weights }));
const backend: Backend = backendName === 'webgpu' ? await createWebGpuBackend(await nodeGpu()) : backendName === 'wasm' ? await createWasmBackend() : new CpuBackend();
const lm = new LlamaModel(cfg, backend, weights);
const prompt = Array.from({ length: P }, (_, i) => (i === 0 ? 1 : 100 + ((i * 37) % 300)));

const cached = await generateWithStats(lm, prompt, { maxNewTokens: N });
const plain = await generateWithStats(lm, prompt, { maxNewTokens: N, cache: false });
const same = cached.ids.length === plain.ids.length && cached.ids.every((id, i) => id === plain.ids[i]);
console.log(`${which} · ${backend.info.name} (${backend.info.device}) · prompt ${P} tokens · ${N} new tokens, greedy`);
console.log(`  KV cache:    ${cached.tokensPerSecond.toPrecision(3)} tokens/s (prefill ${cached.prefillMs.toFixed(0)} ms, decode ${cached.decodeMs.toFixed(0)} ms)`);
console.log(`  no cache:    ${plain.tokensPerSecond.toPrecision(3)} tokens/s`);
console.log(`  speed-up ${(cached.tokensPerSecond / plain.tokensPerSecond).toFixed(1)}× · same ids: ${same}`);
lm.dispose();
backend.destroy();
