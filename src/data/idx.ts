// Reader for the idx format (LeCun's MNIST container): 2 zero bytes, a type byte, a dimension count,
// one big-endian uint32 per dimension, then the raw elements. Files arrive from mirrors and user
// directories, so every field is checked and each fault becomes a one-line DigitsError naming the file.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DigitsError } from '../errors';

export interface IdxArray {
  dims: number[];
  /** Elements in row-major order; a view into the decoded buffer (treat as read-only). */
  data: Uint8Array;
}

export interface IdxReadOptions {
  /** Upper bound on the decoded size, so a gzip bomb or a huge stray file fails instead of exhausting memory. */
  maxBytes?: number;
}

export const IDX_TYPE_UINT8 = 0x08;
export const MAX_IDX_DIMS = 4;
/** Largest element count a header may claim; bounds allocation by callers that size arrays from dims. */
export const MAX_IDX_ELEMENTS = 2 ** 31;
export const DEFAULT_MAX_IDX_BYTES = 2 ** 30;

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === GZIP_MAGIC0 && buf[1] === GZIP_MAGIC1;
}

/** Reads a raw or gzip-compressed (detected by magic, not by extension) idx file. */
export function readIdx(file: string, opts: IdxReadOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  const raw = readBounded(file, maxBytes);
  const decoded = isGzip(raw) ? gunzipBounded(raw, file, maxBytes) : raw;
  return parseIdx(decoded, file);
}

/** Parses an in-memory idx image; `name` only labels error messages. */
export function parseIdx(buf: Uint8Array, name: string): IdxArray {
  const fail = (fault: string): never => { throw new DigitsError(`${name}: ${fault}`); };
  if (buf.length < 4) fail(`too short for an idx header (${buf.length} bytes, need at least 4)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    fail(`bad magic 0x${hex(buf[0])}${hex(buf[1])}${hex(buf[2])}${hex(buf[3])}: not an idx file (first two bytes must be 0)`);
  }
  if (buf[2] !== IDX_TYPE_UINT8) fail(`unsupported data type 0x${hex(buf[2])} (only 0x08 unsigned byte is supported)`);
  const ndim = buf[3];
  if (ndim < 1 || ndim > MAX_IDX_DIMS) fail(`unsupported dimension count ${ndim} (expected 1 to ${MAX_IDX_DIMS})`);

  const headerBytes = 4 + 4 * ndim;
  if (buf.length < headerBytes) {
    fail(`too short for an idx header with ${ndim} dimensions (${buf.length} bytes, need ${headerBytes})`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));

  // Checked before anything is allocated: the product of up to four uint32s is exact enough in a double
  // to compare against the bounds, and a lying header must never drive an allocation.
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements > MAX_IDX_ELEMENTS) {
    fail(`header claims ${elements} elements (dims ${dims.join('x')}), more than the limit of 2^31`);
  }
  const expected = headerBytes + elements;
  if (buf.length !== expected) {
    const kind = buf.length < expected ? 'truncated' : `${buf.length - expected} trailing bytes`;
    fail(`length mismatch for dims ${dims.join('x')}: expected ${expected} bytes, got ${buf.length} (${kind})`);
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerBytes, elements) };
}

function readBounded(file: string, maxBytes: number): Buffer {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new DigitsError(`${file}: not a regular file`);
    if (st.size > maxBytes) throw new DigitsError(`${file}: file is ${st.size} bytes, more than the limit of ${maxBytes}`);
    return fs.readFileSync(file);
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    throw new DigitsError(`${file}: ${describeFsError(e)}`);
  }
}

function gunzipBounded(buf: Buffer, file: string, maxBytes: number): Buffer {
  try {
    return zlib.gunzipSync(buf, { maxOutputLength: maxBytes });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new DigitsError(`${file}: gzip data decompresses to more than the limit of ${maxBytes} bytes`);
    }
    throw new DigitsError(`${file}: corrupt gzip data (${oneLine(err.message)})`);
  }
}

export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'file not found';
    case 'EACCES': case 'EPERM': return 'cannot read file (permission denied)';
    case 'EISDIR': return 'not a regular file';
    default: return `cannot read file (${oneLine(err.message ?? String(e))})`;
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
