/** Starts the training benchmark worker with the page's query options and shows its JSON result. */
import { showWorkerResult } from '../browser/bench-page';

showWorkerResult(new Worker(new URL('./train.worker.ts', import.meta.url), { type: 'module' }));
