#!/usr/bin/env node
// The `studio` command: runs the TypeScript CLI in src/cli through tsx's loader, so the
// CLI and the browser share the engine's sources with no separate build step.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { register } from 'tsx/esm/api';

// Chromium's SwiftShader: a software Vulkan driver that Dawn accepts on GPU-less machines.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const args = process.argv.slice(2);
const backendArg = args[args.indexOf('--backend') + 1];
const wantsGpu = args.includes('--backend') && (backendArg === 'webgpu' || backendArg === 'auto');

process.env.XDG_RUNTIME_DIR ??= mkdtempSync(path.join(tmpdir(), 'studio-xdg-'));

// With no Vulkan driver Dawn can use, retry once on SwiftShader (a fresh process: the
// Vulkan loader reads VK_ICD_FILENAMES only when it starts).
if (wantsGpu && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const adapter = await create([]).requestAdapter();
  if (!adapter) {
    process.stderr.write(`studio: no hardware WebGPU adapter; using the software adapter (VK_ICD_FILENAMES=${SWIFTSHADER_ICD})\n`);
    const r = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD },
    });
    process.exit(r.status ?? 1);
  }
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(args);
