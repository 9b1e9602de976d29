/**
 * Reference port of llama2.c's tokenizer (`run.c`: `build_tokenizer`, `encode`, `decode`),
 * used only by tests to check the converted Hugging Face tokenizer.json.
 *
 * Pieces are handled as raw bytes, exactly as run.c does (`char*` strings read from
 * tok512.bin); internally a byte string is kept as a "binary" JS string whose char codes
 * are the bytes (0..255), so that Map lookups compare bytes, not Unicode text.
 *
 * `encodeNaive` is a line-by-line port of run.c's O(n²) merge loop (rescan all adjacent
 * pairs, merge the one whose concatenation is the highest-scoring piece, leftmost on ties).
 * `encode` computes the same result with a heap and a linked list, so that whole corpora
 * can be encoded; tests check both agree.
 *
 * One deliberate difference from C: the input is length-delimited, so a NUL character in
 * the text is encoded (as byte token 3) instead of ending the string.
 */

export interface Llama2cTokenizer {
  /** Header value `max_token_length` of tokenizer.bin. */
  maxTokenLength: number;
  /** Piece bytes per id, as stored in tokenizer.bin (run.c's `vocab`). */
  pieces: Uint8Array[];
  /** run.c's `vocab_scores`. */
  scores: Float32Array;
  /** Byte string (see module doc) → id, run.c's `sorted_vocab` + `str_lookup`. */
  lookup: Map<string, number>;
}

export const LLAMA2C_BOS = 1;
export const LLAMA2C_EOS = 2;

function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Parses a llama2.c tokenizer.bin: u32 max_token_length, then per id f32 score, i32 len,
 * len bytes. The vocab size is not stored in the file; it comes from the model header.
 * Refuses a truncated file or trailing bytes.
 */
export function parseLlama2cTokenizer(buf: Uint8Array, vocabSize: number, file = 'tokenizer.bin'): Llama2cTokenizer {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 4) throw new Error(`${file}: truncated (${buf.byteLength} bytes, no header)`);
  const maxTokenLength = view.getUint32(0, true);
  let o = 4;
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  const lookup = new Map<string, number>();
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > buf.byteLength) throw new Error(`${file}: truncated at token ${i} of ${vocabSize} (offset ${o})`);
    scores[i] = view.getFloat32(o, true);
    const len = view.getInt32(o + 4, true);
    o += 8;
    if (len < 0 || o + len > buf.byteLength) throw new Error(`${file}: token ${i} has length ${len}, beyond the end of the file`);
    const piece = buf.slice(o, o + len);
    o += len;
    pieces.push(piece);
    const key = bytesToBinary(piece);
    // run.c's bsearch over a sorted vocab would find either duplicate; keep the first.
    if (!lookup.has(key)) lookup.set(key, i);
  }
  if (o !== buf.byteLength) {
    throw new Error(`${file}: ${buf.byteLength - o} trailing bytes after ${vocabSize} tokens (wrong vocab size?)`);
  }
  return { maxTokenLength, pieces, scores, lookup };
}

