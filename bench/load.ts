// Load on `digits serve`, loopback only: 1,000 connections at once POST a drawn digit (a 280×280 PNG,
// dark ink on white, as the page or a phone would send) to /api/predict. The server runs in its own
// process, so autocannon's client work does not share its event loop. Fails on any error or non-2xx.
// The server is warmed first (--warmup requests, not counted): a server runs warm, and a cold one spends
// its first seconds compiling its code and sizing its heaps, in every thread.
//   npm run bench:load -- [modelDir] [--connections 1000] [--amount 5000] [--warmup 2000] [--json]
// Without a model directory an untrained seed002-cnn is used: inference costs the same.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { getPreset } from '../src/zoo/presets';
import { saveModel } from '../src/io/tfjs';
import { findIdxFile, loadSplitFiles, MNIST_FILES } from '../src/data/mnist';
import { decodeImage } from '../src/data/image';
import { preprocess } from '../src/data/preprocess';
import { processTree, threadCpuMs } from './proc';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const connections = Number(opt('--connections', '1000'));
const amount = Number(opt('--amount', '5000'));
const warmup = Number(opt('--warmup', '2000'));
const dataDir = opt('--data', path.resolve(__dirname, '../../../shared/mnist'));

async function drawnDigit(): Promise<Buffer> {
  const images = findIdxFile(dataDir, MNIST_FILES.testImages),
    labels = findIdxFile(dataDir, MNIST_FILES.testLabels);
  const pixels =
    images && labels
      ? Buffer.from(loadSplitFiles(images, labels).split.images.subarray(0, 784))
      : Buffer.from(Array.from({ length: 784 }, (_v, i) => (Math.abs((i % 28) - 14) < 2 && i > 112 && i < 672 ? 255 : 0)));
  return sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(280, 280, { kernel: 'cubic' })
    .negate()
    .grayscale()
    .png()
    .toBuffer();
}

async function main(): Promise<void> {
  let modelDir = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
  if (!modelDir) {
    modelDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'digits-load-')), 'model');
    saveModel(getPreset('seed002-cnn').build(), modelDir);
  }
  const body = await drawnDigit();
  const work = await requestWork(body);
  const serveArgs = ['serve', modelDir, '--port', '0', '--host', '127.0.0.1', ...(fs.existsSync(dataDir) ? ['--data', dataDir] : [])];
  const server = spawn(process.execPath, [path.resolve(__dirname, '../../bin/digits.js'), ...serveArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) resolve(m[0]);
    });
    server.on('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
  try {
    // the numbers mean little without the backend and how busy the 2 cores already were
    const { backend } = (await (await fetch(`${url}/api/model`)).json()) as { backend: string };
    const load = os.loadavg()[0].toFixed(2);
    const request = { url: `${url}/api/predict`, method: 'POST' as const, headers: { 'content-type': 'image/png' }, body, timeout: 60 };
    if (warmup > 0) {
      const w = await autocannon({ ...request, connections, amount: warmup });
      if (w.errors + w.timeouts + w.non2xx > 0) throw new Error(`warm-up: ${w.errors} errors, ${w.timeouts} timeouts, ${w.non2xx} non-2xx`);
    }
    // the serving process is the last one down the tree (serve runs itself again as a child)
    const pids = processTree(server.pid!),
      serving = pids[pids.length - 1];
    const cpu0 = { server: threadCpuMs(pids), client: process.cpuUsage() };
    // the rate over the time from the start to the last response: autocannon ends a run (and its
    // duration) only at its next one-second tick, which cut the rate of a 3.3-second run to 5,000 / 4.2
    const t0 = performance.now();
    let last = t0;
    // the promise is also the run's event emitter (autocannon's typings give only the promise)
    const run = autocannon({ ...request, connections, amount }) as unknown as Promise<autocannon.Result> & EventEmitter;
    run.on('response', () => {
      last = performance.now();
    });
    const r = await run;
    const seconds = (last - t0) / 1000;
    const loadAfter = os.loadavg()[0].toFixed(2);
    // CPU per request over the run, each of the server's threads from /proc, and this process (autocannon)
    const serverCpu = threadCpuMs(pids),
      clientCpu = process.cpuUsage(cpu0.client);
    const per = (ms: number) => ms / r.requests.sent;
    const cpu = {
      server: per([...serverCpu.values()].reduce((a, b) => a + b, 0) - [...cpu0.server.values()].reduce((a, b) => a + b, 0)),
      mainThread: per((serverCpu.get(serving) ?? 0) - (cpu0.server.get(serving) ?? 0)),
      client: per((clientCpu.user + clientCpu.system) / 1000),
    };
    const failures = r.errors + r.timeouts + r.non2xx;
    const line =
      `${connections} connections, ${r.requests.sent} requests of a ${body.length}-byte PNG: ` +
      `${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx; latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ` +
      `max ${r.latency.max} ms; ${(r['2xx'] / seconds).toFixed(0)} req/s over ${seconds.toFixed(2)} s to the last response (${backend} backend, load average ${load} before, ${loadAfter} after; warmed by ${warmup} requests); ` +
      `one request's work in process: decode ${work.decode.toFixed(1)} ms, preprocess ${work.preprocess.toFixed(1)} ms (wall, medians); ` +
      `CPU per request: server ${cpu.server.toFixed(2)} ms (its event loop ${cpu.mainThread.toFixed(2)}), autocannon ${cpu.client.toFixed(2)} ms`;
    if (args.includes('--json'))
      console.log(
        JSON.stringify({
          connections,
          requests: r.requests.sent,
          errors: r.errors,
          timeouts: r.timeouts,
          non2xx: r.non2xx,
          p50: r.latency.p50,
          p99: r.latency.p99,
          max: r.latency.max,
          rps: r['2xx'] / seconds,
          seconds,
          autocannonDuration: r.duration,
          backend,
          loadavg: Number(load),
          loadavgAfter: Number(loadAfter),
          warmup,
          decodeMs: work.decode,
          preprocessMs: work.preprocess,
          serverCpuMs: cpu.server,
          mainThreadCpuMs: cpu.mainThread,
          clientCpuMs: cpu.client,
        }),
      );
    else console.log(line);
    if (failures > 0) process.exitCode = 1;
  } finally {
    server.kill('SIGTERM');
  }
}

/** Median decode and preprocessing times of the request's PNG in this process: what each request costs a worker. */
async function requestWork(png: Buffer): Promise<{ decode: number; preprocess: number }> {
  const dec: number[] = [],
    pre: number[] = [];
  for (let i = 0; i < 200; i++) preprocess(await decodeImage(png)); // warm: the workers' JIT is warm too
  for (let i = 0; i < 51; i++) {
    const t0 = performance.now();
    const pic = await decodeImage(png);
    const t1 = performance.now();
    preprocess(pic);
    dec.push(t1 - t0);
    pre.push(performance.now() - t1);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return { decode: median(dec), preprocess: median(pre) };
}

main().catch((e) => {
  console.error(`load: ${(e as Error).message}`);
  process.exitCode = 1;
});
