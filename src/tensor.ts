// A tensor is a shape and a flat row-major Float32Array; that is all the layers need to share.
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Images kept as bytes (MNIST's pixels, 0-255) until a batch needs them: each byte b is the value b / 255,
 * converted a batch at a time, so a dataset costs a quarter of the memory and no up-front pass.
 */
export interface ByteTensor {
  shape: number[];
  data: Uint8Array;
}

/** What fit, evaluate and predict take as inputs. */
export type Input = Tensor | ByteTensor;

/** b / 255 for every byte: the value a byte tensor's b stands for, looked up rather than divided. */
export const BYTE_VALUE: Float32Array = Float32Array.from({ length: 256 }, (_v, b) => b / 255);

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A Uint32Array over src's whole words when bytes can be read four at a time from it, else null. */
function wordsOf(src: Uint8Array, rowLen: number): Uint32Array | null {
  if (!LITTLE_ENDIAN || (src.byteOffset & 3) !== 0 || (rowLen & 3) !== 0 || src.length < 4) return null;
  return new Uint32Array(src.buffer, src.byteOffset, src.length >> 2);
}

/**
 * dst[o..o+n) = the values of src[s..s+n) (b / 255). Where the run is 4-byte aligned the bytes are read
 * four at a time through a Uint32Array view (1.6x faster than byte loads in V8).
 */
export function bytesToFloat(src: Uint8Array, s: number, dst: Float32Array, o: number, n: number): void {
  const w = n >= 64 && (s & 3) === 0 ? wordsOf(src, 4) : null;
  if (w) {
    const n4 = n >> 2;
    wordsToFloat(w, s >> 2, dst, o, n4);
    s += n4 << 2;
    o += n4 << 2;
    n &= 3;
  }
  for (let k = 0; k < n; k++) dst[o + k] = BYTE_VALUE[src[s + k]];
}

/**
 * Rows of `rowLen` bytes, rows[start + i] (or start + i without `rows`) for i < count, as floats into
 * dst's consecutive rows: a training batch, gathered with one word view for the whole batch (a batch
 * gather was a sixth of the speedrun's training time with byte loads and a call per row).
 */
export function gatherBytesToFloat(
  src: Uint8Array,
  rows: ArrayLike<number> | null,
  start: number,
  count: number,
  rowLen: number,
  dst: Float32Array,
): void {
  const w = wordsOf(src, rowLen);
  for (let i = 0; i < count; i++) {
    const r = rows ? rows[start + i] : start + i;
    if (w) wordsToFloat(w, (r * rowLen) >> 2, dst, i * rowLen, rowLen >> 2);
    else for (let k = 0; k < rowLen; k++) dst[i * rowLen + k] = BYTE_VALUE[src[r * rowLen + k]];
  }
}

function wordsToFloat(w: Uint32Array, s: number, dst: Float32Array, o: number, n: number): void {
  for (let k = 0; k < n; k++, o += 4) {
    const v = w[s + k];
    dst[o] = BYTE_VALUE[v & 255];
    dst[o + 1] = BYTE_VALUE[(v >>> 8) & 255];
    dst[o + 2] = BYTE_VALUE[(v >>> 16) & 255];
    dst[o + 3] = BYTE_VALUE[v >>> 24];
  }
}

/** Rows of an input as floats: a view of a float tensor's data, or a byte tensor's rows converted (b / 255) into `out`. */
export function rowsOf(x: Input, from: number, to: number, out: () => Float32Array): Float32Array {
  if (x.data instanceof Float32Array) return x.data.subarray(from, to);
  const o = out();
  bytesToFloat(x.data, from, o, 0, to - from);
  return o;
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
