// The lab (web/lab.html): train a model in the page, watch it learn, look inside it, and teach it your
// handwriting. Training runs in a Web Worker (web/lab-worker.ts) on the WebAssembly core with its
// threads; this page keeps a copy of the model (the core's wasm module on one thread, or the reference
// kernels) that follows the worker's weights, so drawing is answered at once while training runs.
// window.digitsLab is the page's API (the browser tests drive it).
import './lab-shims';
import { WasmCore } from '../src/kernels/wasm';
import { reference } from '../src/kernels/reference';
import type { Kernels } from '../src/kernels/kernels';
import { fromModelJson } from '../src/io/tfjs-json';
import { PRESETS, getPreset } from '../src/zoo/presets';
import { makeOptimizer } from '../src/model/optimizers';
import { ImageError, preprocess, rgbaToGray, SIZE } from '../src/data/preprocess';
import { checkDigitModel, classify, type Prediction } from '../src/serve/predict';
import { activations, convFilters, filterSlice, saliency } from '../src/lab/inspect';
import { modelTransfer, type Mistake, type TestReport } from '../src/lab/session';
import type { Sequential } from '../src/model/sequential';
import { attachPad } from './pad';
import { CTRL_INPUT, CTRL_STOP, type DataInfo, type FromWorker, type ModelSource, type RunResult, type ToWorker } from './lab-protocol';
import type { LivePoint } from './lab-charts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const PIX = SIZE * SIZE;
const THROTTLE_MS = 80;
const STORE = 'digits-lab-drawings-v1';
const fmtPct = (v: number) => `${(v * 100).toFixed(2)}%`;

// ---------------------------------------------------------------- state

interface Drawing {
  id: string;
  label: number;
  role: 'train' | 'test';
  pixels: Uint8Array;
  before?: number;
  after?: number;
}

const st = {
  viewer: null as Sequential | null,
  viewerKernels: 'reference' as string,
  modelName: '',
  metadata: null as Record<string, unknown> | null,
  presetRecipe: false,
  threads: 1,
  isolated: false,
  training: false,
  busy: false,
  canResume: false,
  progress: null as null | { epoch: number; batch: number; steps: number; logs: Record<string, number>; samplesPerSecond: number },
  history: [] as { epoch: number; logs: Record<string, number> }[],
  result: null as RunResult | null,
  test: null as TestReport | null,
  data: null as DataInfo | null,
  pad: null as null | { pixels: Float32Array; prediction: Prediction },
  latencies: [] as number[],
  painted: [] as number[],
  timing: null as null | { preprocess: number; classify: number; queued: number },
  weightUpdates: 0,
  run: 0,
  error: '' as string,
  fineTune: null as null | {
    trainBefore: number;
    trainAfter: number;
    testBefore: number;
    testAfter: number;
    trainCount: number;
    testCount: number;
    seconds: number;
  },
  drawings: [] as Drawing[],
  teachDigit: 0,
};

// ---------------------------------------------------------------- the worker

const control = new SharedArrayBuffer(4 * 4);
const ctrl = new Int32Array(control);
const worker = new Worker(new URL('lab/lab-worker.js', document.baseURI), { type: 'module', name: 'digits-lab-trainer' });
let nextId = 1;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let workerReady: (v: { threads: number; isolated: boolean }) => void;
const ready = new Promise<{ threads: number; isolated: boolean }>((r) => {
  workerReady = r;
});

type Request = Extract<ToWorker, { id: number }> extends infer M ? (M extends unknown ? Omit<M, 'id'> : never) : never;
function request<T>(m: Request, transfer: Transferable[] = []): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ ...m, id } as ToWorker, transfer);
  });
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'ready':
      workerReady(m);
      break;
    case 'status':
      setStatus(m.text);
      break;
    case 'log':
      progressText(m.text);
      break;
    case 'progress':
      onProgress(m);
      break;
    case 'epoch':
      onEpoch(m.epoch, m.logs);
      break;
    case 'weights':
      onWeights(m.values);
      break;
    case 'reply':
      waiting.get(m.id)?.resolve(m.value);
      waiting.delete(m.id);
      break;
    case 'error':
      if (m.id !== null && waiting.has(m.id)) {
        waiting.get(m.id)!.reject(new Error(m.message));
        waiting.delete(m.id);
      } else showError(m.message);
      break;
  }
};
worker.onerror = (e) => showError(`training worker: ${e.message}`);

// ---------------------------------------------------------------- status, progress

function setStatus(text: string): void {
  $('status').textContent = text;
}
function showError(msg: string): void {
  st.error = msg;
  setStatus(`error: ${msg}`);
}

