import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../../src/engine/errors';
import type { FileSource } from '../../src/engine/model/source';
import { BUNDLED_MODEL_DIR } from './paths';

/** A FileSource over in-memory files, for feeding broken models to the loader. */
export function memorySource(files: Record<string, Uint8Array | string>, label = 'mem'): FileSource {
  return {
    label,
    async readBytes(file) {
      const f = files[file];
      if (f === undefined) throw new StudioError('not-found', `${label}/${file}: file not found`);
      return typeof f === 'string' ? new TextEncoder().encode(f) : f;
    },
  };
}

/** The bundled model's files, to be altered one at a time. */
export function bundledFiles(): Record<string, Uint8Array | string> {
  const read = (f: string) => new Uint8Array(readFileSync(path.join(BUNDLED_MODEL_DIR, f)));
  const text = (f: string) => readFileSync(path.join(BUNDLED_MODEL_DIR, f), 'utf8');
  return {
    'config.json': text('config.json'),
    'tokenizer.json': text('tokenizer.json'),
    'tokenizer_config.json': text('tokenizer_config.json'),
    'model.safetensors': read('model.safetensors'),
  };
}
