// Property-based fuzzing of the Keras model readers: legacy .h5 (h5wasm) and .keras archives (fflate +
// h5wasm). Valid files (test/fixtures/keras and seed003's own model.h5) are mangled byte by byte,
// .keras archives are rebuilt with members missing, renamed, duplicated, edited or lying about their
// sizes, and HDF5 files are rewritten with groups, datasets and name lists broken, or are not Keras
// models at all. A file that loads must predict finite numbers of the right shape; everything else is a
// one-line DigitsError that starts with the file's name. HDF5 runs synchronously inside wasm, where
// nothing in-process can interrupt a loop, so the readers run in a worker thread: an input that hangs
// fails its case after a timeout instead of stalling the suite, and after any unexpected exception the
// worker checks that h5wasm still reads a valid file in the same process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import fc from 'fast-check';
import { Zip, ZipDeflate, ZipPassThrough, unzipSync, zipSync } from 'fflate';
import { DigitsError } from '../src/errors';
import { h5wasm, openH5 } from '../src/io/hdf5';
import { loadArchitecture, loadModelFile, loadWeightsInto } from '../src/io/model-file';
import { tempDir } from './helpers/datafixtures';
import {
  applyEdits,
  applyMutations,
  edit,
  fuzz,
  interestingU32,
  mutation,
  newTally,
  oracleAsync,
  type Edit,
  type Mutation,
  type Tally,
} from './helpers/fuzz';

/** Compiled to dist/test: the fixtures stay in the source tree, seed003's model lives beside the project. */
const FIXTURES = path.resolve(__dirname, '../../test/fixtures/keras');
const SEED003 = path.resolve(__dirname, '../../../shared/keras/seed003-model.h5');
/** Wall time one input may take before it counts as a hang (the readers need ~10-200 ms). */
const HANG_MS = 15_000;

// ---------------------------------------------------------------------------------------------------
// The worker: loads one file as the CLI does and says what happened.

interface Request {
  file: string;
  /** An architecture file: `file` is then weights loaded onto it (loadArchitecture + loadWeightsInto). */
  arch?: string;
  /** Inputs to predict (else two samples of 0.5), whose outputs come back. */
  probe?: { n: number; data: number[] };
  /** Collect garbage first, so the arrayBuffers growth reported is this input's. */
  gc?: boolean;
}

interface Memory {
  heap: number;
  arrayBuffers: number;
  grewArrayBuffers: number;
}
type Outcome = Memory &
  (
    | { kind: 'loaded'; outputs: number; expected: number; finite: boolean; maxWeight: number; values?: number[] }
    | { kind: 'digits'; message: string }
    | { kind: 'other'; error: string; usable: boolean }
  );

async function runCase(req: Request, gc: () => void): Promise<Outcome> {
  const r = await loadCase(req, gc);
  // damage to h5wasm's heap shows only later, on other files: a valid one is read after every input (~2 ms)
  if (r.kind !== 'other' && !(await probe())) {
    return {
      ...r,
      kind: 'other',
      error: `after this input (or one before it) h5wasm no longer reads a valid file: ${probeError}`,
      usable: false,
    };
  }
  return r;
}

let probeError = '';
const PROBE = isMainThread ? new Uint8Array(0) : fs.readFileSync(path.join(FIXTURES, 'recipe-portable.h5'));

async function probe(): Promise<boolean> {
  try {
    const f = await openH5(PROBE, 'probe');
    try {
      if (typeof f.attr('/', 'model_config') !== 'string' || f.keys('/model_weights').length === 0) throw new Error('wrong values');
    } finally {
      f.close();
    }
    return true;
  } catch (e) {
    probeError = (e as Error).message;
    return false;
  }
}

