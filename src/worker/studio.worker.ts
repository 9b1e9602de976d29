/**
 * The engine worker's entry: the engine API (engine-api.ts) exposed over Comlink, with
 * WebGPU from the worker's own navigator.gpu.
 */
import * as Comlink from 'comlink';
import { createEngineApi } from './engine-api';

Comlink.expose(createEngineApi(() => (typeof navigator !== 'undefined' ? navigator.gpu : undefined)));
