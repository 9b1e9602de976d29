/**
 * The WebGPU backend: the Backend interface on GPU buffers, one WGSL kernel per operation
 * (./kernels). Tensors stay on the GPU between kernels; only `read` copies back.
 *
 * Three parts: the storage (./storage.ts: buffers, chunked tensors, upload and download,
 * the pool), the kernel choice (./kernel-choice.ts: which matmul and attention kernel for a
 * shape on this adapter) and the op wrappers below, each a check of its operands then one
 * `storage.dispatch` (allocate the outputs, gather chunked inputs, encode, release).
 *
 * Large weights are uploaded in row chunks (see ./storage.ts). Matmul runs one dispatch per
 * chunk of W (each writes its slice of output columns) and embedding one per chunk of the
 * table (each writes the rows whose ids it holds); any other kernel gathers a contiguous
 * copy first. Outputs are single buffers and must fit the device's limit.
 */
import { attentionRows, capabilityFrom, shapeStr, type AttentionShape, type Backend, type BackendCapabilities, type BackendInfo, type CapabilityName, type QuantizedTensor, type Tensor } from '../backend';
import type { PackedLinear } from '../packed-linear';
import { WebGpuQuantized } from './quantized-tensor';
import { dispatchMatmulNbits } from './kernels/matmul-nbits';
import { acquireDevice, adapterName, type AdapterReport, type DeviceRequestOptions } from './device';
import { GpuRuntime } from './runtime';
import type { PoolStats } from './pool';
import { WebGpuStorage } from './storage';
import { isSwiftShader, KernelChoice, precompiled, type MatmulChoice, type MatmulKernelName } from './kernel-choice';
import type { WebGpuTensor } from './tensor';
import { dispatchAdd } from './kernels/add';
import { dispatchAttention, type AttentionVariant } from './kernels/attention';
import { dispatchAttentionCached } from './kernels/attention-cached';
import { dispatchChannelStats } from './kernels/channel-stats';
import { dispatchEmbedding } from './kernels/embedding';
import { dispatchMatmulWith } from './kernels/matmul-common';
import { encodeF16, encodeF16Exact } from '../../half';
import { dispatchNll } from './kernels/nll';
import { dispatchRmsnorm } from './kernels/rmsnorm';
import { dispatchRope } from './kernels/rope';
import { dispatchSwiglu } from './kernels/swiglu';
import type { AttentionGrads, GradOps, SwigluGrads } from '../grad-ops';
import { WebGpuGrad } from './webgpu-grad';
import { WebGpuPruneOps } from './prune-ops';
import { WebGpuQuantTrainOps } from './quant-train-ops';

export type { MatmulChoice, MatmulKernelName } from './kernel-choice';

/**
 * How weight matrices are stored (`uploadWeight`): 'f32' always; 'f16' every matrix (needs
 * shader-f16; lossy for f32/bf16 sources, values beyond ±65504 are refused); 'auto' (the
 * default) f16 where the device has shader-f16 and the matrix survives the conversion exactly
 * (f16 checkpoints, pruned zeros), so results never change, else f32. Vectors (norms,
 * biases) and matrices whose rows are not a multiple of 4 values stay f32.
 */
export type WeightStoragePolicy = 'auto' | 'f32' | 'f16';

export interface WebGpuBackendOptions extends DeviceRequestOptions {
  /**
   * Largest binding, in bytes, for weights and embedding tables; bigger 2-D tensors are
   * split by rows. Defaults to the device's maxStorageBufferBindingSize; a smaller value
   * forces splitting (tests).
   */
  maxBindingBytes?: number;
  matmul?: MatmulChoice;
  /** Bytes of freed buffers kept for reuse (default 512 MiB). */
  maxPooledBytes?: number;
  /** Kernels queued before a submit (default 128). */
  batchSize?: number;
  /** Storage of weight matrices (default 'auto'). */
  weightStorage?: WeightStoragePolicy;
  /** Attention kernel variant; 'auto' (default): attentionKernel()'s choice ('rows' on SwiftShader and for heads too large for workgroup memory, 'shared' elsewhere). */
  attention?: 'auto' | AttentionVariant;
}

/**
 * Acquires an adapter and device from `gpu` (navigator.gpu, or nodeGpu() in Node), compiles
 * the kernels and returns the backend (on `adapter` when given: one from `gpu` with no device
 * yet); throws an Error saying why when that is impossible.
 */
