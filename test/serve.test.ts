// The HTTP API over loopback: good requests in every accepted form, every kind of bad request → 4xx
// JSON {error} with the server still answering afterwards, back-pressure (503), and a clean SIGTERM.
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/serve/server';
import { getPreset } from '../src/zoo/presets';
import { saveModel } from '../src/io/tfjs';
import { fromModelJson } from '../src/io/tfjs-json';
import { reference } from '../src/kernels';
import { loadDataset } from '../src/data/mnist';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir } from './helpers/datafixtures';
import { blankPng, hugePngHeader, renderDigit, renderRow } from './helpers/images';

let app: FastifyInstance;
let base: string;
let modelDir: string;
let png: Buffer;
let digit7: Uint8Array;

async function listen(a: FastifyInstance): Promise<string> {
  await a.listen({ port: 0, host: '127.0.0.1' });
  const addr = a.server.address() as { port: number };
  return `http://127.0.0.1:${addr.port}`;
}

function post(body: Uint8Array | string, type: string | null, query = '', url = base) {
  const data = typeof body === 'string' ? body : new Uint8Array(body);
  return fetch(`${url}/api/predict${query}`, { method: 'POST', body: data, headers: type ? { 'content-type': type } : {} });
}

before(async () => {
  modelDir = path.join(tempDir(), 'model');
  // predictions need not be right here, only well-formed: an untrained CNN saves instantly
  saveModel(getPreset('seed002-cnn').build(), modelDir, { preset: 'seed002-cnn', test: { loss: 0.05, accuracy: 0.9876 } });
  const ds = loadDataset(SHARED_MNIST);
  digit7 = ds.test.images.subarray(0, 784);
  png = await renderDigit(digit7, 'png', 1);
  app = await buildServer({ modelDir, dataDir: SHARED_MNIST, maxBodyBytes: 1 << 20 });
  base = await listen(app);
});
after(() => app.close());

test('POST /api/predict: raw image, multipart and JSON pixels give top-3, ten probabilities and the 28x28', async () => {
  const r = await post(png, 'image/png');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cross-origin-resource-policy'), 'same-origin');
  const a = await r.json();
  assert.equal(a.top.length, 3);
  assert.equal(a.probabilities.length, 10);
  assert.ok(Math.abs(a.probabilities.reduce((s: number, p: number) => s + p, 0) - 1) < 1e-4);
  assert.equal(a.top[0].probability, Math.max(...a.probabilities));
  assert.equal(a.preprocessed.length, 28);
  assert.ok(a.preprocessed.every((row: number[]) => row.length === 28));

  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'seven.png');
  const m = await (await fetch(`${base}/api/predict`, { method: 'POST', body: form })).json();
  assert.deepEqual(m, a);

  const j = await (await post(JSON.stringify({ pixels: a.preprocessed }), 'application/json')).json();
  assert.equal(j.top[0].digit, a.top[0].digit);
  const flat = await post(JSON.stringify({ pixels: Array.from(digit7, (v) => v / 255), preprocess: true }), 'application/json');
  assert.equal(flat.status, 200);

  const row = await (await post(await renderRow([digit7, digit7, digit7]), 'image/png', '?row=1')).json();
  assert.equal(row.digits.length, 3);
  assert.equal(row.predictions.length, 3);
});