let progressLines: string[] = [''];
function progressText(text: string): void {
  // Keras' bar: '\r' redraws the line in place, ESC[K clears its end
  for (const part of text.replace(/\x1b\[K/g, '').split(/(\r|\n)/)) {
    if (part === '\r') progressLines[progressLines.length - 1] = '';
    else if (part === '\n') progressLines.push('');
    else progressLines[progressLines.length - 1] += part;
  }
  if (progressLines.length > 200) progressLines = progressLines.slice(-200);
  const el = $('progress');
  el.textContent = progressLines.join('\n');
  el.scrollTop = el.scrollHeight;
}

let live: import('./lab-charts.js').LiveCurves | null = null;
let chartsMod: Promise<typeof import('./lab-charts.js')> | null = null;
const charts = () => (chartsMod ??= import('./lab-charts.js'));

function onProgress(m: Extract<FromWorker, { type: 'progress' }>): void {
  st.progress = { epoch: m.epoch, batch: m.batch, steps: m.steps, logs: m.logs, samplesPerSecond: m.samplesPerSecond };
  $('rate').textContent =
    `${Math.round(m.samplesPerSecond).toLocaleString('en-US')} samples/s on ${st.threads} thread${st.threads > 1 ? 's' : ''}`;
  const rows: LivePoint[] = [];
  for (const metric of ['loss', 'accuracy'] as const)
    if (typeof m.logs[metric] === 'number')
      rows.push({ at: m.at, split: 'training (running mean)', metric, value: m.logs[metric], run: m.epoch });
  live?.add(rows);
}

function onEpoch(epoch: number, logs: Record<string, number>): void {
  st.history.push({ epoch, logs });
  const rows: LivePoint[] = [];
  for (const [k, metric] of [
    ['test_loss', 'loss'],
    ['test_accuracy', 'accuracy'],
    ['val_loss', 'loss'],
    ['val_accuracy', 'accuracy'],
  ] as const) {
    if (typeof logs[k] === 'number') rows.push({ at: epoch + 1, split: 'test', metric, value: logs[k], run: -1 });
  }
  live?.add(rows);
}

let weightTimer: number | undefined;
function onWeights(values: Float32Array[]): void {
  if (!st.viewer) return;
  try {
    st.viewer.setWeights(values);
  } catch {
    return; /* a model switch raced the message */
  }
  st.weightUpdates++;
  // the views follow the weights, at most a few times a second
  weightTimer ??= window.setTimeout(() => {
    weightTimer = undefined;
    refreshViews();
  }, 50);
}

// ---------------------------------------------------------------- viewer kernels

async function viewerKernels(): Promise<Kernels> {
  if (!self.crossOriginIsolated) return reference;
  try {
    const bytes = await (await fetch('wasm/digits.wasm')).arrayBuffer();
    // one thread, and a page's main thread may not block: it spins where a worker would wait
    const core = new WasmCore(await WebAssembly.compile(bytes), bytes.byteLength, { threads: 1, canBlock: false });
    st.viewerKernels = 'wasm';
    return core.kernels;
  } catch {
    return reference;
  }
}
let kernels: Kernels = reference;

// ---------------------------------------------------------------- loading models

function engineLine(): void {
  $('engine').textContent =
    `training: WebAssembly core, ${st.threads} thread${st.threads > 1 ? 's' : ''} in a Web Worker` +
    ` · cross-origin isolated: ${st.isolated ? 'yes' : 'no'} · drawing answered here on the ${st.viewerKernels} kernels` +
    (st.data ? ` · MNIST from ${st.data.source}` : '');
}

async function setModel(
  model: Sequential,
  name: string,
  metadata: Record<string, unknown> | null,
  source: ModelSource,
  recipe: boolean,
): Promise<void> {
  checkDigitModel(model, name);
  model.kernels = kernels;
  st.busy = true;
  buttons();
  try {
    await request({ type: 'model', source }, source.kind === 'json' ? [source.weights.buffer] : []);
  } finally {
    st.busy = false;
  }
  st.viewer = model;
  st.modelName = name;
  st.metadata = metadata;
  st.presetRecipe = recipe;
  st.canResume = false;
  st.test = null;
  st.result = null;
  st.history = [];
  const acc =
    metadata?.test && typeof (metadata.test as { accuracy?: unknown }).accuracy === 'number'
      ? ` · ${fmtPct((metadata.test as { accuracy: number }).accuracy)} on the test set (its file says)`
      : '';
  setStatus(`${name} · ${model.countParams().toLocaleString('en-US')} parameters${acc}`);
  buttons();
  refreshViews();
  renderDrawings();
}

async function loadPreset(name: string, seed: number): Promise<void> {
  const p = getPreset(name);
  const model = p.build([28, 28, 1], 10, seed);
  const r = p.recipe;
  model.compile({
    optimizer: makeOptimizer(r.optimizer, { learningRate: r.learningRate }),
    loss: r.loss,
    labelSmoothing: r.labelSmoothing,
    metrics: ['accuracy'],
  });
  ($('epochs') as HTMLInputElement).value = String(r.epochs);
  ($('batch') as HTMLInputElement).value = String(r.batchSize);
  await setModel(model, `${p.name} (seed ${seed}, untrained)`, { preset: p.name }, { kind: 'preset', preset: p.name, seed }, true);
}

async function loadJson(json: Record<string, unknown>, weights: Uint8Array, name: string): Promise<void> {
  const loaded = fromModelJson(json, weights, name, kernels);
  await sendLoaded(loaded.model, name, loaded.metadata);
}

/** A model read here (from a file or the server) goes to the worker as model.json + weights. */
async function sendLoaded(model: Sequential, name: string, metadata: Record<string, unknown> | null): Promise<void> {
  checkDigitModel(model, name);
  const { json, weights } = modelTransfer(model, metadata);
  ($('epochs') as HTMLInputElement).value = '1';
  ($('batch') as HTMLInputElement).value = '32';
  await setModel(model, name, metadata, { kind: 'json', name, json, weights, metadata }, false);
}

async function loadServed(): Promise<void> {
  const [json, weights, info] = await Promise.all([
    fetch('model/model.json').then((r) => {
      if (!r.ok) throw new Error(`model/model.json: ${r.status}`);
      return r.json();
    }),
    fetch('model/weights.bin').then((r) => r.arrayBuffer()),
    fetch('api/model')
      .then((r) => r.json())
      .catch(() => ({})),
  ]);
  await loadJson(json, new Uint8Array(weights), `served model${info?.preset ? ` (${info.preset})` : ''}`);
}

const isHdf5 = (b: Uint8Array) => [0x89, 0x48, 0x44, 0x46].every((v, i) => b[i] === v);
const isZip = (b: Uint8Array) => b[0] === 0x50 && b[1] === 0x4b;

/** Dropped or chosen files: a TF.js model.json with its weight files, a .keras archive or a Keras .h5. */
async function loadFiles(files: File[]): Promise<void> {
  if (files.length === 0) return;
  setStatus(`reading ${files.map((f) => f.name).join(', ')}…`);
  const json = files.find((f) => f.name.endsWith('.json'));
  if (json) {
    const mj = JSON.parse(await json.text());
    const paths: string[] = (mj.weightsManifest ?? []).flatMap((g: { paths?: string[] }) => g.paths ?? []);
    const parts = await Promise.all(
      paths.map(async (p) => {
        const base = p.split('/').pop()!;
        const f = files.find((x) => x.name === base);
        if (!f) throw new Error(`${json.name} needs ${base}: drop it together with model.json (or the whole directory)`);
        return new Uint8Array(await f.arrayBuffer());
      }),
    );
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    await loadJson(mj, all, json.name);
    return;
  }
  const f = files[0];
  const bytes = new Uint8Array(await f.arrayBuffer());
  if (isHdf5(bytes)) {
    // h5wasm is a chunk of its own, fetched the first time a Keras file is opened
    const [{ openH5 }, { readLegacyModel }] = await Promise.all([import('../src/io/hdf5.js'), import('../src/io/keras-h5.js')]);
    const h5 = await openH5(bytes, f.name);
    let loaded;
    try {
      loaded = readLegacyModel(h5, bytes.length, kernels);
    } finally {
      h5.close();
    }
    await sendLoaded(loaded.model, f.name, loaded.metadata);
  } else if (isZip(bytes)) {
    const { readKerasArchive } = await import('../src/io/keras-v3.js');
    const loaded = await readKerasArchive(bytes, f.name, kernels);
    await sendLoaded(loaded.model, f.name, loaded.metadata);
  } else {
    throw new Error(`${f.name}: not a model file (a TF.js model.json with its weights, a .keras archive or a Keras .h5)`);
  }
}

/** Every file of a dropped directory (one level down is where TF.js keeps its shards). */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items ?? [])
    .map((i) => i.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return Array.from(dt.files);
  const out: File[] = [];
  const walk = async (e: FileSystemEntry, depth: number): Promise<void> => {
    if (e.isFile) out.push(await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej)));
    else if (e.isDirectory && depth < 2) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const c of batch) await walk(c, depth + 1);
      }
    }
  };
  for (const e of entries) await walk(e, 0);
  return out.length > 0 ? out : Array.from(dt.files);
}