export async function createWebGpuBackend(gpu: GPU | null | undefined, opts: WebGpuBackendOptions = {}, adapter?: GPUAdapter): Promise<WebGpuBackend> {
  const acquired = await acquireDevice(gpu, opts, adapter);
  const { device, report } = acquired;
  const rt = new GpuRuntime(device, { batchSize: opts.batchSize, maxPooledBytes: opts.maxPooledBytes }, [acquired.gpu, acquired.adapter]);
  try {
    await rt.compile(precompiled(report.isFallbackAdapter));
  } catch (e) {
    rt.destroy();
    throw e;
  }
  return new WebGpuBackend(rt, report, opts);
}

export class WebGpuBackend implements Backend, GradOps {
  readonly info: BackendInfo;
  readonly adapter: AdapterReport;
  readonly runtime: GpuRuntime;
  /** Buffers, chunked tensors, upload/download and the pool (./storage.ts), shared with the grad, prune and quant-train ops. */
  readonly storage: WebGpuStorage;
  /** Which kernel runs for a shape (./kernel-choice.ts). */
  readonly kernels: KernelChoice;
  readonly weightStorage: WeightStoragePolicy;
  /** Bytes of weights uploaded as f16 and as f32 so far (for reports). */
  readonly weightBytes = { f16: 0, f32: 0 };
  /** The training backward ops (./webgpu-grad.ts), on this backend's storage. */
  private readonly grad: WebGpuGrad;

  constructor(runtime: GpuRuntime, adapter: AdapterReport, opts: WebGpuBackendOptions = {}) {
    this.runtime = runtime;
    this.adapter = adapter;
    // Forced f16 storage rounds weights, so results carry it in their backend description.
    this.info = { name: 'webgpu', device: adapterName(adapter) + (opts.weightStorage === 'f16' ? ' · f16 weights' : '') };
    if (opts.maxBindingBytes !== undefined && !(opts.maxBindingBytes >= 16)) throw new Error(`WebGPU: maxBindingBytes must be at least 16, got ${opts.maxBindingBytes}`);
    this.weightStorage = opts.weightStorage ?? 'auto';
    this.kernels = new KernelChoice(isSwiftShader(adapterName(adapter)), adapter.isFallbackAdapter, runtime.limits.maxComputeWorkgroupStorageSize, { matmul: opts.matmul, attention: opts.attention });
    if (this.weightStorage === 'f16' && !adapter.features.shaderF16) {
      throw new Error(`WebGPU: f16 weight storage needs the shader-f16 feature, which ${adapterName(adapter)} does not have`);
    }
    this.storage = new WebGpuStorage(runtime, opts.maxBindingBytes);
    this.grad = new WebGpuGrad({ storage: this.storage, swiftShader: this.kernels.swiftShader, matmul: (x, w) => this.matmul(x, w) });
  }

  /** The device's binding limit (bytes). */
  get deviceBindingLimit(): number {
    return this.storage.deviceBindingLimit;
  }

  /** Tensors above this many bytes are uploaded in row chunks. */
  get splitBytes(): number {
    return this.storage.splitBytes;
  }

  /** Matmul kernel selection; may be changed between calls (tests, benchmarks). */
  get matmulChoice(): MatmulChoice {
    return this.kernels.matmul;
  }
  set matmulChoice(c: MatmulChoice) {
    this.kernels.matmul = c;
  }

  /** Attention kernel variant ('auto': see attentionKernelFor); may be changed between calls (tests, benchmarks). */
  get attentionVariant(): 'auto' | AttentionVariant {
    return this.kernels.attention;
  }
  set attentionVariant(v: 'auto' | AttentionVariant) {
    this.kernels.attention = v;
  }

  // ---- memory -------------------------------------------------------------------------

  /** Buffer pool accounting (bytes in use, peak, pooled…). */
  memory(): PoolStats {
    return this.storage.memory();
  }

  /** Frees pooled (unused) buffers. */
  trim(): void {
    this.storage.trim();
  }

  /** Submits queued work and waits until the GPU has finished it; throws any GPU error. */
  async sync(): Promise<void> {
    this.runtime.check('sync');
    this.runtime.flush();
    await this.runtime.device.queue.onSubmittedWorkDone();
    await this.runtime.settle('sync');
  }

  private use(x: Tensor, kernel: string, acceptsF16 = false): WebGpuTensor {
    return this.storage.use(x, kernel, acceptsF16);
  }

