/**
 * Zod compiles object parsers with `new Function` when it may, and probes whether it may
 * by calling `Function('')`. Under the studio's Content-Security-Policy (no 'unsafe-eval')
 * that probe is refused and reported as a violation; jitless mode skips both. Imported for
 * its effect first thing by the page (store.ts) and the engine worker (studio.worker.ts).
 */
import { z } from 'zod';

z.config({ jitless: true });
