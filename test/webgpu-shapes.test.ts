/**
 * Random-weight models with the shapes of real checkpoints (SmolLM2-135M: GQA 9/3 heads of
 * 64, vocab 49152, tied; Qwen2.5-0.5B: GQA 14/2, q/k/v bias), fewer layers: WebGPU logits
 * against the CPU reference (budget: max|Δ| / max|cpu| < 1e-5), and the backend holder
 * replacing a lost device with a fresh one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { BackendHolder } from '../src/engine/backend/select';
import { WebGpuBackend } from '../src/engine/backend/webgpu';
import { LlamaModel } from '../src/engine/model/llama';
import { randomWeights, shapeConfig, type ModelShapeName } from '../src/engine/model/random-model';
import { seededRandom } from '../src/engine/random';
import { gpuOrSkip, makeBackend, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('webgpu-shapes');

const CASES: { name: ModelShapeName; layers: number; vocab?: number; tokens: number }[] = [
  { name: 'SmolLM2-135M', layers: 2, tokens: 24 },
  // The real 151,936-token vocabulary would cost 0.5 GB per copy; the shape of the layers is what matters here.
  { name: 'Qwen2.5-0.5B', layers: 2, vocab: 8192, tokens: 24 },
];

describe.skipIf(!gpu)('random-weight models with real shapes on WebGPU', () => {
  let b: WebGpuBackend | null = null;
  afterAll(() => b?.destroy());

  for (const c of CASES) {
    it(`${c.name} (${c.layers} layers) logits equal the CPU's`, async () => {
      b ??= await makeBackend(gpu!);
      const cfg = shapeConfig(c.name, { layers: c.layers, vocab: c.vocab });
      const weights = randomWeights(cfg, 7);
      const rand = seededRandom(3);
      const ids = Int32Array.from({ length: c.tokens }, () => Math.floor(rand() * cfg.vocabSize));
      const cpu = new LlamaModel(cfg, new CpuBackend(), weights);
      const gpuModel = new LlamaModel(cfg, b, weights);
      const want = await cpu.backend.read(cpu.forward(ids));
      const t = gpuModel.forward(ids);
      const got = await b.read(t);
      b.dispose(t);
      gpuModel.dispose();
      expect(got.length).toBe(c.tokens * cfg.vocabSize);
      expect(relErr(got, want)).toBeLessThan(1e-5);
    });
  }

  it('the backend holder replaces a lost device with a fresh one', async () => {
    const holder = new BackendHolder(() => gpu);
    const first = await holder.get('webgpu');
    expect(first.backend).toBeInstanceOf(WebGpuBackend);
    expect(await holder.get('webgpu')).toBe(first);
    const lostOne = first.backend as WebGpuBackend;
    lostOne.runtime.device.destroy();
    await lostOne.runtime.device.lost;
    const second = await holder.get('webgpu');
    expect(second.backend).not.toBe(lostOne);
    const x = second.backend.upload(Float32Array.of(1, 2), [2]);
    expect([...(await second.backend.read(second.backend.add(x, x)))]).toEqual([2, 4]);
    expect((await holder.get('cpu')).backend.info.name).toBe('cpu');
    holder.destroy();
  });

  it("'auto' falls back to the wasm (CPU) backend with the reason when there is no adapter", async () => {
    const holder = new BackendHolder(() => ({ requestAdapter: async () => null }) as unknown as GPU);
    const s = await holder.get('auto');
    expect(s.backend.info.name).toBe('wasm');
    expect(s.fallbackReason).toMatch(/no adapter available/);
    await expect(new BackendHolder(() => undefined).get('webgpu')).rejects.toThrow(/WebGPU is not available/);
  });
});
