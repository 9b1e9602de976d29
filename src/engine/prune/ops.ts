/**
 * Where the pruning methods' scoring, selection and column sums run: a backend's `prune`
 * capability (PruneOps, backend/prune-ops.ts; the host reference is the CPU backend's,
 * backend/cpu/prune-ops.ts, the WebGPU kernels are backend/webgpu/prune-ops.ts). Each
 * method (magnitude.ts, wanda.ts, flap.ts) is written once over the ops; with the host ops
 * it runs synchronously (their answers are values), with a device's it returns a Promise.
 */
import { capability, type Backend } from '../backend/backend';
import { CPU_PRUNE_OPS } from '../backend/cpu/prune-ops';
import type { MaybePromise, PruneOps } from '../backend/prune-ops';

export type { ColumnTerm, HostMatrix, MaybePromise, PruneOps, Selection } from '../backend/prune-ops';
export { columnSumsHost, CPU_PRUNE_OPS, scoresOf, selectMask, type HostPruneOps } from '../backend/cpu/prune-ops';

/**
 * Where pruning scores and selections run: 'device' = the backend's own prune ops; 'host'
 * = the host reference; 'auto' = the backend's when they are preferred there (not on a
 * software adapter), else the host. The masks are the same either way.
 */
export type PruneOpsChoice = 'auto' | 'device' | 'host';

export function pruneOpsFor(b: Backend | null | undefined, choice: PruneOpsChoice = 'auto'): PruneOps {
  const ops = choice === 'host' || !b ? null : capability(b, 'prune');
  if (!ops) return CPU_PRUNE_OPS;
  return choice === 'device' || ops.preferred ? ops : CPU_PRUNE_OPS;
}

/** f(v) now when v is a value, after it when v is a Promise. (Not named `then`: a module exporting `then` is a thenable to `await import`.) */
export function andThen<T, U>(v: MaybePromise<T>, f: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * f over xs one after the other (a device's ops are never run concurrently): synchronous
 * while every result is a value, a Promise from the first that is not.
 */
export function mapInOrder<T, U>(xs: readonly T[], f: (x: T, i: number) => MaybePromise<U>): MaybePromise<U[]> {
  const out: U[] = [];
  const from = (i: number): MaybePromise<U[]> => {
    for (; i < xs.length; i++) {
      const r = f(xs[i]!, i);
      if (r instanceof Promise) {
        const next = i + 1;
        return r.then((v) => {
          out.push(v);
          return from(next);
        });
      }
      out.push(r);
    }
    return out;
  };
  return from(0);
}

/**
 * The result of a method run over `ops`: as it is with the host ops (synchronous, `ops`
 * left out), as a Promise with a backend's.
 */
export function hostOrAsync<T>(ops: PruneOps | undefined, r: MaybePromise<T>): T | Promise<T> {
  if (ops) return Promise.resolve(r);
  if (r instanceof Promise) throw new Error('unreachable: the host prune ops answer synchronously');
  return r;
}
