// Reader for the idx format (LeCun's MNIST container): 2 zero bytes, a type byte, a dimension count,
// one big-endian uint32 per dimension, then the raw elements. Files arrive from mirrors and user
// directories, so every field is checked and each fault becomes a one-line DigitsError naming the file.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DigitsError } from '../errors';
import { cacheEnabled, ENTRY_HEADER_BYTES, identify, MIN_CACHED_SOURCE_BYTES, openEntry, readFully, writeEntry } from './idx-cache';

export interface IdxArray {
  dims: number[];
  /** Elements in row-major order; a view into the decoded buffer (treat as read-only). */
  data: Uint8Array;
}

export interface IdxReadOptions {
  /** Upper bound on the decoded size, so a gzip bomb or a huge stray file fails instead of exhausting memory. */
  maxBytes?: number;
  /**
   * Go through the decoded cache (src/data/idx-cache.ts) for a gzipped source of 1 MiB or more: served
   * only when the source's SHA-256 matches the entry's, written on a miss. Off unless asked for, and when
   * DIGITS_DATA_CACHE=0.
   */
  cache?: boolean;
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
  if (opts.cache && cacheEnabled()) {
    const hit = cachedPayload(file, maxBytes);
    if (hit) {
      try {
        const buf = Buffer.allocUnsafe(hit.entry.payloadBytes);
        readFully(hit.entry.fd, buf, ENTRY_HEADER_BYTES, hit.entry.path);
        return parseIdx(buf, file);
      } catch {
        /* a damaged or vanished entry: decode the source instead */
      } finally {
        fs.closeSync(hit.entry.fd);
      }
    }
  }
  return parseIdx(decodeSource(file, maxBytes, opts.cache === true && cacheEnabled()), file);
}

/** A verified cache entry for a large gzipped source, or null (a raw or small source, or a miss). */
function cachedPayload(file: string, maxBytes: number): { entry: NonNullable<ReturnType<typeof openEntry>> } | null {
  let size: number;
  try {
    size = boundedSize(file, maxBytes);
  } catch {
    return null;
  } // decodeSource reports it
  if (size < MIN_CACHED_SOURCE_BYTES || !isGzipFile(file)) return null;
  let entry;
  try {
    entry = openEntry(file, identify(file), maxBytes);
  } catch {
    return null;
  }
  return entry ? { entry } : null;
}

/** The source's decoded bytes (gunzipped if gzip); with `cache`, a large gzipped one that parses leaves an entry. */
function decodeSource(file: string, maxBytes: number, cache: boolean): Buffer {
  const raw = readBounded(file, maxBytes);
  if (!isGzip(raw)) return raw;
  const decoded = gunzipBounded(raw, file, maxBytes);
  if (cache && raw.length >= MIN_CACHED_SOURCE_BYTES) {
    parseIdx(decoded, file); // only a valid idx image is cached (the caller parses it again: a view, no copy)
    // labelled with the hash of the bytes actually decoded, whatever the file holds by now
    writeEntry(file, { sha256: crypto.createHash('sha256').update(raw).digest(), size: raw.length }, decoded);
  }
  return decoded;
}

function isGzipFile(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(2);
      return fs.readSync(fd, b, 0, 2, 0) === 2 && isGzip(b);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Parses an in-memory idx image; `name` only labels error messages. */
export function parseIdx(buf: Uint8Array, name: string): IdxArray {
  const { dims, headerBytes, elements } = parseIdxHeader(buf, buf.length, name);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerBytes, elements) };
}

/**
 * Checks an idx header against the file's whole length: `buf` holds the file's first bytes (at least the
 * header's, when the file is that long), `totalLength` is the file's length.
 */
export function parseIdxHeader(
  buf: Uint8Array,
  totalLength: number,
  name: string,
): { dims: number[]; headerBytes: number; elements: number } {
  const fail = (fault: string): never => {
    throw new DigitsError(`${name}: ${fault}`);
  };
  if (totalLength < 4) fail(`too short for an idx header (${totalLength} bytes, need at least 4)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    fail(`bad magic 0x${hex(buf[0])}${hex(buf[1])}${hex(buf[2])}${hex(buf[3])}: not an idx file (first two bytes must be 0)`);
  }
  if (buf[2] !== IDX_TYPE_UINT8) fail(`unsupported data type 0x${hex(buf[2])} (only 0x08 unsigned byte is supported)`);
  const ndim = buf[3];
  if (ndim < 1 || ndim > MAX_IDX_DIMS) fail(`unsupported dimension count ${ndim} (expected 1 to ${MAX_IDX_DIMS})`);

  const headerBytes = 4 + 4 * ndim;
  if (totalLength < headerBytes) {
    fail(`too short for an idx header with ${ndim} dimensions (${totalLength} bytes, need ${headerBytes})`);
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
  if (totalLength !== expected) {
    const kind = totalLength < expected ? 'truncated' : `${totalLength - expected} trailing bytes`;
    fail(`length mismatch for dims ${dims.join('x')}: expected ${expected} bytes, got ${totalLength} (${kind})`);
  }
  return { dims, headerBytes, elements };
}

/** The file's size, after the checks readBounded makes. */
function boundedSize(file: string, maxBytes: number): number {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new DigitsError(`${file}: not a regular file`);
    if (st.size > maxBytes) throw new DigitsError(`${file}: file is ${st.size} bytes, more than the limit of ${maxBytes}`);
    return st.size;
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    throw new DigitsError(`${file}: ${describeFsError(e)}`);
  }
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
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read file (permission denied)';
    case 'EISDIR':
      return 'not a regular file';
    default:
      return `cannot read file (${oneLine(err.message ?? String(e))})`;
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
