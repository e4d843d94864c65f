// Keras losses on the model's output probabilities. Each returns the loss summed over the rows and,
// when asked, writes the gradient of the batch-mean loss: w.r.t. the logits when the last layer is a
// softmax and the loss is cross-entropy (fused, numerically exact), else w.r.t. the outputs.
import type { Kernels } from '../kernels/kernels';
import { UsageError } from '../errors';

export type LossName = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error';
export const LOSSES: readonly LossName[] = ['categorical_crossentropy', 'sparse_categorical_crossentropy', 'mean_squared_error'];
const ALIASES: Record<string, LossName> = { mse: 'mean_squared_error', categoricalCrossentropy: 'categorical_crossentropy', sparseCategoricalCrossentropy: 'sparse_categorical_crossentropy', meanSquaredError: 'mean_squared_error' };

export function checkLoss(name: string): LossName {
  const l = (ALIASES[name] ?? name) as LossName;
  if (!LOSSES.includes(l)) throw new UsageError(`loss: unknown loss '${name}' (expected one of ${LOSSES.join(', ')})`);
  return l;
}

/** Sparse labels arrive as integers; the loss itself always sees one-hot targets. */
export function isSparse(loss: LossName): boolean { return loss === 'sparse_categorical_crossentropy'; }

/** Whether the gradient can skip the softmax backward (cross-entropy after softmax). */
export function fusesSoftmax(loss: LossName): boolean { return loss !== 'mean_squared_error'; }

export function lossForward(k: Kernels, loss: LossName, rows: number, cols: number, p: Float32Array, t: Float32Array,
  grad: Float32Array | null, gradIsLogits: boolean): number {
  if (loss === 'mean_squared_error') {
    // Keras: mean over the last axis, then mean over the batch
    let s = 0;
    for (let i = 0; i < rows * cols; i++) {
      const d = p[i] - t[i];
      s += d * d;
      if (grad) grad[i] = (2 * d) / (cols * rows);
    }
    return s / cols;
  }
  if (!grad || gradIsLogits) return k.softmaxCrossEntropy(rows, cols, p, t, grad, rows);
  // cross-entropy w.r.t. probabilities (no softmax before it): d/dp of −t·log(clip(p))
  const sum = k.softmaxCrossEntropy(rows, cols, p, t, null, rows);
  for (let i = 0; i < rows * cols; i++) {
    const pc = Math.min(Math.max(p[i], 1e-7), 1 - 1e-7);
    grad[i] = pc === p[i] ? -t[i] / (pc * rows) : 0;
  }
  return sum;
}
