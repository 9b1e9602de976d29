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
  return {
    vocabSize: pieces.length,
    bosTokenId: idOrNull(tok.bos_token_id),
    eosTokenId: idOrNull(tok.eos_token_id),
    encode: (text) => (text.length === 0 ? [] : (tok.encode(text, { add_special_tokens: false }) as number[])),
    decode: (ids, opts) => (ids.length === 0 ? '' : tok.decode([...ids], { skip_special_tokens: opts?.skipSpecialTokens ?? false })),
    piece: (id) => pieces[id] ?? '',
  };
}
