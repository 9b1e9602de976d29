/**
 * Share links: round trip of real records (a 5-point Wanda sweep and a FLAP run made by
 * `studio prune --json`), hostile links refused with a StudioError that says why, and a
 * seeded fuzz of mutated links through the parser.
 * Larger run: FUZZ_CASES=100000 npx vitest run test/share-link
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, strToU8 } from 'fflate';
import { describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { parseExperimentRecord, type ExperimentRecord } from '../src/engine/record';
import {
  MAX_SHARE_HASH_CHARS,
  SHARE_HASH_PREFIX,
  decodeShareHash,
  encodeShareHash,
  experimentOfRecords,
  shareDocument,
  shareDocumentSchema,
  shareExperimentSchema,
  type ShareDocument,
} from '../src/engine/share-link';
import { Campaign, Rng, clone, fuzzCases, fuzzSeed, mutateJson, mutateJsonText } from './support/fuzz';

const FIXTURE = path.join(__dirname, 'fixtures', 'share-records.json');
const records: ExperimentRecord[] = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as unknown[]).map(parseExperimentRecord);
const sweep = records.filter((r) => r.method.name === 'wanda');
const flap = records.find((r) => r.method.name === 'flap')!;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** A hash holding any JSON text, bypassing the encoder's checks (what a hostile sender could make). */
function rawHash(jsonText: string): string {
  return SHARE_HASH_PREFIX + b64url(deflateSync(strToU8(jsonText)));
}

function refusal(hash: string): string {
  try {
    decodeShareHash(hash);
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    expect((e as StudioError).message).toMatch(/^Share link: /);
    return (e as StudioError).message;
  }
  throw new Error('the link was accepted');
}

