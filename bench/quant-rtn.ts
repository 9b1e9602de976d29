/**
 * RTN reference table: `npx tsx bench/quant-rtn.ts [--windows 0:20] [--bits 8,4,3,2] [--modes asym,sym,gptq] [--backend cpu]`.
 *
 * stories260K, tinystories, seqlen 512: the dense perplexity once, then every RTN setting
 * (bits × asymmetric / symmetric / symmetric with GPTQ's scale × group 32/64/128/per-channel) on the same windows, with the
 * real size of the decoder linears and the bits per weight including scales and zero
 * points. Prints a Markdown table (the one in docs/benchmarks.md). The CPU backend is the default (exact
 * reference); --backend webgpu runs the packed-integer kernel.
 */
import { makeBackend } from '../src/cli/common';
import { rtnQuantizeModel } from '../src/engine/quant/experiment';
import { modelSize } from '../src/engine/quant/quantized-linear';
import { storiesEval, STORIES_SEQLEN as seqlen } from './stories-eval';
import { cliOption as opt } from './cli-args';

const { backend } = await makeBackend(opt('backend') ?? 'cpu');
const { model, windows, ppl } = await storiesEval(opt('windows') ?? '0:20', backend);

const dense = await ppl(model.weights);
const denseSize = modelSize(model.weights);
console.log(`stories260K, tinystories windows ${windows.start}:${windows.end}, seqlen ${seqlen}, backend ${backend.info.name}: dense perplexity ${dense.toFixed(4)}, weights ${denseSize.bytes} bytes in float32`);
console.log('');
console.log('| bits | group | symmetric | perplexity | Δ vs dense | linear bytes | bits/weight | model bytes |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
const bitsList = (opt('bits') ?? '8,4,3,2').split(',').map(Number);
const modes = (opt('modes') ?? 'asym,sym,gptq').split(',');
for (const bits of bitsList) {
  for (const mode of modes) {
    const symmetric = mode !== 'asym';
    for (const groupSize of [32, 64, 128, null]) {
      const t0 = performance.now();
      const q = rtnQuantizeModel(model.weights, { bits, groupSize, symmetric, ...(mode === 'gptq' ? { symmetricRule: 'gptq' as const } : {}) });
      const size = modelSize(q);
      const p = await ppl(q);
      console.log(
        `| ${bits} | ${groupSize ?? 'channel'} | ${mode === 'gptq' ? 'sym (GPTQ)' : mode} | ${p.toFixed(4)} | ${(((p - dense) / dense) * 100).toFixed(2)} % | ${size.quantizedBytes} | ${size.effectiveBits.toFixed(3)} | ${size.bytes} |`,
      );
      if (process.env.DEBUG) console.error(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
}
backend.destroy();