async function loadCase(req: Request, gc: () => void): Promise<Outcome> {
  if (req.gc) gc();
  const before = process.memoryUsage().arrayBuffers;
  const memory = async (): Promise<Memory> => ({
    heap: (await h5wasm()).Module.HEAPU8.length,
    arrayBuffers: process.memoryUsage().arrayBuffers,
    grewArrayBuffers: process.memoryUsage().arrayBuffers - before,
  });
  try {
    const model = req.arch ? (await loadArchitecture(req.arch, req.file)).model : (await loadModelFile(req.file)).model;
    if (req.arch) await loadWeightsInto(model, req.file);
    const size = model.inputShape.reduce((a, b) => a * b, 1);
    // a config may honestly declare a huge input; Keras would build it too, and the CLI refuses images that do not fit
    const n = req.probe?.n ?? (size > 1 << 22 ? 0 : size > 1 << 16 ? 1 : 2);
    const data = req.probe ? Float32Array.from(req.probe.data) : new Float32Array(n * size).fill(0.5);
    const y = n > 0 ? model.predict({ shape: [n, ...model.inputShape], data }).data : new Float32Array(0);
    const finite = y.every(Number.isFinite);
    const maxWeight = finite ? 0 : Math.max(0, ...model.getWeights().map((w) => w.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
    return {
      kind: 'loaded',
      outputs: y.length,
      expected: n * model.outputShape.reduce((a, b) => a * b, 1),
      finite,
      maxWeight,
      values: req.probe ? Array.from(y) : undefined,
      ...(await memory()),
    };
  } catch (e) {
    if (e instanceof DigitsError) return { kind: 'digits', message: e.message, ...(await memory()) };
    return { kind: 'other', error: (e as Error)?.stack ?? String(e), usable: await stillUsable(), ...(await memory()) };
  }
}

/** After an unexpected exception (a wasm trap, an abort): does the same h5wasm instance still read valid files? */
async function stillUsable(): Promise<boolean> {
  try {
    for (const f of ['recipe-portable.h5', 'keras3.8-sequential.keras']) await loadModelFile(path.join(FIXTURES, f));
    return true;
  } catch {
    return false;
  }
}

function workerMain(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // one case at a time, even if the main thread sent the next early
  let queue = Promise.resolve();
  parentPort!.on('message', (req: Request & { id: number }) => {
    queue = queue
      .then(() => runCase(req, gc))
      .then(
        (r) => parentPort!.postMessage({ ...r, id: req.id }),
        (e) =>
          parentPort!.postMessage({
            kind: 'other',
            error: String(e),
            usable: false,
            heap: 0,
            arrayBuffers: 0,
            grewArrayBuffers: 0,
            id: req.id,
          }),
      );
  });
}

/**
 * The main thread's end: one case at a time (queued, answers matched by id, so a case fast-check gave up
 * on cannot answer for the next), and a fresh worker after a hang.
 */
class Reader {
  private worker?: Worker;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  private pending = new Map<number, (o: Outcome) => void>();
  /** Workers replaced after a hang or a death. */
  restarts = 0;
  maxHeap = 0;

  private start(): Worker {
    if (!this.worker) {
      // The reference kernels: the readers are under test, not the kernels, and terminating a worker that
      // has used the native addon crashes the whole process with SIGSEGV about every other time.
      const w = (this.worker = new Worker(__filename, { env: { ...process.env, DIGITS_BACKEND: 'reference' } }));
      w.unref();
      w.on('message', (m: Outcome & { id: number }) => {
        this.pending.get(m.id)?.(m);
        this.pending.delete(m.id);
      });
      w.on('error', () => undefined); // reported to the case that is waiting, below
    }
    return this.worker;
  }

  run(req: Request, timeoutMs = HANG_MS): Promise<Outcome> {
    const next = this.queue.then(() => this.runNow(req, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(req: Request, timeoutMs: number): Promise<Outcome> {
    const w = this.start();
    const id = this.nextId++;
    let timer: NodeJS.Timeout | undefined;
    let failed: (e: Error) => void = () => undefined;
    let exited: (code: number) => void = () => undefined;
    try {
      const r = await new Promise<Outcome>((resolve, reject) => {
        this.pending.set(id, resolve);
        failed = (e) => reject(new Error(`${req.file}: the worker died: ${e.stack ?? e}`));
        exited = (code) => reject(new Error(`${req.file}: the worker exited (code ${code})`));
        w.on('error', failed);
        w.on('exit', exited);
        timer = setTimeout(() => reject(new Error(`${req.file}: no answer after ${timeoutMs} ms: a hang`)), timeoutMs);
        w.postMessage({ ...req, id });
      });
      this.maxHeap = Math.max(this.maxHeap, r.heap);
      return r;
    } catch (e) {
      this.restarts++;
      this.worker = undefined;
      await w.terminate();
      throw e;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
      w.off('error', failed);
      w.off('exit', exited);
    }
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// The oracle: loaded and usable, or a one-line DigitsError that names the file.

/** Weights this large overflow float32 in Keras too: non-finite outputs then come from the file, not the reader. */
const ABSURD_WEIGHT = 1e15;

async function check(tally: Tally, reader: Reader, req: Request, cpuMs = 5000): Promise<Outcome | undefined> {
  let outcome: Outcome | undefined;
  await oracleAsync(
    tally,
    async () => {
      const r = (outcome = await reader.run(req));
      if (r.kind === 'other')
        throw new Error(
          `${req.file}: not a DigitsError${r.usable ? '' : ' (and h5wasm no longer reads valid files in this process)'}: ${r.error}`,
        );
      if (r.kind === 'digits') {
        // not an assert: a failed check here must not be mistaken for the reader's own error
        if (!r.message.startsWith(req.file)) throw new Error(`the message does not start with the file's name: ${r.message}`);
        throw new DigitsError(r.message);
      }
      assert.equal(r.outputs, r.expected, `${req.file}: ${r.outputs} outputs, the model's shape says ${r.expected}`);
      assert.ok(
        r.finite || r.maxWeight >= ABSURD_WEIGHT,
        `${req.file}: loaded, but predicts non-finite numbers (largest weight ${r.maxWeight})`,
      );
      return r;
    },
    cpuMs,
  );
  if (outcome) assert.ok(outcome.heap < (256 << 20) + 8 * maxInput, `h5wasm's heap grew to ${(outcome.heap / 2 ** 20).toFixed(0)} MiB`);
  return outcome;
}

let maxInput = 0;

/** Writes a case's bytes under `name` (so messages name it as the CLI would) and checks it. */
async function checkBytes(
  tally: Tally,
  reader: Reader,
  dir: string,
  name: string,
  bytes: Uint8Array,
  arch?: string,
): Promise<Outcome | undefined> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  maxInput = Math.max(maxInput, bytes.length);
  return check(tally, reader, { file, arch });
}

// ---------------------------------------------------------------------------------------------------
// The valid inputs.

interface Base {
  name: string;
  bytes: Uint8Array;
  arch?: string;
  expected?: { inputs: unknown; outputs: unknown };
}

function bases(): Base[] {
  const out: Base[] = [];
  for (const name of fs
    .readdirSync(FIXTURES)
    .filter((f) => /\.(h5|keras)$/.test(f))
    .sort()) {
    const file = path.join(FIXTURES, name);
    const json = `${file}.expected.json`;
    const archFile = path.join(FIXTURES, name.replace(/(\.weights)?\.h5$/, '.model.json'));
    out.push({
      name,
      bytes: fs.readFileSync(file),
      arch: /weights\.h5$/.test(name) ? archFile : undefined,
      expected: fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined,
    });
  }
  if (fs.existsSync(SEED003)) out.push({ name: 'seed003-model.h5', bytes: fs.readFileSync(SEED003) });
  return out;
}

const BASES = isMainThread ? bases() : [];
const isZipBase = (b: Base) => b.bytes[0] === 0x50 && b.bytes[1] === 0x4b;

// ---------------------------------------------------------------------------------------------------
// Byte-level mutations: the helpers' (positions counted from the end too, where a zip keeps its
// directory) and runs overwritten, chunks duplicated or removed.

type Chunk = { kind: 'run' | 'dup' | 'cut'; at: number; len: number; to: number; byte: number; fromEnd: boolean };
type ByteOp = { m: Mutation; fromEnd: boolean } | Chunk;

const position = fc.oneof(fc.nat(4096), fc.nat(1 << 22));
const chunk: fc.Arbitrary<Chunk> = fc.record({
  kind: fc.constantFrom('run' as const, 'dup' as const, 'cut' as const),
  at: position,
  len: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 4096 })),
  to: position,
  byte: fc.integer({ min: -1, max: 255 }),
  fromEnd: fc.boolean(),
});
const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { arbitrary: fc.record({ m: mutation(4096), fromEnd: fc.boolean() }), weight: 3 },
  { arbitrary: chunk, weight: 2 },
);

function applyByteOps(input: Uint8Array, ops: ByteOp[]): Buffer {
  let b: Buffer = Buffer.from(input);
  for (const o of ops) {
    const pos = (at: number, fromEnd: boolean) => (b.length === 0 ? 0 : fromEnd ? b.length - 1 - (at % b.length) : at % b.length);
    if ('m' in o) {
      b = applyMutations(b, [o.fromEnd ? { ...o.m, at: pos(o.m.at, true) } : o.m]);
    } else if (b.length > 0) {
      const at = pos(o.at, o.fromEnd),
        end = Math.min(b.length, at + o.len);
      if (o.kind === 'run') for (let i = at; i < end; i++) b[i] = o.byte < 0 ? (i * 131 + o.len) & 0xff : o.byte;
      else if (o.kind === 'cut') b = Buffer.concat([b.subarray(0, at), b.subarray(end)]);
      else {
        const to = o.to % (b.length + 1);
        b = Buffer.concat([b.subarray(0, to), b.subarray(at, end), b.subarray(to)]);
      }
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------------
// Zips rebuilt member by member (fflate's streaming Zip keeps duplicate names), and their directories patched.

interface Member {
  name: string;
  data: Uint8Array;
  level: number;
}

function buildZip(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const zip = new Zip((err, data) => {
    if (err) throw err;
    parts.push(data);
  });
  for (const m of members) {
    const f = m.level === 0 ? new ZipPassThrough(m.name) : new ZipDeflate(m.name, { level: m.level as 1 | 6 | 9 });
    f.mtime = new Date(1980, 0, 1);
    zip.add(f);
    f.push(m.data, true);
  }
  zip.end();
  return Buffer.concat(parts);
}

type DirPatch = { where: 'central' | 'local' | 'eocd'; entry: number; field: number; value: number };
const dirPatch: fc.Arbitrary<DirPatch> = fc.record({
  where: fc.constantFrom('central' as const, 'local' as const, 'eocd' as const),
  entry: fc.nat(8),
  field: fc.nat(),
  value: interestingU32,
});
/** [offset, width] of the size, count, offset and length fields each zip structure has. */
const FIELDS = {
  central: [
    [10, 2],
    [16, 4],
    [20, 4],
    [24, 4],
    [28, 2],
    [30, 2],
    [32, 2],
    [42, 4],
  ],
  local: [
    [8, 2],
    [14, 4],
    [18, 4],
    [22, 4],
    [26, 2],
    [28, 2],
  ],
  eocd: [
    [8, 2],
    [10, 2],
    [12, 4],
    [16, 4],
    [20, 2],
  ],
} as const;

function patchZip(zip: Uint8Array, patches: DirPatch[]): Buffer {
  const b = Buffer.from(zip);
  for (const p of patches) {
    const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
    if (eocd < 0 || eocd + 22 > b.length) break;
    let at = eocd;
    if (p.where !== 'eocd') {
      let c = b.readUInt32LE(eocd + 16);
      for (let k = 0; k < p.entry % Math.max(1, b.readUInt16LE(eocd + 10)) && c + 46 <= b.length; k++)
        c += 46 + b.readUInt16LE(c + 28) + b.readUInt16LE(c + 30) + b.readUInt16LE(c + 32);
      if (c + 46 > b.length) continue;
      at = p.where === 'central' ? c : b.readUInt32LE(c + 42);
      if (at + 30 > b.length) continue;
    }
    const [off, width] = FIELDS[p.where][p.field % FIELDS[p.where].length];
    if (width === 2) b.writeUInt16LE(p.value & 0xffff, at + off);
    else b.writeUInt32LE(p.value >>> 0, at + off);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------------
// HDF5 files as trees, rewritten with h5wasm after structural edits.

interface Attr {
  value: unknown;
  dtype: string;
  shape: number[] | null;
}
type H5Node =
  | { kind: 'group'; attrs: Map<string, Attr>; children: Map<string, H5Node> }
  | { kind: 'dataset'; attrs: Map<string, Attr>; data: Float32Array; shape: number[]; dtype: string }
  | { kind: 'link'; target: string };

/** The h5wasm dtype that recreates an attribute as it was stored (vlen or fixed strings, floats, ints). */
function attrDtype(m: { type: number; size: number; vlen?: boolean; cset?: number; signed?: boolean }): string | null {
  if (m.type === 3) return `${m.cset === 1 ? 'S' : 'A'}${m.vlen ? '' : m.size}`;
  if (m.type === 1) return m.size === 8 ? '<d' : '<f';
  if (m.type === 0) return '<i';
  return null;
}

async function readTree(bytes: Uint8Array): Promise<H5Node> {
  const m = await h5wasm();
  const file = `/fuzz-keras-tree-${process.pid}.h5`;
  m.FS!.writeFile(file, bytes);
  const raw = new m.File(file, 'r');
  const ours = await openH5(bytes, 'base');
  try {
    const walk = (p: string): H5Node => {
      const node = p === '/' ? raw : raw.get(p);
      const attrs = new Map<string, Attr>();
      for (const [name, a] of Object.entries((node as any).attrs as Record<string, any>)) {
        const dtype = attrDtype(a.metadata);
        let value = a.json_value;
        if (dtype === null) continue;
        if (typeof value === 'bigint') value = Number(value);
        attrs.set(name, { value, dtype, shape: a.metadata.shape?.length ? a.metadata.shape.map(Number) : null });
      }
      if (node instanceof m.Dataset) {
        const meta = node.metadata;
        const dtype = meta.type === 1 && meta.size === 8 ? '<d' : meta.type === 0 ? '<q' : '<f';
        return { kind: 'dataset', attrs, ...ours.readFloat32(p), dtype };
      }
      const children = new Map<string, H5Node>();
      for (const k of (node as any).keys() as string[]) children.set(k, walk(`${p === '/' ? '' : p}/${k}`));
      return { kind: 'group', attrs, children };
    };
    return walk('/');
  } finally {
    ours.close();
    raw.close();
    m.FS!.unlink(file);
  }
}

/**
 * The tree's HDF5 bytes, or null when h5wasm will not write it (a name it refuses): such a case is skipped.
 * h5wasm directly rather than writeH5, which makes only what Keras writes: here attributes of any type and links too.
 */
let writeMs = 0;

async function writeTree(tree: H5Node): Promise<Uint8Array | null> {
  const t0 = Date.now();
  try {
    return await writeTreeNow(tree);
  } finally {
    writeMs += Date.now() - t0;
  }
}

async function writeTreeNow(tree: H5Node): Promise<Uint8Array | null> {
  const m = await h5wasm();
  const target = `/fuzz-keras-write-${process.pid}.h5`;
  try {
    const file = new m.File(target, 'w');
    try {
      const typed = (d: Extract<H5Node, { kind: 'dataset' }>) => {
        const int = (x: number) => (Number.isFinite(x) ? Math.trunc(x) : 0);
        if (d.dtype === '<d') return Float64Array.from(d.data);
        if (d.dtype === '<q') return BigInt64Array.from(d.data, (x) => BigInt(int(x)));
        if (d.dtype === '<B') return Uint8Array.from(d.data, int);
        if (d.dtype === '<h') return Int16Array.from(d.data, int);
        return d.data;
      };
      const put = (parent: any, p: string, node: H5Node) => {
        const name = p.slice(p.lastIndexOf('/') + 1);
        if (node.kind === 'link') {
          parent.create_soft_link(node.target, name);
          return;
        }
        const obj =
          p === '/'
            ? file
            : node.kind === 'group'
              ? parent.create_group(name)
              : parent.create_dataset({ name, data: typed(node), shape: node.shape, dtype: node.dtype });
        for (const [n, a] of node.attrs) obj.create_attribute(n, a.value, a.shape, a.dtype);
        if (node.kind === 'group') for (const [k, c] of node.children) put(obj, `${p === '/' ? '' : p}/${k}`, c);
      };
      put(null, '/', tree);
    } finally {
      file.close();
    }
    return m.FS!.readFile(target);
  } catch {
    return null;
  } finally {
    try {
      m.FS!.unlink(target);
    } catch {
      /* never created */
    }
  }
}

/** Every node and attribute of a tree, so an edit can pick one by index. */
function entries(tree: H5Node): { path: string; node: H5Node; parent: H5Node | null; name: string }[] {
  const out: { path: string; node: H5Node; parent: H5Node | null; name: string }[] = [];
  const visit = (p: string, node: H5Node, parent: H5Node | null, name: string) => {
    out.push({ path: p, node, parent, name });
    if (node.kind === 'group') for (const [k, c] of node.children) visit(`${p === '/' ? '' : p}/${k}`, c, node, k);
  };
  visit('/', tree, null, '');
  return out;
}

/** JSON edits, with strings that would break a message over lines if a reader quoted them raw. */
const jsonEdit: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: edit, weight: 4 },
  fc.record({
    path: fc.nat(),
    op: fc.constant('replace' as const),
    value: fc.constantFrom('a\nb', 'x\r\ny', 'nul\u0000', 'ls\u2028', 'dense\n'),
  }),
);

const NAMES = [
  '',
  'a\nb',
  'dense\r\n',
  'conv2d',
  'conv2d_1',
  'dense',
  'dense_1',
  'vars',
  '0',
  '1',
  '2',
  '99',
  'layers',
  'model_weights',
  'layer_names',
  'weight_names',
  'kernel:0',
  'bias:0',
  'dense/kernel:0',
  'layers\\dense',
  'optimizer',
  'top_level_model_weights',
  '..',
  'é',
  'x'.repeat(300),
];
const name = fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 }));
const special = fc.constantFrom(NaN, Infinity, -Infinity, 3e38, -3e38, 1e-45, 0, 1e20);

type TreeOp =
  | { op: 'delete' | 'attrDelete'; at: number }
  | { op: 'rename'; at: number; name: string }
  | { op: 'copy'; at: number; into: number; name: string }
  | { op: 'link'; at: number; to: number; dangling: boolean }
  | { op: 'shape'; at: number; how: number; dim: number }
  | { op: 'value'; at: number; index: number; value: number }
  | { op: 'dtype'; at: number; dtype: string }
  | { op: 'names'; at: number; how: number; index: number; name: string }
  | { op: 'chunk'; at: number; parts: number; drop: number; keepWhole: boolean }
  | { op: 'attrKind'; at: number; kind: number }
  | { op: 'json'; at: number; edits: Edit[] };

const treeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete' as const, 'attrDelete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('rename' as const), at: fc.nat(), name }),
  fc.record({ op: fc.constant('copy' as const), at: fc.nat(), into: fc.nat(), name }),
  fc.record({ op: fc.constant('link' as const), at: fc.nat(), to: fc.nat(), dangling: fc.boolean() }),
  { arbitrary: fc.record({ op: fc.constant('shape' as const), at: fc.nat(), how: fc.nat(6), dim: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('value' as const), at: fc.nat(), index: fc.nat(), value: special }), weight: 2 },
  fc.record({ op: fc.constant('dtype' as const), at: fc.nat(), dtype: fc.constantFrom('<f', '<d', '<q', '<B', '<h') }),
  { arbitrary: fc.record({ op: fc.constant('names' as const), at: fc.nat(), how: fc.nat(5), index: fc.nat(), name }), weight: 3 },
  {
    arbitrary: fc.record({
      op: fc.constant('chunk' as const),
      at: fc.nat(),
      parts: fc.integer({ min: 1, max: 4 }),
      drop: fc.integer({ min: -1, max: 3 }),
      keepWhole: fc.boolean(),
    }),
    weight: 2,
  },
  fc.record({ op: fc.constant('attrKind' as const), at: fc.nat(), kind: fc.nat(4) }),
  {
    arbitrary: fc.record({ op: fc.constant('json' as const), at: fc.nat(), edits: fc.array(jsonEdit, { minLength: 1, maxLength: 3 }) }),
    weight: 2,
  },
);

