// HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly): files are opened from and written to
// bytes in h5wasm's in-memory file system, so this module needs no node:fs and runs in the browser too.
// Everything Keras stores is small, so a whole file is read into memory; what a dataset may allocate is
// bounded by the file's real size (Keras never compresses its datasets), never by what a header claims.
import { DigitsError } from '../errors';

import type * as H5 from 'h5wasm' with { 'resolution-mode': 'import' };

type H5Wasm = typeof H5;
type H5Group = H5.Group;
type H5Dataset = H5.Dataset;

let loading: Promise<H5Wasm> | undefined;
/** The last HDF5-DIAG lines the library printed; they become the cause in our one-line errors. */
let diag: string[] = [];

/**
 * How far h5wasm's heap may grow while files are read. HDF5 allocates what a corrupt header claims (a
 * variable-length string's declared length: up to 4 GiB from 4 changed bytes) and a wasm heap never
 * shrinks: past the limit growing fails, malloc returns NULL and HDF5 reports an error instead.
 */
const heapCaps = new Set<{ limit: number }>();

/** Makes `memory` (h5wasm's, captured as it is instantiated) refuse to grow past the open files' limits. */
function capGrowth(memory: WebAssembly.Memory): void {
  const grow = WebAssembly.Memory.prototype.grow;
  Object.defineProperty(memory, 'grow', {
    value: (pages: number) => {
      const limit = Math.max(...Array.from(heapCaps, (c) => c.limit));
      if (heapCaps.size > 0 && memory.buffer.byteLength + pages * 65536 > limit) throw new RangeError('HDF5 heap limit');
      return grow.call(memory, pages);
    },
  });
}

/**
 * h5wasm's module, instantiated once (~0.3 s). HDF5 prints its error stack through console.error, bound
 * when the module starts: a filter installed first keeps those lines for our messages instead of stderr.
 */
