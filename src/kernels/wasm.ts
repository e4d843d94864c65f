// The WebAssembly core: wasm/digits.wasm (C in wasm/src, built by wasm/build.js with clang for wasm32
// with 128-bit SIMD and atomics) behind the Kernels interface, for every machine where the oneDNN
// addon is not built (macOS, Windows, Alpine, CI images without libdnnl, browsers).
//
// Memory. The module imports one shared WebAssembly.Memory. Kernels take Float32Arrays owned by JS,
// so each call copies its inputs into a staging area of that memory (TypedArray.set, a memcpy),
// runs, and copies its outputs back; the staging area and the kernels' scratch are reused by every
// call (bump-allocated from the same base each time). Copies cost a few percent of a training step
// (`node dist/bench/bench.js --profile` shows the layers).
//
// Threads. The same module is instantiated in `threads - 1` workers (worker_threads in Node; in a
// browser, Web Workers from WORKER_SOURCE) on the same memory, each with its own stack; they wait in
// the module's pool (wasm/src/core.c) and take parts of each parallel loop. Results do not depend on
// the thread count: every output has one summation order.
import { ELTWISE_KINDS, eltwiseAlpha, type ConvGeom, type Eltwise, type Kernels, type PoolGeom } from './kernels';

interface Exports {
  __stack_pointer: WebAssembly.Global;
  __heap_base: WebAssembly.Global;
  params(): number;
  worker_main(tid: number): void;
  conv2d_forward(x: number, w: number, b: number, y: number, relu: number): void;
  conv2d_backward_data(dy: number, w: number, dx: number): void;
  conv2d_backward_weights(x: number, dy: number, dw: number, db: number): void;
  conv2d_relu_maxpool_forward(x: number, w: number, b: number, y: number, ws: number): void;
  conv2d_relu_maxpool_backward_weights(x: number, dy: number, ws: number, y: number, dw: number, db: number): void;
  maxpool2d_forward(x: number, y: number, ws: number): void;
  maxpool2d_backward(len: number, dy: number, ws: number, dx: number, dxLen: number, reluOf: number): void;
  avgpool2d_forward(x: number, y: number): void;
  avgpool2d_backward(dy: number, dx: number): void;
  dense_forward(n: number, inF: number, outF: number, x: number, w: number, b: number, y: number, relu: number): void;
  dense_backward_data(n: number, inF: number, outF: number, dy: number, w: number, dx: number): void;
  dense_backward_weights(n: number, inF: number, outF: number, x: number, dy: number, dw: number, db: number): void;
  batchnorm_forward_training(
    rows: number,
    c: number,
    x: number,
    gamma: number,
    beta: number,
    mm: number,
    mv: number,
    momentum: number,
    eps: number,
    y: number,
    saveMean: number,
    saveInvStd: number,
  ): void;
  batchnorm_forward_inference(
    rows: number,
    c: number,
    x: number,
    gamma: number,
    beta: number,
    mm: number,
    mv: number,
    eps: number,
    y: number,
  ): void;
  batchnorm_backward(
    rows: number,
    c: number,
    x: number,
    dy: number,
    gamma: number,
    sm: number,
    si: number,
    dx: number,
    dg: number,
    db: number,
  ): void;
  eltwise_forward(kind: number, len: number, x: number, y: number, alpha: number): void;
  eltwise_backward(kind: number, len: number, x: number, y: number, dy: number, dx: number, alpha: number): void;
  softmax_forward(rows: number, cols: number, x: number, y: number): void;
  softmax_backward(rows: number, cols: number, y: number, dy: number, dx: number): void;
  softmax_cross_entropy(rows: number, cols: number, p: number, t: number, dl: number, scale: number): number;
  dropout_forward(len: number, x: number, y: number, mask: number, rate: number, seed: number): void;
  mul_arrays(len: number, a: number, b: number, out: number): void;
  sgd_update(count: number, table: number, lr: number, momentum: number, nesterov: number, hasVelocity: number): void;
  rmsprop_update(count: number, table: number, lr: number, rho: number, eps: number): void;
  adam_update(count: number, table: number, beta1: number, beta2: number, eps: number, lrT: number, keep: number): void;
}

// Parameter block slots (enum in wasm/src/core.h).
const P_CONV = 0,
  P_POOL = 16,
  P_SCRATCH = 40,
  P_GROWN = 41,
  P_THREADS = 42,
  P_CAN_BLOCK = 43,
  P_SPIN = 44,
  P_DIRECT = 45;
