// The oneDNN backend: binds the native addon behind the Kernels interface. The addon is, in this order,
// the prebuilt one of the platform package (@digits/native-linux-x64, an optional dependency: npm installs
// it on a matching machine and it runs nothing at install), else native/build/Release/digits_native.node
// (built from source by scripts/build-native.js at `npm install`, or in this repository). Typed arrays go to C++ as-is (the addon takes their
// data pointers, no copies); geometries are packed into one reused Int32Array per call because
// reading 13 object properties from C++ costs more than the small convolutions themselves.
import * as fs from 'fs';
import * as path from 'path';
import { ELTWISE_KINDS, eltwiseAlpha, type ConvGeom, type Eltwise, type Kernels, type PoolGeom } from './kernels';

interface Addon {
  conv2dForward(g: Int32Array, x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, relu: boolean): void;
  conv2dBackwardData(g: Int32Array, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  conv2dBackwardWeights(g: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null): void;
  conv2dReluMaxPoolForward(
    g: Int32Array,
    p: Int32Array,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    y: Float32Array,
    ws: Int32Array,
  ): void;
  conv2dReluMaxPoolBackwardWeights(
    g: Int32Array,
    p: Int32Array,
    x: Float32Array,
    dy: Float32Array,
    ws: Int32Array,
    y: Float32Array,
    dw: Float32Array,
    db: Float32Array | null,
  ): void;
  maxPool2dForward(g: Int32Array, x: Float32Array, y: Float32Array, ws: Int32Array): void;
  maxPool2dBackward(g: Int32Array, dy: Float32Array, ws: Int32Array, dx: Float32Array, reluOf: Float32Array | null): void;
  avgPool2dForward(g: Int32Array, x: Float32Array, y: Float32Array): void;
  avgPool2dBackward(g: Int32Array, dy: Float32Array, dx: Float32Array): void;
  eltwiseForward(kind: number, x: Float32Array, y: Float32Array, alpha: number): void;
  eltwiseBackward(kind: number, x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, alpha: number): void;
  info(): NativeInfo;
  setThreads(n: number): void;
  setPrecision(p: Precision): boolean;
}

/** The native methods whose arguments are already plain numbers and arrays pass straight through. */
type Direct = Pick<
  Kernels,
  | 'denseForward'
  | 'denseBackwardData'
  | 'denseBackwardWeights'
  | 'batchNormForwardTraining'
  | 'batchNormForwardInference'
  | 'batchNormBackward'
  | 'softmaxForward'
  | 'softmaxBackward'
  | 'softmaxCrossEntropy'
  | 'sgdUpdate'
  | 'rmspropUpdate'
  | 'adamUpdate'
  | 'dropoutForward'
  | 'dropoutBackward'
>;

export type Precision = 'fp32' | 'bf16';

export interface NativeInfo {
  /** The instruction set oneDNN dispatches to, e.g. 'avx512_core'. */
  isa: string;
  threads: number;
  /** oneDNN version, e.g. '2.6.3'. */
  onednn: string;
  /** Whether this CPU computes bf16 natively (avx512_bf16 or AMX), which setPrecision('bf16') needs. */
  bf16: boolean;
}

const ADDON = 'native/build/Release/digits_native.node';
/** The prebuilt addons' package for this machine (npm/linux-x64/ in the repository). */
const PLATFORM_PACKAGE = `@digits/native-${process.platform}-${process.arch}`;
/** The addon numbers kinds in ELTWISE_KINDS' order (enum Act in native/src/kernels.h). */
const KIND = Object.fromEntries(ELTWISE_KINDS.map((k, i) => [k, i])) as Record<Eltwise, number>;

let addon: (Addon & Direct) | null | undefined;
let loadError: string | null = null;

/** The package root: the nearest ancestor holding native/ (dist/src/kernels when compiled, src/kernels under ts-node). */
function addonPath(): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, ADDON);
    if (fs.existsSync(file)) return file;
  }
  return path.resolve(__dirname, '../../..', ADDON);
}

/** digits' own version (its package.json, the nearest ancestor's named digits), which the prebuilt package must match. */
function ownVersion(): string | null {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'digits') return pkg.version ?? null;
    } catch {
      /* not here */
    }
  }
  return null;
}

