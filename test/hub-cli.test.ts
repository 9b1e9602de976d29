/**
 * `studio --model owner/name --hub-url URL`: the CLI against a local Hub-layout server —
 * same perplexity as the local copy, records with source "hub" and the revision, the
 * token (HF_TOKEN) sent to the server but never in output, reloads from the disk
 * cache, and clear errors with exit status 1 for broken or unsupported repositories.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperimentRecord } from '../src/engine/record';
import { runCli } from './support/cli';
import { fixtureFiles, fixtureModel, GATED_TOKEN, standardRepos, TINY_CONFIG } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';
import { REPO_ROOT } from './support/paths';

const dir = mkdtempSync(path.join(tmpdir(), 'studio-hub-cli-'));
const text = path.join(dir, 'story.txt');
writeFileSync(text, 'Once upon a time, there was a little dog named Max. Max liked to run in the park with his ball.\n'.repeat(10));
const cacheDir = path.join(dir, 'cache');

let server: HubServer;
beforeAll(async () => {
  server = await startHubServer({
    ...standardRepos(),
    'bad/unsupported': { files: { ...fixtureFiles(fixtureModel()), 'config.json': JSON.stringify({ ...TINY_CONFIG, architectures: ['FalconForCausalLM'] }) } },
  });
});
afterAll(async () => {
  await server?.close();
});

const evalArgs = (model: string, ...extra: string[]) => ['eval', '--model', model, '--dataset', text, '--seqlen', '64', '--windows', '0:2', '--json', '--hub-url', server.url, ...extra];

describe('studio CLI with Hub models', () => {
  it('evaluates a Hub model with the same perplexity as the local copy, recorded as source hub@revision', async () => {
    const local = await runCli(['eval', '--model', path.join(REPO_ROOT, 'public/models/stories260K'), '--dataset', text, '--seqlen', '64', '--windows', '0:2', '--json']);
    const hub = await runCli(evalArgs('studio-test/stories260K', '--revision', 'v1', '--hub-cache', cacheDir));
    expect(hub.code, hub.err).toBe(0);
    expect(hub.err).toMatch(/studio-test\/stories260K@v1: LlamaForCausalLM, 260,032 parameters \(F32\), 1 weight file/);
    expect(hub.err).toMatch(/download 1\.0 MiB of 1\.0 MiB; memory: 1\.0 MiB float32 weights/);
    const a = parseExperimentRecord(JSON.parse(local.out));
    const b = parseExperimentRecord(JSON.parse(hub.out));
    expect(b.model).toMatchObject({ id: 'studio-test/stories260K', source: 'hub', revision: 'v1', parameters: 260032 });
    expect(b.ppl).toBe(a.ppl);
    expect(readdirSync(cacheDir).length).toBeGreaterThanOrEqual(4);
    expect(readdirSync(cacheDir).some((f) => f.endsWith('.part'))).toBe(false);
  });

  it('reloads from the disk cache without a single request', async () => {
    const before = server.log.length;
    const r = await runCli([...evalArgs('studio-test/stories260K', '--revision', 'v1', '--hub-cache', cacheDir)]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/download 0\.0 MiB of 1\.0 MiB \(1 file cached\)/);
    expect(server.log.length).toBe(before);
  });

  it('sends HF_TOKEN to the Hub for a gated model and never prints it', async () => {
    const before = server.log.length;
    const denied = await runCli(evalArgs('studio-test/gated', '--no-hub-cache'));
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/access denied \(HTTP 401\); the repository is gated or private/);
    process.env.HF_TOKEN = GATED_TOKEN;
    try {
      const ok = await runCli(evalArgs('studio-test/gated', '--no-hub-cache'));
      expect(ok.code, ok.err).toBe(0);
      expect(ok.out + ok.err).not.toContain(GATED_TOKEN);
      expect(parseExperimentRecord(JSON.parse(ok.out)).model.source).toBe('hub');
      const reqs = server.log.slice(before);
      expect(reqs.some((r) => r.server === 'hub' && r.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
      expect(reqs.filter((r) => r.server === 'cdn').every((r) => r.authorization === null)).toBe(true);
    } finally {
      delete process.env.HF_TOKEN;
    }
  });

  it('refuses an unsupported architecture before downloading weights, with status 1', async () => {
    const r = await runCli(evalArgs('bad/unsupported', '--no-hub-cache'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\/unsupported\/config\.json: unsupported architecture "FalconForCausalLM"/);
    expect(server.requestsFor('bad/unsupported', { weightsOnly: true })).toHaveLength(0);
  });

  it('says what is wrong with a missing repository, a bad id and a misplaced --revision', async () => {
    const missing = await runCli(evalArgs('nobody/nothing', '--no-hub-cache'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nobody\/nothing\/config\.json: not found \(HTTP 404\)/);
    const badUrl = await runCli(evalArgs('a/b', '--hub-url', 'ftp://x'));
    expect(badUrl.err).toMatch(/must use http or https/);
    const rev = await runCli(['eval', '--model', 'stories260K', '--dataset', text, '--revision', 'v1']);
    expect(rev.code).toBe(2);
    expect(rev.err).toMatch(/--revision applies to Hub models/);
  });

  it('prunes a sharded bf16 Hub model and writes it with its tokenizer (--out)', async () => {
    const out = path.join(dir, 'pruned');
    const r = await runCli(['prune', '--model', 'studio-test/tiny-llama-sharded', '--hub-url', server.url, '--hub-cache', cacheDir, '--method', 'magnitude', '--sparsity', '0.5', '--dataset', text, '--seqlen', '32', '--windows', '0:1', '--calib-samples', '2', '--calib-seqlen', '16', '--out', out, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
  });
});