const PAGE = 65536;
/** The module's maximum memory (wasm/build.js links it with the same): sizes are int32 in C. */
const MAX_PAGES = 32768;
const STACK = 512 * 1024;
/** The addon numbers kinds in ELTWISE_KINDS' order (enum in wasm/src/eltwise.c). */
const KIND = Object.fromEntries(ELTWISE_KINDS.map((k, i) => [k, i])) as Record<Eltwise, number>;

/**
 * A worker's whole program, for worker_threads (eval) or a browser's Web Worker (a Blob URL): it
 * instantiates the module on the shared memory, moves its stack to its own region and joins the pool.
 */
export const WORKER_SOURCE = `
const start = ({ module, memory, tid, stackTop }) => {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  instance.exports.__stack_pointer.value = stackTop;
  instance.exports.worker_main(tid);
};
if (typeof require === 'function') start(require('node:worker_threads').workerData);
else self.onmessage = (e) => start(e.data);
`;

export interface WorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  stackTop: number;
}

export interface WasmOptions {
  /** Threads taking part in kernels, the calling thread included (default 1). */
  threads?: number;
  /** Starts a worker running WORKER_SOURCE with `start` (Node: worker_threads; browser: new Worker + postMessage). */
  spawn?: (start: WorkerStart) => void;
  /** Whether the calling thread may block in Atomics.wait (Node: yes; a browser's main thread: no, it spins). */
  canBlock?: boolean;
}

export interface WasmInfo {
  threads: number;
  /** Bytes of the .wasm module. */
  moduleBytes: number;
  /** Bytes of the shared memory now (it grows with the largest call). */
  memoryBytes: number;
}

function fail(fn: string, msg: string, range = true): never {
  const m = `digits wasm ${fn}: ${msg}`;
  throw range ? new RangeError(m) : new TypeError(m);
}

function f32(fn: string, a: unknown, name: string, need: number): Float32Array {
  if (!(a instanceof Float32Array)) fail(fn, `${name} must be a Float32Array`, false);
  if (a.length < need) fail(fn, `${name} has ${a.length} elements, needs ${need}`);
  return a;
}

function i32(fn: string, a: unknown, name: string, need: number): Int32Array {
  if (!(a instanceof Int32Array)) fail(fn, `${name} must be an Int32Array`, false);
  if (a.length < need) fail(fn, `${name} has ${a.length} elements, needs ${need}`);
  return a;
}

function count(fn: string, v: number, name: string, positive = true): number {
  if (!Number.isInteger(v) || v < (positive ? 1 : 0) || v > 0x7fffffff)
    fail(fn, `${name} must be a ${positive ? 'positive' : 'non-negative'} integer`);
  return v;
}

const CONV_FIELDS = ['n', 'h', 'w', 'c', 'f', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'padTop', 'padLeft'] as const;
const POOL_FIELDS = ['n', 'h', 'w', 'c', 'oh', 'ow', 'ph', 'pw', 'sh', 'sw', 'padTop', 'padLeft'] as const;

const same = (a: Float32Array, b: Float32Array): boolean => a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset);

export class WasmCore {
  readonly kernels: Kernels;
  private readonly ex: Exports;
  private readonly memory: WebAssembly.Memory;
  private readonly module: WebAssembly.Module;
  private readonly moduleBytes: number;
  private readonly spawn?: (start: WorkerStart) => void;
  private f32v!: Float32Array;
  private i32v!: Int32Array;
  private bytes = 0;
  private readonly pBase: number; // params() / 4
  private readonly heapBase: number;
  private stageBase: number;
  private top = 0;
  private workers = 0;
  private nThreads = 1;

  constructor(module: WebAssembly.Module, moduleBytes: number, opts: WasmOptions = {}) {
    this.module = module;
    this.moduleBytes = moduleBytes;
    this.spawn = opts.spawn;
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.ex = instance.exports as unknown as Exports;
    this.refresh();
    this.pBase = this.ex.params() >> 2;
    this.heapBase = (Number(this.ex.__heap_base.value) + 15) & ~15;
    this.stageBase = this.heapBase;
    this.i32v[this.pBase + P_CAN_BLOCK] = opts.canBlock === false ? 0 : 1;
    this.i32v[this.pBase + P_SPIN] = 20000;
    this.setThreads(opts.threads ?? 1);
    this.kernels = this.makeKernels();
  }

  /** Threads taking part in each kernel, this one included; starts workers as needed (never stops them). */
  setThreads(n: number): void {
    n = Math.max(1, Math.min(64, Math.floor(n) || 1));
    if (!this.spawn) n = 1;
    if (n - 1 > this.workers) {
      const need = this.heapBase + (n - 1) * STACK;
      this.ensure(need);
      this.stageBase = Math.max(this.stageBase, need);
      for (let tid = this.workers + 1; tid < n; tid++) {
        this.spawn!({ module: this.module, memory: this.memory, tid, stackTop: this.heapBase + tid * STACK - 16 });
      }
      this.workers = n - 1;
    }
    this.nThreads = n;
    Atomics.store(this.i32v, this.pBase + P_THREADS, n);
  }

