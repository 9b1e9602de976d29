/**
 * One rule for tests whose prerequisite is missing (a WebGPU adapter, lavapipe's shader-f16,
 * SwiftShader): on a developer's machine they skip, saying why; with CI=true, where
 * .ci/run installs everything they need, a missing prerequisite is a broken machine, so
 * they FAIL with the same reason instead of turning green by skipping.
 *
 * Skips are recorded (file and reason, one JSON line each) in the file named by
 * STUDIO_SKIP_LOG, which `npm test` (scripts/run-tests.mjs) sets and reads for its summary
 * of which files skipped tests and why.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from './paths';

export interface MissingOptions {
  /**
   * Whether CI provides this prerequisite, so that its absence fails there (default true).
   * The f16 tests pass "lavapipe's ICD file exists": CI runs scripts/setup-lavapipe.sh but
   * goes on when its download fails.
   */
  requiredInCi?: boolean;
}

/** CI=true (as CI services set it); "false" and "0" do not count. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return !!v && v !== 'false' && v !== '0';
}

export type MissingDecision = { action: 'skip'; reason: string } | { action: 'fail'; message: string };

/** The rule itself: skip with the reason, or (in CI, when CI provides it) fail naming it. */
export function decideMissing(reason: string, opts: MissingOptions = {}, env: NodeJS.ProcessEnv = process.env): MissingDecision {
  if (isCi(env) && (opts.requiredInCi ?? true)) {
    return { action: 'fail', message: `${reason} — with CI=true this prerequisite is required, so the test fails instead of skipping` };
  }
  return { action: 'skip', reason };
}

export class MissingPrerequisiteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingPrerequisiteError';
  }
}

/** Appends {file, reason} to STUDIO_SKIP_LOG (when npm test set it). */
export function recordSkip(reason: string, env: NodeJS.ProcessEnv = process.env): void {
  const log = env.STUDIO_SKIP_LOG;
  if (!log) return;
  const testPath = expect.getState().testPath;
  const file = testPath ? path.relative(REPO_ROOT, testPath) : 'unknown file';
  appendFileSync(log, `${JSON.stringify({ file, reason })}\n`);
}

/**
 * For a missing prerequisite found at load time (before describe.skipIf): returns the
 * reason when the tests are to be skipped (warned and recorded), throws when they must fail.
 */
export function missingPrerequisite(reason: string, opts: MissingOptions = {}): string {
  const d = decideMissing(reason, opts);
  if (d.action === 'fail') throw new MissingPrerequisiteError(d.message);
  console.warn(`skipping: ${d.reason}`);
  recordSkip(d.reason);
  return d.reason;
}

/** Inside a test: skips it with the reason (or fails, by the same rule). */
export function prerequisiteMissing(ctx: { skip: (note?: string) => never }, reason: string, opts: MissingOptions = {}): never {
  return ctx.skip(missingPrerequisite(reason, opts));
}