async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    st.error = '';
    return await fn();
  } catch (e) {
    showError(`${what}: ${(e as Error).message}`);
    throw e;
  }
}

// ---------------------------------------------------------------- the pad

const pad = $<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;
let padDirty = false;

function clearPad(): void {
  padCtx.fillStyle = '#fff';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  padDirty = false;
  inkBox = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  st.pad = null;
  showPrediction(null, null);
  refreshInside();
}

/** The ink's bounds on the pad (stroke widths included), as drawn. */
let inkBox = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
const small = document.createElement('canvas');
const smallCtx = small.getContext('2d', { willReadFrequently: true })!;
/** Longest side of what preprocess() gets: its stroke corrections work at 80 pixels, the box is 20. */
const WORK_SIDE = 112;

/**
 * The pad as MNIST's 28×28 through preprocess() (the server's steps), on the ink's box with a margin of
 * paper around it, scaled to at most WORK_SIDE pixels: what preprocess would crop to anyway, at a
 * fraction of the 280×280 pad's cost (it answers while training takes the cores).
 */
function padPixels(): Float32Array | null {
  if (!padDirty || !(inkBox.x1 > inkBox.x0)) return null;
  const margin = Math.max(12, 0.15 * Math.max(inkBox.x1 - inkBox.x0, inkBox.y1 - inkBox.y0));
  const x0 = Math.max(0, Math.floor(inkBox.x0 - margin)),
    y0 = Math.max(0, Math.floor(inkBox.y0 - margin));
  const x1 = Math.min(pad.width, Math.ceil(inkBox.x1 + margin)),
    y1 = Math.min(pad.height, Math.ceil(inkBox.y1 + margin));
  const scale = Math.min(1, WORK_SIDE / Math.max(x1 - x0, y1 - y0));
  const w = Math.max(1, Math.round((x1 - x0) * scale)),
    h = Math.max(1, Math.round((y1 - y0) * scale));
  small.width = w;
  small.height = h;
  smallCtx.imageSmoothingEnabled = true;
  smallCtx.imageSmoothingQuality = 'high';
  smallCtx.drawImage(pad, x0, y0, x1 - x0, y1 - y0, 0, 0, w, h);
  const { data } = smallCtx.getImageData(0, 0, w, h);
  try {
    return preprocess(rgbaToGray(data, w, h));
  } catch (e) {
    if (e instanceof ImageError) return null;
    throw e;
  }
}

const bars: HTMLElement[] = (() => {
  const box = $('bars');
  return Array.from({ length: 10 }, (_v, d) => {
    const label = document.createElement('span'),
      bar = document.createElement('div'),
      fill = document.createElement('div'),
      pct = document.createElement('span');
    label.textContent = String(d);
    bar.className = 'bar';
    bar.appendChild(fill);
    pct.id = `p${d}`;
    box.append(label, bar, pct);
    return bar;
  });
})();

function paintGray(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, w: number, h: number, scale = 255): void {
  canvas.width = w;
  canvas.height = h;
  const img = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = Math.max(0, Math.min(255, Math.round(pixels[i] * scale)));
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
}

function showPrediction(p: Prediction | null, seen: Float32Array | null): void {
  const best = p?.top[0];
  const pred = $('prediction');
  pred.textContent = best ? String(best.digit) : '';
  pred.dataset.digit = best ? String(best.digit) : '';
  $('confidence').textContent = best ? `${(best.probability * 100).toFixed(1)}% sure` : 'draw 0–9 in the box';
  bars.forEach((bar, d) => {
    const v = p?.probabilities[d] ?? 0;
    (bar.firstChild as HTMLElement).style.width = `${v * 100}%`;
    bar.classList.toggle('top', d === best?.digit);
    $(`p${d}`).textContent = p ? `${(v * 100).toFixed(1)}%` : '';
  });
  paintGray($<HTMLCanvasElement>('seen'), seen ?? new Float32Array(PIX), SIZE, SIZE);
}

/** Preprocess the pad and classify it; `since` (an event's timeStamp) records the answer's latency once painted. */
function predictPad(since?: number): void {
  const t0 = performance.now();
  const x = padPixels();
  const t1 = performance.now();
  if (!x || !st.viewer) {
    st.pad = null;
    showPrediction(null, null);
    return;
  }
  const p = classify(st.viewer, [x])[0];
  st.timing = { preprocess: t1 - t0, classify: performance.now() - t1, queued: since !== undefined ? t0 - since : 0 };
  st.pad = { pixels: x, prediction: p };
  showPrediction(p, x);
  if (since !== undefined) {
    // answered: the event's time stamp to the prediction in the page; painted: to the next frame
    const answered = performance.now() - since;
    st.latencies.push(answered);
    if (st.latencies.length > 100) st.latencies.shift();
    requestAnimationFrame(() => {
      st.painted.push(performance.now() - since);
      if (st.painted.length > 100) st.painted.shift();
    });
  }
  refreshInside();
}