  /** false: convolutions take the direct kernels only, never Winograd (for A/B measurements and checks). */
  setWinograd(on: boolean): void {
    this.i32v[this.pBase + P_DIRECT] = on ? 0 : 1;
  }

  info(): WasmInfo {
    return { threads: this.nThreads, moduleBytes: this.moduleBytes, memoryBytes: this.memory.buffer.byteLength };
  }

  // ---- staging ----

  private refresh(): void {
    const buf = this.memory.buffer;
    if (buf.byteLength !== this.bytes) {
      this.f32v = new Float32Array(buf);
      this.i32v = new Int32Array(buf);
      this.bytes = buf.byteLength;
    }
  }

  private ensure(end: number): void {
    if (end <= this.bytes) return;
    const pages = Math.ceil((end - this.bytes) / PAGE);
    const have = this.bytes / PAGE;
    if (have + pages > MAX_PAGES)
      throw new RangeError(
        `digits wasm: a call needs ${Math.ceil(end / 2 ** 20)} MiB, over the core's ${(MAX_PAGES * PAGE) / 2 ** 30} GiB memory`,
      );
    this.memory.grow(Math.min(MAX_PAGES - have, Math.max(pages, Math.ceil(have / 8))));
    this.refresh();
  }

  private begin(): void {
    this.top = this.stageBase;
  }

  /** n floats (or int32s) of staging memory; 64 bytes of slack after each (vector loads may read past an end). */
  private alloc(n: number): number {
    const p = this.top;
    this.top = (p + n * 4 + 64 + 63) & ~63;
    this.ensure(this.top);
    return p;
  }

  private put(a: Float32Array, n: number): number {
    const p = this.alloc(n);
    this.f32v.set(n === a.length ? a : a.subarray(0, n), p >> 2);
    return p;
  }

  private putI(a: Int32Array, n: number): number {
    const p = this.alloc(n);
    this.i32v.set(n === a.length ? a : a.subarray(0, n), p >> 2);
    return p;
  }

  private get(p: number, a: Float32Array, n: number): void {
    a.set(this.f32v.subarray(p >> 2, (p >> 2) + n));
  }

  private getI(p: number, a: Int32Array, n: number): void {
    a.set(this.i32v.subarray(p >> 2, (p >> 2) + n));
  }

  /** Before a call: the kernels' scratch starts where staging ended. */
  private go(): void {
    this.i32v[this.pBase + P_SCRATCH] = this.top;
  }

  /** After a call: the kernel may have grown the memory for scratch. */
  private done(): void {
    if (Atomics.load(this.i32v, this.pBase + P_GROWN)) {
      this.refresh();
      Atomics.store(this.i32v, this.pBase + P_GROWN, 0);
    }
  }

  private conv(fn: string, g: ConvGeom): ConvGeom {
    const P = this.pBase + P_CONV;
    CONV_FIELDS.forEach((k, i) => {
      this.i32v[P + i] = count(fn, g[k], `geometry.${k}`, i < 11);
    });
    return g;
  }

  private pool(fn: string, g: PoolGeom): PoolGeom {
    const P = this.pBase + P_POOL;
    POOL_FIELDS.forEach((k, i) => {
      this.i32v[P + i] = count(fn, g[k], `geometry.${k}`, i < 10);
    });
    return g;
  }

  private list(fn: string, name: string, arrays: unknown, lens: number[] | null): Float32Array[] {
    if (!Array.isArray(arrays)) fail(fn, `${name} must be an array of Float32Arrays`, false);
    if (lens && arrays.length !== lens.length) fail(fn, `${name} must have as many arrays as params`);
    return arrays.map((a, k) => f32(fn, a, `${name}[${k}]`, lens ? lens[k] : 0));
  }

  /** Stages every array of an optimizer call; returns the table pointer and the arrays to copy back. */
  private optimizer(w: Float32Array[], g: Float32Array[], s1: Float32Array[] | null, s2: Float32Array[] | null): number {
    const table = this.alloc(w.length * 5);
    const t = table >> 2;
    for (let k = 0; k < w.length; k++) {
      const n = w[k].length;
      this.i32v[t + k * 5] = this.put(w[k], n);
      this.i32v[t + k * 5 + 1] = this.put(g[k], n);
      this.i32v[t + k * 5 + 2] = s1 ? this.put(s1[k], n) : 0;
      this.i32v[t + k * 5 + 3] = s2 ? this.put(s2[k], n) : 0;
      this.i32v[t + k * 5 + 4] = n;
    }
    return table;
  }

