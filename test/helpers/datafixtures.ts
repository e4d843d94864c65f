// Builders for small, deliberately valid or malformed idx files, so data tests need no committed binaries.
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { DigitsError } from '../../src/errors';

export interface IdxSpec {
  dims: number[];
  data?: ArrayLike<number>;
  /** Overrides the type byte (0x08 is uint8). */
  type?: number;
  /** Overrides the first two bytes. */
  magic?: [number, number];
  /** Overrides the dimension-count byte without changing the dims written. */
  ndim?: number;
}

export function idxBuffer(spec: IdxSpec): Buffer {
  const { dims } = spec;
  const count = spec.data ? spec.data.length : dims.reduce((a, b) => a * b, 1);
  const buf = Buffer.alloc(4 + 4 * dims.length + count);
  buf[0] = spec.magic?.[0] ?? 0;
  buf[1] = spec.magic?.[1] ?? 0;
  buf[2] = spec.type ?? 0x08;
  buf[3] = spec.ndim ?? dims.length;
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  if (spec.data) buf.set(Array.from(spec.data), 4 + 4 * dims.length);
  return buf;
}

export function writeIdx(file: string, spec: IdxSpec, gzip = false): string {
  const buf = idxBuffer(spec);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(buf) : buf);
  return file;
}

const made: string[] = [];
// node --test runs each test file in its own process: its scratch directories go when it exits
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed when the test file's process exits. */
export function tempDir(prefix = 'digits-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface TinySplitSpec {
  n: number;
  h: number;
  w: number;
  labels?: number[];
  labelCount?: number;
}

/** A full four-file dataset with deterministic pixels; labels default to i % 3. */
export function writeTinyDataset(dir: string, train: TinySplitSpec, test: TinySplitSpec, gzip = true): void {
  const write = (spec: TinySplitSpec, imagesBase: string, labelsBase: string): void => {
    const pixels = Array.from({ length: spec.n * spec.h * spec.w }, (_, i) => (i * 37) % 256);
    const labels = spec.labels ?? Array.from({ length: spec.labelCount ?? spec.n }, (_, i) => i % 3);
    const ext = gzip ? '.gz' : '';
    writeIdx(path.join(dir, imagesBase + ext), { dims: [spec.n, spec.h, spec.w], data: pixels }, gzip);
    writeIdx(path.join(dir, labelsBase + ext), { dims: [labels.length], data: labels }, gzip);
  };
  write(train, 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte');
  write(test, 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte');
}

/** Runs `fn`, requires a one-line DigitsError, and checks its message against every pattern. */
export function expectDigitsError(fn: () => unknown, ...patterns: RegExp[]): DigitsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkDigitsError(caught, patterns);
}

export async function expectDigitsErrorAsync(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<DigitsError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  return checkDigitsError(caught, patterns);
}

function checkDigitsError(caught: unknown, patterns: RegExp[]): DigitsError {
  assert.ok(caught !== undefined, 'expected an error, but none was thrown');
  assert.ok(caught instanceof DigitsError, `expected DigitsError, got ${String(caught)}`);
  assert.doesNotMatch(caught.message, /\n/, 'error message must be one line');
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
