/**
 * Packed-integer matmul benchmark: `npx tsx bench/quant-matmul.ts [--reps N] [--all]`.
 *
 * Times y = x·Ŵᵀ with Ŵ dequantized on the fly from 4-bit (group 64, asymmetric) and 8-bit
 * codes (kernels/matmul-nbits.ts) against the float32 matmul on the same shape, on the
 * WebGPU backend; each timing is the best of N runs including submit and completion. Also
 * prints the GPU bytes of the weight in each form. In Node without a GPU prefix with
 * VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp.
 */
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { packedBytes } from '../src/engine/quant/pack';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { cliFlag, cliOption } from './cli-args';

const all = cliFlag('all');
const reps = Number(cliOption('reps', '5'));

// [T, K, M]: stories260K's shapes, then SmolLM2-135M's.
const SHAPES: [number, number, number][] = [
  [512, 64, 64],
  [512, 64, 172],
  [512, 172, 64],
  [512, 576, 1536],
  [512, 1536, 576],
];

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * 0.1;
  }
  return out;
}

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const b = await createWebGpuBackend(await nodeGpu());
const slow = b.adapter.isFallbackAdapter;
console.log(`adapter: ${b.info.device}; best of ${reps}\n`);
console.log('T      K      M      | weight          | GPU weight bytes | ms        | GFLOP/s');
for (const [T, K, M] of SHAPES) {
  const flop = 2 * T * K * M;
  if (slow && !all && flop > 0.5e9) {
    console.log(`${String(T).padEnd(6)} ${String(K).padEnd(6)} ${String(M).padEnd(6)} | skipped (${(flop / 1e9).toFixed(1)} GFLOP on a software adapter; --all runs it)`);
    continue;
  }
  const ws = random(M * K, 2);
  const x = b.upload(random(T * K, 1), [T, K]);
  const variants = [
    { name: 'float32', bytes: M * K * 4, w: b.upload(ws, [M, K]), quant: false },
    ...[4, 8].map((bits) => {
      const p = rtnQuantize(ws, M, K, { bits, groupSize: 64, symmetric: false });
      return { name: `${bits}-bit g64 asym`, bytes: packedBytes(p), w: b.uploadQuantized(p), quant: true };
    }),
  ];
  for (const v of variants) {
    let best = Infinity;
    for (let r = 0; r < reps + 1; r++) {
      const t0 = performance.now();
      const y = v.quant ? b.matmulQuantized(x, v.w) : b.matmul(x, v.w);
      await b.sync();
      const ms = performance.now() - t0;
      if (r > 0) best = Math.min(best, ms); // the first run compiles the pipeline
      b.dispose(y);
    }
    console.log(`${String(T).padEnd(6)} ${String(K).padEnd(6)} ${String(M).padEnd(6)} | ${v.name.padEnd(15)} | ${String(v.bytes).padStart(16)} | ${best.toFixed(2).padStart(9)} | ${(flop / best / 1e6).toFixed(3)}`);
    b.dispose(v.w);
  }
  b.dispose(x);
}
b.destroy();