/** Step 1 of run.c's encode: BOS, dummy prefix, code points with byte fallback. */
function initialTokens(tok: Llama2cTokenizer, text: string, bos: boolean): number[] {
  const bytes = new TextEncoder().encode(text);
  const tokens: number[] = [];
  if (bos) tokens.push(LLAMA2C_BOS);
  if (bytes.length > 0) {
    const dummy = tok.lookup.get(' ');
    if (dummy === undefined) throw new Error('tokenizer has no " " piece for the dummy prefix');
    tokens.push(dummy);
  }
  // Port of: for (char *c = text; *c; c++) { ... } — gather a UTF-8 code point (at most
  // 4 bytes), look it up as a whole piece, else emit one byte token (byte + 3) per byte.
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if ((c & 0xc0) !== 0x80) buf = [];
    buf.push(c);
    const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    if ((next & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = tok.lookup.get(String.fromCharCode(...buf));
    if (id !== undefined) tokens.push(id);
    else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  return tokens;
}

function pieceKey(tok: Llama2cTokenizer, keys: string[], id: number): string {
  let k = keys[id];
  if (k === undefined) {
    k = bytesToBinary(tok.pieces[id]!);
    keys[id] = k;
  }
  return k;
}

const keyCache = new WeakMap<Llama2cTokenizer, string[]>();
function keysOf(tok: Llama2cTokenizer): string[] {
  let k = keyCache.get(tok);
  if (!k) {
    k = [];
    keyCache.set(tok, k);
  }
  return k;
}

/** Literal port of run.c's merge loop (quadratic: use for short texts only). */
export function encodeNaive(tok: Llama2cTokenizer, text: string, bos = true, eos = false): number[] {
  const tokens = initialTokens(tok, text, bos);
  const keys = keysOf(tok);
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = tok.lookup.get(pieceKey(tok, keys, tokens[i]!) + pieceKey(tok, keys, tokens[i + 1]!));
      if (id !== undefined && tok.scores[id]! > bestScore) {
        bestScore = tok.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens[bestIdx] = bestId;
    tokens.splice(bestIdx + 1, 1);
  }
  if (eos) tokens.push(LLAMA2C_EOS);
  return tokens;
}

/**
 * Same result as `encodeNaive` in O(n log n): a max-heap of candidate merges keyed by
 * (score of the merged piece, position of the left token). A token's position is the
 * index where it started in the initial sequence; merging keeps the left token's position,
 * so the order of positions is always the order of the current sequence and "smallest
 * position" is run.c's "leftmost" (strict `>` in its scan). Stale heap entries are skipped.
 */
export function encode(tok: Llama2cTokenizer, text: string, bos = true, eos = false): number[] {
  const init = initialTokens(tok, text, bos);
  const n = init.length;
  const keys = keysOf(tok);
  const id = Int32Array.from(init);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // Heap entries: [score, left, leftId, rightId, mergedId]; a pair is valid at pop time
  // if both tokens are alive, still adjacent and still hold the same ids.
  const hScore: number[] = [];
  const hPos: number[] = [];
  const hLeftId: number[] = [];
  const hRightId: number[] = [];
  const hMerged: number[] = [];
  const better = (a: number, b: number): boolean =>
    hScore[a]! > hScore[b]! || (hScore[a] === hScore[b] && hPos[a]! < hPos[b]!);
  const swap = (a: number, b: number): void => {
    [hScore[a], hScore[b]] = [hScore[b]!, hScore[a]!];
    [hPos[a], hPos[b]] = [hPos[b]!, hPos[a]!];
    [hLeftId[a], hLeftId[b]] = [hLeftId[b]!, hLeftId[a]!];
    [hRightId[a], hRightId[b]] = [hRightId[b]!, hRightId[a]!];
    [hMerged[a], hMerged[b]] = [hMerged[b]!, hMerged[a]!];
  };
  const push = (left: number): void => {
    const right = next[left]!;
    if (right < 0) return;
    const merged = tok.lookup.get(pieceKey(tok, keys, id[left]!) + pieceKey(tok, keys, id[right]!));
    if (merged === undefined) return;
    let i = hScore.length;
    hScore.push(tok.scores[merged]!);
    hPos.push(left);
    hLeftId.push(id[left]!);
    hRightId.push(id[right]!);
    hMerged.push(merged);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const popTop = (): void => {
    const last = hScore.length - 1;
    swap(0, last);
    hScore.pop();
    hPos.pop();
    hLeftId.pop();
    hRightId.pop();
    hMerged.pop();
    let i = 0;
    const size = hScore.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && better(l, m)) m = l;
      if (r < size && better(r, m)) m = r;
      if (m === i) break;
      swap(i, m);
      i = m;
    }
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  while (hScore.length > 0) {
    const left = hPos[0]!;
    const leftId = hLeftId[0]!;
    const rightId = hRightId[0]!;
    const merged = hMerged[0]!;
    popTop();
    const right = next[left]!;
    if (!alive[left] || right < 0 || id[left] !== leftId || id[right] !== rightId) continue;
    id[left] = merged;
    alive[right] = 0;
    const after = next[right]!;
    next[left] = after;
    if (after >= 0) prev[after] = left;
    if (prev[left]! >= 0) push(prev[left]!);
    push(left);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0 && i < n; i = next[i]!) out.push(id[i]!);
  if (eos) out.push(LLAMA2C_EOS);
  return out;
}

/**
 * run.c's decode for a whole sequence, as bytes: pieces concatenated; after BOS a leading
 * space is dropped; `<0xHH>` pieces become byte HH. BOS and EOS themselves produce nothing
 * (run.c stops generating at BOS instead of printing its "\n<s>\n" piece).
 */
export function decodeBytes(tok: Llama2cTokenizer, ids: number[]): Uint8Array {
  const out: number[] = [];
  let prevId = -1;
  for (const t of ids) {
    if (t === LLAMA2C_BOS || t === LLAMA2C_EOS) {
      prevId = t;
      continue;
    }
    let piece = tok.pieces[t];
    if (!piece) throw new Error(`token id ${t} is out of range`);
    if (prevId === LLAMA2C_BOS && piece[0] === 0x20) piece = piece.subarray(1);
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(bytesToBinary(piece));
    if (m) out.push(parseInt(m[1]!, 16));
    else for (const b of piece) out.push(b);
    prevId = t;
  }
  return Uint8Array.from(out);
}

/** `decodeBytes` as text (invalid UTF-8 becomes U+FFFD). */
export function decode(tok: Llama2cTokenizer, ids: number[]): string {
  return new TextDecoder().decode(decodeBytes(tok, ids));
}
