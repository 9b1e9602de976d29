/**
 * `studio --backend webgpu` on a fresh GPU-less machine: with VK_ICD_FILENAMES unset and no
 * installed Vulkan driver that Dawn accepts (this machine has only Debian 12's Mesa, too old
 * for Dawn), the CLI falls back to Chromium's SwiftShader by itself and evaluates on WebGPU;
 * when nothing gives an adapter the message names the cause and the fix.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainNoAdapter, hasVulkanLoader, SWIFTSHADER_ICD, type VulkanProbe } from '../src/engine/backend/webgpu/node';
import { runCli } from './support/cli';
import { REPO_ROOT } from './support/paths';
import { prerequisiteMissing } from './support/skip';

const dir = mkdtempSync(path.join(tmpdir(), 'studio-cli-webgpu-'));
const text = path.join(dir, 'story.txt');
writeFileSync(text, 'Once upon a time, there was a little dog named Max. Max liked to run in the park.\n'.repeat(10));

function studio(args: string[], env: Record<string, string | undefined>) {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  return spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/studio.mjs'), ...args], { encoding: 'utf8', env: childEnv, timeout: 120_000 });
}

const evalArgs = ['eval', '--model', 'stories260K', '--dataset', text, '--seqlen', '64', '--windows', '0:1', '--backend', 'webgpu', '--json'];

describe('studio --backend webgpu without VK_ICD_FILENAMES', () => {
  it('falls back to SwiftShader and prints a perplexity computed on WebGPU', async (ctx) => {
    // The machine this must work on: Debian with chromium and libvulkan1 (what .ci/run installs).
    if (!existsSync(SWIFTSHADER_ICD)) return prerequisiteMissing(ctx, `no ${SWIFTSHADER_ICD} (apt-get install chromium)`);
    if (hasVulkanLoader() === false) return prerequisiteMissing(ctx, 'no libvulkan.so.1 (apt-get install libvulkan1)');
    const r = studio(evalArgs, { VK_ICD_FILENAMES: undefined });
    expect(r.status, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { backend: { name: string; device?: string }; ppl: number };
    expect(rec.backend.name).toBe('webgpu');
    expect(rec.ppl).toBeGreaterThan(1);
    expect(rec.ppl).toBeLessThan(1000);
    // Said once, on stderr, so that a JSON consumer's stdout stays clean.
    expect(r.stderr).toMatch(/using the software adapter \(VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd\.json\)/);
  });

  it('in-process too (the fallback lives in the CLI, not in a re-started process)', async (ctx) => {
    if (!existsSync(SWIFTSHADER_ICD)) return prerequisiteMissing(ctx, `no ${SWIFTSHADER_ICD} (apt-get install chromium)`);
    if (hasVulkanLoader() === false) return prerequisiteMissing(ctx, 'no libvulkan.so.1 (apt-get install libvulkan1)');
    const before = process.env.VK_ICD_FILENAMES;
    delete process.env.VK_ICD_FILENAMES;
    try {
      const r = await runCli(evalArgs);
      expect(r.code, r.err).toBe(0);
      expect((JSON.parse(r.out) as { backend: { name: string } }).backend.name).toBe('webgpu');
      expect(r.err).toContain('using the software adapter');
    } finally {
      if (before === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = before;
    }
  });

  it('names a VK_ICD_FILENAMES that points nowhere', () => {
    const r = studio(evalArgs, { VK_ICD_FILENAMES: path.join(dir, 'missing_icd.json') });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`VK_ICD_FILENAMES names ${path.join(dir, 'missing_icd.json')}, which does not exist`);
  });
});

describe('explainNoAdapter', () => {
  const probe: VulkanProbe = { platform: 'linux', loader: true, icdFilenames: undefined, icdFilesExist: false, swiftShader: true, triedSwiftShader: true };

  it('names the missing Vulkan loader and the package that has it', () => {
    expect(explainNoAdapter({ ...probe, loader: false })).toMatch(/libvulkan\.so\.1 is not installed \(Debian\/Ubuntu: apt-get install libvulkan1\)/);
  });

  it('names a missing SwiftShader and the package that has it', () => {
    expect(explainNoAdapter({ ...probe, swiftShader: false, triedSwiftShader: false })).toMatch(/vk_swiftshader_icd\.json is missing \(apt-get install chromium/);
  });

  it('says which drivers were tried', () => {
    expect(explainNoAdapter(probe)).toMatch(/neither the installed Vulkan drivers nor Chromium's SwiftShader/);
    expect(explainNoAdapter({ ...probe, icdFilenames: '/x/lvp.json', icdFilesExist: true })).toMatch(/the Vulkan driver in VK_ICD_FILENAMES \(\/x\/lvp\.json\) gave no adapter/);
  });
});