/**
 * The SIMD tiers of the prebuilt addons this CPU runs, best first (native/cpu-flags.js builds them): avx512
 * (AVX-512 F/DQ/BW/VL with AVX2 + FMA), avx2 (AVX2 + FMA), x64. The kernel lists in /proc/cpuinfo only what
 * it has enabled, so a listed AVX-512 is usable. Elsewhere, or unreadable: the baseline only.
 */
export function cpuTiers(cpuinfo?: string): string[] {
  let info = cpuinfo;
  if (info === undefined) {
    try {
      info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      info = '';
    }
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  const tiers = ['x64'];
  if (flags.has('avx2') && flags.has('fma')) {
    tiers.unshift('avx2');
    if (['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f))) tiers.unshift('avx512');
  }
  return tiers;
}

/**
 * The platform package's addon for this CPU, or why there is none to try: null when the package is not
 * installed (another platform, or installed without optional dependencies), else its file or an error.
 */
function prebuiltAddon(): { file: string } | { error: string } | null {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`${PLATFORM_PACKAGE}/package.json`));
  } catch {
    return null;
  }
  let version: string | undefined;
  try {
    version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    /* unreadable: below */
  }
  const want = ownVersion();
  if (want !== null && version !== want)
    return { error: `${PLATFORM_PACKAGE} is version ${version ?? '?'} but digits is ${want}: install the same versions` };
  for (const tier of cpuTiers()) {
    const file = path.join(dir, 'lib', `digits_native.${tier}.node`);
    if (fs.existsSync(file)) return { file };
  }
  // the repository's workspace link (npm/linux-x64) holds no binaries: scripts/pack-native.js stages them elsewhere
  return null;
}

let loadedFrom: string | null = null;

function load(): (Addon & Direct) | null {
  if (addon !== undefined) return addon;
  // libgomp reads these once, when the addon pulls it in. Its default keeps idle workers spinning for
  // 300,000 rounds after each parallel region; on cores shared with other processes that made a
  // seed002-cnn training step ~15x slower (365 ms vs 25 ms at batch 64). Sleeping at once (passive)
  // costs a futex wake-up per kernel call instead: bench.js gave seed002-cnn 6,310 samples/s passive
  // and 7,765-8,291 with a 1,000-10,000-round spin. A short spin (5,000 rounds, tens of microseconds)
  // catches the next call of the same step and still yields to a busy machine.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  process.env.GOMP_SPINCOUNT ??= '5000';
  const errors: string[] = [];
  const candidates: string[] = [];
  const prebuilt = prebuiltAddon();
  if (prebuilt && 'error' in prebuilt) errors.push(prebuilt.error);
  else if (prebuilt) candidates.push(prebuilt.file);
  candidates.push(addonPath());
  addon = null;
  for (const file of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an addon is found at run time, by path
      addon = require(file) as Addon & Direct;
      loadedFrom = file;
      break;
    } catch (e) {
      errors.push(e instanceof Error ? e.message.split('\n')[0] : String(e));
    }
  }
  loadError = addon ? null : errors.join('; ');
  return addon;
}

/** The addon file that loaded (the platform package's or the in-repo build), or null. */
export function nativeAddonPath(): string | null {
  load();
  return loadedFrom;
}

const convG = new Int32Array(13);
function packConv(g: ConvGeom): Int32Array {
  convG[0] = g.n;
  convG[1] = g.h;
  convG[2] = g.w;
  convG[3] = g.c;
  convG[4] = g.f;
  convG[5] = g.oh;
  convG[6] = g.ow;
  convG[7] = g.kh;
  convG[8] = g.kw;
  convG[9] = g.sh;
  convG[10] = g.sw;
  convG[11] = g.padTop;
  convG[12] = g.padLeft;
  return convG;
}

const poolG = new Int32Array(12);
function packPool(g: PoolGeom): Int32Array {
  poolG[0] = g.n;
  poolG[1] = g.h;
  poolG[2] = g.w;
  poolG[3] = g.c;
  poolG[4] = g.oh;
  poolG[5] = g.ow;
  poolG[6] = g.ph;
  poolG[7] = g.pw;
  poolG[8] = g.sh;
  poolG[9] = g.sw;
  poolG[10] = g.padTop;
  poolG[11] = g.padLeft;
  return poolG;
}

