// Cold start of `digits speedrun`: each run is a new process, so start-up, data loading, training and the
// test evaluation are all in its wall clock. Variants alternate round by round so that a neighbour's load
// falls on all of them alike; the medians and the ratios against the first variant are what to read.
//   node dist/bench/coldstart.js [--rounds N] [--data DIR] [--epochs N] [--baseline path/to/bin/digits.js] [--json]
// Variants: `no cache` (DIGITS_DATA_CACHE=0: gunzip on every run, as before the decoded cache), `cache`
// (the decoded cache, filled by one unmeasured run first), and with --baseline another checkout's digits.
//   node dist/bench/coldstart.js --data-only [--rounds N] [--data DIR]
// times the data loading alone in fresh processes, wall and CPU (user + system, which a busy machine
// inflates less): `gunzip` is loadDataset + toTensor with the cache off (the speedrun's loading before the
// cache), `cache` is loadDatasetTensors from a warm cache (the speedrun's loading now).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const rounds = Number(opt('--rounds', '5'));
const data = opt('--data', process.env.DIGITS_DATA ?? path.resolve(__dirname, '../../../shared/mnist'))!;
const epochs = opt('--epochs');
const baseline = opt('--baseline');
const BIN = path.resolve(__dirname, '../../bin/digits.js');

interface Run {
  wallSeconds: number;
  startSeconds: number;
  loadSeconds: number;
  trainSeconds: number;
  evalSeconds: number;
  accuracy: number;
}
interface Variant {
  name: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  runs: Run[];
}

const variants: Variant[] = [
  ...(baseline ? [{ name: 'baseline', bin: path.resolve(baseline), env: {}, runs: [] }] : []),
  { name: 'no cache', bin: BIN, env: { DIGITS_DATA_CACHE: '0' }, runs: [] },
  { name: 'cache', bin: BIN, env: {}, runs: [] },
];

function speedrun(v: Variant): Run {
  const r = spawnSync(process.execPath, [v.bin, 'speedrun', '--data', data, '--json', ...(epochs ? ['--epochs', epochs] : [])], {
    encoding: 'utf8',
    env: { ...process.env, ...v.env },
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`${v.name}: exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

if (args.includes('--data-only')) {
  dataOnly();
  process.exit(0);
}

function dataOnly(): void {
  const mnist = path.resolve(__dirname, '../src/data/mnist.js');
  const script = (fresh: boolean) => `const m = require(${JSON.stringify(mnist)}); const dir = ${JSON.stringify(data)};
    const t0 = performance.now(), c0 = process.cpuUsage();
    if (${fresh}) { const ds = m.loadDataset(dir, 10); m.toTensor(ds.train, ds.height, ds.width, 10); m.toTensor(ds.test, ds.height, ds.width, 10); }
    else m.loadDatasetTensors(dir, 10);
    const c = process.cpuUsage(c0); console.log(JSON.stringify({ wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }));`;
  const modes = [
    { name: 'gunzip', env: { DIGITS_DATA_CACHE: '0' }, fresh: true },
    { name: 'cache', env: {}, fresh: false },
  ];
  const res: Record<string, Array<{ wall: number; cpu: number }>> = { gunzip: [], cache: [] };
  const once = (m: (typeof modes)[number]) => {
    const r = spawnSync(process.execPath, ['-e', script(m.fresh)], { encoding: 'utf8', env: { ...process.env, ...m.env } });
    if (r.status !== 0) throw new Error(`${m.name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { wall: number; cpu: number };
  };
  once(modes[1]); // fills the cache
  for (let i = 0; i < rounds; i++) for (const m of i % 2 ? [...modes].reverse() : modes) res[m.name].push(once(m));
  const line = (k: 'wall' | 'cpu') =>
    modes
      .map(
        (m) =>
          `${m.name} median ${median(res[m.name].map((r) => r[k])).toFixed(3)} min ${Math.min(...res[m.name].map((r) => r[k])).toFixed(3)}`,
      )
      .join(', ');
  if (args.includes('--json')) {
    console.log(JSON.stringify({ rounds, data, res }));
    return;
  }
  console.log(`data loading alone, ${rounds} fresh processes per mode, alternating (seconds)`);
  console.log(
    `wall: ${line('wall')}; ratio of medians ${(median(res.cache.map((r) => r.wall)) / median(res.gunzip.map((r) => r.wall))).toFixed(2)}`,
  );
  console.log(
    `cpu:  ${line('cpu')}; ratio of medians ${(median(res.cache.map((r) => r.cpu)) / median(res.gunzip.map((r) => r.cpu))).toFixed(2)}`,
  );
  console.log(
    `per run (wall/cpu): ${modes.map((m) => `${m.name} ${res[m.name].map((r) => `${r.wall.toFixed(2)}/${r.cpu.toFixed(2)}`).join(' ')}`).join('; ')}`,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

speedrun(variants[variants.length - 1]); // fills the cache (and warms the page cache for every variant)
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) v.runs.push(speedrun(v));
}

const keys = ['loadSeconds', 'startSeconds', 'trainSeconds', 'evalSeconds', 'wallSeconds'] as const;
const summary = variants.map((v) => ({
  name: v.name,
  ...Object.fromEntries(
    keys.map((k) => [
      k,
      { median: median(v.runs.map((r) => r[k])), min: Math.min(...v.runs.map((r) => r[k])), runs: v.runs.map((r) => r[k]) },
    ]),
  ),
  accuracy: v.runs.map((r) => r.accuracy),
})) as Array<{ name: string; accuracy: number[] } & Record<(typeof keys)[number], { median: number; min: number; runs: number[] }>>;

if (args.includes('--json')) {
  console.log(JSON.stringify({ rounds, data, summary }));
} else {
  const ref = summary[0];
  console.log(`digits speedrun, ${rounds} cold runs per variant, alternating (median / min seconds; ratio of medians to '${ref.name}')`);
  console.log(['variant', ...keys.map((k) => k.replace('Seconds', ''))].map((s) => s.padEnd(22)).join(''));
  for (const s of summary) {
    console.log(
      [
        s.name,
        ...keys.map(
          (k) => `${s[k].median.toFixed(3)} / ${s[k].min.toFixed(3)}${s === ref ? '' : ` (${(s[k].median / ref[k].median).toFixed(2)}x)`}`,
        ),
      ]
        .map((c) => c.padEnd(22))
        .join(''),
    );
  }
  console.log(
    `per-run data seconds: ${summary.map((s) => `${s.name} ${s.loadSeconds.runs.map((x) => x.toFixed(2)).join(' ')}`).join('; ')}`,
  );
}
