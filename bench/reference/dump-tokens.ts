/**
 * Writes the token streams the studio evaluates and calibrates on, for the Python reference
 * (bench/reference/reference.py has no tokenizer: transformers is not installed here).
 *
 *   npx tsx bench/reference/dump-tokens.ts --out DIR [--model stories260K] [--dataset tinystories,wikitext2]
 *
 * For each dataset: DIR/<name>.i32 (little-endian int32 ids of BOS + whole text, the exact
 * stream `studio eval` and `studio prune` cut windows and calibration samples from) and
 * DIR/<name>.json ({tokens, bos, sha256}). The samples and windows themselves are cut
 * again in Python (independently of calibrate.ts / data.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadCliModel, resolveDataset } from '../../src/cli/common';
import { cachedTokenStream } from '../../src/engine/data';

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

async function main() {
  const out = opt('out');
  if (!out) throw new Error('--out DIR is required');
  mkdirSync(out, { recursive: true });
  const { model } = await loadCliModel(opt('model', 'stories260K'));
  for (const name of opt('dataset', 'tinystories')!.split(',')) {
    const d = await resolveDataset(name);
    const s = await cachedTokenStream(model.tokenizer, d.text, model.config.bosTokenId);
    const bytes = new Uint8Array(s.ids.buffer, s.ids.byteOffset, s.ids.byteLength);
    writeFileSync(path.join(out, `${d.name}.i32`), bytes);
    writeFileSync(path.join(out, `${d.name}.json`), JSON.stringify({ tokens: s.ids.length, bos: s.bos, sha256: s.sha256 }));
    console.log(`${d.name}: ${s.ids.length} tokens → ${path.join(out, `${d.name}.i32`)}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
