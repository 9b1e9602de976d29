/**
 * The engine worker's entry: the engine API (engine-api.ts) exposed over Comlink, with
 * WebGPU from the worker's own navigator.gpu. Test hooks (fault injection) are enabled only
 * when the page started the worker with them (the `?testhooks=1` page flag).
 */
import '../engine/no-eval';
import * as Comlink from 'comlink';
import { createEngineApi } from './engine-api';

// The page asks for test hooks (fault injection) by naming the worker so; see client.ts.
const testHooks = typeof self !== 'undefined' && /\btesthooks\b/.test((self as { name?: string }).name ?? '');

Comlink.expose(createEngineApi(() => (typeof navigator !== 'undefined' ? navigator.gpu : undefined), { testHooks }));
