// Numeric helpers shared by the gradient-check, golden-value and optimizer tests: deterministic
// random arrays, index sampling, central differences on Float32 storage, and tolerant comparisons
// that report *which* element failed and by how much.
import * as assert from 'node:assert/strict';
import { Rng } from '../../src/rng';

/** Deterministic uniform values in [lo, hi) (float32-rounded, since every kernel stores Float32). */
export function uniformArray(size: number, rng: Rng, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/**
 * Values whose magnitudes stay at least `gap` away from zero (for ReLU inputs, so a finite
 * difference of size h < gap never crosses the kink).
 */
export function awayFromZero(size: number, rng: Rng, gap = 0.1, hi = 1): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = (rng.next() < 0.5 ? -1 : 1) * rng.uniform(gap, hi);
  return a;
}

/**
 * Pairwise-distinct values spaced `step` apart, in a shuffled order (for max-pooling inputs: with
 * step > 2h no perturbation can change a window's winner, so the max is differentiable there).
 */
export function distinctArray(size: number, rng: Rng, step = 0.05): Float32Array {
  const perm = rng.permutation(size);
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = (perm[i] - size / 2) * step;
  return a;
}

/** Up to `count` distinct indices in [0, size), spread over the array (first and last included). */
export function sampleIndices(size: number, count: number, rng?: Rng): number[] {
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  const set = new Set<number>([0, size - 1]);
  if (rng) while (set.size < count) set.add(rng.int(size));
  else for (let j = 0; set.size < count && j < count; j++) set.add(Math.floor((j * size) / count));
  return [...set].sort((a, b) => a - b);
}

/** Σ a[i]·b[i] accumulated in float64. */
export function dot(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'dot: length mismatch');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Central difference of f with respect to arr[i], perturbing the Float32 storage in place. The step
 * actually taken is read back after float32 rounding (arr[i] ± h is not exactly representable), so
 * the quotient divides by the true Δ, not the nominal 2h. The value is restored afterwards.
 */
export function centralDiff(arr: Float32Array, i: number, h: number, f: () => number): number {
  const orig = arr[i];
  arr[i] = orig + h;
  const xp = arr[i];
  const fp = f();
  arr[i] = orig - h;
  const xm = arr[i];
  const fm = f();
  arr[i] = orig;
  return (fp - fm) / (xp - xm);
}

export interface Tolerance {
  /** Relative part, times max(|analytic|, |numeric|). */
  rtol: number;
  /** Absolute floor (float32 round-off in the objective divided by the step). */
  atol: number;
}

export function close(a: number, b: number, tol: Tolerance): boolean {
  return Math.abs(a - b) <= tol.rtol * Math.max(Math.abs(a), Math.abs(b)) + tol.atol;
}

/** Assert |actual − expected| ≤ rtol·max(|actual|, |expected|) + atol, with a readable message. */
export function assertClose(actual: number, expected: number, tol: Tolerance, what: string): void {
  if (!Number.isFinite(actual) || !close(actual, expected, tol)) {
    assert.fail(
      `${what}: got ${actual}, expected ${expected} (|diff| ${Math.abs(actual - expected).toExponential(3)}, ` +
        `rtol ${tol.rtol}, atol ${tol.atol})`,
    );
  }
}

/** Relative-only comparison for hand-computed scalars: |a − e| ≤ rel·max(|e|, tiny). */
export function assertRel(actual: number, expected: number, rel: number, what: string, tiny = 1e-30): void {
  const err = Math.abs(actual - expected);
  if (!Number.isFinite(actual) || err > rel * Math.max(Math.abs(expected), tiny)) {
    assert.fail(
      `${what}: got ${actual}, expected ${expected} (rel err ${(err / Math.max(Math.abs(expected), tiny)).toExponential(3)} > ${rel})`,
    );
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Float64 sum and sum of absolute values. */
export function sums(a: ArrayLike<number>): { sum: number; absSum: number } {
  let sum = 0,
    absSum = 0;
  for (let i = 0; i < a.length; i++) {
    sum += a[i];
    absSum += Math.abs(a[i]);
  }
  return { sum, absSum };
}

/** A copy that later forward/backward passes (which reuse layer buffers) cannot overwrite. */
export function copy(a: Float32Array): Float32Array {
  return Float32Array.from(a);
}
