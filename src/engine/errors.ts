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
  | 'input';

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
