// Keras losses on the model's output probabilities. Each returns the loss summed over the rows and,
// when asked, writes the gradient of the batch-mean loss: w.r.t. the logits when the last layer is a
// softmax and the loss is cross-entropy (fused, numerically exact), else w.r.t. the outputs.
import type { Kernels } from '../kernels/kernels';
import { UsageError } from '../errors';

export type LossName = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error';
export const LOSSES: readonly LossName[] = ['categorical_crossentropy', 'sparse_categorical_crossentropy', 'mean_squared_error'];
const ALIASES: Record<string, LossName> = {
  mse: 'mean_squared_error',
  categoricalCrossentropy: 'categorical_crossentropy',
  sparseCategoricalCrossentropy: 'sparse_categorical_crossentropy',
  meanSquaredError: 'mean_squared_error',
};

export function checkLoss(name: string): LossName {
  const l = (ALIASES[name] ?? name) as LossName;
  if (!LOSSES.includes(l)) throw new UsageError(`loss: unknown loss '${name}' (expected one of ${LOSSES.join(', ')})`);
  return l;
}

/** Sparse labels arrive as integers; the loss itself always sees one-hot targets. */
export function isSparse(loss: LossName): boolean {
  return loss === 'sparse_categorical_crossentropy';
}

/** Whether the gradient can skip the softmax backward (cross-entropy after softmax). */
export function fusesSoftmax(loss: LossName): boolean {
  return loss !== 'mean_squared_error';
}

export function lossForward(
  k: Kernels,
  loss: LossName,
  rows: number,
  cols: number,
  p: Float32Array,
  t: Float32Array,
  grad: Float32Array | null,
  gradIsLogits: boolean,
  fromLogits = false,
): number {
  if (fromLogits) return crossEntropyFromLogits(rows, cols, p, t, grad);
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

/**
 * Keras' cross-entropy with from_logits=True, as TF computes it: −Σ t·log_softmax(z), exact (no clipping),
 * summed over rows; grad (w.r.t. z, of the batch mean) = (softmax(z)·Σt − t) / rows. Ten classes a row,
 * so plain TypeScript on every backend.
 */
function crossEntropyFromLogits(rows: number, cols: number, z: Float32Array, t: Float32Array, grad: Float32Array | null): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, z[o + j]);
    let e = 0,
      ts = 0;
    for (let j = 0; j < cols; j++) {
      e += Math.exp(z[o + j] - m);
      ts += t[o + j];
    }
    const lse = m + Math.log(e);
    for (let j = 0; j < cols; j++) {
      sum += t[o + j] * (lse - z[o + j]);
      if (grad) grad[o + j] = (Math.exp(z[o + j] - lse) * ts - t[o + j]) / rows;
    }
  }
  return sum;
}