describe('share links', () => {
  it('round-trips a 5-point Wanda sweep exactly, in a link of a few kilobytes', () => {
    expect(sweep.map((r) => (r.method as { sparsity: number }).sparsity)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
    const doc = shareDocument('Wanda sweep', sweep);
    const hash = encodeShareHash(doc);
    expect(hash.startsWith('#pq1=')).toBe(true);
    expect(hash).toMatch(/^#pq1=[A-Za-z0-9_-]+$/);
    const back = decodeShareHash(hash);
    expect(back).toEqual(doc);
    expect(back.results.map((r) => r.ppl)).toEqual(sweep.map((r) => r.ppl));
    expect(back.experiment.runs).toHaveLength(5);
    expect(back.experiment.runs[0]!.calibration).toEqual({ dataset: 'tinystories', samples: 64, seqlen: 128, offset: 200000, seed: null });
    // docs/share-links.md states this length; it must stay a link a chat tool keeps.
    console.log(`[share] 5-point Wanda sweep (stories260K, 4 windows, per-layer report): ${hash.length} characters of hash; JSON ${JSON.stringify(doc).length} bytes`);
    expect(hash.length).toBeLessThan(8000);
  });

  it('carries "also train the RTN-then-LoRA baseline" for an L4Q run that did, so a re-run does too', () => {
    const l4q = (rtnLora: boolean) =>
      ({ ...sweep[0]!, method: { name: 'l4q' }, training: rtnLora ? { rtnLora: { ppl: 3.88, meanNll: 1.35, scoredTokens: 10, windowMeanNll: [1.35] } } : {} }) as unknown as ExperimentRecord;
    const e = experimentOfRecords([l4q(true), l4q(false), sweep[1]!]);
    expect(e.runs.map((r) => r.rtnLora)).toEqual([true, undefined, undefined]);
    expect(shareExperimentSchema.safeParse({ ...e, runs: [{ ...e.runs[2]!, rtnLora: true }] }).success).toBe(true);
    expect(shareExperimentSchema.safeParse({ ...e, runs: [{ ...e.runs[2]!, rtnLora: false }] }).success).toBe(false);
  });

  it('round-trips a FLAP run with its per-layer structure', () => {
    const back = decodeShareHash(encodeShareHash(shareDocument('FLAP 20%', [flap])));
    expect(back.results[0]!.layers).toEqual(flap.layers);
    expect(back.experiment.runs[0]!.method).toEqual(flap.method);
  });

  it('refuses to mix models or protocols in one experiment', () => {
    const other = clone(sweep[1]!);
    other.protocol.seqlen = 256;
    expect(() => experimentOfRecords([sweep[0]!, other])).toThrow(/different protocols/);
    const hub = clone(sweep[1]!);
    hub.model.id = 'HuggingFaceTB/SmolLM2-135M';
    expect(() => experimentOfRecords([sweep[0]!, hub])).toThrow(/different models/);
  });

  it('refuses broken and hostile links with a message saying why', () => {
    const good = encodeShareHash(shareDocument('x', [sweep[0]!]));
    expect(refusal('#foo')).toMatch(/does not start with "#pq1="/);
    expect(refusal('#pq2=AAAA')).toMatch(/version 2/);
    expect(refusal('#pq1=$$$')).toMatch(/not base64url/);
    expect(refusal(good.slice(0, good.length - 40))).toMatch(/ends early|not valid compressed|cut/);
    expect(refusal('#pq1=' + 'A'.repeat(MAX_SHARE_HASH_CHARS))).toMatch(/characters long/);
    expect(refusal(rawHash('not json'))).toMatch(/not JSON/);
    expect(refusal(rawHash('{"schema":"pq-studio/share","version":2}'))).toMatch(/document version 2/);
    expect(refusal(rawHash('[]'))).toMatch(/not a valid studio experiment/);
    // A deflate bomb: 64 MiB of spaces compress to ~64 KiB; inflation stops at the limit.
    const bomb = rawHash(' '.repeat(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(MAX_SHARE_HASH_CHARS);
    const t = performance.now();
    expect(refusal(bomb)).toMatch(/inflates to more than 4 MiB/);
    expect(performance.now() - t).toBeLessThan(5000);
    // A URL where the model id goes: links never name a host.
    const doc: ShareDocument = clone(shareDocument('x', [sweep[0]!]));
    doc.experiment.model.id = 'https://evil.example/x';
    expect(refusal(rawHash(JSON.stringify(doc)))).toMatch(/experiment\.model\.id: not a model id/);
    doc.experiment.model.id = '../../etc';
    expect(refusal(rawHash(JSON.stringify(doc)))).toMatch(/not a model id/);
    // Results that are not runs of the experiment.
    const mismatched: ShareDocument = clone(shareDocument('x', [sweep[0]!]));
    mismatched.experiment.data.seqlen = 128;
    expect(refusal(rawHash(JSON.stringify(mismatched)))).toMatch(/result 1: seqlen 512 is not the experiment's 128/);
    expect(() => encodeShareHash(mismatched)).toThrow();
  });

  it(`survives ${fuzzCases(10_000)} seeded mutated links: each parses or is refused with a StudioError`, () => {
    const seed = fuzzSeed(20261128);
    const r = new Rng(seed);
    const base = shareDocument('fuzz', [sweep[4]!, flap]);
    const baseHash = encodeShareHash(base);
    const baseJson = JSON.parse(JSON.stringify(base)) as Parameters<typeof mutateJson>[0];
    const KEYS = ['schema', 'version', 'title', 'experiment', 'results', 'model', 'data', 'runs', 'method', 'calibration', 'id', 'source', 'revision', 'dataset', 'seqlen', 'windows', 'start', 'end', 'sha256', 'ppl', 'layers'];
    const EXTRA = ['pq-studio/share', 'pq-studio/experiment', 1, 2, 'hub', 'bundled', 'local', 'https://evil.example/', 'javascript:alert(1)', '../x', 'wanda', 'flap', { name: 'dense' }];
    const campaign = new Campaign('share links', seed);
    const n = fuzzCases(10_000);
    for (let i = 0; i < n; i++) {
      let hash: string;
      const k = r.int(4);
      if (k === 0) {
        // text-level damage to the link itself
        const chars = baseHash.split('');
        const edits = r.range(1, 4);
        for (let e = 0; e < edits; e++) {
          const at = r.range(5, chars.length - 1);
          const op = r.int(4);
          if (op === 0) chars[at] = r.pick([...'AZaz09-_+/=%#?. ']);
          else if (op === 1) chars.splice(at, 1);
          else if (op === 2) chars.splice(at, 0, r.pick([...'Aa0-_']));
          else chars.length = at;
        }
        hash = chars.join('');
      } else if (k === 1) {
        hash = rawHash(mutateJsonText(JSON.stringify(base), r));
      } else {
        let doc = clone(baseJson);
        const m = r.range(1, 3);
        for (let e = 0; e < m; e++) doc = mutateJson(doc, r, EXTRA, KEYS);
        hash = rawHash(JSON.stringify(doc) ?? 'null');
      }
      campaign.run(i, () => {
        const doc = decodeShareHash(hash);
        // Whatever parses is a valid document: the schema holds and the link encodes again.
        if (!shareDocumentSchema.safeParse(doc).success) campaign.fail(i, 'decoded a document the schema rejects');
        if (i % 16 === 0) encodeShareHash(doc);
      });
    }
    expect(campaign.cases).toBe(n);
    expect(campaign.refused).toBeGreaterThan(n / 4);
    // Bounded time per link (generous: the machine is shared; typical cases take well under 10 ms).
    campaign.assertClean(5000);
  }, 120_000);
});
