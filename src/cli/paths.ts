/** Locations inside this package (the bundled model and texts under public/). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PUBLIC_DIR = path.join(PACKAGE_ROOT, 'public');
export const BUNDLED_MODELS_DIR = path.join(PUBLIC_DIR, 'models');
export const BUNDLED_DATASETS_DIR = path.join(PUBLIC_DIR, 'datasets');
