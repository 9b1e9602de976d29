/**
 * The tokenizer wrapper's fast path (cutting a corpus where no BPE merge can cross) must
 * give exactly the ids of encoding the whole text at once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { createTokenizer, safeCutCharacters } from '../src/engine/tokenizer';
import { REPO_ROOT } from './support/paths';

const dir = path.join(REPO_ROOT, 'public/models/stories260K');
const json = () => JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as Record<string, any>;
const config = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
const text = (f: string) => readFileSync(path.join(REPO_ROOT, 'public/datasets', f), 'utf8');

describe('tokenizer fast path', () => {
  it('finds the safe cut characters of the bundled tokenizer', () => {
    expect(safeCutCharacters(json())).toEqual([' ', '\n']);
    const withDoubleSpace = json();
    withDoubleSpace.model.vocab['▁▁'] = 512;
    expect(safeCutCharacters(withDoubleSpace)).toEqual(['\n']);
    const byteLevel = json();
    byteLevel.pre_tokenizer = { type: 'ByteLevel' };
    expect(safeCutCharacters(byteLevel)).toBeNull();
    const otherNormalizer = json();
    otherNormalizer.normalizer = { type: 'NFC' };
    expect(safeCutCharacters(otherNormalizer)).toBeNull();
  });

  it.each([
    ['tinystories_val.txt', Infinity],
    ['tinyshakespeare.txt', 200_000],
    // WikiText holds literal "<unk>": the wrapper must take the whole-text path there.
    ['wikitext2_test.txt', 100_000],
  ])('encodes %s exactly as the whole-text tokenizer', (file, chars) => {
    const t = text(file).slice(0, chars);
    const direct = new PreTrainedTokenizer(json(), config);
    const want = direct.encode(t, { add_special_tokens: false });
    const t0 = performance.now();
    const got = createTokenizer(json(), config).encode(t);
    const ms = performance.now() - t0;
    expect(got.length).toBe(want.length);
    expect(got).toEqual(want);
    console.log(`${file}: ${t.length} chars → ${got.length} tokens in ${ms.toFixed(0)} ms`);
  });

  it('keeps the slow path exact when a cut would be wrong', () => {
    const j = json();
    // A vocabulary in which "e▁" exists: merges may cross spaces, so spaces are no cut.
    j.model.vocab['e▁'] = 512;
    j.model.merges.unshift(['e', '▁']);
    const t = 'the tree we see here is free. '.repeat(100);
    const direct = new PreTrainedTokenizer(j, config).encode(t, { add_special_tokens: false });
    expect(createTokenizer(j, config).encode(t)).toEqual(direct);
  });
});
