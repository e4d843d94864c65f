// Backend selection: native (oneDNN) when the addon loads, else the WebAssembly core (wasm/digits.wasm,
// SIMD + threads), else the reference core with one warning. DIGITS_BACKEND=reference|native|wasm forces one.
import type { Kernels } from './kernels';
import { reference } from './reference';
import { DigitsError } from '../errors';

export type { Kernels } from './kernels';
export { reference } from './reference';

interface NativeModule {
  loadNative(): Kernels | null;
  nativeInfo(): { isa: string; threads: number; onednn: string } | null;
  setThreads(n: number): void;
  setPrecision?(p: 'fp32' | 'bf16'): void;
  getPrecision?(): 'fp32' | 'bf16';
  nativeLoadError?(): string | null;
}

let native: NativeModule | null | undefined;
function nativeModule(): NativeModule | null {
  if (native === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      native = require('./native') as NativeModule;
    } catch {
      native = null;
    }
  }
  return native;
}

interface WasmModule {
  loadWasm(): Kernels | null;
  wasmInfo(): { threads: number } | null;
  wasmLoadError(): string | null;
  setWasmThreads(n: number): void;
}

let wasm: WasmModule | null | undefined;
function wasmModule(): WasmModule | null {
  if (wasm === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      wasm = require('./wasm') as WasmModule;
    } catch {
      wasm = null;
    }
  }
  return wasm;
}

let chosen: Kernels | undefined;
let warned = false;

export function getKernels(): Kernels {
  if (chosen) return chosen;
  const want = process.env.DIGITS_BACKEND;
  if (want && want !== 'reference' && want !== 'native' && want !== 'wasm')
    throw new DigitsError(`DIGITS_BACKEND: expected 'reference', 'native' or 'wasm', got '${want}'`, 2);
  if (want === 'reference') return (chosen = reference);
  const k = want === 'wasm' ? null : (nativeModule()?.loadNative() ?? null);
  if (k) return (chosen = k);
  if (want === 'native')
    throw new DigitsError(
      `DIGITS_BACKEND=native but the native core is not available (${nativeModule()?.nativeLoadError?.() ?? 'addon not built'}); run npm ci on a machine with libdnnl-dev`,
    );
  const wk = wasmModule()?.loadWasm() ?? null;
  if (wk) return (chosen = wk);
  if (want === 'wasm')
    throw new DigitsError(
      `DIGITS_BACKEND=wasm but the WebAssembly core does not load (${wasmModule()?.wasmLoadError() ?? 'src/kernels/wasm missing'})`,
    );
  if (!warned) {
    warned = true;
    process.stderr.write('digits: native and WebAssembly cores not available, using the reference TypeScript core (slow)\n');
  }
  return (chosen = reference);
}

/** One line for `digits --version`: the active backend and, for native, oneDNN's ISA. */
export function backendDescription(): string {
  const k = getKernels();
  if (k.name === 'wasm') return `backend: wasm (WebAssembly SIMD128, ${wasmModule()?.wasmInfo()?.threads ?? 1} threads)`;
  if (k.name !== 'native') return 'backend: reference (TypeScript)';
  const info = nativeModule()?.nativeInfo();
  return info ? `backend: native (oneDNN ${info.onednn}, ISA ${info.isa}, ${info.threads} threads)` : 'backend: native';
}

export function setThreads(n: number): void {
  if (getKernels().name === 'wasm') wasmModule()?.setWasmThreads(n);
  else nativeModule()?.setThreads(n);
}

/** The precision convolutions and dense layers compute in now: fp32 unless setPrecision('bf16') took. */
export function getPrecision(): 'fp32' | 'bf16' {
  return getKernels().name === 'native' ? (nativeModule()?.getPrecision?.() ?? 'fp32') : 'fp32';
}

/** 'bf16' computes convolutions and dense layers in bfloat16 on the native core (fp32 master weights). */
export function setPrecision(p: 'fp32' | 'bf16'): void {
  if (p === 'fp32' && getKernels().name !== 'native') return;
  if (getKernels().name !== 'native')
    throw new DigitsError('--precision bf16: needs the native core (the reference core computes in fp32 only)', 2);
  try {
    nativeModule()!.setPrecision!(p);
  } catch (e) {
    throw new DigitsError(`--precision ${p}: ${(e as Error).message.replace(/^setPrecision: /, '')}`, 2);
  }
}
