// `digits serve`: the HTTP API and the draw-a-digit page. Every input is untrusted: bodies are capped,
// content types checked, work bounded and batched (the worker pool; or Limiter and Batcher on the event
// loop with workers 0), and every failure a client can cause becomes a 4xx JSON `{error}`; nothing it
// sends can throw past a handler. /metrics speaks Prometheus.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { toModelJson, weightsBuffer } from '../io/tfjs';
import { loadModelFile } from '../io/model-file';
import type { LoadedModel } from '../io/tfjs-json';
import { DigitsError } from '../errors';
import { findIdxFile, loadSplitFiles, MNIST_FILES, MNIST_FILE_NAMES, type LoadedSplit } from '../data/mnist';
import { ImageError, imageToDigits, MAX_FILE_BYTES } from '../data/image';
import { preprocess, SIZE } from '../data/preprocess';
import { getKernels } from '../kernels';
import { wasmPath } from '../kernels/wasm';
import { checkDigitModel, predictAnswer, type Prediction } from './predict';
import { Batcher, Limiter } from './queue';
import { WorkerPool, type JobInput } from './pool';
import { ServeMetrics } from './metrics';

export interface ServeOptions {
  /** Worker threads that decode, preprocess and infer (default: one per core); 0 runs them on the event loop. */
  workers?: number;
  /** The model file or directory (names it in errors and in /api/model). */
  modelDir: string;
  /** The model already loaded (the CLI loads it with --weights / --raw-pixels); else modelDir is read. */
  loaded?: LoadedModel;
  /** MNIST directory for the page's strip of test digits; optional. */
  dataDir?: string;
  maxBodyBytes?: number;
  /** Jobs (decode + preprocess + inference) in flight at once, and waiting before 503. */
  maxActive?: number;
  maxWaiting?: number;
  /** Longest wait for a slot, and longest time to receive a request, in ms. */
  timeoutMs?: number;
  logger?: boolean;
}

const ROOT = path.resolve(__dirname, '../../..');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(ROOT, 'web/index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(ROOT, 'dist/web/app.js'), type: 'text/javascript; charset=utf-8' },
};
// the lab (web/lab.html): esbuild's ES module chunks in dist/web/lab/, and the WebAssembly core it trains on
const LAB_DIR = path.join(ROOT, 'dist/web/lab');
const LAB_ASSET = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.js(\.map)?$/;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'application/octet-stream'];
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  // cross-origin isolation on the pages and everything they load: SharedArrayBuffer (the lab's wasm threads) needs it
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

// the lab compiles WebAssembly, starts its threads from a Blob (WORKER_SOURCE) and lets Vega compile its
// chart expressions (new Function): wasm-unsafe-eval, unsafe-eval and blob: workers, on that page only
const LAB_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** A JSON body `{pixels: 28×28 (or 784) numbers in [0, 1], preprocess?: boolean}` → checked pixels (cheap, so on the event loop). */
function jsonPixels(body: unknown): { pixels: Float32Array; preprocess: boolean } {
  const b = body as { pixels?: unknown; preprocess?: unknown } | null;
  if (!b || typeof b !== 'object' || Array.isArray(b))
    throw new ImageError('JSON body must be an object {pixels: 28x28 numbers in [0, 1]}');
  const p = b.pixels;
  const flat: unknown[] | null = !Array.isArray(p)
    ? null
    : p.length === SIZE && p.every((r) => Array.isArray(r) && r.length === SIZE)
      ? (p as unknown[][]).flat()
      : p.length === SIZE * SIZE
        ? p
        : null;
  if (!flat) throw new ImageError('pixels: expected 28 rows of 28 numbers (or 784 numbers)');
  const x = new Float32Array(SIZE * SIZE);
  flat.forEach((v, i) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      throw new ImageError(`pixels: value ${i} is ${JSON.stringify(v)}, expected a number in [0, 1]`);
    x[i] = v;
  });
  if (b.preprocess !== undefined && typeof b.preprocess !== 'boolean') throw new ImageError('preprocess: expected true or false');
  return { pixels: x, preprocess: b.preprocess === true };
}

function loadSamples(dir: string | undefined): LoadedSplit | null {
  if (!dir) return null;
  const images = findIdxFile(dir, MNIST_FILES.testImages),
    labels = findIdxFile(dir, MNIST_FILES.testLabels);
  if (!images || !labels) return null;
  const s = loadSplitFiles(images, labels);
  return s.height === SIZE && s.width === SIZE ? s : null;
}