(function setupPad(): void {
  let timer: number | undefined;
  const schedule = () => {
    timer ??= window.setTimeout(() => {
      timer = undefined;
      predictPad();
    }, THROTTLE_MS);
  };
  // while a stroke is drawn and answered the trainer pauses between batches (a quarter second at most each)
  const drawing = (on: boolean) => {
    Atomics.store(ctrl, CTRL_INPUT, on ? 1 : 0);
    if (!on) Atomics.notify(ctrl, CTRL_INPUT);
  };
  attachPad(pad, padCtx, {
    down: () => drawing(true),
    segment: (a, b) => {
      const pen = Number(($('pen') as HTMLInputElement).value);
      padCtx.lineWidth = pen;
      padDirty = true;
      inkBox = {
        x0: Math.min(inkBox.x0, a.x - pen / 2, b.x - pen / 2),
        y0: Math.min(inkBox.y0, a.y - pen / 2, b.y - pen / 2),
        x1: Math.max(inkBox.x1, a.x + pen / 2, b.x + pen / 2),
        y1: Math.max(inkBox.y1, a.y + pen / 2, b.y + pen / 2),
      };
    },
    drawn: schedule,
    up: (e) => {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      // a finished stroke is answered at once, training or not
      try {
        predictPad(e.timeStamp);
      } finally {
        drawing(false);
      }
    },
  });
  $('clear').addEventListener('click', clearPad);
})();

// ---------------------------------------------------------------- inside the network

/** Diverging colour for signed values in [-1, 1]: blue, white, red. */
function diverging(v: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
}

function paintRgb(canvas: HTMLCanvasElement, w: number, h: number, color: (i: number) => [number, number, number]): void {
  canvas.width = w;
  canvas.height = h;
  const img = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = color(i);
    img.data.set([r, g, b, 255], i * 4);
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
}

function tile(w: number, h: number, cssScale: number, title: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.style.width = `${w * cssScale}px`;
  c.style.height = `${h * cssScale}px`;
  c.title = title;
  return c;
}

function renderFilters(): void {
  const box = $('filters');
  const m = st.viewer;
  if (!m) {
    box.replaceChildren();
    return;
  }
  const all = convFilters(m, 2);
  if (all.length === 0) {
    box.innerHTML = '<p class="note">this model has no convolutions</p>';
    return;
  }
  box.replaceChildren(
    ...all.map((f, li) => {
      const [kh, kw, cin, cout] = f.shape;
      let max = 1e-12;
      for (const v of f.kernel) max = Math.max(max, Math.abs(v));
      const wrap = document.createElement('div');
      wrap.className = 'layer';
      const name = document.createElement('div');
      name.className = 'name';
      const outs = Math.min(cout, li === 0 ? 64 : 16),
        ins = li === 0 ? 1 : Math.min(cin, 8);
      name.textContent =
        `${f.layer}: ${cout} filters of ${kh}×${kw}×${cin}` +
        (li === 0 ? '' : ` (filters 1–${outs} down, input channels 1–${ins} across)`) +
        ' · red positive, blue negative';
      const grid = document.createElement('div');
      grid.className = 'grid filters';
      if (li > 0) Object.assign(grid.style, { display: 'grid', gridTemplateColumns: `repeat(${ins}, auto)`, width: 'max-content' });
      const scale = Math.max(4, Math.floor(36 / Math.max(kh, kw)));
      for (let o = 0; o < outs; o++)
        for (let c = 0; c < ins; c++) {
          const k = filterSlice(f, o, c);
          const t = tile(
            kw,
            kh,
            li === 0 ? scale : Math.max(3, Math.floor(scale * 0.6)),
            `${f.layer} filter ${o + 1}, input channel ${c + 1}`,
          );
          paintRgb(t, kw, kh, (i) => diverging(k[i] / max));
          grid.appendChild(t);
        }
      wrap.append(name, grid);
      return wrap;
    }),
  );
}

function renderActivations(x: Float32Array): void {
  const m = st.viewer!;
  const outs = activations(m, x);
  $('activations').replaceChildren(
    ...outs.map((o) => {
      const wrap = document.createElement('div');
      wrap.className = 'layer';
      const name = document.createElement('div');
      name.className = 'name';
      const grid = document.createElement('div');
      grid.className = 'grid maps';
      let max = 1e-12;
      for (const v of o.values) max = Math.max(max, Math.abs(v));
      if (o.shape.length === 3) {
        const [h, w, c] = o.shape;
        const shown = Math.min(c, 32);
        name.textContent = `${o.name} (${o.className}) ${h}×${w}×${c}${shown < c ? `, first ${shown} channels` : ''}`;
        const scale = Math.max(1, Math.floor(56 / Math.max(h, w)));
        for (let ch = 0; ch < shown; ch++) {
          const t = tile(w, h, scale, `${o.name} channel ${ch + 1}`);
          paintRgb(t, w, h, (i) => {
            const v = Math.round((255 * Math.max(0, o.values[i * c + ch])) / max);
            return [v, v, v];
          });
          t.style.background = '#000';
          grid.appendChild(t);
        }
      } else {
        const n = o.values.length;
        name.textContent = `${o.name} (${o.className}) ${n} units`;
        const isOut = o === outs[outs.length - 1];
        const perRow = Math.min(n, 64);
        const rows = Math.ceil(n / perRow);
        const t = tile(perRow, rows, isOut ? 24 : Math.max(4, Math.floor(512 / perRow)), `${o.name}`);
        paintRgb(t, perRow, rows, (i) => {
          if (i >= n) return [255, 255, 255];
          const v = o.values[i] / max;
          return v >= 0 ? diverging(v) : diverging(v);
        });
        grid.appendChild(t);
        if (isOut) {
          const lab = document.createElement('div');
          lab.className = 'note';
          lab.textContent = `outputs 0–${n - 1} (the top: ${o.values.indexOf(Math.max(...o.values))})`;
          grid.appendChild(lab);
        }
      }
      wrap.append(name, grid);
      return wrap;
    }),
  );
}

