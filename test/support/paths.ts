import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = path.resolve(REPO_ROOT, '../shared');
export const STORIES_SRC_DIR = path.join(SHARED_DIR, 'data/stories260K');
export const BUNDLED_MODEL_DIR = path.join(REPO_ROOT, 'public/models/stories260K');
