import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Copies of shared/data/stories260K (MIT): the llama2.c checkpoint, tokenizer and golden values. */
export const STORIES_SRC_DIR = path.join(REPO_ROOT, 'test/fixtures/stories260K');
export const BUNDLED_MODEL_DIR = path.join(REPO_ROOT, 'public/models/stories260K');