export function h5wasm(): Promise<H5Wasm> {
  loading ??= (async () => {
    const original = console.error;
    console.error = (...args: unknown[]) => {
      const line = typeof args[0] === 'string' ? args[0] : '';
      if (/^(HDF5-DIAG|\s+#\d{3}:|\s+(major|minor):)/.test(line)) {
        diag.push(line);
        if (diag.length > 64) diag.shift();
        return;
      }
      original.apply(console, args);
    };
    // h5wasm keeps its WebAssembly.Memory to itself: it is taken from the instance as it is made
    const instantiate = WebAssembly.instantiate;
    let memory: WebAssembly.Memory | undefined;
    WebAssembly.instantiate = (async (source: any, imports?: any) => {
      const made: any = await instantiate(source, imports);
      const exported = (made instanceof WebAssembly.Instance ? made : made.instance)?.exports?.memory;
      if (!memory && imports?.env?.emscripten_resize_heap && exported instanceof WebAssembly.Memory) memory = exported;
      return made;
    }) as typeof WebAssembly.instantiate;
    try {
      const m = await import('h5wasm');
      await m.ready;
      if (memory) capGrowth(memory);
      return m;
    } finally {
      // the module captured the filter; later replacements of console.error (test mocks) stay independent
      console.error = original;
      WebAssembly.instantiate = instantiate;
    }
  })();
  return loading;
}

/** The innermost HDF5 error message since the last call (e.g. "truncated file: eof = 100000, …"). */
function lastCause(): string {
  const lines = diag.filter((l) => /#\d{3}:/.test(l));
  diag = [];
  const m = lines[lines.length - 1]?.match(/#\d{3}: .*? in [\w:]+\(\): (.*)$/);
  return m ? m[1].trim() : '';
}

let fileCounter = 0;

export type AttrValue = string | string[] | number | number[] | null;

/** A read-only view of an HDF5 file held in memory; `where` names the file in every error. */
export class H5File {
  private file: H5.File;
  private readonly path: string;
  /** Bytes that datasets may still allocate: the file's size (datasets are stored uncompressed). */
  private budget: number;
  /** HDF5's own allocations while the file is open: its metadata and one dataset at a time fit easily. */
  private readonly cap: { limit: number };

  constructor(
    private readonly m: H5Wasm,
    bytes: Uint8Array,
    readonly where: string,
  ) {
    this.path = `/digits-read-${++fileCounter}.h5`;
    this.budget = bytes.length;
    const hang = badGlobalHeap(bytes);
    if (hang) throw new DigitsError(`${where}: not a readable HDF5 file (${hang})`);
    lastCause();
    this.cap = { limit: m.Module.HEAPU8.length + (64 << 20) + 4 * bytes.length };
    heapCaps.add(this.cap);
    m.FS!.writeFile(this.path, bytes);
    try {
      this.file = new m.File(this.path, 'r');
    } catch (e) {
      this.unlink();
      throw new DigitsError(`${where}: not a readable HDF5 file (${lastCause() || (e as Error).message})`);
    }
    // h5wasm reports a failed open as a negative id, not an exception
    if (this.file.file_id < 0n) {
      this.unlink();
      throw new DigitsError(`${where}: not a readable HDF5 file (${lastCause() || 'open failed'})`);
    }
  }

  private unlink(): void {
    heapCaps.delete(this.cap);
    try {
      this.m.FS!.unlink(this.path);
    } catch {
      /* already gone */
    }
  }

  close(): void {
    try {
      this.file.close();
    } catch {
      /* a damaged file may not close cleanly; the bytes go either way */
    }
    this.unlink();
  }

  private fail(what: string, e?: unknown): never {
    const cause = lastCause() || (e instanceof Error ? e.message : e ? String(e) : '');
    throw new DigitsError(`${this.where}: ${what}${cause ? ` (${cause})` : ''}`);
  }

  private node(path: string): H5Group | H5Dataset | null {
    try {
      const n = this.file.get(path);
      return n instanceof this.m.Group || n instanceof this.m.Dataset ? n : null;
    } catch (e) {
      return this.fail(`cannot read ${path}`, e);
    }
  }

  isGroup(path: string): boolean {
    return this.node(path)?.type === 'Group';
  }
  isDataset(path: string): boolean {
    return this.node(path)?.type === 'Dataset';
  }

  /** Names of a group's members ([] when there is no such group). */
  keys(path: string): string[] {
    const n = this.node(path);
    if (n?.type !== 'Group') return [];
    try {
      return (n as H5Group).keys();
    } catch (e) {
      return this.fail(`cannot list ${path}`, e);
    }
  }

  attrNames(path: string): string[] {
    const n = this.node(path);
    if (!n) return [];
    try {
      return Object.keys(n.attrs);
    } catch (e) {
      return this.fail(`cannot list the attributes of ${path}`, e);
    }
  }

  /**
   * An attribute as JSON-like values: strings (fixed-length bytes or variable-length alike), numbers, or
   * arrays of them; null when absent. h5py writes Python str as variable-length UTF-8 and numpy bytes
   * arrays as fixed-length strings; Keras has used both for the same attribute across versions.
   */
  attr(path: string, name: string): AttrValue {
    const n = this.node(path);
    if (!n || !this.attrNames(path).includes(name)) return null;
    let meta: H5.Metadata;
    try {
      meta = n.attrs[name].metadata;
    } catch (e) {
      return this.fail(`cannot read attribute ${name} of ${path}`, e);
    }
    if (!meta.shape) return null;
    const count = Number(meta.total_size ?? 1),
      bytes = meta.size * count;
    if (!Number.isSafeInteger(bytes) || bytes > this.budget)
      this.fail(`attribute ${name} of ${path} claims more bytes than the file holds`);
    // Read here rather than through h5wasm's attribute value: after a failed H5Aread, h5wasm reclaims the
    // variable-length strings of a buffer HDF5 did not fill, freeing whatever pointers malloc left in it.
    // Repeated, that corrupts the wasm heap until valid files fail too ("memory access out of bounds").
    // Zeroed first, what HDF5 did not convert stays NULL, which reclaiming skips.
    const M = this.m.Module;
    const ptr = M._malloc(Math.max(bytes, 1));
    if (!ptr) this.fail(`cannot allocate ${bytes} bytes for attribute ${name} of ${path}`);
    M.HEAPU8.fill(0, ptr, ptr + bytes);
    let values: (string | number)[];
    try {
      lastCause();
      const status = M.get_attribute_data(this.file.file_id, n.path, name, BigInt(ptr));
      const cause = lastCause();
      if (status < 0 || cause) this.fail(`cannot read attribute ${name} of ${path}${cause ? ` (${cause})` : ''}`);
      values = decodeAttr(M, M.HEAPU8.slice(ptr, ptr + bytes), meta, count);
    } catch (e) {
      if (e instanceof DigitsError) throw e;
      return this.fail(`cannot read attribute ${name} of ${path}`, e);
    } finally {
      if (meta.vlen)
        try {
          M.reclaim_vlen_memory(this.file.file_id, n.path, name, BigInt(ptr));
        } catch {
          /* nothing HDF5 allocated */
        }
      M._free(ptr);
    }
    return meta.shape.length === 0 ? (values[0] ?? null) : (values as string[] | number[]);
  }

  /** A dataset's shape and element type, without reading its data. */
  info(path: string): { shape: number[]; dtype: string } {
    const n = this.node(path);
    if (n?.type !== 'Dataset') this.fail(`${path} is not a dataset`);
    try {
      const meta = (n as H5Dataset).metadata;
      return { shape: (meta.shape ?? []).map(Number), dtype: describe(meta) };
    } catch (e) {
      if (e instanceof DigitsError) throw e;
      return this.fail(`cannot read ${path}`, e);
    }
  }

  /**
   * A numeric dataset as float32: float16, bfloat16 (stored by Keras 3 as 2-byte opaque data with a
   * dtype attribute), float64 and integers are converted, not refused.
   */
  readFloat32(path: string): { shape: number[]; data: Float32Array } {
    const n = this.node(path);
    if (n?.type !== 'Dataset') this.fail(`${path} is not a dataset`);
    const ds = n as H5Dataset;
    let meta: H5.Metadata;
    try {
      meta = ds.metadata;
    } catch (e) {
      return this.fail(`cannot read ${path}`, e);
    }
    const shape = (meta.shape ?? []).map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = count * meta.size;
    if (!Number.isSafeInteger(bytes) || bytes > this.budget)
      this.fail(`${path}: [${shape}] of ${meta.size}-byte values is more than the file holds`);
    this.budget -= bytes;
    const raw = this.readRaw(ds, shape, bytes, path);
    const bf16 = this.attr(path, 'dtype') === 'bfloat16';
    return { shape, data: toFloat32(raw, meta, bf16, () => this.fail(`${path}: element type ${describe(meta)} is not a number`)) };
  }

  private readRaw(ds: H5Dataset, shape: number[], bytes: number, path: string): Uint8Array {
    const M = this.m.Module;
    const ptr = M._malloc(Math.max(bytes, 1));
    if (!ptr) this.fail(`cannot allocate ${bytes} bytes for ${path}`);
    try {
      // a failed H5Dread is a negative status, not an exception: the buffer then holds whatever malloc gave
      const status = M.get_dataset_data(
        ds.file_id,
        ds.path,
        shape.map(BigInt),
        shape.map(() => 0n),
        shape.map(() => 1n),
        BigInt(ptr),
      );
      if (status < 0) this.fail(`cannot read ${path}`);
      return M.HEAPU8.slice(ptr, ptr + bytes);
    } catch (e) {
      if (e instanceof DigitsError) throw e;
      return this.fail(`cannot read ${path}`, e);
    } finally {
      M._free(ptr);
    }
  }
}

type Meta = { type: number; size: number; signed: boolean; littleEndian: boolean; vlen?: boolean };
const H5T_INTEGER = 0,
  H5T_FLOAT = 1,
  H5T_STRING = 3,
  H5T_OPAQUE = 5;

/**
 * An attribute's elements as h5wasm's json_value gives them: strings (a variable-length one is a pointer
 * to a C string HDF5 allocated; a fixed-length one ends at its first NUL), integers and floats as numbers
 * (h5wasm reads them little-endian), anything else as its bytes.
 */
function decodeAttr(M: H5Wasm['Module'], raw: Uint8Array, meta: H5.Metadata, count: number): (string | number)[] {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const at = (i: number) => i * meta.size;
  if (meta.type === H5T_STRING && meta.vlen) {
    return Array.from({ length: count }, (_x, i) => {
      const p = v.getUint32(4 * i, true);
      return p === 0 ? '' : meta.cset === 1 ? M.UTF8ToString(p) : M.AsciiToString(p);
    });
  }
  if (meta.type === H5T_STRING) {
    const text = new TextDecoder(meta.cset === 1 ? 'utf-8' : 'ascii');
    return Array.from({ length: count }, (_x, i) => {
      const s = raw.subarray(at(i), at(i) + meta.size);
      const end = s.indexOf(0);
      return text.decode(end < 0 ? s : s.subarray(0, end));
    });
  }
  if (meta.type === H5T_INTEGER && [1, 2, 4, 8].includes(meta.size)) {
    return Array.from({ length: count }, (_x, i) => {
      const o = at(i);
      return meta.size === 1
        ? meta.signed
          ? v.getInt8(o)
          : v.getUint8(o)
        : meta.size === 2
          ? meta.signed
            ? v.getInt16(o, true)
            : v.getUint16(o, true)
          : meta.size === 4
            ? meta.signed
              ? v.getInt32(o, true)
              : v.getUint32(o, true)
            : Number(meta.signed ? v.getBigInt64(o, true) : v.getBigUint64(o, true));
    });
  }
  if (meta.type === H5T_FLOAT && (meta.size === 4 || meta.size === 8)) {
    return Array.from({ length: count }, (_x, i) => (meta.size === 4 ? v.getFloat32(at(i), true) : v.getFloat64(at(i), true)));
  }
  return Array.from(raw);
}

function describe(m: Meta): string {
  if (m.type === H5T_FLOAT) return `float${m.size * 8}`;
  if (m.type === H5T_INTEGER) return `${m.signed ? 'int' : 'uint'}${m.size * 8}`;
  if (m.type === H5T_OPAQUE) return `opaque${m.size * 8}`;
  return `HDF5 type class ${m.type}`;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function toFloat32(raw: Uint8Array, m: Meta, bf16: boolean, bad: () => never): Float32Array {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = m.littleEndian;
  const n = raw.length / m.size;
  const out = new Float32Array(n);
  const f32 = new Float32Array(1),
    u32 = new Uint32Array(f32.buffer);
  if ((m.type === H5T_OPAQUE || m.type === H5T_INTEGER) && m.size === 2 && bf16) {
    // bfloat16 is the top half of a float32
    for (let i = 0; i < n; i++) {
      u32[0] = v.getUint16(2 * i, true) << 16;
      out[i] = f32[0];
    }
  } else if (m.type === H5T_FLOAT && m.size === 2) {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(v.getUint16(2 * i, le));
  } else if (m.type === H5T_FLOAT && m.size === 4) {
    for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, le);
  } else if (m.type === H5T_FLOAT && m.size === 8) {
    for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, le);
  } else if (m.type === H5T_INTEGER && [1, 2, 4, 8].includes(m.size)) {
    for (let i = 0; i < n; i++) {
      const o = i * m.size;
      out[i] =
        m.size === 1
          ? m.signed
            ? v.getInt8(o)
            : v.getUint8(o)
          : m.size === 2
            ? m.signed
              ? v.getInt16(o, le)
              : v.getUint16(o, le)
            : m.size === 4
              ? m.signed
                ? v.getInt32(o, le)
                : v.getUint32(o, le)
              : Number(m.signed ? v.getBigInt64(o, le) : v.getBigUint64(o, le));
    }
  } else {
    bad();
  }
  return out;
}

export async function openH5(bytes: Uint8Array, where: string): Promise<H5File> {
  return new H5File(await h5wasm(), bytes, where);
}

/** Where HDF5's signature is: offset 0 or (after a user block) 512, 1024, 2048, …; -1 if nowhere. */
function signatureAt(bytes: Uint8Array): number {
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  for (let at = 0; at + 8 <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (sig.every((b, i) => bytes[at + i] === b)) return at;
    if (at >= 1 << 20) break;
  }
  return -1;
}

export function isHdf5(bytes: Uint8Array): boolean {
  return signatureAt(bytes) >= 0;
}

/**
 * HDF5 (up to 2.0, the version in h5wasm) loops forever decoding a global heap collection (where
 * variable-length strings such as Keras' model_config live) that holds an object of length 0, and
 * its 32-bit wasm build wraps pointers past an object longer than the collection. Each collection
 * starts with "GCOL", version 1: walking their objects here, as HDF5 would, finds such a file
 * before the library gets it. A reason, or null when every collection is sound.
 */
function badGlobalHeap(bytes: Uint8Array): string | null {
  const at = signatureAt(bytes);
  if (at < 0) return null;
  // the size of lengths: byte 14 of a version 0/1 superblock, byte 10 of a version 2/3 one
  const version = bytes[at + 8];
  const len = version <= 1 ? bytes[at + 14] : bytes[at + 10];
  if (len !== 2 && len !== 4 && len !== 8) return null; // HDF5 refuses the superblock itself
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // HDF5 decodes lengths into a 32-bit size_t in wasm: only the low 32 bits count
  const length = (p: number) => (len === 2 ? v.getUint16(p, true) : v.getUint32(p, true));
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const objHeader = 8 + len;
  for (let c = buf.indexOf('GCOL'); c >= 0; c = buf.indexOf('GCOL', c + 4)) {
    if (bytes[c + 4] !== 1 || c + 8 + len > bytes.length) continue;
    const end = c + length(c + 8);
    if (end > bytes.length) continue; // HDF5 cannot read it whole and says so
    for (let p = c + 8 + len; p + objHeader <= end;) {
      const idx = v.getUint16(p, true),
        size = length(p + 8);
      const need = idx > 0 ? (objHeader + Math.ceil(size / 8) * 8) % 2 ** 32 : size;
      if (need === 0 || need > end - p)
        return `global heap collection at byte ${c} is corrupt: object ${idx} at byte ${p} is ${need === 0 ? 'empty' : 'longer than the collection'}`;
      p += need;
    }
  }
  return null;
}

/** Builds an HDF5 file in memory; the writers below produce exactly the types h5py gives Keras. */
export class H5Writer {
  constructor(
    private readonly m: H5Wasm,
    private readonly file: H5.File,
  ) {}

  /** Creates the group and any missing parents. */
  group(path: string): void {
    let at = '';
    for (const part of path.split('/').filter(Boolean)) {
      at += `/${part}`;
      if (!this.file.get(at)) this.file.create_group(at.slice(1));
    }
  }

  private target(path: string): H5Group | H5Dataset {
    const n = path === '/' || path === '' ? this.file : this.file.get(path);
    if (!(n instanceof this.m.Group || n instanceof this.m.Dataset)) throw new Error(`no HDF5 object ${path}`);
    return n;
  }

  /** A Python str attribute: a variable-length UTF-8 scalar. */
  attrString(path: string, name: string, value: string): void {
    this.target(path).create_attribute(name, value, null, 'S');
  }

  /** A Python bytes attribute (Keras' `json.dumps(...).encode('utf8')`): a variable-length ASCII scalar. */
  attrBytes(path: string, name: string, value: string): void {
    if (!/^[\x00-\x7f]*$/.test(value)) throw new Error(`attribute ${name}: not ASCII`);
    this.target(path).create_attribute(name, value, null, 'A');
  }

  /**
   * A numpy bytes array attribute (`np.array([b'conv2d', …])`): fixed-length strings as wide as the longest,
   * which every Keras loader decodes; an empty list is numpy's empty float64 array, as Keras writes it.
   */
  attrBytesList(path: string, name: string, values: string[]): void {
    const t = this.target(path);
    if (values.length === 0) {
      t.create_attribute(name, new Float64Array(0), [0], '<d');
      return;
    }
    const width = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length));
    t.create_attribute(name, values, [values.length], `A${width}`);
  }

  dataset(path: string, data: Float32Array | BigInt64Array, shape: number[]): void {
    const i = path.lastIndexOf('/');
    const parent = path.slice(0, i) || '/';
    this.group(parent);
    (this.target(parent) as H5Group).create_dataset({
      name: path.slice(i + 1),
      data,
      shape,
      dtype: data instanceof Float32Array ? '<f' : '<q',
    });
  }
}

/** Runs `fill` on a new empty HDF5 file and returns the file's bytes. */
export async function writeH5(fill: (w: H5Writer) => void): Promise<Uint8Array> {
  const m = await h5wasm();
  const path = `/digits-write-${++fileCounter}.h5`;
  try {
    const file = new m.File(path, 'w');
    try {
      fill(new H5Writer(m, file));
    } finally {
      file.close();
    }
    return m.FS!.readFile(path);
  } finally {
    try {
      m.FS!.unlink(path);
    } catch {
      /* never created */
    }
  }
}