  // ---- Backend: data movement ------------------------------------------------------------

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return this.storage.put(data, shape, 'f32', null);
  }

  uploadIds(ids: Int32Array): Tensor {
    return this.storage.put(ids, [ids.length], 'i32', ids.slice());
  }

  uploadWeight(data: Float32Array, shape: readonly number[]): Tensor {
    const half = this.halfWeight(data, shape);
    const t = half ? this.storage.put(half, shape, 'f16', null) : this.storage.put(data, shape, 'f32', null);
    this.weightBytes[t.dtype === 'f16' ? 'f16' : 'f32'] += t.bytes;
    return t;
  }

  /** The f16 encoding of a weight when the storage policy stores it as f16, else null. */
  private halfWeight(data: Float32Array, shape: readonly number[]): Uint16Array | null {
    const cols = shape[shape.length - 1] ?? 0;
    if (this.weightStorage === 'f32' || !this.adapter.features.shaderF16 || shape.length !== 2 || cols % 4 !== 0 || data.length === 0) return null;
    if (this.weightStorage === 'auto') return encodeF16Exact(data);
    return encodeF16(data, (i) => {
      throw new Error(`WebGPU f16 weights: value ${data[i]} (row ${Math.floor(i / cols)}, column ${i % cols} of a [${shape.join(', ')}] weight) is beyond the f16 range ±65504; use f32 weight storage`);
    });
  }

  read(t: Tensor): Promise<Float32Array> {
    return this.storage.read(t);
  }

  dispose(t: Tensor): void {
    this.storage.dispose(t);
  }

  // ---- Backend: kernels --------------------------------------------------------------------

  embedding(tableIn: Tensor, idsIn: Tensor): Tensor {
    const table = this.use(tableIn, 'embedding', true);
    const ids = this.use(idsIn, 'embedding');
    if (ids.dtype !== 'i32' || !ids.hostIds) throw new Error('WebGPU embedding: ids must come from uploadIds');
    this.runtime.check('embedding');
    const vocab = table.shape[0]!;
    const dim = table.shape[1]!;
    for (const id of ids.hostIds) {
      if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (${vocab})`);
    }
    const T = ids.hostIds.length;
    const idBuf = ids.chunks[0]!.buffer;
    // Read chunk by chunk: no gathered inputs.
    const [out] = this.storage.dispatch('embedding', [], [[T, dim]], (_, [ob]) => {
      for (const c of table.chunks) {
        dispatchEmbedding(this.runtime, c.buffer, idBuf, ob, { tokens: T, dim, rowStart: c.rowStart, rows: c.rows }, table.dtype === 'f16');
      }
    });
    return out;
  }

  rmsnorm(xIn: Tensor, weight: Tensor, eps: number): Tensor {
    const x = this.use(xIn, 'rmsnorm');
    const w = this.use(weight, 'rmsnorm');
    const [n, d] = [x.rows, x.cols];
    if (w.size !== d) throw new Error(`rmsnorm: weight has ${w.size} values for rows of ${d}`);
    const [out] = this.storage.dispatch('rmsnorm', [x, w], [x.shape], ([xb, wb], [ob]) => dispatchRmsnorm(this.runtime, xb, wb, ob, n, d, eps));
    return out;
  }

  /** The attention kernel for heads of size d: see attentionKernel. */
  attentionKernelFor(headDim: number): AttentionVariant {
    return this.kernels.attentionKernel(headDim);
  }

  /**
   * 'shared' runs the loop-based kernel of ./kernels/attention-cached.ts: the unrolled
   * generator's 'shared' code with an offset took minutes to compile on lavapipe for heads
   * of 64 (docs/backends.md#attention), the loop-based one compiles in about a second everywhere.
   */
  private dispatchAttentionAt(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, s: { T: number; numHeads: number; numKvHeads: number; headDim: number; offset: number }): void {
    const variant = this.attentionKernelFor(s.headDim);
    if (variant === 'shared') dispatchAttentionCached(this.runtime, q, k, v, out, s);
    else dispatchAttention(this.runtime, q, k, v, out, { ...s, variant });
  }

  /** The matmul kernel used for x with `rows` rows and `k` columns. */
  matmulKernelFor(rows: number, k: number): MatmulKernelName {
    return this.kernels.matmulKernel(rows, k);
  }

  matmul(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    const x = this.use(xIn, 'matmul');
    const w = this.use(wIn, 'matmul', true);
    const bias = biasIn ? this.use(biasIn, 'matmul') : null;
    const [n, k] = [x.rows, x.cols];
    const m = w.shape[0]!;
    if (w.shape.length !== 2 || w.shape[1] !== k) throw new Error(`matmul: x has ${k} columns, weight is [${w.shape.join(', ')}]`);
    if (bias && bias.size !== m) throw new Error(`matmul: bias has ${bias.size} values for ${m} outputs`);
    const kernel = this.matmulKernelFor(n, k);
    const src = this.kernels.matmulSource(kernel, w.dtype === 'f16' ? 'f16' : 'f32');
    const [out] = this.storage.dispatch('matmul', bias ? [x, bias] : [x], [[n, m]], ([xb, bb], [ob]) => {
      for (const c of w.chunks) {
        dispatchMatmulWith(this.runtime, src, this.kernels.matmulGrid(kernel, src, n, c.rows), xb!, c.buffer, bb ?? null, this.storage.dummy, ob, {
          T: n,
          N: c.rows,
          K: k,
          ldy: m,
          colOffset: c.rowStart,
        });
      }
    });
    return out;
  }

  // ---- packed integer linears (quant/pack.ts) -----------------------------------------------

  uploadQuantized(p: PackedLinear): QuantizedTensor {
    this.runtime.check('uploadQuantized');
    this.runtime.flush();
    const f32bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const s = this.storage;
    const qweight = s.putBytes(p.qweight, 'uploadQuantized');
    const scales = s.putBytes(f32bytes(p.scales), 'uploadQuantized');
    const zeros = p.qzeros ? s.putBytes(p.qzeros, 'uploadQuantized') : p.fzeros ? s.putBytes(f32bytes(p.fzeros), 'uploadQuantized') : null;
    const zeroMode = p.qzeros ? 1 : p.fzeros ? 2 : 0;
    const bytes = p.qweight.byteLength + p.scales.byteLength + (p.qzeros?.byteLength ?? 0) + (p.fzeros?.byteLength ?? 0);
    return new WebGpuQuantized(s, p.bits, p.blockSize, p.kBlocks, p.blobSize, zeroMode, Math.ceil((p.kBlocks * p.bits) / 8), { qweight, scales, zeros }, p.rows, p.cols, bytes);
  }

  matmulQuantized(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    if (!(wIn instanceof WebGpuQuantized) || wIn.owner !== this.storage) throw new Error('WebGPU matmul-nbits: weight was not made by this backend\'s uploadQuantized');
    if (wIn.disposed) throw new Error('WebGPU matmul-nbits: weight was disposed');
    const x = this.use(xIn, 'matmul-nbits');
    const bias = biasIn ? this.use(biasIn, 'matmul-nbits') : null;
    const [n, k] = [x.rows, x.cols];
    const [m, K] = wIn.shape as [number, number];
    if (K !== k) throw new Error(`matmul-nbits: x has ${k} columns, weight is [${m}, ${K}]`);
    if (bias && bias.size !== m) throw new Error(`matmul-nbits: bias has ${bias.size} values for ${m} outputs`);
    const dummy = this.storage.dummy;
    const z = wIn.buffers.zeros ?? dummy;
    const [out] = this.storage.dispatch('matmul-nbits', bias ? [x, bias] : [x], [[n, m]], ([xb, bb], [ob]) =>
      dispatchMatmulNbits(
        this.runtime,
        { x: xb!, qweight: wIn.buffers.qweight, scales: wIn.buffers.scales, qzeros: wIn.zeroMode === 1 ? z : dummy, fzeros: wIn.zeroMode === 2 ? z : dummy, bias: bb ?? null, dummy, y: ob },
        { T: n, N: m, K: k, bits: wIn.bits, blockSize: wIn.blockSize, kBlocks: wIn.kBlocks, blobSize: wIn.blobSize, zeroMode: wIn.zeroMode, zeroRowBytes: wIn.zeroRowBytes },
      ),
    );
    return out;
  }

  rope(xIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const x = this.use(xIn, 'rope');
    const cos = this.use(cosIn, 'rope');
    const sin = this.use(sinIn, 'rope');
    const [n, d] = [x.rows, x.cols];
    if (d !== numHeads * headDim) throw new Error(`rope: ${d} columns for ${numHeads} heads of ${headDim}`);
    if (headDim % 2 !== 0) throw new Error(`rope: head size ${headDim} is odd`);
    if (cos.size < n * (headDim / 2) || sin.size < n * (headDim / 2)) throw new Error(`rope: cos/sin tables ${shapeStr(cos.shape)} are too small for ${n} rows of head size ${headDim}`);
    const [out] = this.storage.dispatch('rope', [x, cos, sin], [x.shape], ([xb, cb, sb], [ob]) => dispatchRope(this.runtime, xb, cb, sb, ob, n, numHeads, headDim));
    return out;
  }

  attention(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape): Tensor {
    const q = this.use(qIn, 'attention');
    const k = this.use(kIn, 'attention');
    const v = this.use(vIn, 'attention');
    const { numHeads, numKvHeads, headDim } = s;
    const T = attentionRows('attention', q.size, s);
    if (!Number.isInteger(T) || k.size !== T * numKvHeads * headDim || v.size !== k.size) {
      throw new Error(`attention: shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} do not match ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const [out] = this.storage.dispatch('attention', [q, k, v], [[T, numHeads * headDim]], ([qb, kb, vb], [ob]) =>
      this.dispatchAttentionAt(qb, kb, vb, ob, { T, numHeads, numKvHeads, headDim, offset: 0 }),
    );
    return out;
  }

  attentionCached(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape, offset: number): Tensor {
    const q = this.use(qIn, 'attention-cached');
    const k = this.use(kIn, 'attention-cached');
    const v = this.use(vIn, 'attention-cached');
    const { numHeads, numKvHeads, headDim } = s;
    const T = attentionRows('attention', q.size, s);
    const kvd = numKvHeads * headDim;
    if (!Number.isInteger(T) || T === 0 || k.cols !== kvd || v.cols !== kvd || !Number.isInteger(offset) || offset < 0 || k.rows < offset + T || v.rows !== k.rows) {
      throw new Error(`attention-cached: q ${shapeStr(q.shape)} at offset ${offset} does not fit caches k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} of ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const [out] = this.storage.dispatch('attention-cached', [q, k, v], [[T, numHeads * headDim]], ([qb, kb, vb], [ob]) =>
      this.dispatchAttentionAt(qb, kb, vb, ob, { T, numHeads, numKvHeads, headDim, offset }),
    );
    return out;
  }

  /** A buffer copy per destination chunk that the rows overlap (no kernel needed). */
  writeRows(dstIn: Tensor, srcIn: Tensor, row: number): void {
    const dst = this.use(dstIn, 'writeRows');
    const src = this.use(srcIn, 'writeRows');
    const C = dst.cols;
    if (src.cols !== C || !Number.isInteger(row) || row < 0 || row + src.rows > dst.rows) {
      throw new Error(`writeRows: ${shapeStr(src.shape)} does not fit rows ${row}… of ${shapeStr(dst.shape)}`);
    }
    const rt = this.runtime;
    rt.check('writeRows');
    this.storage.dispatch('writeRows', [src], [], ([sb]) => {
      const enc = rt.device.createCommandEncoder({ label: 'writeRows' });
      const end = row + src.rows;
      for (const c of dst.chunks) {
        const a = Math.max(row, c.rowStart);
        const b = Math.min(end, c.rowStart + c.rows);
        if (b > a) enc.copyBufferToBuffer(sb, (a - row) * C * 4, c.buffer, (a - c.rowStart) * C * 4, (b - a) * C * 4);
      }
      rt.enqueue(rt.scoped('writeRows: copy', () => enc.finish()), 'writeRows');
    });
  }

  swiglu(gateIn: Tensor, upIn: Tensor): Tensor {
    const g = this.use(gateIn, 'swiglu');
    const u = this.use(upIn, 'swiglu');
    if (g.size !== u.size) throw new Error('swiglu: shapes differ');
    const [out] = this.storage.dispatch('swiglu', [g, u], [g.shape], ([gb, ub], [ob]) => dispatchSwiglu(this.runtime, gb, ub, ob, g.size));
    return out;
  }

  add(aIn: Tensor, bIn: Tensor): Tensor {
    const a = this.use(aIn, 'add');
    const b = this.use(bIn, 'add');
    if (a.size !== b.size) throw new Error('add: shapes differ');
    const [out] = this.storage.dispatch('add', [a, b], [a.shape], ([ab, bb], [ob]) => dispatchAdd(this.runtime, ab, bb, ob, a.size));
    return out;
  }

  nll(logitsIn: Tensor, targetsIn: Tensor): Tensor {
    const l = this.use(logitsIn, 'nll');
    const targets = this.use(targetsIn, 'nll');
    if (targets.dtype !== 'i32' || !targets.hostIds) throw new Error('WebGPU nll: targets must come from uploadIds');
    const [n, V] = [l.rows, l.cols];
    if (targets.hostIds.length !== n) throw new Error(`nll: ${n} rows of logits, ${targets.hostIds.length} targets`);
    for (const id of targets.hostIds) {
      if (id < 0 || id >= V) throw new RangeError(`nll: target ${id} is outside the vocabulary (${V})`);
    }
    const [out] = this.storage.dispatch('nll', [l], [[n]], ([lb], [ob]) => dispatchNll(this.runtime, lb, targets.chunks[0]!.buffer, ob, n, V));
    return out;
  }

  /**
   * Calibration statistics per input channel of x [T, C] (its `channelStats` capability): a [3, C]
   * tensor of Σx, Σx² and the token count, in f32. With `into`, adds to that tensor in place
   * and returns it (to accumulate over samples without reading back).
   */
  channelStats(xIn: Tensor, into?: Tensor): Tensor {
    const x = this.use(xIn, 'channel-stats');
    const [T, C] = [x.rows, x.cols];
    let out: WebGpuTensor;
    if (into) {
      out = this.use(into, 'channel-stats');
      if (out.size !== 3 * C || out.chunked) throw new Error(`channel-stats: accumulator ${shapeStr(out.shape)} does not match ${C} channels`);
    } else {
      out = this.storage.alloc([3, C], 'channel-stats');
    }
    this.storage.dispatch('channel-stats', [x], [], ([xb]) => dispatchChannelStats(this.runtime, xb, out.chunks[0]!.buffer, T, C, into !== undefined));
    return out;
  }
  // ---- GradOps: the training backward (./webgpu-grad.ts) ---------------------------------------

  matmulGradInput(dy: Tensor, w: Tensor): Tensor {
    return this.grad.matmulGradInput(dy, w);
  }
  matmulGradWeight(dy: Tensor, x: Tensor): Tensor {
    return this.grad.matmulGradWeight(dy, x);
  }
  rmsnormGradInput(x: Tensor, weight: Tensor, eps: number, dy: Tensor): Tensor {
    return this.grad.rmsnormGradInput(x, weight, eps, dy);
  }
  ropeGradInput(dy: Tensor, cos: Tensor, sin: Tensor, numHeads: number, headDim: number): Tensor {
    return this.grad.ropeGradInput(dy, cos, sin, numHeads, headDim);
  }
  attentionGrad(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, s: AttentionShape): AttentionGrads {
    return this.grad.attentionGrad(q, k, v, dOut, s);
  }
  swigluGrad(gate: Tensor, up: Tensor, dy: Tensor): SwigluGrads {
    return this.grad.swigluGrad(gate, up, dy);
  }
  nllGrad(logits: Tensor, targets: Tensor, scale: number): Tensor {
    return this.grad.nllGrad(logits, targets, scale);
  }
  addInPlace(a: Tensor, b: Tensor): void {
    this.grad.addInPlace(a, b);
  }

  private pruneOpsCache: WebGpuPruneOps | null = null;

  /**
   * Its capabilities: the backward kernels (GradOps, the methods above), pruning's scores,
   * selections and column sums (./prune-ops.ts), the statistics kernel (channelStats) and
   * L4Q's parameter-side kernels (./quant-train-ops.ts) — the last only on a hardware
   * adapter: on a software one (SwiftShader, lavapipe) they run on the same CPU cores as the
   * host loop and are no faster (bench/l4q-ops.ts on SwiftShader: stories260K even within
   * the noise, the SmolLM2-135M shape 2.1–2.5× slower per step), so the trainer keeps its
   * host path there.
   */
  capability<K extends CapabilityName>(name: K): BackendCapabilities[K] | null {
    return capabilityFrom(
      {
        grad: () => this,
        prune: () => (this.pruneOpsCache ??= new WebGpuPruneOps(this)),
        channelStats: () => this,
        quantTrain: () => (this.adapter.isFallbackAdapter ? null : new WebGpuQuantTrainOps(this)),
      },
      name,
    );
  }

  destroy(): void {
    if (this.runtime.isDestroyed) return;
    this.storage.destroy();
    this.runtime.destroy();
  }
}
