// Users' own digits against a model: the 60 real digits in ../shared/real-digits (paint programs,
// canvases, phone photos of paper; labels.csv says which) read per kind, with refusals and misreads;
// the time `digits predict` takes per picture in process once the model is loaded (decode,
// preprocessing, the network; wall and CPU time, median over runs), and for a 2000×2000 JPEG; with
// --renders N, also the accuracy on N realistic renders per kind of MNIST test digits
// (test/helpers/renders.ts) beside the model's accuracy on the digits themselves.
//   node dist/bench/real-digits.js <model> [--dir DIR] [--data DIR] [--repeat R] [--renders N] [--json]
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage, imageToDigits, readImageFile } from '../src/data/image';
import { preprocess } from '../src/data/preprocess';
import { loadDataset, resolveDataDir } from '../src/data/mnist';
import { loadModelFile } from '../src/io/model-file';
import { checkDigitModel, classify } from '../src/serve/predict';
import type { Sequential } from '../src/model/sequential';
import { renderPlan, renderRealistic, RENDER_KINDS } from '../test/helpers/renders';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const modelArg = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--') && args[i - 1] !== '--json'));
const dir = opt('--dir', path.resolve(__dirname, '../../../shared/real-digits'))!;
const repeat = Number(opt('--repeat', '15'));
const renders = Number(opt('--renders', '0'));
const json = args.includes('--json');

interface Row {
  file: string;
  label: number;
  kind: string;
  source: string;
}
interface Timing {
  wall: number;
  cpu: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
};
const fmt = (t: Timing) => `${t.wall.toFixed(1)} ms (CPU ${t.cpu.toFixed(1)})`;