function renderSaliency(x: Float32Array): void {
  const m = st.viewer!;
  const s = saliency(m, x);
  let max = 1e-12;
  for (const v of s.gradient) max = Math.max(max, Math.abs(v));
  paintGray($<HTMLCanvasElement>('sal-input'), x, SIZE, SIZE);
  // the digit in gray, the gradient's magnitude as red over it
  paintRgb($<HTMLCanvasElement>('sal-overlay'), SIZE, SIZE, (i) => {
    const g = Math.abs(s.gradient[i]) / max,
      base = 40 + 120 * x[i];
    return [Math.round(base + (255 - base) * g), Math.round(base * (1 - g)), Math.round(base * (1 - g))];
  });
  paintRgb($<HTMLCanvasElement>('sal-signed'), SIZE, SIZE, (i) => diverging(s.gradient[i] / max));
  $('sal-caption').textContent = `|d ${s.logit ? 'logit' : 'output'}(${s.digit}) / d pixel| over the digit`;
  $('saliency-row').dataset.digit = String(s.digit);
}

function insideVisible(): boolean {
  return document.body.dataset.view === 'inside';
}

function refreshInside(): void {
  if (!insideVisible()) return;
  renderFilters();
  if (st.pad && st.viewer) {
    renderActivations(st.pad.pixels);
    renderSaliency(st.pad.pixels);
  } else {
    $('activations').innerHTML = '<p class="note">draw a digit</p>';
    for (const id of ['sal-input', 'sal-overlay', 'sal-signed']) paintGray($<HTMLCanvasElement>(id), new Float32Array(PIX), SIZE, SIZE);
    delete $('saliency-row').dataset.digit;
  }
}

function refreshViews(): void {
  if (padDirty) predictPad();
  else refreshInside();
  if (document.body.dataset.view === 'teach') renderDrawings();
}

// ---------------------------------------------------------------- training

function trainOptions(): { epochs: number; batchSize: number; limit?: number; seed: number; monitorTest: boolean } {
  const num = (id: string) => Number(($(id) as HTMLInputElement).value);
  const limit = ($('limit') as HTMLInputElement).value ? num('limit') : undefined;
  return {
    epochs: Math.max(1, num('epochs') | 0),
    batchSize: Math.max(1, num('batch') | 0),
    limit,
    seed: num('seed') | 0,
    monitorTest: ($('monitor') as HTMLInputElement).checked,
  };
}

async function startLive(title: string): Promise<void> {
  const c = await charts();
  live ??= new c.LiveCurves($('chart-live'));
  await live.reset(title);
}

async function train(opts: Partial<ReturnType<typeof trainOptions>> = {}, resume = false): Promise<RunResult> {
  if (!st.viewer) throw new Error('load a model first');
  if (st.training || st.busy) throw new Error('the worker is busy');
  const o = { ...trainOptions(), ...opts };
  // what runs is what the form shows
  ($('epochs') as HTMLInputElement).value = String(o.epochs);
  ($('batch') as HTMLInputElement).value = String(o.batchSize);
  ($('limit') as HTMLInputElement).value = o.limit ? String(o.limit) : '';
  ($('monitor') as HTMLInputElement).checked = o.monitorTest;
  st.training = true;
  st.run++;
  buttons();
  if (!resume) {
    progressLines = [''];
    st.history = [];
    await startLive(`${st.modelName}: training in this page`);
  }
  try {
    const r = await guarded('training', () =>
      resume ? request<RunResult>({ type: 'resume' }) : request<RunResult>({ type: 'train', opts: { ...o, preset: st.presetRecipe } }),
    );
    st.result = r;
    st.canResume = r.canResume;
    st.data = await request<DataInfo>({ type: 'data' });
    if (r.test) await showTest(r.test, r.history.history);
    const done = r.stopped
      ? `stopped at epoch ${r.epoch + 1}, batch ${r.batch} (resume continues it)`
      : `trained ${r.history.epoch.length} epoch${r.history.epoch.length > 1 ? 's' : ''}`;
    setStatus(
      `${st.modelName}: ${done} · ${Math.round(r.samplesPerSecond).toLocaleString('en-US')} samples/s` +
        (r.test ? ` · test accuracy ${fmtPct(r.test.accuracy)}` : ''),
    );
    engineLine();
    return r;
  } finally {
    st.training = false;
    buttons();
  }
}

function stop(): void {
  Atomics.store(ctrl, CTRL_STOP, 1);
}

async function evaluate(): Promise<TestReport> {
  st.busy = true;
  buttons();
  try {
    const t = await guarded('evaluate', () => request<TestReport>({ type: 'evaluate' }));
    st.data = await request<DataInfo>({ type: 'data' });
    engineLine();
    await showTest(t, null);
    setStatus(`${st.modelName}: test accuracy ${fmtPct(t.accuracy)}, loss ${t.loss.toFixed(4)}`);
    return t;
  } finally {
    st.busy = false;
    buttons();
  }
}

