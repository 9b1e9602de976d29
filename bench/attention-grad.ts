/**
 * Attention backward benchmark: `npx tsx bench/attention-grad.ts [--tokens 512] [--heads 9]
 *   [--kv 3] [--dim 64] [--reps 3] [--rows 1,2,4,8]`
 *
 * Times the two passes of the causal GQA attention backward (kernels/grad-attention-dq.ts,
 * grad-attention-dkv.ts) for one layer's shape, for each number of rows per invocation R,
 * and checks dq, dk, dv against the CPU reference. CPU time of this process as in
 * bench/attention.ts (a software adapter's threads run in it), best of N after a warm-up
 * whose time includes compiling the two pipelines.
 *
 * In Node without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp
 * (or lavapipe's ICD from scripts/setup-lavapipe.sh).
 */
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { dispatchAttentionGradDkv } from '../src/engine/backend/webgpu/kernels/grad-attention-dkv';
import { dispatchAttentionGradDq } from '../src/engine/backend/webgpu/kernels/grad-attention-dq';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import type { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { seededRandom } from '../src/engine/random';
import { cliOption as opt } from './cli-args';

const T = Number(opt('tokens', '512'));
const H = Number(opt('heads', '9'));
const KV = Number(opt('kv', '3'));
const d = Number(opt('dim', '64'));
const reps = Number(opt('reps', '3'));
const rowOptions = opt('rows', '1,2,4,8').split(',').map(Number);

const b = await createWebGpuBackend(await nodeGpu());
const rt = b.runtime;
const rand = seededRandom(3);
const data = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));
const host = { q: data(T * H * d, 2), k: data(T * KV * d, 2), v: data(T * KV * d), dO: data(T * H * d) };
const cpu = new CpuTrainingBackend();
const shape = { numHeads: H, numKvHeads: KV, headDim: d };
const r = cpu.attentionGrad(cpu.upload(host.q, [T, H * d]), cpu.upload(host.k, [T, KV * d]), cpu.upload(host.v, [T, KV * d]), cpu.upload(host.dO, [T, H * d]), shape);
const ref = { dq: await cpu.read(r.dq), dk: await cpu.read(r.dk), dv: await cpu.read(r.dv) };
const up = (x: Float32Array, n: number) => b.upload(x, [T, n]) as WebGpuTensor;
const [q, k, v, dO] = [up(host.q, H * d), up(host.k, KV * d), up(host.v, KV * d), up(host.dO, H * d)];
const buf = (t: WebGpuTensor) => t.chunks[0]!.buffer;
const out = { dq: up(new Float32Array(T * H * d), H * d), dk: up(new Float32Array(T * KV * d), KV * d), dv: up(new Float32Array(T * KV * d), KV * d), stats: b.upload(new Float32Array(T * H * 4), [T * H, 4]) as WebGpuTensor };
// Useful work per (query row, key) pair and head: pass 1 two sweeps of 2 dot products, pass 2 two dot products and two axpys.
const pairs = (T * (T + 1)) / 2;

console.log(`attention backward T=${T} heads ${H}/${KV} d=${d} on ${b.info.device}: ${((8 * d * pairs * H) / 1e9).toFixed(3)} GFLOP per pass`);
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
for (const rows of rowOptions) {
  const s = { T, ...shape, rows };
  const dqPass = async () => {
    dispatchAttentionGradDq(rt, { q: buf(q), k: buf(k), v: buf(v), dOut: buf(dO), dq: buf(out.dq), stats: buf(out.stats) }, s);
    await b.read(out.dq);
  };
  const dkvPass = async () => {
    dispatchAttentionGradDkv(rt, { q: buf(q), k: buf(k), v: buf(v), dOut: buf(dO), stats: buf(out.stats), dk: buf(out.dk), dv: buf(out.dv) }, s);
    await b.read(out.dv);
  };
  let c0 = process.cpuUsage();
  try {
    await dqPass();
    await dkvPass();
  } catch (e) {
    console.log(`R=${rows}: failed: ${e instanceof Error ? e.message : String(e)}`);
    continue;
  }
  const first = cpuMs(process.cpuUsage(c0));
  let err = 0;
  for (const name of ['dq', 'dk', 'dv'] as const) {
    const got = await b.read(out[name]);
    let e = 0;
    let mx = 0;
    for (let i = 0; i < got.length; i++) {
      e = Math.max(e, Math.abs(got[i]! - ref[name][i]!));
      mx = Math.max(mx, Math.abs(ref[name][i]!));
    }
    err = Math.max(err, e / mx);
  }
  const best = { dq: Infinity, dkv: Infinity };
  for (let i = 0; i < reps; i++) {
    c0 = process.cpuUsage();
    await dqPass();
    best.dq = Math.min(best.dq, cpuMs(process.cpuUsage(c0)));
    c0 = process.cpuUsage();
    await dkvPass();
    best.dkv = Math.min(best.dkv, cpuMs(process.cpuUsage(c0)));
  }
  console.log(`R=${String(rows).padEnd(2)} first call (compile + run) ${first.toFixed(0).padStart(6)} CPU-ms · dq pass ${best.dq.toFixed(0).padStart(6)} · dk/dv pass ${best.dkv.toFixed(0).padStart(6)} · total ${(best.dq + best.dkv).toFixed(0).padStart(6)} CPU-ms · max rel. error ${err.toExponential(1)}`);
}
b.destroy();