let kernels: Kernels | null = null;

/** The oneDNN kernels, or null when the addon was not built or does not load (see nativeLoadError()). */
export function loadNative(): Kernels | null {
  if (kernels) return kernels;
  const a = load();
  if (!a) return null;
  kernels = {
    name: 'native',
    conv2dForward: (g, x, w, b, y, relu) => a.conv2dForward(packConv(g), x, w, b, y, relu),
    conv2dBackwardData: (g, dy, w, dx) => a.conv2dBackwardData(packConv(g), dy, w, dx),
    conv2dBackwardWeights: (g, x, dy, dw, db) => a.conv2dBackwardWeights(packConv(g), x, dy, dw, db),
    conv2dReluMaxPoolForward: (g, p, x, w, b, y, ws) => a.conv2dReluMaxPoolForward(packConv(g), packPool(p), x, w, b, y, ws),
    conv2dReluMaxPoolBackwardWeights: (g, p, x, dy, ws, y, dw, db) =>
      a.conv2dReluMaxPoolBackwardWeights(packConv(g), packPool(p), x, dy, ws, y, dw, db),
    maxPool2dForward: (g, x, y, ws) => a.maxPool2dForward(packPool(g), x, y, ws),
    maxPool2dBackward: (g, dy, ws, dx, reluOf) => a.maxPool2dBackward(packPool(g), dy, ws, dx, reluOf ?? null),
    avgPool2dForward: (g, x, y) => a.avgPool2dForward(packPool(g), x, y),
    avgPool2dBackward: (g, dy, dx) => a.avgPool2dBackward(packPool(g), dy, dx),
    denseForward: a.denseForward,
    denseBackwardData: a.denseBackwardData,
    denseBackwardWeights: a.denseBackwardWeights,
    batchNormForwardTraining: a.batchNormForwardTraining,
    batchNormForwardInference: a.batchNormForwardInference,
    batchNormBackward: a.batchNormBackward,
    eltwiseForward: (kind, x, y, alpha) => a.eltwiseForward(KIND[kind], x, y, eltwiseAlpha(kind, alpha)),
    eltwiseBackward: (kind, x, y, dy, dx, alpha) => a.eltwiseBackward(KIND[kind], x, y, dy, dx, eltwiseAlpha(kind, alpha)),
    softmaxForward: a.softmaxForward,
    softmaxBackward: a.softmaxBackward,
    softmaxCrossEntropy: a.softmaxCrossEntropy,
    sgdUpdate: a.sgdUpdate,
    rmspropUpdate: a.rmspropUpdate,
    adamUpdate: a.adamUpdate,
    dropoutForward: a.dropoutForward,
    dropoutBackward: a.dropoutBackward,
  };
  return kernels;
}

/** Why the addon did not load (first line of the error), or null if it loaded or was not tried. */
export function nativeLoadError(): string | null {
  load();
  return loadError;
}

export function nativeInfo(): NativeInfo | null {
  return load()?.info() ?? null;
}

/** Threads for oneDNN and the native loops (OpenMP); defaults to all cores. Drops cached primitives. */
export function setThreads(n: number): void {
  load()?.setThreads(n);
}

/**
 * 'bf16': convolutions and dense layers compute in bfloat16 (inputs, weights and output gradients are
 * rounded to bf16 at each call; results, gradients and the optimizer's master weights stay fp32).
 * Throws when the CPU has no native bf16, where oneDNN would emulate it slower than fp32.
 */
export function setPrecision(p: Precision): void {
  const a = load();
  if (!a) {
    if (p === 'bf16') throw new Error('setPrecision: bf16 needs the native core');
    return;
  }
  if (!a.setPrecision(p)) throw new Error(`setPrecision: this CPU (oneDNN ISA ${a.info().isa}) has no native bf16`);
  precision = p;
}
let precision: Precision = 'fp32';
export function getPrecision(): Precision {
  return precision;
}
