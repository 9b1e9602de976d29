/**
 * Tokenizer wrapper over @huggingface/transformers: the engine sees ids and text only.
 * Built from the parsed tokenizer.json / tokenizer_config.json objects, so it works the
 * same whether the files came from disk, the page's origin or the Hub.
 */
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { StudioError } from './errors';

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** Token ids of `text` without special tokens. */
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** The string of one token as the vocabulary stores it (for teaching views). */
  piece(id: number): string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const METASPACE = '\u2581';

/**
 * Where a SentencePiece-style BPE tokenizer (no pre-tokenizer, the Llama "legacy"
 * normalizer: prepend ▁, spaces → ▁) can be cut without changing its output. Such a
 * tokenizer treats a whole text as one BPE word, which is slow for a corpus. A merge can
 * only join a character c to what precedes it if some vocabulary piece holds c after its
 * first character; when no piece does, a cut before every c is exact. Each chunk after
 * the first then starts with the normalizer's extra "▁", a token of its own (no piece
 * starts "▁▁" or "▁\n" under the same condition), which `encode` drops.
 * Returns the characters to cut before (of ' ' and '\n'), or null when none qualify.
 */
export function safeCutCharacters(tokenizerJson: Record<string, unknown>): string[] | null {
  const model = tokenizerJson.model as Record<string, unknown>;
  if (model.type !== 'BPE' || tokenizerJson.pre_tokenizer != null || !isObject(model.vocab)) return null;
  const n = tokenizerJson.normalizer as { type?: string; normalizers?: { type?: string; prepend?: string; pattern?: { String?: string }; content?: string }[] } | null;
  const steps = n?.type === 'Sequence' ? n.normalizers ?? [] : [];
  const legacy =
    steps.length === 2 &&
    steps[0]?.type === 'Prepend' && steps[0].prepend === METASPACE &&
    steps[1]?.type === 'Replace' && steps[1].pattern?.String === ' ' && steps[1].content === METASPACE;
  if (!legacy || !(METASPACE in model.vocab)) return null;
  const pieces = Object.keys(model.vocab);
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as { content?: unknown }[]) : [];
  const cuts = [' ', '\n'].filter((c) => {
    const normal = c === ' ' ? METASPACE : c;
    return (
      !pieces.some((p) => p.length > 1 && p.indexOf(normal, 1) > 0) &&
      !added.some((a) => typeof a.content === 'string' && a.content.includes(c))
    );
  });
  return cuts.length > 0 ? cuts : null;
}

export function createTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown, file = 'tokenizer.json'): Tokenizer {
  if (!isObject(tokenizerJson)) throw new StudioError('tokenizer', `${file}: not a JSON object`);
  if (!isObject(tokenizerJson.model)) throw new StudioError('tokenizer', `${file}: missing "model" section`);
  const config = isObject(tokenizerConfig) ? tokenizerConfig : {};
  let tok: PreTrainedTokenizer;
  try {
    tok = new PreTrainedTokenizer(tokenizerJson, config);
  } catch (e) {
    throw new StudioError('tokenizer', `${file}: cannot build the tokenizer (${(e as Error).message})`);
  }
  const vocab = tok.get_vocab() as Map<string, number> | Record<string, number>;
  const entries = vocab instanceof Map ? [...vocab.entries()] : Object.entries(vocab);
  const pieces: string[] = [];
  for (const [piece, id] of entries) pieces[id] = piece;
  const idOrNull = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  const whole = (text: string) => (text.length === 0 ? [] : (tok.encode(text, { add_special_tokens: false }) as number[]));
  const cuts = safeCutCharacters(tokenizerJson);
  const dummy = pieces.indexOf(METASPACE);
  const cutBefore = cuts ? new RegExp(`(?=[${cuts.map((c) => (c === '\n' ? '\\n' : c)).join('')}])`) : null;
  // Text holding an added token's string (e.g. "<unk>" in WikiText) is split there by the
  // tokenizer and each part gets its own "▁": only the whole-text path reproduces that.
  const addedStrings = (Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as { content?: unknown }[]) : [])
    .map((a) => a.content)
    .filter((c): c is string => typeof c === 'string' && c.length > 0);
  const encode = (text: string): number[] => {
    if (!cutBefore || text.length < 1024 || addedStrings.some((a) => text.includes(a))) return whole(text);
    const parts = text.split(cutBefore);
    const out = whole(parts[0]!);
    for (let i = 1; i < parts.length; i++) {
      const ids = whole(parts[i]!);
      // Guard: should the extra "▁" ever merge, fall back to the exact, slow path.
      if (ids[0] !== dummy) return whole(text);
      for (let j = 1; j < ids.length; j++) out.push(ids[j]!);
    }
    return out;
  };
  return {
    vocabSize: pieces.length,
    bosTokenId: idOrNull(tok.bos_token_id),
    eosTokenId: idOrNull(tok.eos_token_id),
    encode,
    decode: (ids, opts) => (ids.length === 0 ? '' : tok.decode([...ids], { skip_special_tokens: opts?.skipSpecialTokens ?? false })),
    piece: (id) => pieces[id] ?? '',
  };
}
