/**
 * L4Q settings sweep on the bundled model (CPU reference): `npx tsx bench/l4q-sweep.ts
 *     --configs '[{"bits":4}, {"bits":3, "init":"l4q"}, {"bits":4, "rtnLora":true}]'
 *     [--windows 0:20] [--held-out 20:40] [--out results.jsonl]`
 *
 * Each config overrides L4Q_DEFAULTS (bits, group, init, lr, lrQuant, steps, warmup, rank,
 * alpha, batch, seed, …) and the calibration windows (`samples`, `seqlen`; L4Q_CALIBRATION
 * otherwise). `"rtnLora": true` trains the RTN-then-LoRA baseline instead (LoRA with the same
 * budget on the frozen RTN model, evaluated unmerged), as `studio quantize --method l4q
 * --rtn-lora` does, and also with its adapters merged and the weights rounded again
 * (`merged`: an integer model, deployable as L4Q's is); `"floatLora": true` plain LoRA on
 * the float model (no quantization: what the fine-tune alone gives). The model, the
 * evaluation windows and the calibration windows are loaded once; each config prints one JSON line (perplexity of the
 * trained model, of RTN at the same bits/group, the first and last losses, seconds) and
 * appends it to --out. This is how the L4Q defaults were chosen (docs/methods/l4q.md#why-these-defaults). `--held-out W` also
 * evaluates every result on windows W (`heldOut`, `rtnHeldOut`): windows no setting was
 * chosen on.
 */
import { appendFileSync } from 'node:fs';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { calibrationSamples } from '../src/engine/calibrate';
import { rtnQuantizeModel } from '../src/engine/quant/experiment';
import { L4Q_CALIBRATION } from '../src/engine/quant/l4q-experiment';
import { L4Q_DEFAULTS, L4QTrainer, loraOnly, type L4QOptions } from '../src/engine/quant/train';
import { storiesEval } from './stories-eval';
import { cliOption as opt } from './cli-args';

type Config = Partial<L4QOptions> & { rtnLora?: boolean; floatLora?: boolean; name?: string; samples?: number; seqlen?: number };
const configs = JSON.parse(opt('configs', '[{}]')) as Config[];
const out = opt('out', '');
const heldOut = opt('held-out', '');
const backend = new CpuTrainingBackend();
// Training windows come from the same TinyStories stream (from token 200,000; the evaluation's are at its start).
const { model, stream, ppl } = await storiesEval(opt('windows', '0:20'), backend);
const cfg = model.config;
if (heldOut) console.log(JSON.stringify({ dense: +(await ppl(model.weights)).toFixed(4), denseHeldOut: +(await ppl(model.weights, heldOut)).toFixed(4) }));
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

for (const c of configs) {
  const { rtnLora, floatLora, name, samples: nSamples, seqlen: calibSeqlen, ...o } = c;
  const samples = calibrationSamples(stream.ids, { ...L4Q_CALIBRATION, samples: nSamples ?? L4Q_CALIBRATION.samples, seqlen: calibSeqlen ?? L4Q_CALIBRATION.seqlen });
  const options: L4QOptions = { ...L4Q_DEFAULTS, ...o };
  const t0 = performance.now();
  const rtnModel = rtnQuantizeModel(model.weights, { bits: options.bits, groupSize: options.group || null, symmetric: options.symmetric });
  const rtn = await ppl(rtnModel);
  const trainer = rtnLora
    ? new L4QTrainer(backend, cfg, rtnModel, samples, loraOnly(options), false)
    : new L4QTrainer(backend, cfg, model.weights, samples, floatLora ? loraOnly(options) : options);
  const losses: number[] = [];
  while (!trainer.done) losses.push((await trainer.trainStep()).loss);
  const trainedWeights = rtnLora || floatLora ? trainer.floatWeights() : trainer.merge().weights;
  const trained = await ppl(trainedWeights);
  const held = heldOut ? { heldOut: +(await ppl(trainedWeights, heldOut)).toFixed(4), rtnHeldOut: +(await ppl(rtnModel, heldOut)).toFixed(4) } : {};
  // RTN-then-LoRA made deployable like L4Q: the adapters merged into the weights and those rounded again (RTN, same settings).
  let mergedBaseline = {};
  if (rtnLora) {
    const remerged = rtnQuantizeModel(trainedWeights, { bits: options.bits, groupSize: options.group || null, symmetric: options.symmetric });
    mergedBaseline = { merged: +(await ppl(remerged)).toFixed(4), ...(heldOut ? { mergedHeldOut: +(await ppl(remerged, heldOut)).toFixed(4) } : {}) };
  }
  trainer.dispose();
  const line = JSON.stringify({ name: name ?? null, kind: rtnLora ? 'rtn-lora' : floatLora ? 'float-lora' : 'l4q', ...(nSamples ? { samples: nSamples } : {}), ...(calibSeqlen ? { seqlen: calibSeqlen } : {}), ...o, ppl: +trained.toFixed(4), rtn: +rtn.toFixed(4), ...held, ...mergedBaseline, loss0: +losses[0]!.toFixed(4), lossEnd: +mean(losses.slice(-5)).toFixed(4), s: Math.round((performance.now() - t0) / 1000) });
  console.log(line);
  if (out) appendFileSync(out, line + '\n');
}
