// `npm run bench`: training and inference samples/s per preset for the native core (fp32, and bf16
// when the addon offers it), the WebAssembly core, the reference core, and — when Debian's python3-torch is installed —
// PyTorch on the same architecture, batch size and thread count, measured in the same run, with the
// ratio (the last row is `digits speedrun`'s net). Prints a table, writes bench-results.json, and
// with --profile per-layer times. PyTorch runs with the OpenMP wait settings native.ts sets for us
// (passive with a 5,000-round spin unless
// OMP_WAIT_POLICY / GOMP_SPINCOUNT say otherwise): on a shared machine libgomp's default long spin
// slows either side 4-10x, which would measure the neighbours. Both sides report the best of 5 rounds;
// the native and wasm columns are measured round by round together, so their ratios hold on a busy machine.
// --precision fp32|bf16|both (default both) picks the native columns; the last line is the peak RSS
// of a seed000-kaggle training run at batch 128 (bench/rss.ts, its own process).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRESETS } from '../src/zoo/presets';
import { SPEEDRUN, speedrunModel } from '../src/cli/speedrun';
import { reference, type Kernels } from '../src/kernels';
import { Activated } from '../src/layers/activation';
import { Rng } from '../src/rng';
import type { Sequential } from '../src/model/sequential';

interface Native {
  loadNative(): Kernels | null;
  setThreads(n: number): void;
  setPrecision?(p: 'fp32' | 'bf16'): void;
}
interface Wasm {
  loadWasm(): Kernels | null;
  setWasmThreads(n: number): void;
}

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const threads = Number(opt('--threads', '2'));
const seconds = Number(opt('--seconds', '3'));
const only = args.flatMap((a, i) => (args[i - 1] === '--only' ? [a] : []));
const profile = args.includes('--profile');
const out = opt('--out', 'bench-results.json');
const precision = opt('--precision', 'both');
if (!['fp32', 'bf16', 'both'].includes(precision)) {
  process.stderr.write(`bench: --precision must be fp32, bf16 or both, got '${precision}'\n`);
  process.exit(2);
}

function loadNative(): Native | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a core that may be absent here
    return require('../src/kernels/native') as Native;
  } catch {
    return null;
  }
}

function loadWasm(): Wasm | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a core that may be absent here
    return require('../src/kernels/wasm') as Wasm;
  } catch {
    return null;
  }
}

function batchData(model: Sequential, n: number): { x: Float32Array; t: Float32Array } {
  const rng = new Rng(7);
  const x = new Float32Array(n * 784).map(() => (rng.next() < 0.8 ? 0 : rng.next()));
  const t = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) t[i * 10 + rng.int(10)] = 1;
  return { x, t };
}

/** One core (or one precision of a core) in a measurement; `before` switches to it (native precision is global). */
interface Contestant {
  kernels: Kernels;
  before?: () => void;
}

/**
 * Samples/s of each step function: after one warm-up step each, 5 rounds in which every contestant in
 * turn runs about `seconds`/5 (at least 2 steps), and each one's best round counts. Interleaved, so a
 * busy minute on this shared machine slows every column alike and the ratios between them hold; slow
 * rounds measure the neighbours. PyTorch's side also keeps its best of 5.
 */
function timeTogether(steps: Array<{ step: () => void; samples: number; before?: () => void }>): number[] {
  for (const s of steps) {
    s.before?.();
    s.step();
  }
  const best = steps.map(() => 0);
  for (let round = 0; round < 5; round++)
    steps.forEach((s, i) => {
      s.before?.();
      let n = 0,
        el = 0;
      const t0 = process.hrtime.bigint();
      do {
        s.step();
        n++;
        el = Number(process.hrtime.bigint() - t0) / 1e9;
      } while (el < seconds / 5 || n < 2);
      best[i] = Math.max(best[i], (n * s.samples) / el);
    });
  return best;
}

function measure(preset: (typeof PRESETS)[number], cs: Contestant[]): Array<{ train: number; infer: number }> {
  const bs = preset.recipe.batchSize;
  const runs = cs.map((c) => {
    c.before?.();
    const model = preset.build();
    model.kernels = c.kernels;
    model.compile({ optimizer: preset.recipe.optimizer, loss: preset.recipe.loss });
    return { c, model, batch: batchData(model, bs), xi: batchData(model, 256).x };
  });
  const train = timeTogether(
    runs.map((r) => ({ step: () => r.model.trainOnBatch(r.batch.x, r.batch.t, bs), samples: bs, before: r.c.before })),
  );
  const infer = timeTogether(runs.map((r) => ({ step: () => r.model.forward(r.xi, 256, false), samples: 256, before: r.c.before })));
  return cs.map((_, i) => ({ train: train[i], infer: infer[i] }));
}