function digitDataUrl(pixels: ArrayLike<number>, scale: number): string {
  const c = document.createElement('canvas');
  paintGray(
    c,
    Array.from(pixels, (v) => 1 - v / scale),
    SIZE,
    SIZE,
    255,
  );
  return c.toDataURL('image/png');
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The report's misclassified grid (src/report/charts.ts misclassifiedSvg), drawn from the page's canvases. */
function mistakesSvg(items: Mistake[], title: string, columns = 12): string {
  const w = SIZE,
    h = SIZE,
    cell = 2 * w + 14,
    cellH = 2 * h + 30,
    top = 30;
  const cols = Math.max(1, Math.min(columns, items.length));
  const rows = Math.ceil(items.length / cols);
  const width = Math.max(cols * cell + 10, 360),
    height = top + Math.max(1, rows) * cellH + 6;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="5" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (items.length === 0) parts.push(`<text x="5" y="${top + 20}" font-size="12">no misclassified digits</text>`);
  items.forEach((it, i) => {
    const x = 5 + (i % cols) * cell,
      y = top + Math.floor(i / cols) * cellH;
    const png = digitDataUrl(it.pixels, 255);
    parts.push(
      `<g transform="translate(${x},${y})"><title>test #${it.index}: true ${it.label}, predicted ${it.predicted} (${(it.confidence * 100).toFixed(1)}%)</title>`,
      `<rect x="0" y="0" width="${2 * w + 2}" height="${2 * h + 2}" fill="none" stroke="#ccc"/>`,
      `<image x="1" y="1" width="${2 * w}" height="${2 * h}" style="image-rendering:pixelated" href="${png}"/>`,
      `<text x="0" y="${2 * h + 14}" font-size="11"><tspan fill="#2a7a2a">${it.label}</tspan><tspan fill="#666">→</tspan><tspan fill="#c0392b" font-weight="bold">${it.predicted}</tspan></text>`,
      `<text x="${2 * w + 2}" y="${2 * h + 14}" font-size="9" fill="#666" text-anchor="end">${Math.round(it.confidence * 100)}%</text>`,
      `<text x="0" y="${2 * h + 25}" font-size="8" fill="#999">#${it.index}</text></g>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function showTest(t: TestReport, history: Record<string, number[]> | null): Promise<void> {
  st.test = t;
  const c = await charts();
  $('test-summary').textContent =
    `test set: accuracy ${fmtPct(t.accuracy)}, loss ${t.loss.toFixed(4)} (${Math.round((1 - t.accuracy) * 10000)} of 10,000 wrong)`;
  if (history && Object.keys(history).length > 0)
    await c.draw($('chart-curves'), c.learningCurvesSpec(history, `${st.modelName}: learning curves (trained in this page)`));
  await c.draw($('chart-confusion'), c.confusionSpec(t.confusion, `${st.modelName}: confusion matrix (test set, ${fmtPct(t.accuracy)})`));
  const box = $('mistakes');
  box.innerHTML = mistakesSvg(t.mistakes, `the ${t.mistakes.length} most confident mistakes (true → predicted, confidence)`);
  box.dataset.drawn = 'true';
}

// ---------------------------------------------------------------- downloads

function save(name: string, bytes: Uint8Array | string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const fileBase = () => (st.modelName.split(' ')[0] || 'model').replace(/[^\w.-]+/g, '_').replace(/\.(keras|h5|json)$/, '');

async function download(format: 'keras' | 'tfjs'): Promise<{ name: string; bytes: number }[]> {
  st.busy = true;
  buttons();
  try {
    const r = await guarded('download', () =>
      request<{ keras?: Uint8Array; json?: string; weights?: Uint8Array }>({ type: 'export', format }),
    );
    if (r.keras) {
      save(`${fileBase()}.keras`, r.keras, 'application/zip');
      return [{ name: `${fileBase()}.keras`, bytes: r.keras.length }];
    }
    save('model.json', r.json!, 'application/json');
    save('weights.bin', r.weights!, 'application/octet-stream');
    return [
      { name: 'model.json', bytes: r.json!.length },
      { name: 'weights.bin', bytes: r.weights!.length },
    ];
  } finally {
    st.busy = false;
    buttons();
  }
}

// ---------------------------------------------------------------- your handwriting

const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

function loadDrawings(): void {
  try {
    const raw = JSON.parse(localStorage.getItem(STORE) ?? '[]') as { id: string; label: number; role: 'train' | 'test'; pixels: string }[];
    st.drawings = raw
      .filter((d) => d && typeof d.pixels === 'string')
      .map((d) => ({ ...d, pixels: unb64(d.pixels) }))
      .filter((d) => d.pixels.length === PIX);
  } catch {
    st.drawings = [];
  }
}

function storeDrawings(): void {
  localStorage.setItem(STORE, JSON.stringify(st.drawings.map((d) => ({ id: d.id, label: d.label, role: d.role, pixels: b64(d.pixels) }))));
}

const toFloat = (p: Uint8Array) => Float32Array.from(p, (v) => v / 255);

function predictDrawings(list: Drawing[]): number[] {
  if (!st.viewer || list.length === 0) return [];
  return classify(
    st.viewer,
    list.map((d) => toFloat(d.pixels)),
  ).map((p) => p.top[0].digit);
}

function renderDrawings(): void {
  const now = predictDrawings(st.drawings);
  for (const role of ['train', 'test'] as const) {
    const box = $(`teach-${role}`);
    box.replaceChildren(
      ...st.drawings
        .map((d, i) => ({ d, i }))
        .filter(({ d }) => d.role === role)
        .map(({ d, i }) => {
          const fig = document.createElement('figure'),
            c = document.createElement('canvas'),
            cap = document.createElement('figcaption');
          paintGray(c, d.pixels, SIZE, SIZE, 1);
          const pred = now[i];
          const before = d.before !== undefined ? `${d.before}→` : '';
          cap.innerHTML = `${d.label}: <span class="${pred === d.label ? 'ok' : 'bad'}">${before}${pred ?? '?'}</span>`;
          fig.title = `drawn ${d.label}; the model says ${pred}${d.before !== undefined ? ` (before fine-tuning: ${d.before})` : ''}; click to delete`;
          fig.dataset.label = String(d.label);
          fig.addEventListener('click', () => {
            st.drawings = st.drawings.filter((x) => x.id !== d.id);
            storeDrawings();
            renderDrawings();
          });
          fig.append(c, cap);
          return fig;
        }),
    );
  }
  const n = (r: string) => st.drawings.filter((d) => d.role === r).length;
  $('teach-count').textContent = `${n('train')} training and ${n('test')} held-out drawings`;
  buttons();
}

function addDrawing(role: 'train' | 'test', label = st.teachDigit): Drawing {
  const x = padPixels();
  if (!x) throw new Error('draw a digit first');
  const d: Drawing = {
    id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    label,
    role,
    pixels: Uint8Array.from(x, (v) => Math.round(v * 255)),
  };
  st.drawings.push(d);
  storeDrawings();
  clearPad();
  // the next digit is asked for next
  setTeachDigit((label + 1) % 10);
  renderDrawings();
  return d;
}

function setTeachDigit(d: number): void {
  st.teachDigit = d;
  $('teach-digits')
    .querySelectorAll('button')
    .forEach((b, i) => b.classList.toggle('on', i === d));
}

async function fineTune(o: { epochs?: number; mnist?: number; repeat?: number; learningRate?: number } = {}) {
  if (!st.viewer) throw new Error('load a model first');
  const trainSet = st.drawings.filter((d) => d.role === 'train'),
    testSet = st.drawings.filter((d) => d.role === 'test');
  if (trainSet.length === 0) throw new Error('add some training drawings first');
  const acc = (list: Drawing[], preds: number[]) => preds.filter((p, i) => p === list[i].label).length;
  const beforeAll = predictDrawings(st.drawings);
  st.drawings.forEach((d, i) => {
    d.before = beforeAll[i];
  });
  const trainBefore = acc(trainSet, predictDrawings(trainSet)),
    testBefore = acc(testSet, predictDrawings(testSet));
  st.training = true;
  buttons();
  progressLines = [''];
  try {
    const num = (id: string) => Number(($(id) as HTMLInputElement).value);
    const opts = {
      epochs: o.epochs ?? num('ft-epochs'),
      mnist: o.mnist ?? num('ft-mnist'),
      repeat: o.repeat,
      learningRate: o.learningRate,
    };
    const r = await guarded('fine-tuning', () =>
      request<RunResult>({ type: 'finetune', examples: trainSet.map((d) => ({ pixels: toFloat(d.pixels), label: d.label })), opts }),
    );
    // the worker's last weights arrive before its reply
    const trainAfter = acc(trainSet, predictDrawings(trainSet)),
      testAfter = acc(testSet, predictDrawings(testSet));
    const afterAll = predictDrawings(st.drawings);
    st.drawings.forEach((d, i) => {
      d.after = afterAll[i];
    });
    st.fineTune = {
      trainBefore,
      trainAfter,
      testBefore,
      testAfter,
      trainCount: trainSet.length,
      testCount: testSet.length,
      seconds: r.seconds,
    };
    $('teach-result').innerHTML =
      `Fine-tuned in ${r.seconds.toFixed(1)} s on ${trainSet.length} drawings and ${opts.mnist} MNIST digits. ` +
      `Held-out drawings: <b>${testBefore}/${testSet.length}</b> right before → <b>${testAfter}/${testSet.length}</b> after; ` +
      `training drawings: ${trainBefore}/${trainSet.length} → ${trainAfter}/${trainSet.length}. (Evaluate on the test set to see what MNIST thinks.)`;
    st.canResume = false;
    setStatus(
      `${st.modelName}: fine-tuned on ${trainSet.length} drawings · held-out drawings ${testBefore}/${testSet.length} → ${testAfter}/${testSet.length}`,
    );
    renderDrawings();
    return st.fineTune;
  } finally {
    st.training = false;
    buttons();
  }
}

/** The drawings as an idx pair (train-images-idx3-ubyte, train-labels-idx1-ubyte) that `digits train --data` reads. */
function idxPair(role?: 'train' | 'test'): { images: Uint8Array; labels: Uint8Array } {
  const list = st.drawings.filter((d) => !role || d.role === role);
  const images = new Uint8Array(16 + list.length * PIX),
    labels = new Uint8Array(8 + list.length);
  const iv = new DataView(images.buffer),
    lv = new DataView(labels.buffer);
  iv.setUint32(0, 0x803);
  iv.setUint32(4, list.length);
  iv.setUint32(8, SIZE);
  iv.setUint32(12, SIZE);
  lv.setUint32(0, 0x801);
  lv.setUint32(4, list.length);
  list.forEach((d, i) => {
    images.set(d.pixels, 16 + i * PIX);
    labels[8 + i] = d.label;
  });
  return { images, labels };
}

function exportIdx(): { images: number; labels: number; count: number } {
  const { images, labels } = idxPair();
  save('train-images-idx3-ubyte', images, 'application/octet-stream');
  save('train-labels-idx1-ubyte', labels, 'application/octet-stream');
  return { images: images.length, labels: labels.length, count: labels.length - 8 };
}

// ---------------------------------------------------------------- controls

function buttons(): void {
  const has = !!st.viewer,
    idle = has && !st.training && !st.busy;
  const set = (id: string, on: boolean) => {
    ($(id) as HTMLButtonElement).disabled = !on;
  };
  set('train', idle);
  set('stop', st.training);
  set('resume', idle && st.canResume);
  set('evaluate', idle);
  set('dl-keras', idle);
  set('dl-tfjs', idle);
  set('load', !st.training && !st.busy);
  set('finetune', idle && st.drawings.some((d) => d.role === 'train'));
  document.body.dataset.training = String(st.training);
}

function showView(v: 'train' | 'inside' | 'teach'): void {
  document.body.dataset.view = v;
  document.querySelectorAll('nav button').forEach((b) => b.classList.toggle('on', (b as HTMLElement).dataset.view === v));
  if (v === 'inside') refreshInside();
  if (v === 'teach') renderDrawings();
}

function wire(): void {
  const sel = $<HTMLSelectElement>('source');
  const opt = (value: string, text: string) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  };
  sel.append(opt('served', 'the served model'), ...PRESETS.map((p) => opt(`preset:${p.name}`, `${p.name} (untrained)`)));
  const loadSelected = () => {
    const v = sel.value,
      seed = Number(($('seed') as HTMLInputElement).value) | 0;
    return v === 'served' ? loadServed() : loadPreset(v.slice('preset:'.length), seed);
  };
  $('load').addEventListener('click', () => {
    void guarded('load', loadSelected).catch(() => {});
  });
  $('files').addEventListener('change', (e) => {
    const files = Array.from((e.target as HTMLInputElement).files ?? []);
    void guarded('open', () => loadFiles(files)).catch(() => {});
  });
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.target === document.documentElement || e.target === document.body) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    if (!e.dataTransfer) return;
    const dt = e.dataTransfer;
    void guarded('open', async () => loadFiles(await droppedFiles(dt))).catch(() => {});
  });
  $('train').addEventListener('click', () => {
    void train().catch(() => {});
  });
  $('stop').addEventListener('click', stop);
  $('resume').addEventListener('click', () => {
    void train({}, true).catch(() => {});
  });
  $('evaluate').addEventListener('click', () => {
    void evaluate().catch(() => {});
  });
  $('dl-keras').addEventListener('click', () => {
    void download('keras').catch(() => {});
  });
  $('dl-tfjs').addEventListener('click', () => {
    void download('tfjs').catch(() => {});
  });
  document
    .querySelectorAll('nav button')
    .forEach((b) => b.addEventListener('click', () => showView((b as HTMLElement).dataset.view as 'train')));
  const digits = $('teach-digits');
  for (let d = 0; d < 10; d++) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = String(d);
    b.addEventListener('click', () => setTeachDigit(d));
    digits.appendChild(b);
  }
  setTeachDigit(0);
  $('add-train').addEventListener('click', () => {
    try {
      addDrawing('train');
    } catch (e) {
      showError((e as Error).message);
    }
  });
  $('add-test').addEventListener('click', () => {
    try {
      addDrawing('test');
    } catch (e) {
      showError((e as Error).message);
    }
  });
  $('finetune').addEventListener('click', () => {
    void fineTune().catch(() => {});
  });
  $('export-idx').addEventListener('click', () => {
    exportIdx();
  });
  $('clear-drawings').addEventListener('click', () => {
    if (confirm('Delete all your drawings?')) {
      st.drawings = [];
      storeDrawings();
      renderDrawings();
    }
  });
}

// ---------------------------------------------------------------- the page API

const api = {
  /** 'served', 'preset:NAME' (seed from opts) or files. */
  async load(src: string | File[], opts: { seed?: number } = {}) {
    if (Array.isArray(src)) await loadFiles(src);
    else if (src === 'served') await loadServed();
    else await loadPreset(src.replace(/^preset:/, ''), opts.seed ?? 0);
    return { name: st.modelName, params: st.viewer!.countParams() };
  },
  train: (opts: Partial<ReturnType<typeof trainOptions>> = {}) => train(opts),
  resume: () => train({}, true),
  stop,
  evaluate,
  /** Classify 28×28 digits (784 numbers in [0, 1] each) on the page's copy of the model. */
  predict(digits: ArrayLike<number>[]): Prediction[] {
    if (!st.viewer) throw new Error('load a model first');
    return classify(
      st.viewer,
      digits.map((d) => Float32Array.from(d)),
    );
  },
  saliency(digit: ArrayLike<number>) {
    const s = saliency(st.viewer!, Float32Array.from(digit));
    return { digit: s.digit, gradient: Array.from(s.gradient), logit: s.logit };
  },
  state() {
    return {
      model: st.viewer ? { name: st.modelName, params: st.viewer.countParams(), layers: st.viewer.layers.map((l) => l.name) } : null,
      isolated: self.crossOriginIsolated,
      threads: st.threads,
      viewerKernels: st.viewerKernels,
      training: st.training,
      busy: st.busy,
      canResume: st.canResume,
      progress: st.progress,
      history: st.history,
      result: st.result && { ...st.result, test: st.result.test && { loss: st.result.test.loss, accuracy: st.result.test.accuracy } },
      test: st.test && { loss: st.test.loss, accuracy: st.test.accuracy, mistakes: st.test.mistakes.length },
      data: st.data,
      pad: st.pad && {
        digit: st.pad.prediction.top[0].digit,
        probabilities: st.pad.prediction.probabilities,
        pixels: Array.from(st.pad.pixels),
      },
      latencies: [...st.latencies],
      painted: [...st.painted],
      timing: st.timing,
      weightUpdates: st.weightUpdates,
      livePoints: live?.points ?? 0,
      error: st.error,
      fineTune: st.fineTune,
      drawings: st.drawings.map((d) => ({ label: d.label, role: d.role, before: d.before, after: d.after })),
      view: document.body.dataset.view,
    };
  },
  showView,
  clearPad,
  addDrawing: (role: 'train' | 'test', label?: number) => {
    const d = addDrawing(role, label);
    return { id: d.id, label: d.label, role: d.role };
  },
  clearDrawings() {
    st.drawings = [];
    storeDrawings();
    renderDrawings();
  },
  fineTune,
  download,
  exportIdx,
  idxPair: () => {
    const p = idxPair();
    return { images: Array.from(p.images), labels: Array.from(p.labels) };
  },
  setPen(width: number) {
    ($('pen') as HTMLInputElement).value = String(width);
  },
  chartsSettled: async () => {
    await live?.settled();
  },
  ready: null as unknown as Promise<void>,
};
(window as unknown as { digitsLab: typeof api }).digitsLab = api;

/** Runs the drawing path once on a stroke of its own, so the first real stroke finds it compiled (about 0.4 s of JIT). */
function warmUp(): void {
  const c = document.createElement('canvas');
  c.width = c.height = 96;
  const g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, 96, 96);
  Object.assign(g, { lineWidth: 8, lineCap: 'round', strokeStyle: '#000' });
  g.beginPath();
  g.moveTo(30, 20);
  g.lineTo(66, 20);
  g.lineTo(44, 80);
  g.stroke();
  try {
    preprocess(rgbaToGray(g.getImageData(0, 0, 96, 96).data, 96, 96));
  } catch {
    /* only warming */
  }
}

async function main(): Promise<void> {
  wire();
  loadDrawings();
  clearPad();
  buttons();
  if (!self.crossOriginIsolated) {
    showError('this page is not cross-origin isolated (no SharedArrayBuffer): serve it with `digits serve`, which sends COOP/COEP');
    return;
  }
  kernels = await viewerKernels();
  warmUp();
  const threads = Math.max(1, Number(new URLSearchParams(location.search).get('threads')) || navigator.hardwareConcurrency || 1);
  worker.postMessage({ type: 'init', threads, control } as ToWorker);
  const info = await ready;
  st.threads = info.threads;
  st.isolated = info.isolated;
  engineLine();
  // the served model when there is one, else the first preset
  try {
    await loadServed();
  } catch {
    ($('source') as HTMLSelectElement).value = `preset:${PRESETS[0].name}`;
    await loadPreset(PRESETS[0].name, 0);
  }
  document.body.dataset.ready = 'true';
}

api.ready = main().catch((e) => {
  showError(`could not start: ${(e as Error).message}`);
});
