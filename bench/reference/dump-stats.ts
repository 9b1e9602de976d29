/**
 * Writes the studio's calibration statistics of the dense model (one pass, calibrate.ts on the
 * CPU backend), for compare_stats.py to set against the official running updates in PyTorch.
 *
 *   npx tsx bench/reference/dump-stats.ts --out FILE.json [--expand-gqa] [--calib-dataset tinystories]
 *        [--calib-samples 64] [--calib-seqlen 128] [--calib-offset 200000 | --calib-seed S]
 *
 * FILE.json: {starts, layers: [{attnIn|o|mlpIn|down: {scaler, flapMean, flapFluc, sum, sumSq}}]}
 * (float32 values as numbers; `starts` are the sample offsets the engine used).
 */
import { writeFileSync } from 'node:fs';
import { loadCliModel, resolveDataset } from '../../src/cli/common';
import { CpuBackend } from '../../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationOffsets, calibrationSamples, DEFAULT_CALIBRATION, STAT_POINTS } from '../../src/engine/calibrate';
import { cachedTokenStream } from '../../src/engine/data';
import { expandGqaToMha } from '../../src/engine/model/expand-gqa';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, fallback: number) => (opt(name) === undefined ? fallback : Number(opt(name)));

async function main() {
  const out = opt('out');
  if (!out) throw new Error('--out FILE is required');
  const { model } = await loadCliModel(opt('model') ?? 'stories260K');
  const data = await resolveDataset(opt('calib-dataset') ?? 'tinystories');
  const stream = await cachedTokenStream(model.tokenizer, data.text, model.config.bosTokenId);
  const sampling = {
    samples: num('calib-samples', DEFAULT_CALIBRATION.samples),
    seqlen: num('calib-seqlen', DEFAULT_CALIBRATION.seqlen),
    offset: num('calib-offset', DEFAULT_CALIBRATION.offset),
    seed: opt('calib-seed') === undefined ? null : Number(opt('calib-seed')),
  };
  let { config, weights } = model;
  if (args.includes('--expand-gqa')) ({ config, weights } = expandGqaToMha(config, weights));
  const cal = await calibrate(config, new CpuBackend(), weights, calibrationSamples(stream.ids, sampling));
  const layers = cal.stats.map((l) =>
    Object.fromEntries(
      STAT_POINTS.filter((p) => l[p]).map((p) => {
        const s = l[p]!;
        return [p, { scaler: [...s.scaler], flapMean: [...s.flapMean], flapFluc: [...s.flapFluc], sum: [...s.sum], sumSq: [...s.sumSq] }];
      }),
    ),
  );
  writeFileSync(out, JSON.stringify({ starts: calibrationOffsets(stream.ids.length, sampling), sampling, layers }));
  console.log(`${cal.stats.length} layers of statistics → ${out}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
