/** The `studio` CLI: JSON records, human output, and clear errors with exit codes. */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseExperimentRecord } from '../src/engine/record';
import { runCli } from './support/cli';
import { REPO_ROOT } from './support/paths';


const MODEL = path.join(REPO_ROOT, 'public/models/stories260K');

// A small text keeps tokenization fast; the bundled texts take seconds to encode whole.
const dir = mkdtempSync(path.join(tmpdir(), 'studio-cli-'));
const file = path.join(dir, 'story.txt');
writeFileSync(file, 'Once upon a time, there was a little dog named Max. Max liked to run in the park with his ball.\n'.repeat(30));

describe('studio CLI', () => {
  it('eval --json prints one valid ExperimentRecord', async () => {
    const r = await runCli(['eval', '--model', MODEL, '--dataset', file, '--seqlen', '128', '--windows', '1:3', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rec = parseExperimentRecord(JSON.parse(r.out));
    expect(rec.model.id).toBe('stories260K');
    expect(rec.model.source).toBe('bundled');
    expect(rec.protocol.dataset).toMatchObject({ name: 'story.txt', source: 'file' });
    expect(rec.protocol.seqlen).toBe(128);
    expect(rec.protocol.windows).toEqual({ start: 1, end: 3 });
    expect(rec.scoredTokens).toBe(2 * 127);
    expect(rec.backend.name).toBe('cpu');
    expect(rec.runtime).toBe('node');
    expect(rec.ppl).toBeGreaterThan(1);
    expect(rec.ppl).toBeLessThan(20);
    expect(rec.timings.wallMs).toBeGreaterThan(0);
  });

  it('prints a readable summary without --json', async () => {
    const r = await runCli(['eval', '--model', 'stories260K', '--dataset', 'tinystories', '--seqlen', '64', '--windows', '0:1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/perplexity \d+\.\d{4}/);
    expect(r.out).toMatch(/windows {4}0:1 of 64 tokens, 63 scored/);
  });

  it('gives clear errors and exit codes', async () => {
    const noModel = await runCli(['eval', '--model', '/nonexistent/model', '--dataset', 'tinystories']);
    expect(noModel.code).toBe(1);
    expect(noModel.err).toMatch(/--model \/nonexistent\/model: no such model directory/);

    const noData = await runCli(['eval', '--model', MODEL, '--dataset', 'nonexistent-text']);
    expect(noData.code).toBe(1);
    expect(noData.err).toMatch(/neither a bundled text \(tinystories, wikitext2, shakespeare\) nor a readable file/);

    const badWindows = await runCli(['eval', '--model', MODEL, '--dataset', file, '--windows', '0:100000']);
    expect(badWindows.code).toBe(1);
    expect(badWindows.err).toMatch(/windows 0:100000 out of range: the text has \d+ windows/);

    const longSeq = await runCli(['eval', '--model', MODEL, '--dataset', file, '--seqlen', '4096']);
    expect(longSeq.code).toBe(1);
    expect(longSeq.err).toMatch(/seqlen 4096 exceeds the model's context of 512 tokens/);

    const unknownFlag = await runCli(['eval', '--modle', MODEL]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.err).toMatch(/usage:/);

    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('runs as the `studio` bin', () => {
    const out = execFileSync(process.execPath, [path.join(REPO_ROOT, 'bin/studio.mjs'), 'generate', '--model', MODEL, '--max-new-tokens', '8'], {
      encoding: 'utf8',
    });
    expect(out.startsWith('Once upon a time')).toBe(true);
  });
});