test('every bad request is a 4xx JSON {error} and the server keeps answering', async () => {
  const half = png.subarray(0, png.length >> 1);
  const noFile = new FormData();
  noFile.append('note', 'no file here');
  const textFile = new FormData();
  textFile.append('image', new Blob(['plain text']), 'a.png');
  const cases: [string, () => Promise<Response>, number, RegExp][] = [
    ['empty body', () => post(new Uint8Array(0), 'image/png'), 400, /empty/],
    ['not an image', () => post('GIF? no, just text', 'image/png'), 415, /not a PNG, JPEG or WebP/],
    ['truncated PNG', () => post(half, 'image/png'), 400, /cannot decode the PNG/],
    ['huge dimensions', () => post(hugePngHeader(10_000, 10_000), 'image/png'), 413, /megapixel limit/],
    ['body over the limit', () => post(new Uint8Array((1 << 20) + 1), 'image/png'), 413, /./],
    ['blank image', async () => post(await blankPng(), 'image/png'), 422, /no digit found/],
    ['text/plain', () => post('/etc/passwd', 'text/plain'), 415, /content type 'text\/plain' not accepted/],
    ['form-urlencoded', () => post('a=1', 'application/x-www-form-urlencoded'), 415, /./],
    ['no content type', () => post(png, null), 415, /./],
    ['invalid JSON', () => post('{"pixels": [', 'application/json'), 400, /JSON/],
    ['empty JSON', () => post('', 'application/json'), 400, /./],
    ['JSON array', () => post('[1, 2]', 'application/json'), 400, /must be an object/],
    ['JSON null', () => post('null', 'application/json'), 400, /must be an object/],
    [
      'JSON wrong shape',
      () =>
        post(
          JSON.stringify({
            pixels: [
              [0, 1],
              [1, 0],
            ],
          }),
          'application/json',
        ),
      400,
      /28 rows of 28/,
    ],
    ['JSON 27 rows', () => post(JSON.stringify({ pixels: Array(27).fill(Array(28).fill(0)) }), 'application/json'), 400, /28 rows of 28/],
    ['JSON out of range', () => post(JSON.stringify({ pixels: Array(784).fill(2) }), 'application/json'), 400, /value 0 is 2/],
    ['JSON strings', () => post(JSON.stringify({ pixels: Array(784).fill('0') }), 'application/json'), 400, /expected a number/],
    [
      'JSON bad preprocess',
      () => post(JSON.stringify({ pixels: Array(784).fill(0), preprocess: 'yes' }), 'application/json'),
      400,
      /preprocess/,
    ],
    [
      'JSON blank, preprocessed',
      () => post(JSON.stringify({ pixels: Array(784).fill(0), preprocess: true }), 'application/json'),
      422,
      /no digit found/,
    ],
    ['multipart without a file', () => fetch(`${base}/api/predict`, { method: 'POST', body: noFile }), 400, /no file/],
    ['multipart non-image', () => fetch(`${base}/api/predict`, { method: 'POST', body: textFile }), 415, /not a PNG/],
    ['broken multipart', () => post('--x\r\nnonsense', 'multipart/form-data; boundary=x'), 400, /./],
    ['GET on predict', () => fetch(`${base}/api/predict`), 404, /no such route/],
    ['unknown route', () => fetch(`${base}/api/nothing`), 404, /no such route/],
    ['samples n too big', () => fetch(`${base}/api/samples?n=100000`), 400, /n: expected/],
  ];
  for (const [what, send, status, re] of cases) {
    const r = await send();
    const body = await r.json().catch(() => ({ error: '(not JSON)' }));
    assert.equal(r.status, status, `${what}: ${JSON.stringify(body)}`);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', what);
    assert.equal(typeof body.error, 'string', `${what}: ${JSON.stringify(body)}`);
    assert.match(body.error, re, what);
    assert.doesNotMatch(body.error, /\n/, what);
    assert.equal((await fetch(`${base}/healthz`)).status, 200, `${what}: server stopped answering`);
  }
});

test('GET /api/model, /api/samples, the model files and the page', async () => {
  const info = await (await fetch(`${base}/api/model`)).json();
  assert.equal(info.params, 93322);
  assert.equal(info.test.accuracy, 0.9876);
  assert.equal(info.preset, 'seed002-cnn');
  assert.match(info.summary, /Total params: 93,322/);
  const { samples } = await (await fetch(`${base}/api/samples?n=3`)).json();
  assert.equal(samples.length, 3);
  assert.equal(samples[0].pixels.length, 784);

  // the page's path: model.json + weights.bin over HTTP, parsed without node:fs, on the reference kernels
  const json = await (await fetch(`${base}/model/model.json`)).json();
  const weights = new Uint8Array(await (await fetch(`${base}/model/weights.bin`)).arrayBuffer());
  const { model } = fromModelJson(json, weights, 'model.json', reference);
  assert.equal(model.kernels, reference);
  const served = await (await post(png, 'image/png')).json();
  const x = Float32Array.from(served.preprocessed.flat());
  const mine = Array.from(model.predict({ shape: [1, 28, 28, 1], data: x }).data);
  mine.forEach((p, i) => assert.ok(Math.abs(p - served.probabilities[i]) < 1e-4, `class ${i}: ${p} vs ${served.probabilities[i]}`));

  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(await page.text(), /<canvas id="pad"/);
  const js = await fetch(`${base}/app.js`);
  assert.equal(js.status, 200, 'dist/web/app.js missing: npm test builds it (node web/build.js)');
});

