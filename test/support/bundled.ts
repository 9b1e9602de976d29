/** Loads the bundled stories260K once per test file (engine and original checkpoint). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dirSource } from '../../src/cli/fs-source';
import { loadModel, type LoadedModel } from '../../src/engine/model/load';
import { parseLlama2cCheckpoint, type Llama2cCheckpoint } from '../../scripts/convert-stories260k';
import { BUNDLED_MODEL_DIR, STORIES_SRC_DIR } from './paths';

let model: Promise<LoadedModel> | null = null;
export function bundledModel(): Promise<LoadedModel> {
  model ??= loadModel('stories260K', dirSource(BUNDLED_MODEL_DIR));
  return model;
}

export function originalCheckpoint(): Llama2cCheckpoint {
  return parseLlama2cCheckpoint(new Uint8Array(readFileSync(path.join(STORIES_SRC_DIR, 'stories260K.bin'))));
}

export interface Reference {
  logits_after_BOS_at_pos0: { first8: number[]; top5: { id: number; piece: string; logit: number }[] };
  encode_examples: { text: string; ids_with_bos: number[]; predicted_tokens: number; sum_nll_nats: number; mean_nll_nats: number }[];
  greedy_from_empty_prompt_200_steps: string;
}

export function reference(): Reference {
  return JSON.parse(readFileSync(path.join(STORIES_SRC_DIR, 'reference.json'), 'utf8')) as Reference;
}
