#!/usr/bin/env node
// The `studio` command: runs the TypeScript CLI in src/cli through tsx's loader, so the
// CLI and the browser share the engine's sources with no separate build step.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { register } from 'tsx/esm/api';

const args = process.argv.slice(2);

// Dawn logs "XDG_RUNTIME_DIR is invalid" without it. Which Vulkan driver WebGPU runs on
// (SwiftShader on GPU-less machines) is decided in-process: src/engine/backend/webgpu/node.ts.
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(path.join(tmpdir(), 'studio-xdg-'));

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(args);
