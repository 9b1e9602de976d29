/**
 * `studio` — the headless CLI over the engine.
 *
 *   studio eval --model DIR --dataset NAME|FILE [--seqlen 512] [--windows A:B] [--backend cpu] [--json]
 *   studio generate --model DIR [--prompt TEXT] [--max-new-tokens N] [--temperature T] [--seed S] [--json]
 *   studio prune --model DIR --method magnitude|wanda|flap [--sparsity P] [options] [--json] [--out DIR]  (prune-command.ts)
 *   studio export --model DIR --format safetensors|onnx [--dtype f32|f16] --out DIR  (export-command.ts)
 */
import { parseArgs } from 'node:util';
import { BUNDLED_DATASETS } from '../engine/data';
import { runEvaluation } from '../engine/experiment';
import { generateWithStats } from '../engine/generate';
import { LlamaModel } from '../engine/model/llama';
import type { ExperimentRecord } from '../engine/record';
import { intOption, loadCliModel, makeBackend, resolveDataset, UsageError, type Io } from './common';
import { backendLine, modelLine, printRecord } from './record-summary';
import { runOnCliBackend } from './run-experiment';
import { cmdPrune } from './prune-command';
import { cmdExport } from './export-command';
import { cmdQuantize } from './quantize-command';
import { HUB_CLI_OPTIONS, HUB_USAGE } from './hub-model';

const USAGE = `usage:
  studio eval --model DIR --dataset NAME|FILE [--seqlen 512] [--windows A:B|all] [--backend cpu|wasm|webgpu|auto] [--gpu-weights auto|f32|f16] [--json]
  studio generate --model DIR [--prompt TEXT] [--max-new-tokens 64] [--temperature 0] [--top-k 0] [--top-p 1] [--seed 0] [--no-cache] [--json]
  studio prune --model DIR --method magnitude|wanda|flap [--sparsity P] [...] [--json] [--out DIR]   (studio prune --help)
  studio export --model DIR --format safetensors|onnx [--dtype f32|f16] [--dequantize] --out DIR [--verify]   (studio export --help)
  studio quantize --model DIR --method rtn [--bits 4] [--group 64|channel] [--sym|--asym] [...] [--json] [--out DIR]   (studio quantize --help)

  --model      a model directory in Hub layout (config.json, model.safetensors, tokenizer.json),
               or the name of a bundled model (${'stories260K'})
  --dataset    a bundled text (${Object.keys(BUNDLED_DATASETS).join(', ')}) or a path to a UTF-8 text file
  --seqlen     tokens per evaluation window (default 512, at most the model's context)
  --windows    half-open range of windows A:B, A:, N or all (default all)
  --backend    cpu (default, the float64-accumulating reference), wasm (f32 WebAssembly SIMD
               kernels, one thread: the fast CPU path), webgpu (Dawn; on a machine without a
               GPU it falls back to Chromium's SwiftShader), or auto (WebGPU on a hardware adapter,
               else wasm, else cpu: a software adapter such as SwiftShader loses to wasm)
  --gpu-weights  how WebGPU stores weight matrices: auto (default: f16 where the adapter has
               shader-f16 and the matrix is exactly representable, else f32), f32, or f16
               (halves GPU memory; rounds f32/bf16 weights, so perplexity may move slightly)
  --json       print one ExperimentRecord as JSON on stdout
${HUB_USAGE}`;

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function evalSummary(r: ExperimentRecord): string {
  const w = r.protocol.windows;
  return [
    modelLine(r),
    `dataset    ${r.protocol.dataset.name} (${r.protocol.streamTokens} tokens, BOS + whole text)`,
    `windows    ${w.start}:${w.end} of ${r.protocol.seqlen} tokens, ${r.scoredTokens} scored`,
    `mean NLL   ${r.meanNll.toFixed(6)} nats`,
    `perplexity ${r.ppl.toFixed(4)}`,
    `${backendLine(r)}, ${(r.timings.wallMs / 1000).toFixed(2)} s`,
    '',
  ].join('\n');
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
      ...HUB_CLI_OPTIONS,
      'gpu-weights': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const dataset = await resolveDataset(values.dataset);
  const loaded = await loadCliModel(values.model, values, io);
  const seqlen = intOption(values.seqlen, 'seqlen', 512);
  const record = await runOnCliBackend(values, io, loaded, dataset, seqlen, runEvaluation, (p) => `window ${p.done}/${p.total}`);
  printRecord(io, record, values, evalSummary);
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
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      backend: { type: 'string' },
      ...HUB_CLI_OPTIONS,
      'gpu-weights': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const topP = values['top-p'] === undefined ? 1 : Number(values['top-p']);
  if (!(topP > 0 && topP <= 1)) throw new UsageError('--top-p must be a number in (0, 1]');
  const { model } = await loadCliModel(values.model, values, io);
  const { backend } = await makeBackend(values.backend, values['gpu-weights'], io);
  const temperature = values.temperature === undefined ? 0 : Number(values.temperature);
  if (!Number.isFinite(temperature) || temperature < 0) throw new UsageError('--temperature must be a number ≥ 0');
  const bos = model.tokenizer.bosTokenId ?? model.config.bosTokenId;
  const prompt = [...(bos === null ? [] : [bos]), ...model.tokenizer.encode(values.prompt ?? '')];
  const lm = new LlamaModel(model.config, backend, model.weights);
  const { ids, tokensPerSecond } = await generateWithStats(lm, prompt, {
    maxNewTokens: intOption(values['max-new-tokens'], 'max-new-tokens', 64),
    temperature,
    topK: intOption(values['top-k'], 'top-k', 0),
    topP,
    seed: intOption(values.seed, 'seed', 0),
    stopIds: bos === null ? [] : [bos],
    cache: !values['no-cache'],
  });
  lm.dispose();
  backend.destroy();
  const text = model.tokenizer.decode([...prompt, ...ids], { skipSpecialTokens: true });
  if (values.json) io.out(`${JSON.stringify({ model: model.id, prompt: values.prompt, ids, text, tokensPerSecond })}\n`);
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
      case 'prune':
        return await cmdPrune(rest, io);
      case 'export':
        return await cmdExport(rest, io);
      case 'quantize':
        return await cmdQuantize(rest, io);
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
