/**
 * The GPU runtime under the backend: pipelines (compiled once, errors named by kernel),
 * a uniform arena for kernel parameters, command batching, and error/device-loss tracking.
 *
 * Batching: each kernel call is encoded into its own command buffer inside a validation
 * error scope, so a failure names the kernel; command buffers are queued and submitted
 * together (every `batchSize` kernels, or when the host needs data: `read`, uploads).
 * Parameters of the queued kernels sit in 256-byte slots of one CPU-side arena that is
 * written to the uniform buffer with one writeBuffer just before the submit; queue order
 * guarantees the next batch's write lands after this batch ran.
 *
 * Errors: GPU errors arrive asynchronously (popErrorScope). The first one is kept and thrown
 * by every later call and by `read`, which waits for all outstanding scopes first. After
 * `device.lost`, every call throws "WebGPU device lost: <reason>".
 */
import { BufferPool } from './pool';

export interface Params {
  /** u32 fields first, in struct order… */
  u32?: readonly number[];
  /** …then f32 fields. */
  f32?: readonly number[];
}

export type Grid = readonly [number, number, number];

export interface PipelineSource {
  /** Kernel name used in labels and error messages. */
  name: string;
  code: string;
  /** Cache key (the name, plus whatever the code was specialised on). */
  key?: string;
}

export class GpuRuntime {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly slotBytes: number;
  private readonly slots: number;
  private readonly arena: GPUBuffer;
  private readonly arenaData: ArrayBuffer;
  private usedSlots = 0;
  private pending: GPUCommandBuffer[] = [];
  private pendingKernels: string[] = [];
  private scopes: Promise<void>[] = [];
  private firstError: Error | null = null;
  private lostReason: string | null = null;
  private destroyed = false;
  /** Kernels encoded so far, by name (for tests and profiling). */
  readonly dispatchCounts = new Map<string, number>();

  /** Objects kept alive with the device (the GPU object and adapter: see AcquiredDevice.gpu). */
  private readonly keepAlive: readonly object[];

