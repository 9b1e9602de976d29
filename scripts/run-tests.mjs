#!/usr/bin/env node
// `npm test`: type check, unit tests (Vitest), build, end-to-end tests (Playwright in Debian
// Chromium), then which files skipped tests and why, then one closing line
// "N passed, N failed, N skipped" summing both runners (always the last line).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatSkipSummary, playwrightSkips, readSkipLog, vitestSkips } from './test-summary.mjs';

const work = mkdtempSync(path.join(tmpdir(), 'studio-tests-'));
// Tests that skip for a missing prerequisite append their reason here (test/support/skip.ts).
const skipLog = path.join(work, 'skips.jsonl');
process.env.STUDIO_SKIP_LOG = skipLog;
const skippedFiles = [];
const bin = (name) => path.join('node_modules', '.bin', name);
let failedSteps = 0;

function step(title, cmd, args, env = {}) {
  console.log(`\n=== ${title} ===`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.log(`--- ${title} failed (exit ${r.status ?? r.signal})`);
    failedSteps++;
  }
  return r.status === 0;
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;

step('type check', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);

const unitJson = path.join(work, 'vitest.json');
step('unit tests (vitest)', bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${unitJson}`]);
const unit = readJson(unitJson);
if (unit) {
  passed += unit.numPassedTests;
  // A file that fails to load has no failed tests of its own; count it as one failure.
  const brokenFiles = (unit.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
  failed += unit.numFailedTests + brokenFiles;
  skipped += unit.numPendingTests + (unit.numTodoTests ?? 0);
  skippedFiles.push(...vitestSkips(unit, process.cwd()));
} else {
  failed++;
}

const e2eJson = path.join(work, 'playwright.json');
if (step('build', bin('vite'), ['build', '--logLevel', 'warn'])) {
  step('end-to-end tests (playwright)', bin('playwright'), ['test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: e2eJson });
}
const e2e = existsSync(e2eJson) ? readJson(e2eJson) : null;
if (e2e?.stats) {
  passed += e2e.stats.expected + (e2e.stats.flaky ?? 0);
  failed += e2e.stats.unexpected;
  skipped += e2e.stats.skipped;
  skippedFiles.push(...playwrightSkips(e2e, process.cwd()));
} else {
  failed++;
}

if (failedSteps > 0 && failed === 0) failed = failedSteps;
console.log('');
for (const line of formatSkipSummary(skippedFiles, readSkipLog(skipLog))) console.log(line);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || failedSteps > 0 ? 1 : 0);