  private optimizerBack(table: number, w: Float32Array[], s1: Float32Array[] | null, s2: Float32Array[] | null): void {
    const t = table >> 2;
    for (let k = 0; k < w.length; k++) {
      const n = w[k].length;
      this.get(this.i32v[t + k * 5], w[k], n);
      if (s1) this.get(this.i32v[t + k * 5 + 2], s1[k], n);
      if (s2) this.get(this.i32v[t + k * 5 + 3], s2[k], n);
    }
  }

  private makeKernels(): Kernels {
    const ex = this.ex;
    const convLens = (g: ConvGeom) => ({ x: g.n * g.h * g.w * g.c, w: g.kh * g.kw * g.c * g.f, y: g.n * g.oh * g.ow * g.f });
    const poolLens = (g: PoolGeom) => ({ x: g.n * g.h * g.w * g.c, y: g.n * g.oh * g.ow * g.c });
    const checkFused = (fn: string, g: ConvGeom, p: PoolGeom) => {
      if (g.c !== 1 || g.sh !== 1 || g.sw !== 1) fail(fn, 'the convolution must have one input channel and stride 1');
      if (p.n !== g.n || p.h !== g.oh || p.w !== g.ow || p.c !== g.f)
        fail(fn, "the pooling geometry does not match the convolution's output");
      if (
        p.ph !== 2 ||
        p.pw !== 2 ||
        p.sh !== 2 ||
        p.sw !== 2 ||
        p.padTop !== 0 ||
        p.padLeft !== 0 ||
        p.oh !== Math.floor(g.oh / 2) ||
        p.ow !== Math.floor(g.ow / 2)
      )
        fail(fn, "the pooling must be 2x2 with stride 2, 'valid'");
    };
    return {
      name: 'wasm',

      conv2dForward: (g, x, w, b, y, relu) => {
        const fn = 'conv2dForward',
          L = convLens(this.conv(fn, g));
        f32(fn, x, 'x', L.x);
        f32(fn, w, 'w', L.w);
        if (b !== null) f32(fn, b, 'b', g.f);
        f32(fn, y, 'y', L.y);
        this.begin();
        const px = this.put(x, L.x),
          pw = this.put(w, L.w),
          pb = b ? this.put(b, g.f) : 0,
          py = this.alloc(L.y);
        this.go();
        ex.conv2d_forward(px, pw, pb, py, relu ? 1 : 0);
        this.done();
        this.get(py, y, L.y);
      },

      conv2dBackwardData: (g, dy, w, dx) => {
        const fn = 'conv2dBackwardData',
          L = convLens(this.conv(fn, g));
        f32(fn, dy, 'dy', L.y);
        f32(fn, w, 'w', L.w);
        f32(fn, dx, 'dx', L.x);
        this.begin();
        const pdy = this.put(dy, L.y),
          pw = this.put(w, L.w),
          pdx = this.alloc(L.x);
        this.go();
        ex.conv2d_backward_data(pdy, pw, pdx);
        this.done();
        this.get(pdx, dx, L.x);
      },

      conv2dBackwardWeights: (g, x, dy, dw, db) => {
        const fn = 'conv2dBackwardWeights',
          L = convLens(this.conv(fn, g));
        f32(fn, x, 'x', L.x);
        f32(fn, dy, 'dy', L.y);
        f32(fn, dw, 'dw', L.w);
        if (db !== null) f32(fn, db, 'db', g.f);
        this.begin();
        const px = this.put(x, L.x),
          pdy = this.put(dy, L.y),
          pdw = this.alloc(L.w),
          pdb = db ? this.alloc(g.f) : 0;
        this.go();
        ex.conv2d_backward_weights(px, pdy, pdw, pdb);
        this.done();
        this.get(pdw, dw, L.w);
        if (db) this.get(pdb, db, g.f);
      },

      conv2dReluMaxPoolForward: (g, p, x, w, b, y, ws) => {
        const fn = 'conv2dReluMaxPoolForward';
        this.conv(fn, g);
        this.pool(fn, p);
        checkFused(fn, g, p);
        const L = convLens(g),
          n = p.n * p.oh * p.ow * p.c;
        f32(fn, x, 'x', L.x);
        f32(fn, w, 'w', L.w);
        if (b !== null) f32(fn, b, 'b', g.f);
        f32(fn, y, 'y', n);
        i32(fn, ws, 'workspace', n);
        this.begin();
        const px = this.put(x, L.x),
          pw = this.put(w, L.w),
          pb = b ? this.put(b, g.f) : 0,
          py = this.alloc(n),
          pws = this.alloc(n);
        this.go();
        ex.conv2d_relu_maxpool_forward(px, pw, pb, py, pws);
        this.done();
        this.get(py, y, n);
        this.getI(pws, ws, n);
      },

      conv2dReluMaxPoolBackwardWeights: (g, p, x, dy, ws, y, dw, db) => {
        const fn = 'conv2dReluMaxPoolBackwardWeights';
        this.conv(fn, g);
        this.pool(fn, p);
        checkFused(fn, g, p);
        const L = convLens(g),
          n = p.n * p.oh * p.ow * p.c;
        f32(fn, x, 'x', L.x);
        f32(fn, dy, 'dy', n);
        i32(fn, ws, 'workspace', n);
        f32(fn, y, 'y', n);
        f32(fn, dw, 'dw', L.w);
        if (db !== null) f32(fn, db, 'db', g.f);
        this.begin();
        const px = this.put(x, L.x),
          pdy = this.put(dy, n),
          pws = this.putI(ws, n),
          py = this.put(y, n);
        const pdw = this.alloc(L.w),
          pdb = db ? this.alloc(g.f) : 0;
        this.go();
        ex.conv2d_relu_maxpool_backward_weights(px, pdy, pws, py, pdw, pdb);
        this.done();
        this.get(pdw, dw, L.w);
        if (db) this.get(pdb, db, g.f);
      },

      maxPool2dForward: (g, x, y, ws) => {
        const fn = 'maxPool2dForward',
          L = poolLens(this.pool(fn, g));
        f32(fn, x, 'x', L.x);
        f32(fn, y, 'y', L.y);
        i32(fn, ws, 'workspace', L.y);
        this.begin();
        const px = this.put(x, L.x),
          py = this.alloc(L.y),
          pws = this.alloc(L.y);
        this.go();
        ex.maxpool2d_forward(px, py, pws);
        this.done();
        this.get(py, y, L.y);
        this.getI(pws, ws, L.y);
      },

      maxPool2dBackward: (g, dy, ws, dx, reluOf) => {
        const fn = 'maxPool2dBackward',
          L = poolLens(this.pool(fn, g));
        f32(fn, dy, 'dy', L.y);
        i32(fn, ws, 'workspace', L.y);
        f32(fn, dx, 'dx', L.x);
        if (reluOf) f32(fn, reluOf, 'reluOf', L.y);
        this.begin();
        const pdy = this.put(dy, L.y),
          pws = this.putI(ws, L.y),
          pr = reluOf ? this.put(reluOf, L.y) : 0,
          pdx = this.alloc(dx.length);
        this.go();
        ex.maxpool2d_backward(L.y, pdy, pws, pdx, dx.length, pr);
        this.done();
        this.get(pdx, dx, dx.length);
      },

      avgPool2dForward: (g, x, y) => {
        const fn = 'avgPool2dForward',
          L = poolLens(this.pool(fn, g));
        f32(fn, x, 'x', L.x);
        f32(fn, y, 'y', L.y);
        this.begin();
        const px = this.put(x, L.x),
          py = this.alloc(L.y);
        this.go();
        ex.avgpool2d_forward(px, py);
        this.done();
        this.get(py, y, L.y);
      },

      avgPool2dBackward: (g, dy, dx) => {
        const fn = 'avgPool2dBackward',
          L = poolLens(this.pool(fn, g));
        f32(fn, dy, 'dy', L.y);
        f32(fn, dx, 'dx', L.x);
        this.begin();
        const pdy = this.put(dy, L.y),
          pdx = this.alloc(L.x);
        this.go();
        ex.avgpool2d_backward(pdy, pdx);
        this.done();
        this.get(pdx, dx, L.x);
      },

      denseForward: (n, inF, outF, x, w, b, y, relu) => {
        const fn = 'denseForward';
        count(fn, n, 'n');
        count(fn, inF, 'inF');
        count(fn, outF, 'outF');
        f32(fn, x, 'x', n * inF);
        f32(fn, w, 'w', inF * outF);
        if (b !== null) f32(fn, b, 'b', outF);
        f32(fn, y, 'y', n * outF);
        this.begin();
        const px = this.put(x, n * inF),
          pw = this.put(w, inF * outF),
          pb = b ? this.put(b, outF) : 0,
          py = this.alloc(n * outF);
        this.go();
        ex.dense_forward(n, inF, outF, px, pw, pb, py, relu ? 1 : 0);
        this.done();
        this.get(py, y, n * outF);
      },

      denseBackwardData: (n, inF, outF, dy, w, dx) => {
        const fn = 'denseBackwardData';
        count(fn, n, 'n');
        count(fn, inF, 'inF');
        count(fn, outF, 'outF');
        f32(fn, dy, 'dy', n * outF);
        f32(fn, w, 'w', inF * outF);
        f32(fn, dx, 'dx', n * inF);
        this.begin();
        const pdy = this.put(dy, n * outF),
          pw = this.put(w, inF * outF),
          pdx = this.alloc(n * inF);
        this.go();
        ex.dense_backward_data(n, inF, outF, pdy, pw, pdx);
        this.done();
        this.get(pdx, dx, n * inF);
      },

      denseBackwardWeights: (n, inF, outF, x, dy, dw, db) => {
        const fn = 'denseBackwardWeights';
        count(fn, n, 'n');
        count(fn, inF, 'inF');
        count(fn, outF, 'outF');
        f32(fn, x, 'x', n * inF);
        f32(fn, dy, 'dy', n * outF);
        f32(fn, dw, 'dw', inF * outF);
        if (db !== null) f32(fn, db, 'db', outF);
        this.begin();
        const px = this.put(x, n * inF),
          pdy = this.put(dy, n * outF),
          pdw = this.alloc(inF * outF),
          pdb = db ? this.alloc(outF) : 0;
        this.go();
        ex.dense_backward_weights(n, inF, outF, px, pdy, pdw, pdb);
        this.done();
        this.get(pdw, dw, inF * outF);
        if (db) this.get(pdb, db, outF);
      },

      batchNormForwardTraining: (rows, c, x, gamma, beta, movingMean, movingVar, momentum, eps, y, saveMean, saveInvStd) => {
        const fn = 'batchNormForwardTraining';
        count(fn, rows, 'rows');
        count(fn, c, 'c');
        f32(fn, x, 'x', rows * c);
        f32(fn, gamma, 'gamma', c);
        f32(fn, beta, 'beta', c);
        f32(fn, movingMean, 'movingMean', c);
        f32(fn, movingVar, 'movingVar', c);
        f32(fn, y, 'y', rows * c);
        f32(fn, saveMean, 'saveMean', c);
        f32(fn, saveInvStd, 'saveInvStd', c);
        this.begin();
        const px = this.put(x, rows * c),
          pg = this.put(gamma, c),
          pb = this.put(beta, c),
          pmm = this.put(movingMean, c),
          pmv = this.put(movingVar, c);
        const py = this.alloc(rows * c),
          psm = this.alloc(c),
          psi = this.alloc(c);
        this.go();
        ex.batchnorm_forward_training(rows, c, px, pg, pb, pmm, pmv, momentum, eps, py, psm, psi);
        this.done();
        this.get(py, y, rows * c);
        this.get(pmm, movingMean, c);
        this.get(pmv, movingVar, c);
        this.get(psm, saveMean, c);
        this.get(psi, saveInvStd, c);
      },

      batchNormForwardInference: (rows, c, x, gamma, beta, movingMean, movingVar, eps, y) => {
        const fn = 'batchNormForwardInference';
        count(fn, rows, 'rows');
        count(fn, c, 'c');
        f32(fn, x, 'x', rows * c);
        f32(fn, gamma, 'gamma', c);
        f32(fn, beta, 'beta', c);
        f32(fn, movingMean, 'movingMean', c);
        f32(fn, movingVar, 'movingVar', c);
        f32(fn, y, 'y', rows * c);
        this.begin();
        const px = this.put(x, rows * c),
          pg = this.put(gamma, c),
          pb = this.put(beta, c),
          pmm = this.put(movingMean, c),
          pmv = this.put(movingVar, c);
        const py = same(x, y) ? px : this.alloc(rows * c);
        this.go();
        ex.batchnorm_forward_inference(rows, c, px, pg, pb, pmm, pmv, eps, py);
        this.done();
        this.get(py, y, rows * c);
      },

      batchNormBackward: (rows, c, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) => {
        const fn = 'batchNormBackward';
        count(fn, rows, 'rows');
        count(fn, c, 'c');
        f32(fn, x, 'x', rows * c);
        f32(fn, dy, 'dy', rows * c);
        f32(fn, gamma, 'gamma', c);
        f32(fn, saveMean, 'saveMean', c);
        f32(fn, saveInvStd, 'saveInvStd', c);
        f32(fn, dx, 'dx', rows * c);
        f32(fn, dgamma, 'dgamma', c);
        f32(fn, dbeta, 'dbeta', c);
        this.begin();
        const px = this.put(x, rows * c),
          pdy = this.put(dy, rows * c),
          pg = this.put(gamma, c),
          psm = this.put(saveMean, c),
          psi = this.put(saveInvStd, c);
        const pdx = this.alloc(rows * c),
          pdg = this.alloc(c),
          pdb = this.alloc(c);
        this.go();
        ex.batchnorm_backward(rows, c, px, pdy, pg, psm, psi, pdx, pdg, pdb);
        this.done();
        this.get(pdx, dx, rows * c);
        this.get(pdg, dgamma, c);
        this.get(pdb, dbeta, c);
      },

      eltwiseForward: (kind, x, y, alpha) => {
        const fn = 'eltwiseForward';
        if (!(kind in KIND)) fail(fn, `unknown eltwise kind '${kind}'`);
        const n = f32(fn, x, 'x', 0).length;
        f32(fn, y, 'y', n);
        this.begin();
        const px = this.put(x, n),
          py = same(x, y) ? px : this.alloc(n);
        this.go();
        ex.eltwise_forward(KIND[kind], n, px, py, eltwiseAlpha(kind, alpha));
        this.done();
        this.get(py, y, n);
      },

      eltwiseBackward: (kind, x, y, dy, dx, alpha) => {
        const fn = 'eltwiseBackward';
        if (!(kind in KIND)) fail(fn, `unknown eltwise kind '${kind}'`);
        const n = f32(fn, x, 'x', 0).length;
        f32(fn, y, 'y', n);
        f32(fn, dy, 'dy', n);
        f32(fn, dx, 'dx', n);
        this.begin();
        const px = this.put(x, n),
          py = same(x, y) ? px : this.put(y, n),
          pdy = this.put(dy, n),
          pdx = same(dy, dx) ? pdy : this.alloc(n);
        this.go();
        ex.eltwise_backward(KIND[kind], n, px, py, pdy, pdx, eltwiseAlpha(kind, alpha));
        this.done();
        this.get(pdx, dx, n);
      },

      softmaxForward: (rows, cols, x, y) => {
        const fn = 'softmaxForward';
        count(fn, rows, 'rows', false);
        count(fn, cols, 'cols', false);
        const n = rows * cols;
        f32(fn, x, 'x', n);
        f32(fn, y, 'y', n);
        this.begin();
        const px = this.put(x, n),
          py = this.alloc(n);
        this.go();
        ex.softmax_forward(rows, cols, px, py);
        this.done();
        this.get(py, y, n);
      },

      softmaxBackward: (rows, cols, y, dy, dx) => {
        const fn = 'softmaxBackward';
        count(fn, rows, 'rows', false);
        count(fn, cols, 'cols', false);
        const n = rows * cols;
        f32(fn, y, 'y', n);
        f32(fn, dy, 'dy', n);
        f32(fn, dx, 'dx', n);
        this.begin();
        const py = this.put(y, n),
          pdy = this.put(dy, n),
          pdx = this.alloc(n);
        this.go();
        ex.softmax_backward(rows, cols, py, pdy, pdx);
        this.done();
        this.get(pdx, dx, n);
      },

      softmaxCrossEntropy: (rows, cols, p, t, dlogits, scale) => {
        const fn = 'softmaxCrossEntropy';
        count(fn, rows, 'rows', false);
        count(fn, cols, 'cols', false);
        const n = rows * cols;
        f32(fn, p, 'p', n);
        f32(fn, t, 't', n);
        if (dlogits) f32(fn, dlogits, 'dlogits', n);
        this.begin();
        const pp = this.put(p, n),
          pt = this.put(t, n),
          pd = dlogits ? this.alloc(n) : 0;
        this.go();
        const loss = ex.softmax_cross_entropy(rows, cols, pp, pt, pd, scale);
        this.done();
        if (dlogits) this.get(pd, dlogits, n);
        return loss;
      },

      dropoutForward: (x, y, mask, rate, seed) => {
        const fn = 'dropoutForward';
        const n = f32(fn, x, 'x', 0).length;
        f32(fn, y, 'y', n);
        f32(fn, mask, 'mask', n);
        if (!(rate >= 0 && rate < 1)) fail(fn, 'rate must be in [0, 1)');
        if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail(fn, 'seed must be a uint32');
        this.begin();
        const px = this.put(x, n),
          py = same(x, y) ? px : this.alloc(n),
          pm = this.alloc(n);
        this.go();
        ex.dropout_forward(n, px, py, pm, rate, seed | 0);
        this.done();
        this.get(py, y, n);
        this.get(pm, mask, n);
      },

      dropoutBackward: (dy, mask, dx) => {
        const fn = 'dropoutBackward';
        const n = f32(fn, dy, 'dy', 0).length;
        f32(fn, mask, 'mask', n);
        f32(fn, dx, 'dx', n);
        this.begin();
        const pdy = this.put(dy, n),
          pm = this.put(mask, n),
          pdx = same(dy, dx) ? pdy : this.alloc(n);
        this.go();
        ex.mul_arrays(n, pdy, pm, pdx);
        this.done();
        this.get(pdx, dx, n);
      },

      sgdUpdate: (params, grads, velocity, lr, momentum, nesterov) => {
        const fn = 'sgdUpdate';
        const w = this.list(fn, 'params', params, null),
          lens = w.map((a) => a.length);
        const g = this.list(fn, 'grads', grads, lens),
          v = velocity ? this.list(fn, 'velocity', velocity, lens) : null;
        this.begin();
        const table = this.optimizer(w, g, v, null);
        this.go();
        ex.sgd_update(w.length, table, lr, momentum, nesterov ? 1 : 0, v ? 1 : 0);
        this.done();
        this.optimizerBack(table, w, v && momentum !== 0 ? v : null, null);
      },

      rmspropUpdate: (params, grads, ms, lr, rho, eps) => {
        const fn = 'rmspropUpdate';
        const w = this.list(fn, 'params', params, null),
          lens = w.map((a) => a.length);
        const g = this.list(fn, 'grads', grads, lens),
          s = this.list(fn, 'ms', ms, lens);
        this.begin();
        const table = this.optimizer(w, g, s, null);
        this.go();
        ex.rmsprop_update(w.length, table, lr, rho, eps);
        this.done();
        this.optimizerBack(table, w, s, null);
      },

      adamUpdate: (params, grads, m, v, lr, beta1, beta2, eps, t, weightDecay) => {
        const fn = 'adamUpdate';
        const w = this.list(fn, 'params', params, null),
          lens = w.map((a) => a.length);
        const g = this.list(fn, 'grads', grads, lens),
          mm = this.list(fn, 'm', m, lens),
          vv = this.list(fn, 'v', v, lens);
        // per-step scalars folded in double, as the reference and the native core do
        const lrT = (lr * Math.sqrt(1 - Math.pow(beta2, t))) / (1 - Math.pow(beta1, t));
        this.begin();
        const table = this.optimizer(w, g, mm, vv);
        this.go();
        ex.adam_update(w.length, table, beta1, beta2, eps, lrT, 1 - lr * weightDecay);
        this.done();
        this.optimizerBack(table, w, mm, vv);
      },
    };
  }
}

