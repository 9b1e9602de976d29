/**
 * The engine worker's entry: the engine API (engine-api.ts) exposed over Comlink, with
 * WebGPU from the worker's own navigator.gpu. Test hooks (fault injection) are enabled only
 * when the page started the worker with them (the `?testhooks=1` page flag).
 */
import '../engine/no-eval';
import * as Comlink from 'comlink';
import { hubConnectSources } from '../engine/hub/connect-sources';
import { createEngineApi } from './engine-api';

// The page asks for test hooks (fault injection) by naming the worker so; see client.ts.
const testHooks = typeof self !== 'undefined' && /\btesthooks\b/.test((self as { name?: string }).name ?? '');

/** The Hub the build was made for (vite.config.ts); its connect-src is hubConnectSources of it. */
declare const __STUDIO_HUB_URL__: string | undefined;

/**
 * Hub URLs are held to the site's connect-src by the worker itself: on a static host that
 * sends no Content-Security-Policy header the worker, which makes every Hub request, has no
 * policy of its own (the page's <meta> does not reach it). The page replaces this built-in
 * list with its own policy's (client.ts).
 */
const hubOrigins = { sources: hubConnectSources(typeof __STUDIO_HUB_URL__ === 'string' ? __STUDIO_HUB_URL__ : undefined), self: self.location.origin };

Comlink.expose(createEngineApi(() => (typeof navigator !== 'undefined' ? navigator.gpu : undefined), { testHooks, hubOrigins }));