/** The page runs the model from a model.json: TF.js' own form when TF.js can name every activation, else Keras 3's. */
function pageModelJson(model: Parameters<typeof toModelJson>[0], metadata?: Record<string, unknown>): Record<string, unknown> {
  try {
    return toModelJson(model, metadata);
  } catch (e) {
    if (!(e instanceof DigitsError)) throw e;
    return toModelJson(model, metadata, 'keras3');
  }
}

export async function buildServer(opts: ServeOptions): Promise<FastifyInstance> {
  const { model, metadata } = opts.loaded ?? (await loadModelFile(opts.modelDir));
  checkDigitModel(model, opts.modelDir);
  const modelJson = JSON.stringify(pageModelJson(model, metadata ?? undefined));
  const weights = weightsBuffer(model);
  const samples = loadSamples(opts.dataDir);
  const bodyLimit = opts.maxBodyBytes ?? MAX_FILE_BYTES;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const metrics = new ServeMetrics();
  const workers = opts.workers ?? os.availableParallelism();
  // with workers, the pool bounds and batches the work; without, the Limiter and Batcher do on the event loop
  const pool =
    workers > 0
      ? new WorkerPool(
          { modelJson: JSON.parse(modelJson), weights: new Uint8Array(weights), threads: 1 },
          { workers, maxWaiting: opts.maxWaiting, timeoutMs, onBatch: (n) => metrics.batch(n) },
        )
      : null;
  const limiter = new Limiter(opts.maxActive ?? 8, opts.maxWaiting ?? 4096, timeoutMs);
  const batcher = new Batcher(model, 64, (n) => metrics.batch(n));
  metrics.queue(() => (pool ? pool.load : { ...limiter.load, workers: 0 }));
  let closing = false;

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit,
    requestTimeout: timeoutMs,
    connectionTimeout: 2 * timeoutMs,
    keepAliveTimeout: 5_000,
  });
  await app.register(multipart, { limits: { fileSize: bodyLimit, files: 1, fields: 4, parts: 5, fieldSize: 1024, headerPairs: 50 } });
  // fastify parses text/plain to a string by default, which nothing here accepts (and sharp would take for a path)
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number; status?: number }, req, reply) => {
    const status = err instanceof ImageError ? err.status : (err.statusCode ?? 500);
    if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      err.message = `content type '${req.headers['content-type'] ?? '(none)'}' not accepted: send image/png, image/jpeg, image/webp, multipart/form-data or application/json`;
    if (status >= 500 && status !== 503) req.log.error(err);
    if (status === 503) reply.header('retry-after', '1');
    reply.code(status).send({ error: status >= 500 && status !== 503 ? 'internal error' : err.message.split('\n')[0] });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no such route: ${req.method} ${req.url.split('?')[0]}` });
  });
  // hooks on every request take a callback rather than return a promise: one allocation less per request each
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    // a kept-alive socket that goes idle after close() began would hold the process for keepAliveTimeout
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    await pool?.close();
  });
  app.addHook('onResponse', (req, reply, done) => {
    metrics.request(req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  /** The request's input: image bytes, or checked pixels from JSON. */
  async function bodyInput(req: FastifyRequest, row: boolean): Promise<JobInput> {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type === 'application/json') return jsonPixels(req.body);
    if (type === 'multipart/form-data') {
      let buf: Buffer, name: string;
      try {
        const file = await req.file();
        if (!file) throw new ImageError('multipart body has no file part');
        [buf, name] = [await file.toBuffer(), file.filename || 'upload'];
      } catch (e) {
        // busboy's parse errors carry no status: they are the client's malformed body all the same
        if (e instanceof ImageError || (e as { statusCode?: number }).statusCode) throw e;
        throw new ImageError(`multipart body: ${(e as Error).message.split('\n')[0]}`);
      }
      return { image: buf, name, row };
    }
    return { image: req.body as Buffer, name: 'body', row };
  }

  /** The event-loop path (workers 0): what a worker does, through the Limiter and Batcher. */
  async function inProcess(input: JobInput): Promise<{ digits: Float32Array[]; predictions: Prediction[] }> {
    return limiter.run(async () => {
      const digits =
        'image' in input
          ? await imageToDigits(input.image, input.name, input.row)
          : [input.preprocess ? preprocess({ width: SIZE, height: SIZE, data: input.pixels.map((v) => v * 255) }) : input.pixels];
      return { digits, predictions: await batcher.classify(digits) };
    });
  }

  app.post('/api/predict', async (req, reply) => {
    const row = ['1', 'true'].includes(String((req.query as Record<string, unknown>).row ?? ''));
    const input = await bodyInput(req, row);
    // a worker sends the answer as JSON text: built off the event loop, passed as one string
    if (pool) return reply.type('application/json; charset=utf-8').send((await pool.run(input)).body);
    const { digits, predictions } = await inProcess(input);
    return predictAnswer(row, digits, predictions);
  });

  app.get('/api/model', async () => ({
    name: model.name,
    preset: metadata?.preset ?? null,
    params: model.countParams(),
    inputShape: model.inputShape,
    layers: model.layers.map((l) => ({ name: l.name, className: l.className, outputShape: l.outputShape, params: l.countParams() })),
    summary: model.summary(),
    test: metadata?.test ?? null,
    backend: getKernels().name,
  }));

  app.get('/api/samples', async (req, reply) => {
    if (!samples) return reply.code(404).send({ error: 'no MNIST test set on this server (start it with --data DIR)' });
    const n = Number((req.query as Record<string, unknown>).n ?? 12);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new ImageError('n: expected an integer in [1, 64]');
    const { images, labels, count } = samples.split;
    return {
      samples: Array.from({ length: n }, () => {
        const index = Math.floor(Math.random() * count);
        return { index, label: labels[index], pixels: Array.from(images.subarray(index * SIZE * SIZE, (index + 1) * SIZE * SIZE)) };
      }),
    };
  });

  app.get('/model/model.json', async (_req, reply) => reply.type('application/json').send(modelJson));
  app.get('/model/weights.bin', async (_req, reply) => reply.type('application/octet-stream').send(weights));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  app.get('/healthz', async (_req, reply) =>
    closing ? reply.code(503).send({ status: 'closing' }) : { status: 'ok', ...(pool ? pool.load : limiter.load) },
  );
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  // MNIST's idx files as they lie in the data directory (gzipped or not), for the lab to train on: fetched
  // once, then the browser's caches answer (an ETag from size and mtime, and the lab's Cache API copy)
  app.get('/api/mnist/:file', async (req, reply) => {
    const name = (req.params as { file: string }).file.replace(/\.gz$/, '');
    if (!(MNIST_FILE_NAMES as readonly string[]).includes(name))
      return reply.code(404).send({ error: `no such MNIST file: ${name} (one of ${MNIST_FILE_NAMES.join(', ')})` });
    const file = opts.dataDir ? findIdxFile(opts.dataDir, name) : undefined;
    if (!file) return reply.code(404).send({ error: 'no MNIST data on this server (start it with --data DIR)' });
    const st = fs.statSync(file);
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    reply.header('etag', etag).header('cache-control', 'public, max-age=604800').header('x-idx-file', path.basename(file));
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply
      .type(file.endsWith('.gz') ? 'application/gzip' : 'application/octet-stream')
      .header('content-length', st.size)
      .send(fs.createReadStream(file));
  });

  app.get('/lab', async (_req, reply) => {
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(ROOT, 'web/lab.html'));
    } catch {
      return reply.code(404).send({ error: 'web/lab.html is missing' });
    }
    return reply.type('text/html; charset=utf-8').header('content-security-policy', LAB_CSP).header('cache-control', 'no-cache').send(body);
  });
  app.get('/lab/:file', async (req, reply) => {
    const name = (req.params as { file: string }).file;
    if (!LAB_ASSET.test(name)) return reply.code(404).send({ error: `no such lab asset: ${name}` });
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(LAB_DIR, name));
    } catch {
      return reply.code(404).send({ error: `dist/web/lab/${name} is missing: run npm run build` });
    }
    // esbuild names shared chunks by content hash: those never change under their name
    const cache = name.startsWith('chunk-') ? 'public, max-age=31536000, immutable' : 'no-cache';
    return reply
      .type(name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8')
      .header('content-security-policy', LAB_CSP)
      .header('cache-control', cache)
      .send(body);
  });
  app.get('/wasm/digits.wasm', async (_req, reply) => {
    let body: Buffer;
    try {
      body = fs.readFileSync(wasmPath());
    } catch {
      return reply.code(404).send({ error: 'wasm/digits.wasm is missing' });
    }
    return reply.type('application/wasm').header('cache-control', 'no-cache').send(body);
  });

  for (const [route, { file, type }] of Object.entries(STATIC)) {
    app.get(route, async (_req, reply) => {
      let body: Buffer;
      try {
        body = fs.readFileSync(file);
      } catch {
        return reply.code(404).send({ error: `${path.relative(ROOT, file)} is missing: run npm run build` });
      }
      return reply.type(type).header('content-security-policy', CSP).header('cache-control', 'no-cache').send(body);
    });
  }
  return app;
}
