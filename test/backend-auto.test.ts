/**
 * 'auto' chooses by expected speed, not by name (selectBackend): a software WebGPU adapter
 * (isFallbackAdapter, or a known software renderer: SwiftShader, llvmpipe/lavapipe, WARP)
 * loses to the wasm backend, with the reason; a hardware adapter gets WebGPU; an explicit
 * 'webgpu' still runs on the software adapter. Fake adapters for the rule, the real
 * SwiftShader adapter (and the same adapter dressed up as hardware) for the real thing.
 */
import { describe, expect, it } from 'vitest';
import { BackendHolder, selectBackend, softwareAdapterReason } from '../src/engine/backend/select';
import { WebGpuBackend, softwareRenderer, type AdapterReport } from '../src/engine/backend/webgpu';
import { backendWhy, engineText } from '../src/app/format';
import { createEngineApi } from '../src/worker/engine-api';
import { runCli } from './support/cli';
import { gpuOrSkip } from './support/webgpu';

const gpu = await gpuOrSkip('backend-auto');

type Info = Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description'> & { isFallbackAdapter?: boolean };

/** A GPU whose adapter reports `info` and can give no device (Auto must not ask for one). */
function fakeGpu(info: Info): GPU & { deviceRequests: number } {
  const fake = {
    deviceRequests: 0,
    async requestAdapter() {
      return {
        info: { isFallbackAdapter: false, ...info },
        features: new Set<string>(),
        limits: {},
        async requestDevice() {
          fake.deviceRequests++;
          throw new Error('fake adapter: no device');
        },
      } as unknown as GPUAdapter;
    },
  };
  return fake as unknown as GPU & { deviceRequests: number };
}

