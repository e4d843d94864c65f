// The lab's training worker: the WebAssembly core (wasm/digits.wasm) with its threads (Web Workers
// started from WORKER_SOURCE on one shared memory), MNIST fetched once from `digits serve` and kept
// in the Cache API, and a LabSession (src/lab/session.ts) that trains, stops, resumes, fine-tunes,
// evaluates and exports. Training is synchronous in here; the page stops it through a shared flag.
import './lab-shims';
import { WasmCore, WORKER_SOURCE, type WorkerStart } from '../src/kernels/wasm';
import { LabSession, decodeMnist, modelTransfer, type LabData, type TrainHooks } from '../src/lab/session';
import { fromModelJson } from '../src/io/tfjs-json';
import { getPreset, type Recipe } from '../src/zoo/presets';
import { makeOptimizer } from '../src/model/optimizers';
import { isGzip } from '../src/data/idx';
import { MNIST_FILE_NAMES } from '../src/data/mnist';
import { CTRL_INPUT, CTRL_STOP, INPUT_PAUSE_MS, type DataInfo, type FromWorker, type RunResult, type ToWorker } from './lab-protocol';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
const CACHE = 'digits-mnist-v1';

let core: WasmCore | null = null;
let control: Int32Array<ArrayBufferLike> = new Int32Array(1);
let session: LabSession | null = null;
let data: LabData | null = null;
let dataInfo: DataInfo | null = null;
let recipe: Recipe | null = null;
let lastOpts: Extract<ToWorker, { type: 'train' }>['opts'] | null = null;

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** One idx file from the server, through the Cache API: the network only the first time. */
async function fetchIdx(name: string): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const url = new URL(`../api/mnist/${name}`, self.location.href).href;
  let cache: Cache | null = null;
  try {
    cache = await caches.open(CACHE);
  } catch {
    /* no Cache API (not a secure context): HTTP caching only */
  }
  let res = await cache?.match(url);
  const cached = !!res;
  if (!res) {
    res = await fetch(url);
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`;
      try {
        msg = (await res.json()).error ?? msg;
      } catch {
        /* not JSON */
      }
      throw new Error(`${name}: ${msg}`);
    }
    await cache?.put(url, res.clone());
  }
  const raw = new Uint8Array(await res.arrayBuffer());
  return { bytes: isGzip(raw) ? await gunzip(raw) : raw, cached };
}

async function loadData(): Promise<DataInfo> {
  if (data && dataInfo) return dataInfo;
  const t0 = performance.now();
  post({ type: 'status', text: 'fetching MNIST…' });
  const got = await Promise.all(MNIST_FILE_NAMES.map(fetchIdx));
  data = decodeMnist(Object.fromEntries(MNIST_FILE_NAMES.map((n, i) => [n, got[i].bytes])));
  if (session) session.data = data;
  dataInfo = {
    train: data.train.count,
    test: data.test.count,
    source: got.every((g) => g.cached) ? 'cache' : 'network',
    seconds: (performance.now() - t0) / 1000,
  };
  post({
    type: 'status',
    text: `MNIST: ${data.train.count.toLocaleString('en-US')} training and ${data.test.count.toLocaleString('en-US')} test digits (${dataInfo.source}, ${dataInfo.seconds.toFixed(1)} s)`,
  });
  return dataInfo;
}

async function init(threads: number, ctrl: SharedArrayBuffer): Promise<void> {
  control = new Int32Array(ctrl);
  const res = await fetch(new URL('../wasm/digits.wasm', self.location.href).href);
  if (!res.ok) throw new Error(`wasm/digits.wasm: ${res.status}`);
  const bytes = await res.arrayBuffer();
  const module = await WebAssembly.compile(bytes);
  const src = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const spawn = (start: WorkerStart) => {
    const w = new Worker(src, { name: `digits-wasm-${start.tid}` });
    w.onerror = (e) => post({ type: 'error', id: null, message: `wasm thread ${start.tid}: ${e.message}` });
    w.postMessage(start);
  };
  core = new WasmCore(module, bytes.byteLength, { threads, spawn, canBlock: true });
  post({ type: 'ready', threads: core.info().threads, isolated: self.crossOriginIsolated });
}

function weightsMessage(): void {
  if (!session) return;
  const values = session.model.getWeights().map((w) => w.slice());
  post(
    { type: 'weights', values },
    values.map((v) => v.buffer),
  );
}

/** Progress to the page (about 7 times a second), and the weights once a second so its views follow the training. */
function hooks(batchSize: number): TrainHooks {
  let lastProgress = 0,
    lastWeights = performance.now(),
    batches = 0;
  const t0 = performance.now();
  return {
    log: (text) => post({ type: 'log', text }),
    batch: (epoch, batch, steps, logs) => {
      batches++;
      const now = performance.now();
      if (now - lastProgress >= 150 || batch + 1 === steps) {
        lastProgress = now;
        post({
          type: 'progress',
          epoch,
          batch,
          steps,
          logs: { ...logs },
          at: epoch + (batch + 1) / steps,
          samplesPerSecond: (batches * batchSize) / ((now - t0) / 1000),
        });
      }
      if (now - lastWeights >= 1000) {
        lastWeights = now;
        weightsMessage();
      }
      // the page is answering a stroke: both cores are ours otherwise, so give it the machine for a moment
      // (not counted in samples/s: the batch clock stopped before this hook)
      if (Atomics.load(control, CTRL_INPUT) === 1) Atomics.wait(control, CTRL_INPUT, 1, INPUT_PAUSE_MS);
    },
    epoch: (epoch, logs) => post({ type: 'epoch', epoch, logs: { ...logs } }),
    stop: () => Atomics.load(control, CTRL_STOP) === 1,
  };
}

function need<T>(v: T | null, what: string): T {
  if (v === null) throw new Error(`${what} first`);
  return v;
}

async function run(resume: boolean, opts?: Extract<ToWorker, { type: 'train' }>['opts']): Promise<RunResult> {
  const s = need(session, 'load a model');
  await loadData();
  Atomics.store(control, CTRL_STOP, 0);
  post({ type: 'status', text: resume ? 'training (resumed)…' : 'training…' });
  if (!resume) lastOpts = opts!;
  const h = hooks(lastOpts?.batchSize ?? 32);
  const out = resume ? s.resume(h) : s.train({ ...opts!, recipe: opts!.preset ? recipe : null }, h);
  Atomics.store(control, CTRL_STOP, 0);
  weightsMessage();
  let test = null;
  if (!out.stopped) {
    post({ type: 'status', text: 'evaluating on the 10,000 test digits…' });
    test = s.evaluateTest();
  }
  return { ...out, canResume: s.canResume, test, threads: core?.info().threads ?? 1 };
}

async function handle(m: ToWorker): Promise<unknown> {
  switch (m.type) {
    case 'init':
      return init(m.threads, m.control);
    case 'data':
      return loadData();
    case 'model': {
      const k = need(core, 'init').kernels;
      const src = m.source;
      if (src.kind === 'preset') {
        const p = getPreset(src.preset);
        const model = p.build([28, 28, 1], 10, src.seed);
        const r = p.recipe;
        model.compile({
          optimizer: makeOptimizer(r.optimizer, { learningRate: r.learningRate }),
          loss: r.loss,
          labelSmoothing: r.labelSmoothing,
          metrics: ['accuracy'],
        });
        recipe = r;
        session = new LabSession(model, data, { preset: p.name, trainedIn: 'digits lab (browser, wasm core)' });
      } else {
        const loaded = fromModelJson(src.json, src.weights, src.name, k);
        recipe = null;
        session = new LabSession(loaded.model, data, { ...(src.metadata ?? {}), trainedIn: 'digits lab (browser, wasm core)' });
      }
      session.useKernels(k);
      return { params: session.model.countParams() };
    }
    case 'train':
      return run(false, m.opts);
    case 'resume':
      return run(true);
    case 'evaluate': {
      const s = need(session, 'load a model');
      await loadData();
      return s.evaluateTest();
    }
    case 'finetune': {
      const s = need(session, 'load a model');
      await loadData();
      Atomics.store(control, CTRL_STOP, 0);
      post({ type: 'status', text: `fine-tuning on ${m.examples.length} drawings mixed with MNIST…` });
      const out = s.fineTune(m.examples, m.opts, { ...hooks(32), stop: undefined });
      weightsMessage();
      return { ...out, canResume: false, test: null, threads: core?.info().threads ?? 1 };
    }
    case 'export': {
      const s = need(session, 'load a model');
      const meta = { ...(s.metadata ?? {}), exported: new Date().toISOString() };
      if (m.format === 'tfjs') {
        const { json, weights } = modelTransfer(s.model, meta);
        return { json: JSON.stringify(json), weights };
      }
      // h5wasm (~4 MB) is its own chunk, fetched the first time a .keras file is written
      const { writeKerasArchive } = await import('../src/io/keras-v3.js');
      return { keras: await writeKerasArchive(s.model, meta) };
    }
  }
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  queue = queue.then(async () => {
    try {
      const value = await handle(m);
      if (m.type !== 'init') post({ type: 'reply', id: m.id, value });
    } catch (err) {
      post({ type: 'error', id: 'id' in m ? m.id : null, message: (err as Error).message ?? String(err) });
    }
  });
};
