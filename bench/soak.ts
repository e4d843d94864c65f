// A soak run of `digits serve`, loopback only and bounded in time: mixed good and bad requests from a
// few dozen connections for --minutes (10 by default), the server's RSS sampled every second from /proc.
// Passes when every valid request got a 200, every bad one a 4xx (never a 5xx, never a dropped
// connection), and RSS at the end is within 10% of RSS after the first minute.
//   node dist/bench/soak.js [modelDir] [--minutes 10] [--connections 32] [--json]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import sharp from 'sharp';
import { getPreset } from '../src/zoo/presets';
import { saveModel } from '../src/io/tfjs';
import { processTree, rssBytes } from './proc';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const minutes = Number(opt('--minutes', '10'));
const connections = Number(opt('--connections', '32'));

interface Kind {
  name: string;
  valid: boolean;
  body: () => Uint8Array | string;
  type: string | null;
}

async function kinds(): Promise<Kind[]> {
  const digit = Buffer.from(Array.from({ length: 784 }, (_v, i) => (Math.abs((i % 28) - 14) < 3 && i > 140 && i < 640 ? 255 : 0)));
  const png = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(280, 280)
    .negate()
    .png()
    .toBuffer();
  const jpeg = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(600, 600)
    .negate()
    .jpeg()
    .toBuffer();
  const pixels = JSON.stringify({ pixels: Array.from(digit, (v) => v / 255) });
  return [
    { name: 'png', valid: true, type: 'image/png', body: () => png },
    { name: 'jpeg', valid: true, type: 'image/jpeg', body: () => jpeg },
    { name: 'json pixels', valid: true, type: 'application/json', body: () => pixels },
    { name: 'truncated png', valid: false, type: 'image/png', body: () => png.subarray(0, 100) },
    {
      name: 'random bytes',
      valid: false,
      type: 'image/png',
      body: () => Uint8Array.from({ length: 500 }, () => Math.floor(Math.random() * 256)),
    },
    { name: 'blank image', valid: false, type: 'image/png', body: () => png.map(() => 0) },
    { name: 'bad json', valid: false, type: 'application/json', body: () => '{"pixels": [1, 2' },
    { name: 'text', valid: false, type: 'text/plain', body: () => 'hello' },
    { name: 'no content type', valid: false, type: null, body: () => png },
  ];
}

async function main(): Promise<void> {
  let modelDir = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
  if (!modelDir) {
    modelDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'digits-soak-')), 'model');
    saveModel(getPreset('seed002-cnn').build(), modelDir);
  }
  const all = await kinds();
  const server = spawn(process.execPath, [path.resolve(__dirname, '../../bin/digits.js'), 'serve', modelDir, '--port', '0'], {
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
  const counts = new Map<string, { sent: number; ok: number; wrong: string[] }>(all.map((k) => [k.name, { sent: 0, ok: 0, wrong: [] }]));
  const rss: number[] = [];
  // the server and the process it runs as (serve runs itself again as a child): all of their memory
  const sampler = setInterval(() => rss.push(rssBytes(processTree(server.pid!))), 1000);
  const end = Date.now() + minutes * 60_000;
  let i = 0;
  const worker = async () => {
    while (Date.now() < end) {
      const k = all[i++ % all.length];
      const c = counts.get(k.name)!;
      c.sent++;
      try {
        const b = k.body();
        const r = await fetch(`${url}/api/predict`, {
          method: 'POST',
          body: typeof b === 'string' ? b : new Uint8Array(b),
          headers: k.type ? { 'content-type': k.type } : {},
        });
        await r.arrayBuffer();
        const good = k.valid ? r.status === 200 : r.status >= 400 && r.status < 500;
        if (good) c.ok++;
        else if (c.wrong.length < 5) c.wrong.push(String(r.status));
      } catch (e) {
        if (c.wrong.length < 5) c.wrong.push((e as Error).message);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    clearInterval(sampler);
    server.kill('SIGTERM');
  }
  const atMinute = rss[Math.min(59, rss.length - 1)],
    atEnd = rss[rss.length - 1];
  const growth = atEnd / atMinute - 1;
  const failures = [...counts.values()].reduce((s, c) => s + (c.sent - c.ok), 0);
  const result = {
    minutes,
    connections,
    requests: [...counts.values()].reduce((s, c) => s + c.sent, 0),
    failures,
    kinds: Object.fromEntries(counts),
    rssAfterMinuteMiB: +(atMinute / 2 ** 20).toFixed(1),
    rssAtEndMiB: +(atEnd / 2 ** 20).toFixed(1),
    rssMaxMiB: +(Math.max(...rss) / 2 ** 20).toFixed(1),
    growth: +(growth * 100).toFixed(1),
    // the end of each minute: growth that levels off is the heaps settling, growth that does not is a leak
    rssByMinuteMiB: rss.filter((_v, i) => i % 60 === 59).map((v) => +(v / 2 ** 20).toFixed(1)),
  };
  if (args.includes('--json')) console.log(JSON.stringify(result));
  else {
    for (const [name, c] of counts)
      console.log(
        `${name.padEnd(16)} ${String(c.sent).padStart(7)} sent, ${String(c.sent - c.ok).padStart(4)} wrong${c.wrong.length ? ` (${c.wrong.join(', ')})` : ''}`,
      );
    console.log(
      `${result.requests} requests in ${minutes} min over ${connections} connections; RSS ${result.rssAfterMinuteMiB} MiB after a minute, ${result.rssAtEndMiB} MiB at the end (${result.growth >= 0 ? '+' : ''}${result.growth}%), max ${result.rssMaxMiB} MiB; by minute: ${result.rssByMinuteMiB.join(', ')}`,
    );
  }
  if (failures > 0 || growth > 0.1) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exitCode = 1;
});