const SWIFTSHADER: Info = { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader driver 5.0.0' };

/** The real GPU, its adapters reporting `info` instead of their own (everything else is theirs). */
function dressedGpu(real: GPU, info: Info): GPU {
  const wrap = (adapter: GPUAdapter) =>
    new Proxy(adapter, {
      get(target, prop) {
        if (prop === 'info') return { ...info, isFallbackAdapter: info.isFallbackAdapter ?? false };
        if (prop === 'isFallbackAdapter') return info.isFallbackAdapter ?? false;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return {
    requestAdapter: async (o?: GPURequestAdapterOptions) => {
      const a = await real.requestAdapter(o);
      return a && wrap(a);
    },
  } as unknown as GPU;
}

describe('softwareRenderer: which adapters are software renderers', () => {
  const hw = { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false };
  it.each([
    [{ ...hw, vendor: 'google', architecture: 'swiftshader' }, 'SwiftShader'],
    [{ ...hw, description: 'SwiftShader Device (Subzero)' }, 'SwiftShader'],
    [{ ...hw, vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }, 'llvmpipe'],
    [{ ...hw, vendor: 'mesa', device: 'lavapipe' }, 'lavapipe'],
    [{ ...hw, vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }, 'WARP (Microsoft Basic Render Driver)'],
    [{ ...hw, vendor: 'microsoft', architecture: 'warp' }, 'WARP (Microsoft Basic Render Driver)'],
    [{ ...hw, vendor: 'someone', isFallbackAdapter: true }, 'a fallback adapter'],
  ])('%o → %s', (r, name) => {
    expect(softwareRenderer(r)).toBe(name);
  });
  it.each([
    { ...hw, vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100' },
    { ...hw, vendor: 'apple', architecture: 'metal-3' },
    { ...hw, vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) Iris(R) Xe Graphics' },
    // "warp" from a vendor other than Microsoft is not WARP.
    { ...hw, vendor: 'amd', architecture: 'rdna-3', description: 'warp-friendly' },
    hw,
  ])('%o is hardware', (r) => {
    expect(softwareRenderer(r)).toBeNull();
  });
});

describe("selectBackend('auto') with fake adapters", () => {
  it('a software adapter (SwiftShader by name) loses to wasm, with the reason, without asking for a device', async () => {
    const g = fakeGpu(SWIFTSHADER);
    const s = await selectBackend('auto', () => g);
    expect(s.backend.info.name).toBe('wasm');
    expect(s.softwareAdapter).toBe('google swiftshader (SwiftShader driver 5.0.0)');
    expect(s.fallbackReason).toBe('WebGPU adapter google swiftshader (SwiftShader driver 5.0.0) is a software renderer (slower than the CPU backend here)');
    expect(s.fallbackReason).toBe(softwareAdapterReason(s.softwareAdapter!));
    expect(s.reason).toBe(`Auto: ${s.fallbackReason}`);
    expect(g.deviceRequests).toBe(0);
    s.backend.destroy();
  });

  it.each([
    ['isFallbackAdapter', { vendor: 'x', architecture: '', device: '', description: '', isFallbackAdapter: true }],
    ['llvmpipe', { vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }],
    ['WARP', { vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver' }],
  ])('%s loses to wasm too', async (_, info) => {
    const s = await selectBackend('auto', () => fakeGpu(info));
    expect(s.backend.info.name).toBe('wasm');
    expect(s.fallbackReason).toMatch(/is a software renderer \(slower than the CPU backend here\)$/);
    s.backend.destroy();
  });

  it('a hardware adapter is taken: Auto asks it for a device (and falls back to wasm only when that fails)', async () => {
    const g = fakeGpu({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' });
    const s = await selectBackend('auto', () => g);
    expect(g.deviceRequests).toBe(1);
    expect(s.backend.info.name).toBe('wasm');
    expect(s.softwareAdapter).toBeUndefined();
    expect(s.fallbackReason).toMatch(/requestDevice failed on nvidia hopper \(NVIDIA H100\): fake adapter: no device/);
    s.backend.destroy();
  });

  it('the engine API passes the reason on to the page (setBackend, loadModel)', async () => {
    const api = createEngineApi(() => fakeGpu(SWIFTSHADER));
    const st = await api.setBackend('auto');
    expect(st.backend.name).toBe('wasm');
    expect(st.softwareAdapter).toBe('google swiftshader (SwiftShader driver 5.0.0)');
    expect(st.fallbackReason).toMatch(/is a software renderer/);
    expect(st.reason).toMatch(/^Auto: WebGPU adapter google swiftshader/);
    expect((await api.setBackend('cpu')).reason).toBe('the CPU reference backend was asked for');
  });
});

describe('what the page says (banner and model panel texts)', () => {
  const wasm = { name: 'wasm', device: 'CPU (WebAssembly SIMD, f32, 1 thread)' };
  it('Auto on a software adapter: the CPU, why, and how to use WebGPU anyway', () => {
    const s = { backend: wasm, reason: 'Auto: x', fallbackReason: 'x', softwareAdapter: 'google swiftshader' };
    expect(engineText(s)).toBe(
      'The engine runs on the CPU (WebAssembly SIMD): the WebGPU adapter is a software renderer (slower than the CPU backend here); choose WebGPU in the Backend menu to use it anyway.',
    );
    expect(backendWhy(s)).toBe('Auto: the WebGPU adapter is a software renderer, slower than the CPU backend here');
  });
  it('no adapter, a hardware adapter, the menu', () => {
    expect(engineText({ backend: wasm, fallbackReason: 'no adapter' })).toBe('The engine runs on the CPU (WebAssembly SIMD).');
    expect(backendWhy({ reason: 'Auto: no adapter', fallbackReason: 'no adapter' })).toBe('Auto: WebGPU is not available');
    expect(backendWhy({ reason: 'Auto: WebGPU adapter nvidia hopper is a hardware GPU' })).toBe('Auto: WebGPU adapter nvidia hopper is a hardware GPU');
    expect(backendWhy({ reason: 'the CPU reference backend was asked for' })).toBe('chosen in the Backend menu');
    expect(backendWhy({ reason: 'WebGPU was asked for (its adapter google swiftshader is a software renderer: SwiftShader)' })).toBe(
      'chosen in the Backend menu (the WebGPU adapter is a software renderer, slower than the CPU backend here)',
    );
  });
});

describe.skipIf(!gpu)('the real SwiftShader adapter (Dawn in Node)', () => {
  it("'auto' gives wasm with the reason; 'webgpu' still gives the software adapter", async () => {
    const holder = new BackendHolder(() => gpu);
    const auto = await holder.get('auto');
    expect(auto.backend.info.name).toBe('wasm');
    expect(auto.softwareAdapter).toMatch(/swiftshader/i);
    expect(auto.fallbackReason).toMatch(/^WebGPU adapter .*swiftshader.* is a software renderer \(slower than the CPU backend here\)$/i);
    const explicit = await holder.get('webgpu');
    expect(explicit.backend).toBeInstanceOf(WebGpuBackend);
    expect(explicit.backend.info.device).toMatch(/swiftshader/i);
    expect(explicit.fallbackReason).toBeUndefined();
    expect(explicit.reason).toMatch(/^WebGPU was asked for \(its adapter .* is a software renderer: SwiftShader\)$/);
    holder.destroy();
  });

  it("'auto' on the same adapter reporting itself as hardware gives WebGPU on it", async () => {
    const s = await selectBackend('auto', () => dressedGpu(gpu!, { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' }));
    expect(s.backend).toBeInstanceOf(WebGpuBackend);
    expect(s.backend.info.device).toBe('nvidia hopper (NVIDIA H100)');
    expect(s.fallbackReason).toBeUndefined();
    expect(s.softwareAdapter).toBeUndefined();
    expect(s.reason).toBe('Auto: WebGPU adapter nvidia hopper (NVIDIA H100) is a hardware GPU');
    // It really runs.
    const x = s.backend.upload(Float32Array.of(1, 2), [2]);
    expect([...(await s.backend.read(s.backend.add(x, x)))]).toEqual([2, 4]);
    s.backend.destroy();
  });

  it('studio --backend auto says on stderr what it chose and why; the record carries the reason', async () => {
    const r = await runCli(['eval', '--model', 'stories260K', '--dataset', 'tinystories', '--seqlen', '64', '--windows', '0:1', '--backend', 'auto', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^studio: --backend auto: wasm \(CPU \(WebAssembly SIMD[^)]*\)\): WebGPU adapter .*swiftshader.* is a software renderer \(slower than the CPU backend here\); pass --backend webgpu to use it anyway\n$/im);
    expect(r.err).not.toContain('using the software adapter');
    const rec = JSON.parse(r.out) as { backend: { name: string; fallbackReason?: string } };
    expect(rec.backend.name).toBe('wasm');
    expect(rec.backend.fallbackReason).toMatch(/is a software renderer/);
  });
});