/** Median wall and CPU time of `f` over `n` runs after two warm-up runs. */
async function timed(n: number, f: () => Promise<unknown> | unknown): Promise<Timing> {
  await f();
  await f();
  const wall: number[] = [],
    cpu: number[] = [];
  for (let k = 0; k < n; k++) {
    const c0 = process.cpuUsage(),
      t0 = performance.now();
    await f();
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

function readLabels(): Row[] {
  const lines = fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8').trim().split(/\r?\n/);
  const head = lines[0].split(',').map((h) => h.trim());
  const col = (n: string) => head.indexOf(n);
  return lines
    .slice(1)
    .map((l) => l.split(',').map((f) => f.trim()))
    .map((f) => ({
      file: f[col('file')],
      label: Number(f[col('label')]),
      kind: f[col('kind')] || 'unknown',
      source: f[col('source_repo')] ?? '',
    }));
}

async function realDigits(model: Sequential) {
  const rows = readLabels();
  const kinds = new Map<string, { n: number; read: number; refused: number; wrong: string[] }>();
  for (const r of rows) {
    const k = kinds.get(r.kind) ?? { n: 0, read: 0, refused: 0, wrong: [] };
    kinds.set(r.kind, k);
    k.n++;
    try {
      const [d] = await imageToDigits(await readImageFile(path.join(dir, r.file)), r.file);
      const p = classify(model, [d])[0].top[0];
      if (p.digit === r.label) k.read++;
      else k.wrong.push(`${r.file} ${r.label}→${p.digit} (${(p.probability * 100).toFixed(0)}%)`);
    } catch (e) {
      k.refused++;
      k.wrong.push(`${r.file} ${r.label} refused: ${(e as Error).message}`);
    }
  }
  return { rows, kinds };
}

/** Per picture: decode, preprocess, network, and the whole of `digits predict`'s work (file read included). */
async function timings(model: Sequential, rows: Row[]) {
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(r.kind, [...(groups.get(r.kind) ?? []), r]);
  const out: Record<
    string,
    { n: number; size: string; decode: Timing; preprocess: Timing; network: Timing; total: Timing; worst: Timing & { file: string } }
  > = {};
  for (const [kind, rs] of groups) {
    const per: { file: string; px: number; w?: number; h?: number; decode: Timing; preprocess: Timing; network: Timing; total: Timing }[] =
      [];
    for (const r of rs) {
      const file = path.join(dir, r.file);
      const buf = fs.readFileSync(file);
      const pic = await decodeImage(buf, r.file);
      const d = preprocess(pic);
      const meta = await sharp(buf).metadata();
      per.push({
        file: r.file,
        px: (meta.width ?? 0) * (meta.height ?? 0),
        w: meta.width,
        h: meta.height,
        decode: await timed(Math.max(3, repeat >> 1), () => decodeImage(buf, r.file)),
        preprocess: await timed(Math.max(3, repeat >> 1), () => preprocess(pic)),
        network: await timed(Math.max(3, repeat >> 1), () => classify(model, [d])),
        total: await timed(repeat, async () => classify(model, await imageToDigits(await readImageFile(file), r.file))),
      });
    }
    const med = (k: 'decode' | 'preprocess' | 'network' | 'total'): Timing => ({
      wall: median(per.map((p) => p[k].wall)),
      cpu: median(per.map((p) => p[k].cpu)),
    });
    const worst = per.reduce((a, b) => (b.total.wall > a.total.wall ? b : a));
    const sizes = per.map((p) => p.px).sort((a, b) => a - b);
    const mid = per.find((p) => p.px === sizes[sizes.length >> 1])!;
    out[kind] = {
      n: per.length,
      size: `${mid.w}×${mid.h}`,
      decode: med('decode'),
      preprocess: med('preprocess'),
      network: med('network'),
      total: med('total'),
      worst: { ...worst.total, file: worst.file },
    };
  }
  // a 2000×2000 JPEG: the largest paper photo, enlarged, at phone quality
  const photos = rows.filter((r) => /\.jpe?g$/i.test(r.file));
  let big: Timing | null = null;
  if (photos.length > 0) {
    const src = photos[0];
    const jpeg = await sharp(path.join(dir, src.file)).rotate().resize(2000, 2000, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    big = await timed(repeat, async () => classify(model, await imageToDigits(jpeg, '2000x2000.jpg')));
  }
  return { kinds: out, big };
}

async function rendered(model: Sequential, perKind: number) {
  const ds = loadDataset(resolveDataDir(opt('--data')));
  const plan = renderPlan(ds.test.labels, ds.test.images, perKind);
  const img = (i: number) => ds.test.images.subarray(i * 784, (i + 1) * 784);
  const seen: Float32Array[] = [];
  let refused = 0;
  for (const p of plan) {
    const buf = await renderRealistic(img(p.index), p.kind, p.seed, img((p.index + 1) % ds.test.labels.length));
    try {
      seen.push((await imageToDigits(buf, p.kind))[0]);
    } catch {
      refused++;
      seen.push(new Float32Array(784));
    }
  }
  const got = classify(model, seen).map((q) => q.top[0].digit);
  const clean = classify(
    model,
    plan.map((p) => Float32Array.from(img(p.index), (v) => v / 255)),
  ).map((q) => q.top[0].digit);
  const per: Record<string, { read: number; clean: number; n: number }> = {};
  plan.forEach((p, k) => {
    const y = ds.test.labels[p.index],
      r = (per[p.kind] ??= { read: 0, clean: 0, n: 0 });
    r.n++;
    if (got[k] === y) r.read++;
    if (clean[k] === y) r.clean++;
  });
  return { per, refused, n: plan.length };
}

async function main(): Promise<void> {
  if (!modelArg) {
    process.stderr.write('usage: node dist/bench/real-digits.js <model> [--dir DIR] [--repeat R] [--renders N] [--data DIR] [--json]\n');
    process.exit(2);
  }
  const model = (await loadModelFile(modelArg)).model;
  checkDigitModel(model, modelArg);
  const real = await realDigits(model);
  const time = await timings(model, real.rows);
  const rend = renders > 0 ? await rendered(model, renders) : null;
  if (json) {
    process.stdout.write(JSON.stringify({ model: modelArg, real: Object.fromEntries(real.kinds), timings: time, renders: rend }) + '\n');
    return;
  }
  const out: string[] = [`model ${modelArg}; real digits from ${dir}`, ''];
  let n = 0,
    read = 0,
    refused = 0;
  out.push(`${'kind'.padEnd(12)} ${'read'.padStart(7)} ${'refused'.padStart(8)}  misread`);
  for (const [kind, k] of real.kinds) {
    n += k.n;
    read += k.read;
    refused += k.refused;
    out.push(`${kind.padEnd(12)} ${`${k.read}/${k.n}`.padStart(7)} ${String(k.refused).padStart(8)}  ${k.wrong.join('; ')}`);
  }
  out.push(`${'all'.padEnd(12)} ${`${read}/${n}`.padStart(7)} ${String(refused).padStart(8)}`, '');
  out.push(`time per picture in process, model loaded (median of ${repeat} runs; wall, and CPU over all threads):`);
  for (const [kind, t] of Object.entries(time.kinds)) {
    out.push(`  ${kind} (${t.n}, e.g. ${t.size}): decode ${fmt(t.decode)}, preprocess ${fmt(t.preprocess)}, network ${fmt(t.network)}`);
    out.push(`    digits predict's work (read + decode + preprocess + network): ${fmt(t.total)}; slowest ${t.worst.file} ${fmt(t.worst)}`);
  }
  if (time.big) out.push(`  2000×2000 JPEG, decode included: ${fmt(time.big)}`);
  if (rend) {
    out.push('', `renders of MNIST test digits (${renders} per kind; the model on the digits themselves in brackets):`);
    let r = 0,
      c = 0;
    for (const kind of RENDER_KINDS) {
      const k = rend.per[kind];
      r += k.read;
      c += k.clean;
      out.push(`  ${kind.padEnd(8)} ${k.read}/${k.n} (${k.clean})`);
    }
    out.push(
      `  all      ${r}/${rend.n} = ${((100 * r) / rend.n).toFixed(1)}% (${((100 * c) / rend.n).toFixed(1)}%), ${rend.refused} refused`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`real-digits: ${(e as Error).message}\n`);
  process.exit(1);
});