/** Per-layer forward/backward milliseconds for one training step (the profile behind a ratio). */
function profileLayers(preset: (typeof PRESETS)[number], k: Kernels): string[] {
  const model = preset.build();
  model.kernels = k;
  model.compile({ optimizer: preset.recipe.optimizer, loss: preset.recipe.loss });
  const bs = preset.recipe.batchSize;
  const { x } = batchData(model, bs);
  const ctx = model.context();
  model.layers[0].needInputGrad = false; // as in trainOnBatch
  const fwd = new Array(model.layers.length).fill(0),
    bwd = new Array(model.layers.length).fill(0);
  const reps = 20;
  let opt = 0;
  for (let r = 0; r < reps + 2; r++) {
    const keep = r >= 2;
    let t = process.hrtime.bigint();
    const h = model.forward(x, bs, true, ctx, (i) => {
      const now = process.hrtime.bigint();
      if (keep) fwd[i] += Number(now - t);
      t = now;
    });
    const g = new Float32Array(h.length).fill(1 / h.length);
    t = process.hrtime.bigint();
    model.backward(g, bs, ctx, model.layers[model.layers.length - 1] instanceof Activated, (i) => {
      const now = process.hrtime.bigint();
      if (keep) bwd[i] += Number(now - t);
      t = now;
    });
    const t0 = process.hrtime.bigint();
    model.optimizer.step(
      k,
      model.layers.flatMap((l) => l.weights),
    );
    if (keep) opt += Number(process.hrtime.bigint() - t0);
  }
  const ms = (ns: number) => (ns / reps / 1e6).toFixed(3).padStart(8);
  return [
    ...model.layers.map((l, i) => `  ${l.name.padEnd(24)} fwd ${ms(fwd[i])} ms  bwd ${ms(bwd[i])} ms`),
    `  ${'optimizer'.padEnd(24)}     ${ms(opt)} ms`,
  ];
}

function torchResults(names: string[]): Record<string, { train: number; infer: number }> | null {
  if (!fs.existsSync('/usr/bin/python3')) return null;
  const script = path.resolve(__dirname, '../../bench/torch_bench.py');
  const r = spawnSync('/usr/bin/python3', [script, '--threads', String(threads), '--steps', '30', ...names.flatMap((n) => ['--only', n])], {
    encoding: 'utf8',
    env: {
      ...process.env,
      OMP_NUM_THREADS: String(threads),
      OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'passive',
      GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT ?? '5000',
      OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? 'SkylakeX',
    },
    timeout: 1_800_000,
  });
  if (r.status !== 0) {
    process.stderr.write(`bench: PyTorch yardstick unavailable (${(r.stderr || '').trim().split('\n').pop()})\n`);
    return null;
  }
  return JSON.parse(r.stdout).results;
}

function peakRss(): { maxRssMiB: number; batches: number; data: string } | null {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'rss.js'), '--threads', String(threads)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) {
    process.stderr.write(`bench: peak RSS run failed (${(r.stderr || '').trim().split('\n').pop()})\n`);
    return null;
  }
  return JSON.parse(r.stdout);
}

/** `digits speedrun`'s net as one more row: the bench needs a name, a builder and a batch size. */
const SPEEDRUN_ROW = {
  name: 'speedrun',
  build: () => speedrunModel(0),
  recipe: { optimizer: 'adam', loss: 'categorical_crossentropy', batchSize: SPEEDRUN.batchSize },
} as unknown as (typeof PRESETS)[number];