// ---- Node loader ----

let core: WasmCore | null | undefined;
let loadError: string | null = null;

/** The package's wasm/digits.wasm: the nearest ancestor of this file holding it (dist/src/kernels or src/kernels). */
export function wasmPath(): string {
  /* eslint-disable @typescript-eslint/no-require-imports -- Node's modules, loaded only in Node (browser bundles stub them) */
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  /* eslint-enable @typescript-eslint/no-require-imports */
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'wasm', 'digits.wasm');
    if (fs.existsSync(file)) return file;
  }
  return path.resolve(__dirname, '../../..', 'wasm', 'digits.wasm');
}

function defaultThreads(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('os') as typeof import('os');
  return Math.min(16, os.availableParallelism?.() ?? os.cpus().length);
}

function nodeCore(): WasmCore | null {
  if (core !== undefined) return core;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('fs') as typeof import('fs');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Worker } = require('worker_threads') as typeof import('worker_threads');
    const bytes = fs.readFileSync(wasmPath());
    const module = new WebAssembly.Module(bytes);
    const spawn = (start: WorkerStart): void => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: start });
      w.unref();
      w.on('error', (e) => process.stderr.write(`digits: wasm worker ${start.tid} failed: ${e.message}\n`));
    };
    core = new WasmCore(module, bytes.length, { threads: defaultThreads(), spawn, canBlock: true });
  } catch (e) {
    core = null;
    loadError = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  return core;
}

/** The WebAssembly kernels, or null when the module does not load here (see wasmLoadError()). */
export function loadWasm(): Kernels | null {
  return nodeCore()?.kernels ?? null;
}

export function wasmLoadError(): string | null {
  nodeCore();
  return loadError;
}

export function wasmInfo(): WasmInfo | null {
  return nodeCore()?.info() ?? null;
}

/** false: the wasm core's convolutions take the direct kernels only, never Winograd (benches, A/B checks). */
export function setWasmWinograd(on: boolean): void {
  nodeCore()?.setWinograd(on);
}

/** Threads for the wasm kernels (workers are started on demand and kept). */
export function setWasmThreads(n: number): void {
  nodeCore()?.setThreads(n);
}
