/**
 * The test suite's own rules: a missing prerequisite skips on a developer's machine and
 * fails with CI=true (support/skip.ts), and `npm test` names the files that skipped tests
 * and why (scripts/test-summary.mjs, used by scripts/run-tests.mjs).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatSkipSummary, playwrightSkips, readSkipLog, vitestSkips } from '../scripts/test-summary.mjs';
import { REPO_ROOT } from './support/paths';
import { decideMissing, isCi, missingPrerequisite, MissingPrerequisiteError } from './support/skip';

describe('the skip-or-fail rule', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('CI=true: a missing prerequisite fails, naming the reason', () => {
    expect(decideMissing('no WebGPU adapter: libvulkan.so.1 is not installed', {}, { CI: 'true' })).toEqual({
      action: 'fail',
      message: expect.stringMatching(/^no WebGPU adapter: libvulkan\.so\.1 is not installed — with CI=true this prerequisite is required/),
    });
    vi.stubEnv('CI', 'true');
    expect(() => missingPrerequisite('[webgpu-kernels] no WebGPU adapter: x')).toThrow(MissingPrerequisiteError);
    expect(() => missingPrerequisite('[webgpu-kernels] no WebGPU adapter: x')).toThrow(/\[webgpu-kernels\] no WebGPU adapter: x/);
  });

  it('CI unset: it skips with the reason, and records it for the summary', () => {
    expect(decideMissing('no lavapipe', {}, {})).toEqual({ action: 'skip', reason: 'no lavapipe' });
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'studio-skip-')), 'skips.jsonl');
    vi.stubEnv('CI', '');
    vi.stubEnv('STUDIO_SKIP_LOG', log);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(missingPrerequisite('no lavapipe')).toBe('no lavapipe');
    warn.mockRestore();
    expect(readSkipLog(log)).toEqual([{ file: 'test/test-skip-rule.test.ts', reason: 'no lavapipe' }]);
  });

  it('CI=true: a prerequisite CI may lack (lavapipe when its setup failed) still skips', () => {
    expect(decideMissing('no lavapipe ICD', { requiredInCi: false }, { CI: 'true' })).toEqual({ action: 'skip', reason: 'no lavapipe ICD' });
  });

  it('reads CI as CI services set it', () => {
    expect([isCi({ CI: 'true' }), isCi({ CI: '1' }), isCi({ CI: 'false' }), isCi({ CI: '0' }), isCi({})]).toEqual([true, true, false, false, false]);
  });
});

describe("npm test's skip summary", () => {
  const vitestReport = {
    testResults: [
      { name: path.join(REPO_ROOT, 'test/webgpu-kernels.test.ts'), assertionResults: [{ status: 'skipped' }, { status: 'skipped' }, { status: 'passed' }] },
      { name: path.join(REPO_ROOT, 'test/wasm-backend.test.ts'), assertionResults: [{ status: 'pending' }, { status: 'todo' }] },
      { name: path.join(REPO_ROOT, 'test/cli.test.ts'), assertionResults: [{ status: 'passed' }] },
    ],
  };
  const playwrightReport = {
    config: { rootDir: path.join(REPO_ROOT, 'e2e') },
    suites: [
      {
        file: 'hub.spec.ts',
        specs: [{ file: 'hub.spec.ts', title: 'gated', tests: [{ status: 'skipped', annotations: [{ type: 'skip', description: 'no token' }] }] }],
        suites: [{ specs: [{ file: 'hub.spec.ts', title: 'nested', tests: [{ status: 'expected', annotations: [] }] }] }],
      },
    ],
  };

  it('names each file with skipped tests, its count and its reasons (each once)', () => {
    const log = [
      { file: 'test/webgpu-kernels.test.ts', reason: '[webgpu-kernels] no WebGPU adapter: no libvulkan.so.1' },
      { file: 'test/webgpu-kernels.test.ts', reason: '[webgpu-kernels] no WebGPU adapter: no libvulkan.so.1' },
    ];
    const files = [...vitestSkips(vitestReport, REPO_ROOT), ...playwrightSkips(playwrightReport, REPO_ROOT)];
    expect(formatSkipSummary(files, log)).toEqual([
      'skipped tests, by file:',
      '  test/webgpu-kernels.test.ts: 2 skipped — [webgpu-kernels] no WebGPU adapter: no libvulkan.so.1',
      '  test/wasm-backend.test.ts: 2 skipped — no reason recorded',
      '  e2e/hub.spec.ts: 1 skipped — gated: no token',
    ]);
  });

  it('says nothing when nothing skipped, and ignores a torn log line', () => {
    expect(formatSkipSummary([], [])).toEqual([]);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'studio-skip-')), 'skips.jsonl');
    writeFileSync(file, '{"file":"a","reason":"b"}\n{"file":"c","rea');
    expect(readSkipLog(file)).toEqual([{ file: 'a', reason: 'b' }]);
    expect(readSkipLog(path.join(path.dirname(file), 'none.jsonl'))).toEqual([]);
  });

  it('run-tests.mjs prints the summary just before its closing line', () => {
    const src = readFileSync(path.join(REPO_ROOT, 'scripts/run-tests.mjs'), 'utf8');
    const summary = src.indexOf('formatSkipSummary(skippedFiles');
    const closing = src.indexOf('console.log(`${passed} passed');
    expect(summary).toBeGreaterThan(0);
    expect(closing).toBeGreaterThan(summary);
    // Nothing is printed after the closing line.
    expect(src.slice(closing + 1)).not.toContain('console.log');
  });
});
