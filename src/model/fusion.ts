// Fusion, planned in one place: which neighbouring layers run as one step, forward and backward.
// Forward, a ReLU conv on the image followed by 2x2 max-pooling runs as one kernel
// (Conv2D.poolFusable, Conv2D.forwardPooled), so the conv's largest activation is never stored.
// Backward, two pairs fold:
//   conv-pool  the pair that ran fused (Conv2D.pooledBy) when no input gradient is wanted (the first
//              layer in training): the conv's weight gradient straight from the pool's winners
//              (Conv2D.backwardPooled);
//   relu-pool  a ReLU layer and the max-pooling after it: the pool's backward masks its winners by
//              y > 0, which is the ReLU's backward, and saves a pass over the activation
//              (MaxPooling2D.backward with `relu`, then Activated.backwardFromLogits).
// Everything else runs layer by layer. Sequential.forward and Sequential.backward walk these plans.
import { Activated } from '../layers/activation';
import { Conv2D } from '../layers/conv2d';
import { MaxPooling2D } from '../layers/pooling';
import type { Layer } from '../layers/layer';

/** layers[at] alone, or (fused) layers[at], a ReLU conv, and layers[at + 1], its pool, as one kernel. */
export interface ForwardStep {
  at: number;
  fused: boolean;
}

export function forwardPlan(layers: readonly Layer[]): ForwardStep[] {
  const steps: ForwardStep[] = [];
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i],
      next = layers[i + 1];
    const fused = l instanceof Conv2D && next instanceof MaxPooling2D && l.poolFusable(next);
    steps.push({ at: i, fused });
    if (fused) i++;
  }
  return steps;
}

/**
 * Last layer first. `output` is the last layer (its gradient from the loss's, or from the logits'); a
 * pair step names the pool at `at` and covers layers[at - 1] too.
 */
export interface BackwardStep {
  at: number;
  kind: 'output' | 'layer' | 'conv-pool' | 'relu-pool';
}

/** The backward plan after a forward pass (which conv-pool pairs ran fused is the layers' state). */
export function backwardPlan(layers: readonly Layer[]): BackwardStep[] {
  const last = layers.length - 1;
  const steps: BackwardStep[] = [{ at: last, kind: 'output' }];
  for (let i = last - 1; i >= 0; i--) {
    const l = layers[i],
      before = layers[i - 1];
    if (before instanceof Conv2D && before.pooledBy === l && !before.needInputGrad) steps.push({ at: i--, kind: 'conv-pool' });
    else if (l instanceof MaxPooling2D && before instanceof Activated && before.activation === 'relu')
      steps.push({ at: i--, kind: 'relu-pool' });
    else steps.push({ at: i, kind: 'layer' });
  }
  return steps;
}
