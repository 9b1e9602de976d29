/**
 * Matmul benchmark for the WebGPU backend: `npx tsx bench/matmul.ts [--all] [--reps N]`.
 *
 * Times y = x·Wᵀ for x [T, K], W [M, K] with each kernel variant (tiled, register-blocked 4×4,
 * wide 16×8, simple) and prints GFLOP/s = 2·T·K·M / time. Each timing is the best of N runs of one
 * matmul including submit and waiting for completion (so small shapes include that fixed
 * overhead). Results are checked against a float64 host product on a sample of outputs.
 *
 * On a software adapter (SwiftShader, llvmpipe: ~1 GFLOP/s) shapes above ~0.5 GFLOP are
 * skipped unless --all is given. In Node without a GPU, set
 * VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp.
 */
import { createWebGpuBackend, type MatmulChoice } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { cliFlag, cliOption } from './cli-args';

const all = cliFlag('all');
const reps = Number(cliOption('reps', '5'));

// [T, K, M]: T tokens, K in-features, M out-features.
const SHAPES: [number, number, number][] = [
  [512, 64, 64],
  [512, 64, 512],
  [512, 172, 64],
  [512, 171, 64],
  [512, 576, 1536],
  [512, 1536, 576],
  [512, 576, 49152],
  [2048, 2048, 2048],
];

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function main() {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const b = await createWebGpuBackend(await nodeGpu());
  const slow = b.adapter.isFallbackAdapter;
  console.log(`adapter: ${b.info.device}`);
  console.log(`reps: best of ${reps}${slow && !all ? '; software adapter: shapes over 0.5 GFLOP skipped (--all to run them)' : ''}\n`);
  console.log('T      K      M      | kernel                  | ms         | GFLOP/s   | max rel err (sampled)');
  const choices: MatmulChoice[] = ['tiled', 'blocked', 'wide', 'simple'];
  for (const [T, K, M] of SHAPES) {
    const flop = 2 * T * K * M;
    if (slow && !all && flop > 0.5e9) {
      console.log(`${String(T).padEnd(6)} ${String(K).padEnd(6)} ${String(M).padEnd(6)} | skipped (${(flop / 1e9).toFixed(1)} GFLOP on a software adapter)`);
      continue;
    }
    const xs = random(T * K, 1);
    const ws = random(M * K, 2);
    const x = b.upload(xs, [T, K]);
    const w = b.upload(ws, [M, K]);
    const done = new Set<string>();
    for (const choice of choices) {
      b.matmulChoice = choice;
      const kernel = b.matmulKernelFor(T, K);
      if (done.has(kernel)) continue; // 'tiled' and 'blocked' both fall back to blocked-scalar when K % 4 ≠ 0
      done.add(kernel);
      // Warm-up (compiles the pipeline) and correctness sample.
      const y0 = b.matmul(x, w);
      const y = await b.read(y0);
      b.dispose(y0);
      let err = 0;
      let scale = 0;
      for (let s = 0; s < 64; s++) {
        const r = (s * 7919) % T;
        const c = (s * 104729) % M;
        let acc = 0;
        for (let k = 0; k < K; k++) acc += xs[r * K + k]! * ws[c * K + k]!;
        err = Math.max(err, Math.abs(acc - y[r * M + c]!));
        scale = Math.max(scale, Math.abs(acc));
      }
      let best = Infinity;
      for (let i = 0; i < reps; i++) {
        await b.sync();
        const t0 = performance.now();
        const out = b.matmul(x, w);
        await b.sync();
        best = Math.min(best, performance.now() - t0);
        b.dispose(out);
      }
      console.log(
        `${String(T).padEnd(6)} ${String(K).padEnd(6)} ${String(M).padEnd(6)} | ${kernel.padEnd(23)} | ${best.toFixed(2).padStart(10)} | ${(flop / best / 1e6).toFixed(2).padStart(9)} | ${(err / scale).toExponential(1)}`,
      );
    }
    b.dispose(x);
    b.dispose(w);
  }
  b.destroy();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