const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);

function editTree(tree: H5Node, ops: TreeOp[]): H5Node {
  for (const o of ops) {
    const all = entries(tree);
    const groups = all.filter((e) => e.node.kind === 'group');
    const datasets = all.filter((e) => e.node.kind === 'dataset') as { path: string; node: Extract<H5Node, { kind: 'dataset' }> }[];
    const attrs = all.flatMap((e) =>
      e.node.kind === 'link' ? [] : [...e.node.attrs].map(([n, a]) => ({ owner: e.node as Exclude<H5Node, { kind: 'link' }>, n, a })),
    );
    const lists = attrs.filter(
      (x) =>
        (Array.isArray(x.a.value) && x.a.value.every((v) => typeof v === 'string')) ||
        (typeof x.a.value === 'string' && !x.a.value.startsWith('{')),
    );
    const jsons = attrs.filter((x) => typeof x.a.value === 'string' && x.a.value.startsWith('{'));
    const inner = all.filter((e) => e.parent);
    switch (o.op) {
      case 'delete': {
        const e = pick(inner, o.at);
        if (e?.parent?.kind === 'group') e.parent.children.delete(e.name);
        break;
      }
      case 'attrDelete': {
        const x = pick(attrs, o.at);
        x?.owner.attrs.delete(x.n);
        break;
      }
      case 'rename': {
        const e = pick(inner, o.at);
        if (e?.parent?.kind === 'group' && o.name && !o.name.includes('/') && o.name !== '.') {
          e.parent.children.delete(e.name);
          e.parent.children.set(o.name, e.node);
        }
        break;
      }
      case 'copy': {
        const e = pick(inner, o.at),
          g = pick(groups, o.into);
        if (e && g?.node.kind === 'group' && o.name && !o.name.includes('/') && o.name !== '.' && !g.path.startsWith(e.path))
          g.node.children.set(o.name, structuredClone(e.node));
        break;
      }
      case 'link': {
        const e = pick(inner, o.at),
          to = pick(all, o.to);
        if (e?.parent?.kind === 'group' && to)
          e.parent.children.set(e.name, { kind: 'link', target: o.dangling ? `${to.path}/missing` : to.path });
        break;
      }
      case 'shape': {
        const d = pick(datasets, o.at)?.node;
        if (!d) break;
        const s = [...d.shape];
        const i = s.length ? o.dim % s.length : 0;
        // the data always matches the new shape: what is checked is the reader's idea of the shape
        if (o.how === 0 && s.length) s[i] += 1;
        else if (o.how === 1 && s.length && s[i] > 1) s[i] -= 1;
        else if (o.how === 2) s.push(1);
        else if (o.how === 3 && s.length) s.splice(i, 1);
        else if (o.how === 4) s.reverse();
        else if (o.how === 5) s.splice(0, s.length);
        else s.fill(0);
        const n = s.reduce((a, b) => a * b, 1);
        d.data = Float32Array.from({ length: n }, (_v, k) => d.data[k % Math.max(1, d.data.length)] ?? 0);
        d.shape = s;
        break;
      }
      case 'value': {
        const d = pick(datasets, o.at)?.node;
        if (d?.data.length) d.data[o.index % d.data.length] = o.value;
        break;
      }
      case 'dtype': {
        const d = pick(datasets, o.at)?.node;
        if (d) d.dtype = o.dtype;
        break;
      }
      case 'names': {
        const x = pick(lists, o.at);
        if (!x) break;
        const v = ([] as unknown[]).concat(x.a.value as unknown[]);
        const i = v.length ? o.index % v.length : 0;
        if (o.how === 0) v.splice(i, 1);
        else if (o.how === 1) v.splice(i, 0, o.name);
        else if (o.how === 2) v[i] = o.name;
        else if (o.how === 3) v.splice(i, 0, v[i] ?? o.name);
        else v.reverse();
        setList(x.owner, x.n, v as string[]);
        break;
      }
      case 'chunk': {
        // Keras splits long name lists into name0, name1, …; break that: missing chunks, both forms at once
        const x = pick(lists, o.at);
        if (!x || !Array.isArray(x.a.value)) break;
        const v = x.a.value as string[];
        if (!o.keepWhole) x.owner.attrs.delete(x.n);
        const per = Math.ceil(v.length / o.parts);
        for (let c = 0; c < o.parts; c++) if (c !== o.drop) setList(x.owner, `${x.n}${c}`, v.slice(c * per, (c + 1) * per));
        break;
      }
      case 'attrKind': {
        const x = pick(attrs, o.at);
        if (!x) break;
        const v = x.a.value;
        const strings = ([] as unknown[]).concat(v).map(String);
        x.owner.attrs.set(
          x.n,
          [
            { value: strings.join(','), dtype: 'S', shape: null },
            { value: strings, dtype: 'S', shape: [strings.length] },
            { value: strings.map((s) => s.length), dtype: '<d', shape: [strings.length] },
            { value: new Float64Array(0), dtype: '<d', shape: [0] },
            { value: 7, dtype: '<i', shape: null },
          ][o.kind],
        );
        break;
      }
      case 'json': {
        const x = pick(jsons, o.at);
        if (!x) break;
        try {
          x.owner.attrs.set(x.n, { ...x.a, value: JSON.stringify(applyEdits(JSON.parse(x.a.value as string), o.edits)) });
        } catch {
          /* not JSON after all */
        }
        break;
      }
    }
  }
  return tree;
}

