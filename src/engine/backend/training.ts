/**
 * A backend that trains: the forward ops of Backend and its `grad` capability (GradOps,
 * grad-ops.ts) on one object, as the L4Q model code (quant/train-model.ts) calls them.
 */
import { capability, type Backend } from './backend';
import type { GradOps } from './grad-ops';

export type { AttentionGrads, GradOps, SwigluGrads } from './grad-ops';

export type TrainingBackend = Backend & GradOps;

/**
 * Whether the backend has the `grad` capability. Its GradOps are the backend itself (the
 * backward ops share its tensors), so the backend can be used as a TrainingBackend.
 */
export function isTrainingBackend(b: Backend): b is TrainingBackend {
  return capability(b, 'grad') === (b as unknown as GradOps);
}
