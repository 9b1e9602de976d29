/**
 * Attention kernel benchmark: `npx tsx bench/attention.ts [--tokens 512] [--heads 9] [--kv 3]
 *   [--dim 64] [--offset 0] [--reps 3] [--plans shared,direct,rows:4:8,rows:2:8]`
 *
 * Times the causal GQA attention kernel alone for one layer's shape (T queries at positions
 * offset … offset+T−1), for each variant / block shape ("rows:R:BK" = R query rows per
 * invocation, BK keys per block), and checks each result against the CPU reference. Prints
 * wall time and CPU time of this process (process.cpuUsage: a software adapter's threads
 * run in it, so CPU time is what the kernel cost, whatever else loads the machine), best of
 * N after a warm-up, and GFLOP/s of the useful (causal) work, 4·d flops per query-key pair.
 *
 * In Node without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp
 * (or lavapipe's ICD from scripts/setup-lavapipe.sh).
 */
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { attentionBlock, attentionPlan, dispatchAttentionPlan, type AttentionPlan, type AttentionVariant } from '../src/engine/backend/webgpu/kernels/attention';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import type { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { seededRandom } from '../src/engine/random';
import { cliOption as opt } from './cli-args';

const T = Number(opt('tokens', '512'));
const H = Number(opt('heads', '9'));
const KV = Number(opt('kv', '3'));
const d = Number(opt('dim', '64'));
const offset = Number(opt('offset', '0'));
const reps = Number(opt('reps', '3'));
const plans = opt('plans', 'shared,direct,rows').split(',');

const b = await createWebGpuBackend(await nodeGpu());
const rt = b.runtime;
const rand = seededRandom(3);
const data = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
const qh = data(T * H * d);
const kh = data((offset + T) * KV * d);
const vh = data((offset + T) * KV * d);
const cpu = new CpuBackend();
const ref = await cpu.read(cpu.attentionCached(cpu.upload(qh, [T, H * d]), cpu.upload(kh, [offset + T, KV * d]), cpu.upload(vh, [offset + T, KV * d]), { numHeads: H, numKvHeads: KV, headDim: d }, offset));
const [q, k, v] = [b.upload(qh, [T, H * d]), b.upload(kh, [offset + T, KV * d]), b.upload(vh, [offset + T, KV * d])] as WebGpuTensor[];
const buf = (t: WebGpuTensor) => t.chunks[0]!.buffer;
// Useful work: row i sees offset + i + 1 keys; QK and PV are 2·d flops each per pair.
const pairs = T * offset + (T * (T + 1)) / 2;
const gflop = (4 * d * pairs * H) / 1e9;

console.log(`attention T=${T} (offset ${offset}) heads ${H}/${KV} d=${d} on ${b.info.device}: ${gflop.toFixed(3)} GFLOP useful`);
for (const spec of plans) {
  const [variant, r, bk] = spec.split(':');
  const base = attentionPlan(variant as AttentionVariant, d, rt.limits.maxComputeWorkgroupStorageSize);
  const plan: AttentionPlan = { variant: base.variant, rows: r ? Number(r) : base.rows, bk: bk ? Number(bk) : variant === 'rows' ? base.bk : attentionBlock(d, rt.limits.maxComputeWorkgroupStorageSize) };
  const out = b.upload(new Float32Array(T * H * d), [T, H * d]) as WebGpuTensor;
  const once = async () => {
    dispatchAttentionPlan(rt, buf(q), buf(k), buf(v), out.chunks[0]!.buffer, { T, numHeads: H, numKvHeads: KV, headDim: d, plan, offset });
    await b.read(out);
  };
  const c0 = process.cpuUsage();
  try {
    await once();
    const c = process.cpuUsage(c0);
    console.log(`${spec}: first call (compile) ${((c.user + c.system) / 1000).toFixed(0)} CPU-ms`);
  } catch (e) {
    console.log(`${spec}: failed: ${e instanceof Error ? e.message : String(e)}`);
    continue;
  }
  const got = await b.read(out);
  let err = 0;
  let mx = 0;
  for (let i = 0; i < got.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    mx = Math.max(mx, Math.abs(ref[i]!));
  }
  let wall = Infinity;
  let cpuMs = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await once();
    wall = Math.min(wall, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs = Math.min(cpuMs, (c.user + c.system) / 1000);
  }
  console.log(`${`${plan.variant} R=${plan.rows} BK=${plan.bk}`.padEnd(22)} wall ${wall.toFixed(0).padStart(6)} ms · CPU ${cpuMs.toFixed(0).padStart(6)} ms · ${(gflop / (cpuMs / 1000)).toFixed(2)} GFLOP per CPU-s · rel. error ${(err / mx).toExponential(1)}`);
  b.dispose(out);
}
b.destroy();