/** A name list as numpy writes it: fixed-length strings as wide as the longest, [] as an empty float64 array. */
function setList(owner: Exclude<H5Node, { kind: 'link' }>, n: string, values: unknown[]): void {
  const v = values.map(String);
  const width = Math.max(1, ...v.map((s) => Buffer.byteLength(s)));
  owner.attrs.set(
    n,
    v.length === 0 ? { value: new Float64Array(0), dtype: '<d', shape: [0] } : { value: v, dtype: `S${width}`, shape: [v.length] },
  );
}

// ---------------------------------------------------------------------------------------------------

if (!isMainThread) {
  workerMain();
} else {
  const reader = new Reader();
  const dir = tempDir('digits-fuzz-keras-');
  process.on('exit', () => {
    void reader.close();
  });

  test('the fuzz inputs: every fixture (and seed003) loads in the worker and predicts what Keras does', async (t) => {
    if (!fs.existsSync(SEED003)) t.diagnostic(`${SEED003} is missing: seed003 is left out of the fuzz inputs`);
    for (const b of BASES) {
      const file = path.join(FIXTURES, b.name);
      const ex = b.expected as { inputs: unknown[]; outputs: unknown[] } | undefined;
      const data = ex ? ((ex.inputs as unknown[]).flat(Infinity) as number[]) : undefined;
      const r = await reader.run({
        file: b.name === 'seed003-model.h5' ? SEED003 : file,
        arch: b.arch,
        probe: ex ? { n: ex.inputs.length, data: data! } : undefined,
      });
      assert.equal(r.kind, 'loaded', `${b.name}: ${JSON.stringify(r).slice(0, 400)}`);
      if (r.kind === 'loaded' && ex) {
        const want = (ex.outputs as unknown[]).flat(Infinity) as number[];
        assert.equal(r.values!.length, want.length);
        const worst = Math.max(...want.map((w, i) => Math.abs(w - r.values![i])));
        assert.ok(worst < 1e-4, `${b.name}: outputs differ from Keras' by ${worst}`);
      }
    }
  });

  test('fuzz loadModelFile: valid .h5 and .keras files truncated, flipped, overwritten, chunks duplicated or cut', async (t) => {
    const tally = newTally();
    const prop = fc.asyncProperty(fc.nat(), fc.array(byteOp, { minLength: 1, maxLength: 4 }), async (i, ops) => {
      const b = BASES[i % BASES.length];
      await checkBytes(tally, reader, dir, b.name, applyByteOps(b.bytes, ops), b.arch);
    });
    await fuzz(t, 'Keras files (bytes)', tally, prop, 1500, 8);
  });

  test('fuzz readKerasArchive: .keras zips rebuilt with members missing, renamed, duplicated, extra, edited, lying sizes', async (t) => {
    const zips = BASES.filter(isZipBase).map((b) => ({
      name: b.name,
      members: Object.entries(unzipSync(b.bytes)).map(([n, data]) => ({ name: n, data })),
    }));
    const memberName = fc.oneof(
      fc.constantFrom(
        'config.json',
        'metadata.json',
        'model.weights.h5',
        'Config.json',
        'config.json/',
        'dir/config.json',
        '/config.json',
        '..\\config.json',
        'model.weights.h5\\',
        'assets/x',
        'model.weights.h5 ',
        '',
        'variables.h5',
        'config.json\\',
        'config.json\n',
      ),
      fc.string({ maxLength: 16 }),
    );
    const memberOp = fc.oneof(
      fc.record({ op: fc.constant('drop' as const), i: fc.nat() }),
      fc.record({ op: fc.constant('rename' as const), i: fc.nat(), name: memberName }),
      fc.record({ op: fc.constant('dup' as const), i: fc.nat(), bytes: fc.option(fc.uint8Array({ maxLength: 64 })) }),
      fc.record({ op: fc.constant('extra' as const), name: memberName, bytes: fc.uint8Array({ maxLength: 256 }) }),
      fc.record({ op: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
      fc.record({ op: fc.constant('foreign' as const), i: fc.nat(), from: fc.nat() }),
      fc.record({ op: fc.constant('truncate' as const), i: fc.nat(), at: fc.nat() }),
      fc.record({ op: fc.constant('mutate' as const), i: fc.nat(), ops: fc.array(byteOp, { minLength: 1, maxLength: 3 }) }),
    );
    const tally = newTally();
    const prop = fc.asyncProperty(
      fc.nat(),
      fc.array(jsonEdit, { maxLength: 3 }),
      fc.array(jsonEdit, { maxLength: 2 }),
      fc.array(memberOp, { maxLength: 3 }),
      fc.array(fc.constantFrom(0, 0, 1, 6, 9), { minLength: 6, maxLength: 6 }),
      fc.array(dirPatch, { maxLength: 2 }),
      async (z, configEdits, metaEdits, ops, levels, patches) => {
        const base = zips[z % zips.length];
        const members: { name: string; data: Uint8Array }[] = base.members.map((m) => ({ ...m }));
        const json = (m: { name: string; data: Uint8Array }, edits: Edit[]) => {
          if (edits.length) m.data = Buffer.from(JSON.stringify(applyEdits(JSON.parse(Buffer.from(m.data).toString('utf8')), edits)));
        };
        for (const m of members) json(m, m.name === 'config.json' ? configEdits : m.name === 'metadata.json' ? metaEdits : []);
        for (const o of ops) {
          const at = (i: number) => i % Math.max(1, members.length);
          if (o.op === 'extra') {
            members.push({ name: o.name, data: o.bytes });
            continue;
          }
          if (members.length === 0) continue;
          const m = members[at(o.i)];
          if (o.op === 'drop') members.splice(at(o.i), 1);
          else if (o.op === 'rename') m.name = o.name;
          else if (o.op === 'dup') members.push({ name: m.name, data: o.bytes ?? m.data });
          else if (o.op === 'swap') {
            const n = members[at(o.j)];
            [m.data, n.data] = [n.data, m.data];
          } else if (o.op === 'foreign') {
            const other = zips[o.from % zips.length].members.find((x) => x.name === m.name);
            if (other) m.data = other.data;
          } else if (o.op === 'truncate') m.data = m.data.subarray(0, o.at % (m.data.length + 1));
          else m.data = applyByteOps(m.data, o.ops);
        }
        const zip = patchZip(buildZip(members.map((m, i) => ({ ...m, level: levels[i % levels.length] }))), patches);
        const r = await checkBytes(tally, reader, dir, base.name, zip);
        // nothing is inflated past what deflate could make of the archive's real size (1032:1)
        if (r)
          assert.ok(
            r.grewArrayBuffers < 1100 * zip.length + (256 << 20),
            `${base.name}: array buffers grew by ${(r.grewArrayBuffers / 2 ** 20).toFixed(0)} MiB for a ${zip.length}-byte archive`,
          );
      },
    );
    await fuzz(t, '.keras archives (members)', tally, prop, 800, 5);
  });

  test('fuzz the HDF5 layouts: groups, datasets and name lists of valid files broken; HDF5 files that are not Keras models', async (t) => {
    // each valid HDF5 fixture, and the model.weights.h5 in each .keras, as a tree to edit (seed003's
    // layout is tf2.4-sequential-rmsprop.h5's, and rewriting its 2.7 MB for every case would be slow)
    const trees: { base: Base; member?: Member[]; tree: H5Node }[] = [];
    for (const b of BASES.filter((x) => x.name !== 'seed003-model.h5')) {
      if (isZipBase(b)) {
        const members = Object.entries(unzipSync(b.bytes)).map(([n, data]) => ({ name: n, data, level: 0 }));
        const w = members.find((m) => m.name === 'model.weights.h5');
        if (w) trees.push({ base: b, member: members, tree: await readTree(w.data) });
      } else {
        trees.push({ base: b, tree: await readTree(b.bytes) });
      }
    }
    // rewritten unedited, each still loads: the edits below start from valid files
    for (const x of trees) {
      const bytes = await writeTree(x.tree);
      assert.ok(bytes, `${x.base.name}: h5wasm cannot rewrite it`);
      const file = path.join(dir, x.base.name);
      fs.writeFileSync(
        file,
        x.member
          ? zipSync(Object.fromEntries(x.member.map((m) => [m.name, [m.name === 'model.weights.h5' ? bytes : m.data, { level: 0 }]])))
          : bytes,
      );
      const r = await reader.run({ file, arch: x.base.arch });
      assert.equal(r.kind, 'loaded', `${x.base.name} rewritten: ${JSON.stringify(r).slice(0, 400)}`);
    }
    // a real model_config, for random files that look even more like a Keras model
    const legacy = trees.find((x) => !x.member && !x.base.arch && x.tree.kind === 'group' && x.tree.attrs.has('model_config'))!;
    const modelConfig = (legacy.tree as Extract<H5Node, { kind: 'group' }>).attrs.get('model_config')!.value as string;
    // random groups, datasets and attributes whose names look like Keras' (or not)
    const randomNode: fc.Arbitrary<{ path: string[]; kind: number; shape: number[]; attr: string; value: unknown }> = fc.record({
      path: fc.array(
        fc.constantFrom(
          'layers',
          'model_weights',
          'vars',
          'dense',
          'conv2d',
          '0',
          '1',
          '_layer_checkpoint_dependencies',
          'optimizer',
          'layers\\dense',
          'top_level_model_weights',
          'dense/kernel:0',
        ),
        { minLength: 1, maxLength: 4 },
      ),
      kind: fc.nat(2),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
      attr: fc.constantFrom(
        'model_config',
        'layer_names',
        'weight_names',
        'keras_version',
        'training_config',
        'layer_names0',
        'backend',
        'dtype',
      ),
      value: fc.oneof(
        fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
        fc.array(fc.constantFrom('dense', 'conv2d', 'vars', 'kernel:0', ''), { maxLength: 3 }),
        fc.constant('model_config'),
      ),
    });
    const tally = newTally();
    let skipped = 0;
    const prop = fc.asyncProperty(
      // a quarter of the cases are random files, the rest edited fixtures
      fc.nat(),
      fc.array(treeOp, { minLength: 1, maxLength: 4 }),
      fc.nat(3).map((k) => k === 0),
      fc.array(randomNode, { maxLength: 8 }),
      fc.nat(),
      async (i, ops, random, nodes, asWeights) => {
        if (random) {
          // not a Keras model: an empty file, or random groups, datasets and attributes
          const tree: H5Node = { kind: 'group', attrs: new Map(), children: new Map() };
          for (const n of nodes) {
            let g = tree;
            for (const part of n.path.slice(0, -1)) {
              const next: H5Node = g.children.get(part) ?? { kind: 'group', attrs: new Map(), children: new Map() };
              if (next.kind !== 'group') break;
              g.children.set(part, next);
              g = next;
            }
            const leaf = n.path[n.path.length - 1];
            const value = n.value === 'model_config' ? modelConfig : n.value;
            if (n.kind === 0) g.children.set(leaf, { kind: 'group', attrs: new Map(), children: new Map() });
            else if (n.kind === 1)
              g.children.set(leaf, {
                kind: 'dataset',
                attrs: new Map(),
                data: new Float32Array(n.shape.reduce((a, b) => a * b, 1)).fill(0.25),
                shape: n.shape,
                dtype: '<f',
              });
            else if (Array.isArray(value)) setList(g, n.attr, value as string[]);
            else g.attrs.set(n.attr, { value: String(value ?? ''), dtype: 'S', shape: null });
          }
          const bytes = await writeTree(tree);
          if (bytes === null) skipped++;
          fc.pre(bytes !== null);
          // as a model, and as weights for a model (which reads layers/… and layer_names)
          const weightsFor = BASES.filter((b) => b.arch || isZipBase(b));
          const target = weightsFor[asWeights % weightsFor.length];
          const arch = asWeights % 2 === 0 ? undefined : (target.arch ?? path.join(FIXTURES, target.name));
          await checkBytes(tally, reader, dir, arch ? 'random.weights.h5' : 'random.h5', bytes!, arch);
          return;
        }
        const base = trees[i % trees.length];
        const bytes = await writeTree(editTree(structuredClone(base.tree), ops));
        if (bytes === null) skipped++;
        fc.pre(bytes !== null);
        if (base.member) {
          const zip = zipSync(
            Object.fromEntries(base.member.map((m) => [m.name, [m.name === 'model.weights.h5' ? bytes! : m.data, { level: 0 }]])),
          );
          await checkBytes(tally, reader, dir, base.base.name, zip);
        } else {
          await checkBytes(tally, reader, dir, base.base.name, bytes!, base.base.arch);
        }
      },
    );
    await fuzz(t, 'HDF5 layouts', tally, prop, 600, 5);
    t.diagnostic(
      `HDF5 layouts: ${skipped} edited trees h5wasm would not write (skipped), ${(writeMs / 1000).toFixed(1)} s spent writing them`,
    );
  });

  test('inputs that hung, crashed or over-allocated: each a quick one-line error, memory bounded, h5wasm still usable', async () => {
    const run = async (name: string, bytes: Uint8Array, pattern: RegExp, arch?: string): Promise<Outcome> => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      const t0 = Date.now();
      const r = await reader.run({ file, arch, gc: true }, 10_000);
      assert.equal(r.kind, 'digits', `${name}: ${JSON.stringify(r).slice(0, 500)}`);
      assert.match((r as { message: string }).message, pattern);
      assert.ok(Date.now() - t0 < 5000, `${name} took ${Date.now() - t0} ms`);
      return r;
    };
    const portable = fs.readFileSync(path.join(FIXTURES, 'recipe-portable.h5'));
    // HDF5 loops forever on a global heap object of length 0 (a shifted file put one where model_config's string was)
    const gcol = Buffer.from(portable);
    const heap = gcol.indexOf('GCOL');
    assert.ok(heap > 0);
    gcol.fill(0, heap + 16, heap + 32);
    await run(
      'zero-heap-object.h5',
      gcol,
      /zero-heap-object\.h5: not a readable HDF5 file \(global heap collection at byte \d+ is corrupt: object 0 at byte \d+ is empty\)$/,
    );
    // a variable-length string claiming a gigabyte made HDF5 grow its (never shrinking) heap to 1 GiB
    const vlen = Buffer.from(portable);
    const h5 = await openH5(portable, 'x');
    const keras = h5.attr('/', 'keras_version');
    h5.close();
    // the vlen descriptor of keras_version: its length, then the global heap collection's address
    const len = Buffer.alloc(12);
    len.writeUInt32LE(String(keras).length, 0);
    len.writeBigUInt64LE(BigInt(heap), 4);
    const at = vlen.indexOf(len);
    assert.ok(at > 0, "keras_version's descriptor");
    vlen.writeUInt32LE(0x40000000, at);
    const r = await run('vlen-gigabyte.h5', vlen, /vlen-gigabyte\.h5: cannot read attribute keras_version of \/ \(/);
    assert.ok(r.heap < 256 << 20, `h5wasm's heap grew to ${(r.heap / 2 ** 20).toFixed(0)} MiB`);
    // a failed read of a variable-length string left h5wasm's buffer as malloc gave it, and h5wasm then freed
    // the stale pointers in it: after ~1300 such files (fuzzing: ~1000 inputs) valid files failed with
    // 'memory access out of bounds'. What is reclaimed after a failed read must hold no pointer HDF5 did not write.
    const M = (await h5wasm()).Module;
    const reclaim = M.reclaim_vlen_memory;
    const reclaimed: number[] = [];
    M.reclaim_vlen_memory = (...args: Parameters<typeof reclaim>) => {
      reclaimed.push(new DataView(M.HEAPU8.buffer).getUint32(Number(args[3]), true));
      return reclaim.apply(M, args);
    };
    try {
      vlen.writeUInt32LE(String(keras).length + 1, at);
      for (let i = 0; i < 8; i++) {
        // leave pointer-like garbage in freed memory, where the next small buffer comes from
        const junk = Array.from({ length: 8 }, () => M._malloc(4));
        for (const p of junk) new DataView(M.HEAPU8.buffer).setUint32(p, 0x1000 + i, true);
        junk.forEach((p) => M._free(p));
        const f = await openH5(vlen, 'vlen-plus-one.h5');
        try {
          assert.throws(
            () => f.attr('/', 'keras_version'),
            /vlen-plus-one\.h5: cannot read attribute keras_version of \/ \(Expected global heap object size does not match\)/,
          );
        } finally {
          f.close();
        }
      }
    } finally {
      M.reclaim_vlen_memory = reclaim;
    }
    assert.ok(reclaimed.length > 0 && reclaimed.every((p) => p === 0), `reclaimed after failed reads: ${reclaimed}`);
    // zip64 directories claiming four billion entries: fflate walked them all (an hour for 200 bytes)
    const small = zipSync({ 'config.json': new Uint8Array(10) });
    const eocd = Buffer.from(small).lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
    const cd = Buffer.from(small).readUInt32LE(eocd + 16);
    const rec = Buffer.alloc(56),
      loc = Buffer.alloc(20);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(4_000_000_000n, 24);
    rec.writeBigUInt64LE(4_000_000_000n, 32);
    rec.writeBigUInt64LE(BigInt(eocd - cd), 40);
    rec.writeBigUInt64LE(BigInt(cd), 48);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(eocd), 8);
    loc.writeUInt32LE(1, 16);
    await run(
      'zip64.keras',
      Buffer.concat([small.subarray(0, eocd), rec, loc, small.subarray(eocd)]),
      /zip64\.keras: the zip directory claims more entries than the archive can hold$/,
    );
    // a deflated member declaring 1 GB from a compressed size larger than the archive: refused before inflating
    const members = Object.entries(unzipSync(fs.readFileSync(path.join(FIXTURES, 'keras3.8-sequential.keras'))));
    const bomb = buildZip(members.map(([n, data]) => ({ name: n, data, level: 6 })));
    const lying = patchZip(patchZip(bomb, [{ where: 'central', entry: 2, field: 3, value: 999_999_999 }]), [
      { where: 'central', entry: 2, field: 2, value: 4_000_000_000 },
    ]);
    const b = await run('bomb.keras', lying, /bomb\.keras: member model\.weights\.h5 claims 999999999 bytes .*zip bomb/);
    assert.ok(b.grewArrayBuffers < 64 << 20, `array buffers grew by ${(b.grewArrayBuffers / 2 ** 20).toFixed(0)} MiB`);
    // a real deflate bomb: 64 MiB of zeros as config.json declares more than a config may be
    const real = zipSync({ 'config.json': [new Uint8Array((64 << 20) + 1), { level: 9 }], 'model.weights.h5': new Uint8Array(8) });
    await run('real-bomb.keras', real, /real-bomb\.keras: member config\.json claims 67108865 bytes/);
    assert.ok(await stillUsableVia(reader), 'h5wasm reads valid files after all of these');
  });

  test('after every fuzz case above, the same h5wasm instance still reads valid files', async (t) => {
    assert.ok(await stillUsableVia(reader));
    t.diagnostic(
      `worker restarts after a hang or a death: ${reader.restarts}; h5wasm heap high-water mark ${(reader.maxHeap / 2 ** 20).toFixed(0)} MiB; largest input ${(maxInput / 2 ** 20).toFixed(1)} MiB`,
    );
    await reader.close();
  });
}

async function stillUsableVia(reader: Reader): Promise<boolean> {
  const r = await reader.run({ file: path.join(FIXTURES, 'keras3.8-sequential.keras') });
  return r.kind === 'loaded';
}
