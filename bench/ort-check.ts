/**
 * Loads an exported ONNX folder in onnxruntime-web (wasm EP) on its own — only the
 * folder's files: model.onnx (+ model.onnx_data), config.json, tokenizer.json — and prints
 * its perplexity with the studio's protocol, to compare with `studio eval` on the model it
 * came from: `npx tsx bench/ort-check.ts DIR [--dataset tinystories] [--windows 0:2] [--seqlen 128]`
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { resolveDataset } from '../src/cli/common';
import { parseWindows, tokenStream, windowCount } from '../src/engine/data';
import { EXTERNAL_DATA_FILE } from '../src/engine/export/onnx/export';
import { createOrtDecoder, ortPerplexity } from '../src/engine/export/onnx/ort-run';
import { createTokenizer } from '../src/engine/tokenizer';
import { cliOption as opt } from './cli-args';

const dir = process.argv[2];
if (!dir || dir.startsWith('--')) throw new Error('usage: npx tsx bench/ort-check.ts DIR [--dataset NAME|FILE] [--windows A:B] [--seqlen N]');
const read = (f: string) => new Uint8Array(readFileSync(path.join(dir, f)));
const json = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;

ort.env.wasm.numThreads = 1;
const config = json('config.json');
const tokenizer = createTokenizer(json('tokenizer.json'), existsSync(path.join(dir, 'tokenizer_config.json')) ? json('tokenizer_config.json') : {}, `${dir}/tokenizer.json`);
const dataset = await resolveDataset(opt('dataset', 'tinystories'));
const seqlen = Number(opt('seqlen', '128'));
const bos = typeof config.bos_token_id === 'number' ? config.bos_token_id : null;
const stream = tokenStream(tokenizer, dataset.text, bos).ids;
const windows = parseWindows(opt('windows', '0:2'), windowCount(stream.length, seqlen));
const t0 = performance.now();
const d = await createOrtDecoder(ort, read('model.onnx'), { externalData: existsSync(path.join(dir, EXTERNAL_DATA_FILE)) ? read(EXTERNAL_DATA_FILE) : null });
const loadMs = performance.now() - t0;
const r = await ortPerplexity(d, stream, seqlen, windows);
console.log(`${dir}: onnxruntime-web ${ort.env.versions.web} (wasm), session ${loadMs.toFixed(0)} ms`);
console.log(`${dataset.name} windows ${windows.start}:${windows.end} of ${seqlen} tokens, ${r.scoredTokens} scored: mean NLL ${r.meanNll.toFixed(6)}, perplexity ${r.ppl.toFixed(4)}`);
await d.session.release();