  constructor(device: GPUDevice, opts: { batchSize?: number; maxPooledBytes?: number } = {}, keepAlive: readonly object[] = []) {
    this.device = device;
    this.keepAlive = keepAlive;
    this.limits = device.limits;
    this.pool = new BufferPool(device, device.limits.maxBufferSize, () => this.flush(), opts.maxPooledBytes);
    this.slotBytes = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    this.slots = opts.batchSize ?? 128;
    this.arena = device.createBuffer({ size: this.slots * this.slotBytes, usage: 0x0040 | 0x0008, label: 'kernel params' }); // UNIFORM | COPY_DST
    this.arenaData = new ArrayBuffer(this.slots * this.slotBytes);
    void device.lost.then((info) => {
      if (!this.lostReason) this.lostReason = this.destroyed ? 'the backend was destroyed' : info.message || String(info.reason ?? 'unknown reason');
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.fail(new Error(`WebGPU error (uncaptured, after kernels ${this.pendingKernels.join(', ') || '—'}): ${ev.error.message}`));
    };
  }

  /** Throws if the device is lost or an earlier GPU error was reported. */
  check(kernel: string): void {
    if (this.destroyed) throw new Error(`WebGPU backend used after destroy() (in ${kernel})`);
    if (this.lostReason) throw new Error(`WebGPU device lost: ${this.lostReason} (in ${kernel})`);
    if (this.firstError) throw this.firstError;
  }

  get lost(): boolean {
    return this.lostReason !== null;
  }

  /** True once a GPU error was recorded: every later call throws it, so the runtime is spent. */
  get failed(): boolean {
    return this.firstError !== null;
  }

  fail(e: Error): void {
    this.firstError ??= e;
  }

  /** Runs a GPU call inside error scopes; an error is recorded with `what` in its message. */
  scoped<T>(what: string, f: () => T, filters: GPUErrorFilter[] = ['validation']): T {
    for (const fl of filters) this.device.pushErrorScope(fl);
    try {
      return f();
    } finally {
      for (const fl of [...filters].reverse()) this.watch(this.device.popErrorScope(), `${what} (${fl})`);
    }
  }

  private watch(p: Promise<GPUError | null>, what: string): void {
    this.scopes.push(
      p.then(
        (err) => {
          if (err) this.fail(new Error(`WebGPU ${what}: ${err.message}`));
        },
        (err: unknown) => {
          if (!this.lostReason) this.fail(new Error(`WebGPU ${what}: ${err instanceof Error ? err.message : String(err)}`));
        },
      ),
    );
  }

  /** Waits for every outstanding error scope, then throws the first GPU error if any. */
  async settle(what: string): Promise<void> {
    while (this.scopes.length) {
      const s = this.scopes;
      this.scopes = [];
      await Promise.all(s);
    }
    this.check(what);
  }

  /** Compiles a pipeline synchronously (cached); errors surface at the next call or read. */
  pipeline(src: PipelineSource): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = src.key ?? src.name;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.scoped(
        `kernel "${src.name}": pipeline creation`,
        () => {
          const module = this.device.createShaderModule({ code: src.code, label: src.name });
          const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: src.name });
          return { pipeline, layout: pipeline.getBindGroupLayout(0) };
        },
        ['validation', 'internal'],
      );
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Compiles pipelines asynchronously and throws an Error naming the kernel if one fails. */
  async compile(srcs: readonly PipelineSource[]): Promise<void> {
    await Promise.all(
      srcs.map(async (src) => {
        const key = src.key ?? src.name;
        if (this.pipelines.has(key)) return;
        this.device.pushErrorScope('validation');
        const module = this.device.createShaderModule({ code: src.code, label: src.name });
        const scopeErr = await this.device.popErrorScope();
        let pipeline: GPUComputePipeline;
        try {
          if (scopeErr) throw new Error(scopeErr.message);
          pipeline = await this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: src.name });
        } catch (e) {
          let detail = e instanceof Error ? e.message : String(e);
          try {
            const info = await module.getCompilationInfo();
            const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
            if (msgs.length) detail = msgs.join('; ');
          } catch {
            // keep the pipeline error
          }
          throw new Error(`WebGPU kernel "${src.name}" failed to compile: ${detail}`);
        }
        this.pipelines.set(key, { pipeline, layout: pipeline.getBindGroupLayout(0) });
      }),
    );
  }

  /**
   * Encodes one dispatch. Binding 0 is the parameter uniform; `buffers` are bindings 1….
   * Grids with a zero dimension are skipped.
   */
  dispatch(kernel: string, p: { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }, buffers: readonly GPUBufferBinding[], params: Params, grid: Grid): void {
    this.check(kernel);
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (grid[0] > max || grid[1] > max || grid[2] > max) {
      throw new Error(`WebGPU kernel "${kernel}": grid [${grid.join(', ')}] exceeds maxComputeWorkgroupsPerDimension (${max})`);
    }
    if (this.usedSlots === this.slots) this.flush();
    const slot = this.usedSlots++;
    const offset = slot * this.slotBytes;
    const u = params.u32 ?? [];
    const f = params.f32 ?? [];
    new Uint32Array(this.arenaData, offset, u.length).set(u);
    new Float32Array(this.arenaData, offset + 4 * u.length, f.length).set(f);
    const cb = this.scoped(`kernel "${kernel}"`, () => {
      const bindGroup = this.device.createBindGroup({
        layout: p.layout,
        label: kernel,
        entries: [
          { binding: 0, resource: { buffer: this.arena, offset, size: Math.max(16, Math.ceil((u.length + f.length) / 4) * 16) } },
          ...buffers.map((b, i) => ({ binding: i + 1, resource: b })),
        ],
      });
      const enc = this.device.createCommandEncoder({ label: kernel });
      const pass = enc.beginComputePass({ label: kernel });
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
      pass.end();
      return enc.finish();
    });
    this.dispatchCounts.set(kernel, (this.dispatchCounts.get(kernel) ?? 0) + 1);
    this.enqueue(cb, kernel);
  }

  /** Queues a command buffer made outside `dispatch` (copies). */
  enqueue(cb: GPUCommandBuffer, what: string): void {
    this.pending.push(cb);
    this.pendingKernels.push(what);
    if (this.pending.length >= this.slots) this.flush();
  }

  /** Submits everything queued. */
  flush(): void {
    if (this.pending.length === 0) return;
    if (this.lostReason || this.destroyed) {
      this.pending = [];
      this.pendingKernels = [];
      this.usedSlots = 0;
      return;
    }
    const cbs = this.pending;
    const names = this.pendingKernels;
    this.pending = [];
    this.pendingKernels = [];
    const used = this.usedSlots;
    this.usedSlots = 0;
    this.scoped(`submit of [${[...new Set(names)].join(', ')}]`, () => {
      if (used) this.device.queue.writeBuffer(this.arena, 0, this.arenaData, 0, used * this.slotBytes);
      this.device.queue.submit(cbs);
    }, ['validation', 'out-of-memory', 'internal']);
  }

  /** Workgroup grid for `n` workgroups, folded into y when x would exceed the limit. */
  grid(n: number): Grid {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (n <= max) return [n, 1, 1];
    return [max, Math.ceil(n / max), 1];
  }

  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.pool.destroy();
    this.arena.destroy();
    this.device.destroy();
    void this.keepAlive;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}