function main(): void {
  // a -tuned twin has its seed's layers, so it would only repeat the seed's row
  const presets = [...PRESETS.filter((p) => !p.tunes), SPEEDRUN_ROW].filter((p) => only.length === 0 || only.includes(p.name));
  const nat = loadNative();
  const nk = nat?.loadNative() ?? null;
  if (nat && nk) nat.setThreads(threads);
  const bf16 = nk ? (nat as unknown as { nativeInfo(): { bf16?: boolean } }).nativeInfo().bf16 === true : false;
  const wasm = loadWasm();
  const wk = wasm?.loadWasm() ?? null;
  if (wasm && wk) wasm.setWasmThreads(threads);
  process.stderr.write(
    `bench: ${presets.length} presets, ${threads} threads, ~${seconds}s per measurement${nk ? '' : ' (native core not available)'}\n`,
  );
  const results: Record<string, Record<string, { train: number; infer: number } | null>> = {};
  const profiles: string[] = [];
  for (const p of presets) {
    const row: Record<string, { train: number; infer: number } | null> = {};
    // native fp32, native bf16 and wasm measured together, round by round (their ratios are the point)
    const cs: Array<[string, Contestant]> = [];
    if (nk && precision !== 'bf16') cs.push(['native', { kernels: nk, before: () => nat!.setPrecision?.('fp32') }]);
    if (nk && nat!.setPrecision && bf16 && precision !== 'fp32')
      cs.push(['bf16', { kernels: nk, before: () => nat!.setPrecision!('bf16') }]);
    if (wk) cs.push(['wasm', { kernels: wk }]);
    measure(
      p,
      cs.map((c) => c[1]),
    ).forEach((r, i) => (row[cs[i][0]] = r));
    if (nk) nat!.setPrecision?.('fp32');
    if (profile) {
      if (nk && precision !== 'bf16') profiles.push(`${p.name} (native fp32, batch ${p.recipe.batchSize})`, ...profileLayers(p, nk));
      if (nk && nat!.setPrecision && bf16 && precision !== 'fp32') {
        nat!.setPrecision('bf16');
        profiles.push(`${p.name} (native bf16, batch ${p.recipe.batchSize})`, ...profileLayers(p, nk));
        nat!.setPrecision('fp32');
      }
      if (wk) profiles.push(`${p.name} (wasm, batch ${p.recipe.batchSize})`, ...profileLayers(p, wk));
    }
    row.reference = measure(p, [{ kernels: reference }])[0];
    results[p.name] = row;
    process.stderr.write(`bench: ${p.name} done\n`);
  }
  const torch = torchResults(presets.map((p) => p.name));
  for (const p of presets) results[p.name].torch = torch?.[p.name] ?? null;

  const f = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? Math.round(v).toString() : v.toFixed(1)).padStart(8);
  const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : '—').padStart(7);
  const w = Math.max(15, ...presets.map((p) => p.name.length));
  const lines = [
    `training samples/s (inference samples/s at batch 256 in brackets); ratios against PyTorch ${torch ? '' : '(not installed) '}in this run; ${threads} threads`,
    `${'preset'.padEnd(w)} ${'batch'.padStart(5)} ${'native'.padStart(8)} ${'bf16'.padStart(8)} ${'wasm'.padStart(8)} ${'ref'.padStart(8)} ${'torch'.padStart(8)} ${'nat/pt'.padStart(7)} ${'bf16/pt'.padStart(7)} ${'wa/nat'.padStart(7)} ${'wa/ref'.padStart(7)} | ${'native'.padStart(8)} ${'wasm'.padStart(8)} ${'torch'.padStart(8)} ${'nat/pt'.padStart(7)}`,
  ];
  for (const p of presets) {
    const r = results[p.name];
    lines.push(
      `${p.name.padEnd(w)} ${String(p.recipe.batchSize).padStart(5)} ${f(r.native?.train)} ${f(r.bf16?.train)} ${f(r.wasm?.train)} ${f(r.reference?.train)} ${f(r.torch?.train)} ${ratio(r.native?.train, r.torch?.train)} ${ratio(r.bf16?.train, r.torch?.train)} ${ratio(r.wasm?.train, r.native?.train)} ${ratio(r.wasm?.train, r.reference?.train)} | ${f(r.native?.infer)} ${f(r.wasm?.infer)} ${f(r.torch?.infer)} ${ratio(r.native?.infer, r.torch?.infer)}`,
    );
  }
  const rss = peakRss();
  if (rss)
    lines.push(
      `peak RSS training seed000-kaggle at batch 128 (${rss.batches} batches + test evaluation, ${rss.data} data): ${rss.maxRssMiB.toFixed(0)} MiB`,
    );
  process.stdout.write(
    lines.join('\n') +
      '\n' +
      (profiles.length
        ? '\nper-layer times, one training step (a fused first conv + pool shows its forward on the conv, its backward on the pool):\n' +
          profiles.join('\n') +
          '\n'
        : ''),
  );
  fs.writeFileSync(out, JSON.stringify({ threads, seconds, results, peakRss: rss, date: new Date().toISOString() }, null, 1));
  process.stderr.write(`bench: wrote ${out}\n`);
}

main();
