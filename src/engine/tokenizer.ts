/**
 * Tokenizer wrapper over @huggingface/transformers: the engine sees ids and text only.
 * Built from the parsed tokenizer.json / tokenizer_config.json objects, so it works the
 * same whether the files came from disk, the page's origin or the Hub.
 */
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { StudioError } from './errors';
import { regexProblem } from './regex-safety';

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

/** Token ids must be below this (the config's vocab_size limit, 2^22). */
export const MAX_VOCAB_ID = 1 << 22;

/** An untrusted id for a message (String() of a deeply nested array overflows the stack). */
function showId(id: unknown): string {
  return typeof id === 'number' || typeof id === 'string' ? String(id).slice(0, 40) : id === null ? 'null' : Array.isArray(id) ? 'an array' : typeof id;
}

function showPiece(piece: unknown): string {
  return typeof piece === 'string' ? JSON.stringify(piece.slice(0, 40)) : typeof piece;
}

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

/** The message of whatever a library threw, for wrapping it in a StudioError. */
function reason(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  try {
    return String(e);
  } catch {
    return 'unknown error';
  }
}

/** Runs a call into the tokenizer library, turning any failure into a StudioError. */
function guarded<T>(file: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StudioError) throw e;
    throw new StudioError('tokenizer', `${file}: ${what} (${reason(e)})`);
  }
}

function badId(file: string, piece: unknown, id: unknown): never {
  throw new StudioError('tokenizer', `${file}: token ${showPiece(piece)} has id ${showId(id)}, not an integer in [0, ${MAX_VOCAB_ID})`);
}

/**
 * Vocabulary and added-token ids are checked before the library sees them: it indexes
 * arrays by id, so one huge id would allocate (and take seconds) for nothing.
 */
function checkIds(tokenizerJson: Record<string, unknown>, file: string): void {
  const ok = (id: unknown) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < MAX_VOCAB_ID;
  const vocab = (tokenizerJson.model as Record<string, unknown>).vocab;
  if (isObject(vocab)) {
    for (const [piece, id] of Object.entries(vocab)) if (!ok(id)) badId(file, piece, id);
  } else if (Array.isArray(vocab) && vocab.length > MAX_VOCAB_ID) {
    throw new StudioError('tokenizer', `${file}: vocabulary has ${vocab.length} entries, more than ${MAX_VOCAB_ID}`);
  }
  if (Array.isArray(tokenizerJson.added_tokens)) {
    for (const t of tokenizerJson.added_tokens) if (isObject(t) && !ok(t.id)) badId(file, t.content, t.id);
  }
}

/** Deeper component nesting than this is not a real tokenizer (and is refused). */
const MAX_COMPONENT_DEPTH = 32;

/**
 * The regular expressions of the normalizer, pre-tokenizer and decoder (Split, Replace,
 * nested in Sequences) are checked before the library compiles them: one with
 * catastrophic backtracking would hang encoding inside a single synchronous call that no
 * Cancel can interrupt (see regex-safety.ts).
 */
function checkPatterns(tokenizerJson: Record<string, unknown>, file: string): void {
  const visit = (v: unknown, where: string, depth: number): void => {
    if (depth > MAX_COMPONENT_DEPTH) throw new StudioError('tokenizer', `${file}: ${where} is nested more than ${MAX_COMPONENT_DEPTH} levels deep`);
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${where}[${i}]`, depth + 1));
    if (!isObject(v)) return;
    const pattern = v.pattern;
    if (isObject(pattern) && typeof pattern.Regex === 'string') {
      const problem = regexProblem(pattern.Regex);
      if (problem) {
        const kind = typeof v.type === 'string' ? ` (${v.type.slice(0, 40)})` : '';
        throw new StudioError('tokenizer', `${file}: ${where}${kind} has the pattern ${JSON.stringify(pattern.Regex.length > 80 ? `${pattern.Regex.slice(0, 80)}…` : pattern.Regex)}, which the studio refuses: ${problem}; encoding a text could take hours`);
      }
    }
    for (const [k, x] of Object.entries(v)) if (k !== 'pattern' && (typeof x === 'object' && x !== null)) visit(x, `${where}.${k}`, depth + 1);
  };
  for (const section of ['normalizer', 'pre_tokenizer', 'decoder']) visit(tokenizerJson[section], section, 0);
}

export function createTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown, file = 'tokenizer.json'): Tokenizer {
  if (!isObject(tokenizerJson)) throw new StudioError('tokenizer', `${file}: not a JSON object`);
  if (!isObject(tokenizerJson.model)) throw new StudioError('tokenizer', `${file}: missing "model" section`);
  checkIds(tokenizerJson, file);
  checkPatterns(tokenizerJson, file);
  const config = isObject(tokenizerConfig) ? tokenizerConfig : {};
  const { tok, pieces, cuts } = guarded(file, 'cannot build the tokenizer', () => {
    const tok = new PreTrainedTokenizer(tokenizerJson, config);
    const vocab = tok.get_vocab() as Map<string, number> | Record<string, number>;
    const entries = vocab instanceof Map ? [...vocab.entries()] : Object.entries(vocab);
    const pieces: string[] = [];
    for (const [piece, id] of entries) {
      // Ids index a dense array: an untrusted huge id would allocate (and hang) for nothing.
      if (!Number.isSafeInteger(id) || id < 0 || id >= MAX_VOCAB_ID) {
        badId(file, piece, id);
      }
      if (piece == null) continue; // a hole in the ids (the library lists it as undefined)
      if (typeof piece !== 'string') throw new StudioError('tokenizer', `${file}: token id ${id} has a ${showId(piece)} piece, not a string`);
      pieces[id] = piece;
    }
    return { tok, pieces, cuts: safeCutCharacters(tokenizerJson) };
  });
  const idOrNull = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  const whole = (text: string) => (text.length === 0 ? [] : (tok.encode(text, { add_special_tokens: false }) as number[]));
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
    encode: (text) =>
      guarded(file, 'cannot encode the text', () => {
        const ids = encode(text);
        // A broken vocabulary (a merge result or piece without an id) yields holes: refuse them.
        for (const id of ids) {
          if (!(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < MAX_VOCAB_ID)) {
            throw new StudioError('tokenizer', `${file}: the tokenizer produced the invalid token id ${showId(id)}; its vocabulary is inconsistent`);
          }
        }
        return ids;
      }),
    decode: (ids, opts) =>
      ids.length === 0 ? '' : guarded(file, 'cannot decode the ids', () => tok.decode([...ids], { skip_special_tokens: opts?.skipSpecialTokens ?? false })),
    piece: (id) => pieces[id] ?? '',
  };
}
