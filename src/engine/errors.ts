/**
 * Typed errors for everything that comes from outside the engine (files, configs, links).
 * The UI and CLI show `message` as is, so it must name the file and the problem.
 */
export type StudioErrorCode =
  | 'safetensors'
  | 'config'
  | 'tokenizer'
  | 'weights'
  | 'dataset'
  | 'fetch'
  | 'not-found'
  | 'cancelled'
  /** Browser storage (the Hub cache) is full or unavailable. */
  | 'storage'
  | 'input'
  /** NaN/Inf in a forward pass or in training: the job stops and records nothing. */
  | 'numerics'
  /** The GPU device was lost or reported an error during a job. */
  | 'device';

export class StudioError extends Error {
  readonly code: StudioErrorCode;
  constructor(code: StudioErrorCode, message: string) {
    super(message);
    this.name = 'StudioError';
    this.code = code;
  }
}

export class CancelledError extends StudioError {
  constructor(what = 'job') {
    super('cancelled', `${what} was cancelled`);
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}
