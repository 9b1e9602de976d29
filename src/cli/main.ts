/**
 * `studio` — the headless CLI over the engine.
 *
 *   studio eval --model DIR --dataset NAME|FILE [--seqlen 512] [--windows A:B] [--backend cpu] [--json]
 *   studio generate --model DIR [--prompt TEXT] [--max-new-tokens N] [--temperature T] [--seed S] [--json]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../engine/backend/cpu/cpu-backend';
import type { Backend } from '../engine/backend/backend';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { modelRefOf, runEvaluation } from '../engine/experiment';
import { generate } from '../engine/generate';
import { LlamaModel } from '../engine/model/llama';
import { loadModel, type LoadedModel } from '../engine/model/load';
import type { ModelRef } from '../engine/record';
import { dirSource, isDirectory } from './fs-source';
import { BUNDLED_DATASETS_DIR, BUNDLED_MODELS_DIR } from './paths';

const USAGE = `usage:
  studio eval --model DIR --dataset NAME|FILE [--seqlen 512] [--windows A:B|all] [--backend cpu] [--json]
  studio generate --model DIR [--prompt TEXT] [--max-new-tokens 64] [--temperature 0] [--seed 0] [--json]

  --model      a model directory in Hub layout (config.json, model.safetensors, tokenizer.json),
               or the name of a bundled model (${'stories260K'})
  --dataset    a bundled text (${Object.keys(BUNDLED_DATASETS).join(', ')}) or a path to a UTF-8 text file
  --seqlen     tokens per evaluation window (default 512, at most the model's context)
  --windows    half-open range of windows A:B, A:, N or all (default all)
  --backend    cpu (the WebGPU backend comes with its own issue)
  --json       print one ExperimentRecord as JSON on stdout`;

class UsageError extends Error {}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function intOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

function makeBackend(name: string | undefined): Backend {
  const b = name ?? 'cpu';
  if (b === 'cpu') return new CpuBackend();
  if (b === 'webgpu') throw new UsageError('--backend webgpu is not available yet; use --backend cpu');
  throw new UsageError(`unknown backend "${b}" (expected cpu)`);
}

async function resolveModel(arg: string | undefined): Promise<{ dir: string; id: string; source: ModelRef['source'] }> {
  if (!arg) throw new UsageError('--model is required');
  if (await isDirectory(arg)) {
    const dir = path.resolve(arg);
    const bundled = path.dirname(dir) === BUNDLED_MODELS_DIR;
    return { dir, id: path.basename(dir), source: bundled ? 'bundled' : 'local' };
  }
  const bundledDir = path.join(BUNDLED_MODELS_DIR, arg);
  if (!arg.includes('/') && (await isDirectory(bundledDir))) return { dir: bundledDir, id: arg, source: 'bundled' };
  throw new StudioError('input', `--model ${arg}: no such model directory`);
}

async function resolveDataset(arg: string | undefined): Promise<{ name: string; source: 'bundled' | 'file'; text: string }> {
  if (!arg) throw new UsageError('--dataset is required');
  const file = isBundledDataset(arg) ? path.join(BUNDLED_DATASETS_DIR, BUNDLED_DATASETS[arg].file) : arg;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    const names = Object.keys(BUNDLED_DATASETS).join(', ');
    throw new StudioError('dataset', `--dataset ${arg}: neither a bundled text (${names}) nor a readable file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StudioError('dataset', `${file}: not valid UTF-8 text`);
  }
  return isBundledDataset(arg) ? { name: arg, source: 'bundled', text } : { name: path.basename(arg), source: 'file', text };
}

async function load(modelArg: string | undefined): Promise<{ model: LoadedModel; ref: ModelRef; loadMs: number }> {
  const m = await resolveModel(modelArg);
  const t0 = performance.now();
  const model = await loadModel(m.id, dirSource(m.dir));
  return { model, ref: modelRefOf(model, m.source), loadMs: performance.now() - t0 };
}

async function cmdEval(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dataset: { type: 'string' },
      seqlen: { type: 'string' },
      windows: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const backend = makeBackend(values.backend);
  const dataset = await resolveDataset(values.dataset);
  const { model, ref, loadMs } = await load(values.model);
  const seqlen = intOption(values.seqlen, 'seqlen', 512);
  const progress = !values.json && process.stderr.isTTY;
  const record = await runEvaluation({
    model,
    modelRef: ref,
    backend,
    text: dataset.text,
    dataset: { name: dataset.name, source: dataset.source },
    seqlen,
    windows: values.windows ?? 'all',
    runtime: 'node',
    loadMs,
    onProgress: progress ? (p) => io.err(`\rwindow ${p.done}/${p.total}`) : undefined,
  });
  if (progress) io.err('\n');
  if (values.json) {
    io.out(`${JSON.stringify(record)}\n`);
  } else {
    const w = record.protocol.windows;
    io.out(
      [
        `model      ${record.model.id} (${record.model.architecture}, ${record.model.parameters.toLocaleString('en-US')} parameters)`,
        `dataset    ${record.protocol.dataset.name} (${record.protocol.streamTokens} tokens, BOS + whole text)`,
        `windows    ${w.start}:${w.end} of ${record.protocol.seqlen} tokens, ${record.scoredTokens} scored`,
        `mean NLL   ${record.meanNll.toFixed(6)} nats`,
        `perplexity ${record.ppl.toFixed(4)}`,
        `backend    ${record.backend.name} (${record.backend.device}), ${(record.timings.wallMs / 1000).toFixed(2)} s`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}

async function cmdGenerate(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string', default: '' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const backend = makeBackend(values.backend);
  const { model } = await load(values.model);
  const temperature = values.temperature === undefined ? 0 : Number(values.temperature);
  if (!Number.isFinite(temperature) || temperature < 0) throw new UsageError('--temperature must be a number ≥ 0');
  const bos = model.tokenizer.bosTokenId ?? model.config.bosTokenId;
  const prompt = [...(bos === null ? [] : [bos]), ...model.tokenizer.encode(values.prompt ?? '')];
  const lm = new LlamaModel(model.config, backend, model.weights);
  const t0 = performance.now();
  const ids = await generate(lm, prompt, {
    maxNewTokens: intOption(values['max-new-tokens'], 'max-new-tokens', 64),
    temperature,
    seed: intOption(values.seed, 'seed', 0),
    stopIds: bos === null ? [] : [bos],
  });
  const ms = performance.now() - t0;
  const text = model.tokenizer.decode([...prompt, ...ids], { skipSpecialTokens: true });
  if (values.json) io.out(`${JSON.stringify({ model: model.id, prompt: values.prompt, ids, text, tokensPerSecond: ids.length / (ms / 1000) })}\n`);
  else io.out(`${text}\n`);
  return 0;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'eval':
        return await cmdEval(rest, io);
      case 'generate':
        return await cmdGenerate(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(`${USAGE}\n`);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      io.err(`studio: ${(e as Error).message}\n${USAGE}\n`);
      return 2;
    }
    io.err(`studio: error: ${(e as Error).message}\n`);
    return 1;
  }
}
