/** Starts the benchmark worker with the page's query options and shows its JSON result. */
import { showWorkerResult } from './bench-page';

showWorkerResult(new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' }));
