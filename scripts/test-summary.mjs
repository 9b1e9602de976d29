// What `npm test` (run-tests.mjs) says about skipped tests: which files skipped how many,
// and why. Counts come from the runners' JSON reports (Vitest's per-file results,
// Playwright's tests); reasons from the skip log that tests append to through
// test/support/skip.ts (one JSON line {file, reason} each) and from Playwright's skip
// annotations. Pure functions, so that test/test-summary.test.ts can check the formatting.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const SKIPPED = new Set(['skipped', 'pending', 'todo']);

/** The skip log's entries; a missing file or a torn line is no entry. */
export function readSkipLog(file) {
  if (!file || !existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const e = JSON.parse(line);
        return typeof e?.file === 'string' && typeof e?.reason === 'string' ? [{ file: e.file, reason: e.reason }] : [];
      } catch {
        return [];
      }
    });
}

/** Per file of a Vitest JSON report, the tests skipped (skipped, pending or todo), relative to `root`. */
export function vitestSkips(report, root) {
  return (report?.testResults ?? []).flatMap((f) => {
    const count = (f.assertionResults ?? []).filter((a) => SKIPPED.has(a.status)).length;
    return count > 0 ? [{ file: path.relative(root, f.name), count, reasons: [] }] : [];
  });
}

/** Per spec file of a Playwright JSON report, the tests skipped and their skip annotations. */
export function playwrightSkips(report, root) {
  // Spec files are named relative to the config's testDir (report.config.rootDir).
  const testDir = report?.config?.rootDir ?? path.join(root, 'e2e');
  const byFile = new Map();
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'skipped') continue;
        const file = path.relative(root, path.join(testDir, spec.file ?? suite.file ?? '?'));
        const entry = byFile.get(file) ?? { file, count: 0, reasons: [] };
        entry.count++;
        for (const a of t.annotations ?? []) if (a.type === 'skip' && a.description) entry.reasons.push(`${spec.title}: ${a.description}`);
        byFile.set(file, entry);
      }
    }
    for (const s of suite.suites ?? []) walk(s);
  };
  for (const s of report?.suites ?? []) walk(s);
  return [...byFile.values()];
}

/**
 * Lines naming each file with skipped tests, its count and its reasons (each once), e.g.
 * "  test/webgpu-f16.test.ts: 9 skipped — [webgpu-f16] no shader-f16 adapter: …".
 * Empty when nothing was skipped.
 */
export function formatSkipSummary(files, log = []) {
  if (files.length === 0) return [];
  const lines = ['skipped tests, by file:'];
  for (const f of files) {
    const reasons = [...new Set([...f.reasons, ...log.filter((e) => e.file === f.file).map((e) => e.reason)])];
    lines.push(`  ${f.file}: ${f.count} skipped — ${reasons.length > 0 ? reasons.join('; ') : 'no reason recorded'}`);
  }
  return lines;
}
