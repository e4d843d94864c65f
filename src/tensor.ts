// A tensor is a shape and a flat row-major Float32Array; that is all the layers need to share.
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const n = sizeOf(shape);
  if (data && data.length !== n) throw new Error(`tensor: data has ${data.length} values, shape [${shape}] needs ${n}`);
  return { shape, data: data ?? new Float32Array(n) };
}

/** Index of the largest value in row r of a [rows, cols] matrix. */
export function argmaxRow(data: Float32Array, r: number, cols: number): number {
  let best = 0;
  for (let j = 1; j < cols; j++) if (data[r * cols + j] > data[r * cols + best]) best = j;
  return best;
}