test('back-pressure: past the waiting room, requests get 503 with Retry-After at once', async () => {
  const small = await buildServer({ modelDir, maxActive: 1, maxWaiting: 1 });
  const url = await listen(small);
  try {
    const rs = await Promise.all(Array.from({ length: 12 }, () => post(png, 'image/png', '', url)));
    const codes = rs.map((r) => r.status);
    assert.ok(codes.includes(200) && codes.includes(503), codes.join());
    const busy = rs.find((r) => r.status === 503)!;
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.match((await busy.json()).error, /server busy/);
    assert.equal((await post(png, 'image/png', '', url)).status, 200);
  } finally {
    await small.close();
  }
});

test('digits serve runs with two malloc arenas, listens with its --backlog, refuses a bad one in one line, and exits 0 on SIGTERM after finishing', async () => {
  const bin = path.resolve(__dirname, '../../bin/digits.js');
  const bad = spawnSync(process.execPath, [bin, 'serve', modelDir, '--backlog', '0'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--backlog: expected an integer in \[1, 65535\], got '0'/);
  const child = spawn(process.execPath, [bin, 'serve', modelDir, '--port', '0', '--data', SHARED_MNIST, '--backlog', '1500'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/[\d.]+:\d+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${err}`)));
  });
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  // a listening socket's Send-Q is its backlog (Node's default 511 dropped connections when 1,000 came at once)
  // on Linux the CLI runs the server again as its child with two malloc arenas (RSS stays flat under load)
  if (process.platform === 'linux') {
    const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    assert.equal(kids.length, 1, `children of digits serve: ${kids}`);
    assert.match(fs.readFileSync(`/proc/${kids[0]}/environ`, 'latin1'), /(^|\0)MALLOC_ARENA_MAX=2\0/);
  }
  const ss = spawnSync('ss', ['-ltnH', `sport = :${new URL(url).port}`], { encoding: 'utf8' });
  if (ss.status === 0) assert.equal(ss.stdout.trim().split(/\s+/)[2], '1500', ss.stdout);
  // a request in flight at SIGTERM (headers and half the body sent) must still be answered
  const body = Buffer.from(JSON.stringify({ pixels: Array.from(digit7, (v) => v / 255) }));
  const { port } = new URL(url);
  const answered = new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/predict',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 100));
    setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => req.end(body.subarray(100)), 300);
    }, 300);
  });
  assert.equal(await answered, 200);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, err);
  assert.match(err, /SIGTERM: finishing requests in flight/);
});

test('GET /metrics: Prometheus text with requests by route and status, latency, batch sizes and the queue', async () => {
  await post(png, 'image/png');
  await post('{"pixels": 3}', 'application/json');
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /^digits_http_requests_total\{route="\/api\/predict",status="200"\} [1-9]\d*$/m);
  assert.match(text, /^digits_http_requests_total\{route="\/api\/predict",status="400"\} [1-9]\d*$/m);
  assert.match(text, /^digits_http_request_duration_seconds_bucket\{le="0\.1",route="\/api\/predict"\} \d+$/m);
  assert.match(text, /^digits_batch_requests_count [1-9]\d*$/m);
  assert.match(text, /^digits_queue_waiting 0$/m);
  // one per core by default, each counted once (busy or idle)
  assert.match(text, new RegExp(`^digits_workers ${os.availableParallelism()}$`, 'm'));
  assert.equal((await (await fetch(`${base}/healthz`)).json()).workers, os.availableParallelism());
});

test('workers 0 (on the event loop) answers exactly as the worker pool does', async () => {
  const inline = await buildServer({ modelDir, workers: 0 });
  try {
    const url = await listen(inline);
    const a = await (await post(png, 'image/png')).json(),
      b = await (await post(png, 'image/png', '', url)).json();
    assert.deepEqual(b, a);
    const m = await (await fetch(`${url}/metrics`)).text();
    assert.match(m, /^digits_workers 0$/m);
  } finally {
    await inline.close();
  }
});
