/**
 * Allocation inside the kernels' WebAssembly memory, done from JavaScript: the kernels take
 * addresses and allocate nothing, so tensors (weights, activations, scratch) are blocks of
 * this heap. First fit over an address-ordered free list, neighbours merged on free, the
 * memory grown (never shrunk: wasm cannot) when no free block fits. Blocks are 16-byte
 * aligned so that v128 loads of a row start never straddle more than they must.
 *
 * wasm32 addresses 4 GiB at most; a request beyond that is a StudioError naming the size,
 * not a RangeError from deep inside an op.
 */
import { StudioError } from '../../errors';

const ALIGN = 16;
const PAGE = 65536;
/** wasm32's limit: 65536 pages of 64 KiB. */
export const WASM_MAX_BYTES = 65536 * PAGE;

const mib = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MiB`;

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  /** Free blocks [ptr, size], sorted by ptr, none adjacent to another or to `top`. */
  private free: [number, number][] = [];
  /** Everything from here to the end of memory is free. */
  private top: number;
  /** Bytes in live blocks, and the most there ever were (memory reports, leak tests). */
  inUse = 0;
  peak = 0;

  constructor(memory: WebAssembly.Memory, base: number) {
    this.memory = memory;
    this.top = Math.ceil(base / ALIGN) * ALIGN;
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let ptr = -1;
    for (let i = 0; i < this.free.length; i++) {
      const [p, s] = this.free[i]!;
      if (s < size) continue;
      ptr = p;
      if (s === size) this.free.splice(i, 1);
      else this.free[i] = [p + size, s - size];
      break;
    }
    if (ptr < 0) {
      ptr = this.top;
      this.ensure(ptr + size);
      this.top = ptr + size;
    }
    this.inUse += size;
    this.peak = Math.max(this.peak, this.inUse);
    return ptr;
  }

  release(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    this.inUse -= size;
    // Insert in address order, then merge with the neighbours.
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]![0] < ptr) lo = mid + 1;
      else hi = mid;
    }
    let start = ptr;
    let len = size;
    const prev = this.free[lo - 1];
    if (prev && prev[0] + prev[1] === start) {
      start = prev[0];
      len += prev[1];
      this.free.splice(--lo, 1);
    }
    const next = this.free[lo];
    if (next && start + len === next[0]) {
      len += next[1];
      this.free.splice(lo, 1);
    }
    if (start + len === this.top) this.top = start;
    else this.free.splice(lo, 0, [start, len]);
    // A block that reached `top` may have uncovered a free block just below it.
    const last = this.free[this.free.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      this.free.pop();
    }
  }

  /** Bytes the memory has grown to (it never shrinks). */
  get reserved(): number {
    return this.memory.buffer.byteLength;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > WASM_MAX_BYTES) {
      throw new StudioError('input', `wasm backend: out of memory: ${mib(this.inUse)} in use and ${mib(end - this.top)} more requested, beyond WebAssembly's 4 GiB; use the CPU reference or WebGPU backend for a model this large`);
    }
    // Grow by at least an eighth of what there is, so a run of allocations grows rarely.
    const pages = Math.max(Math.ceil((end - have) / PAGE), Math.ceil(have / PAGE / 8));
    try {
      this.memory.grow(Math.min(pages, WASM_MAX_BYTES / PAGE - have / PAGE));
    } catch {
      throw new StudioError('input', `wasm backend: the browser refused to grow WebAssembly memory to ${mib(end)} (${mib(this.inUse)} in use); use the CPU reference backend`);
    }
  }
}
