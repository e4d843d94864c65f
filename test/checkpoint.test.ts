// Crash-safe, resumable training: snapshots replay bit for bit (reference core), a real `digits train`
// survives SIGKILL and SIGINT/SIGTERM, and numerical faults stop before they reach a checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sequential, type FitArgs, type FitState, type History } from '../src/model/sequential';
import { BatchNormalization, Conv2D, Dense, Dropout, Flatten } from '../src/layers';
import type { Callback } from '../src/model/callback';
import { loadModel } from '../src/io/tfjs';
import {
  CheckpointWriter,
  decodeState,
  encodeState,
  latestCheckpoint,
  readCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
  type TrainRun,
} from '../src/train/checkpoint';
import { DigitsError } from '../src/errors';
import { SHARED_MNIST } from './helpers/paths';
import { fitArgs, RUN, tinyData, tinyModel } from './helpers/tinyrun';
import { loadNative, nativeInfo, setThreads } from '../src/kernels/native';
import { loadDataset, toTensor } from '../src/data/mnist';
import { tempDir, expectDigitsError } from './helpers/datafixtures';
import type { Tensor } from '../src/tensor';

const BIN = path.resolve(__dirname, '../../bin/digits.js');

// ---- in process: every interruption point replays exactly ----

const bytes = (m: Sequential) => Buffer.concat(m.getWeights().map((w) => Buffer.from(w.buffer, w.byteOffset, w.byteLength)));

test('a run interrupted at any batch and resumed from its checkpoint on disk ends bit-identical (reference core)', () => {
  const { x, y } = tinyData(80);
  const whole = tinyModel();
  const expected = whole.fit(x, y, fitArgs());
  const steps = Math.ceil(Math.floor(80 * (1 - RUN.validationSplit)) / RUN.batchSize);
  assert.equal(expected.epoch.length, RUN.epochs);
  const root = tempDir('digits-ckpt-');
  for (let stopAfter = 1; stopAfter <= RUN.epochs * steps; stopAfter++) {
    const dir = path.join(root, String(stopAfter));
    const first = tinyModel();
    let batches = 0;
    first.fit(x, y, {
      ...fitArgs(),
      callbacks: [
        ...fitArgs().callbacks!,
        {
          onBatchEnd: () => {
            batches++;
          },
        },
      ],
      checkpoint: {
        save: (s) => writeCheckpoint(dir, first, s, { run: RUN, trainSeconds: 1, backend: 'reference' }),
        interrupted: () => batches >= stopAfter,
      },
    });
    const ckpt = readCheckpoint(dir);
    assert.equal(ckpt.fit.epoch * steps + ckpt.fit.batch, stopAfter, `checkpoint position after ${stopAfter} batches`);
    assert.equal(ckpt.optimizer.iterations, stopAfter);
    const second = tinyModel();
    restoreCheckpoint(second, ckpt);
    const args = fitArgs();
    const h = second.fit(x, y, { ...args, resume: ckpt.fit });
    assert.deepEqual(h, expected, `history after an interruption at batch ${stopAfter}`);
    assert.ok(bytes(second).equals(bytes(whole)), `weights after an interruption at batch ${stopAfter}`);
    assert.equal(second.optimizer.learningRate, whole.optimizer.learningRate);
  }
});

test('checkpoint state keeps typed arrays and non-finite numbers through JSON', () => {
  const v = { a: new Float32Array([1.5, -2]), b: [new Int32Array([3, -4])], best: Infinity, low: -Infinity, n: null, s: 'x' };
  const { json, bin } = encodeState(v);
  assert.deepEqual(decodeState(json, bin, 'state.json'), v);
  assert.deepEqual(
    decodeState(json, Buffer.concat([Buffer.alloc(1), bin]).subarray(1), 'state.json'),
    v,
    'state.bin at an odd byte offset',
  );
  expectDigitsError(() => decodeState(json, bin.subarray(0, 4), 'state.json'), /^state\.json: array reference .* outside state\.bin/);
  expectDigitsError(() => decodeState('{"x": {"$num": "12"}}', bin, 'state.json'), /bad number/);
  expectDigitsError(() => decodeState('{', bin, 'state.json'), /^state\.json: invalid JSON/);
});

test('a temp dir left by a killed writer is ignored, and a corrupt checkpoint is a one-line error', () => {
  const { x, y } = tinyData(40);
  const dir = tempDir('digits-ckpt-');
  const m = tinyModel();
  m.fit(x, y, {
    ...fitArgs(),
    epochs: 1,
    checkpoint: { save: (s) => writeCheckpoint(dir, m, s, { run: RUN, trainSeconds: 0, backend: 'reference' }) },
  });
  const good = latestCheckpoint(dir)!;
  fs.mkdirSync(path.join(dir, '.ckpt-000099-epoch9-batch0.tmp-12345'));
  fs.writeFileSync(path.join(dir, '.ckpt-000099-epoch9-batch0.tmp-12345', 'state.json'), '{"half');
  assert.equal(latestCheckpoint(dir), good);
  assert.equal(readCheckpoint(dir).fit.epoch, 1);
  // the checkpoint's model is an ordinary model directory
  assert.deepEqual(loadModel(good).model.getWeights(), m.getWeights());
  const w = path.join(good, 'weights.bin');
  const buf = fs.readFileSync(w);
  buf[10] ^= 1;
  fs.writeFileSync(w, buf);
  expectDigitsError(() => readCheckpoint(dir), /weights\.bin: checksum mismatch/);
  fs.writeFileSync(path.join(good, 'state.json'), '{}');
  expectDigitsError(() => readCheckpoint(dir), /state\.json: checksum mismatch/);
  expectDigitsError(() => readCheckpoint(path.join(dir, 'nope')), /no such checkpoint directory/);
  expectDigitsError(() => readCheckpoint(tempDir()), /no checkpoint in this directory/);
});

test('NaN weights stop training naming epoch and batch, and the last good checkpoint stays', () => {
  const { x, y } = tinyData(80);
  const dir = tempDir('digits-ckpt-');
  const m = tinyModel();
  const writer = new CheckpointWriter(m, { ...RUN, checkpointDir: dir }, 'reference');
  const poison: Callback = {
    onBatchEnd: (b) => {
      if (writer.last?.epoch === 1 && b === 3) m.layers[4].weights[0].value[5] = NaN;
    },
  };
  let caught: unknown;
  try {
    m.fit(x, y, { ...fitArgs(), callbacks: [poison], checkpoint: writer });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DigitsError, String(caught));
  assert.match(caught.message, /^fit: weight dense\/kernel became NaN at epoch 2, batch 4; lower the learning rate$/);
  const explained = writer.explainFault(caught, 'digits train tiny --resume D') as DigitsError;
  assert.match(
    explained.message,
    /lower the learning rate; the last good checkpoint is kept \(resume with: digits train tiny --resume D --lr <lower rate>\)$/,
  );
  const ckpt = readCheckpoint(dir);
  assert.equal(ckpt.fit.epoch, 1);
  assert.equal(ckpt.fit.batch, 0);
  const restored = tinyModel();
  restoreCheckpoint(restored, ckpt);
  assert.ok(restored.getWeights().every((w) => w.every(Number.isFinite)));

  const hot = tinyModel();
  hot.optimizer.learningRate = 1e30;
  expectDigitsError(
    () => hot.fit(x, y, { ...fitArgs(), callbacks: [] }),
    /^fit: (loss|weight \S+) became (NaN|-?Infinity) at epoch \d+, batch \d+; lower the learning rate$/,
  );
});

// ---- a real `digits train` process ----

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function digits(cwd: string, args: string[], backend = 'reference'): { child: ReturnType<typeof spawn>; done: Promise<Done> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, DIGITS_BACKEND: backend } });
  let stdout = '',
    stderr = '';
  child.stdout!.on('data', (c) => {
    stdout += c;
  });
  child.stderr!.on('data', (c) => {
    stderr += c;
  });
  const done = new Promise<Done>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}

async function waitFor<T>(what: string, f: () => T | null | undefined | false, ms = 120_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 15))) {
    const v = f();
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

const position = (p: string | null) => {
  const m = p && /epoch(\d+)-batch(\d+)$/.exec(p);
  return m ? { epoch: Number(m[1]), batch: Number(m[2]) } : null;
};

const LIMIT = 600,
  BATCH = 50,
  STEPS = LIMIT / BATCH;
const TRAIN = [
  'train',
  'seed002-mlp',
  '--limit',
  String(LIMIT),
  '--epochs',
  '3',
  '--batch-size',
  String(BATCH),
  '--data',
  SHARED_MNIST,
  '--json',
];
let baseline: Promise<Done> | undefined;
/** One uninterrupted run (3 epochs of STEPS batches), shared by the tests that compare against it. */
function uninterrupted(root: string): Promise<Done> {
  baseline ??= digits(root, [...TRAIN, '--out', 'U']).done;
  return baseline;
}

test('SIGKILL mid-epoch, then --resume: the same history, accuracy and weights as an uninterrupted run', async () => {
  const root = tempDir('digits-kill-');
  const base = uninterrupted(root);
  const victim = digits(root, [...TRAIN, '--out', 'M', '--checkpoint-minutes', '0']);
  // checkpoints every batch, so the kill lands anywhere, mid-write included
  await waitFor('a mid-epoch checkpoint in epoch 2', () => {
    const p = position(latestCheckpoint(path.join(root, 'M.ckpt')));
    return p && ((p.epoch === 1 && p.batch >= 3) || p.epoch === 2);
  });
  victim.child.kill('SIGKILL');
  const killed = await victim.done;
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(!fs.existsSync(path.join(root, 'M')), 'no model is written before training ends');
  const at = position(latestCheckpoint(path.join(root, 'M.ckpt')))!;
  assert.ok(at.epoch >= 1, `lost at most the current epoch: resumes from ${JSON.stringify(at)}`);

  // the run's --out is what a person types; its checkpoints are in M.ckpt
  const resumed = await digits(root, ['train', 'seed002-mlp', '--resume', 'M']).done;
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = JSON.parse((await base).stdout),
    b = JSON.parse(resumed.stdout);
  assert.deepEqual(b.history, a.history);
  assert.deepEqual(b.test, a.test);
  assert.ok(
    fs.readFileSync(path.join(root, 'M', 'weights.bin')).equals(fs.readFileSync(path.join(root, 'U', 'weights.bin'))),
    'weights bit-identical',
  );
  assert.ok(!fs.existsSync(path.join(root, 'M.ckpt')), 'the default checkpoint dir goes once the model is saved');
  const again = await digits(root, ['train', 'seed002-mlp', '--resume', 'M']).done;
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^digits: M: a finished model \(its run saved it and removed M\.ckpt\): nothing to resume$/m);
});

test('SIGINT finishes the batch, checkpoints, exits 130 with the resume command; SIGTERM exits 143; the run still ends identical', async () => {
  const root = tempDir('digits-int-');
  const base = uninterrupted(root);
  const ck = path.join(root, 'S.ckpt');
  const victim = digits(root, [...TRAIN, '--out', 'S']);
  await waitFor('the epoch-1 checkpoint', () => latestCheckpoint(ck));
  victim.child.kill('SIGINT');
  const r = await victim.done;
  assert.equal(r.code, 130, r.stderr);
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1];
  const m =
    /^digits: interrupted by SIGINT at epoch 2\/3, batch (\d+); checkpoint saved; resume with: (node \S+ train seed002-mlp --resume S\.ckpt)$/.exec(
      last,
    );
  assert.ok(m, last);
  const batch = Number(m[1]);

  const c = readCheckpoint(ck);
  assert.equal(c.fit.epoch, 1);
  assert.equal(c.fit.batch, batch);
  assert.ok(batch >= 1 && batch <= STEPS);
  assert.equal(c.optimizer.className, 'RMSprop');
  assert.equal(c.optimizer.iterations, STEPS + batch);
  assert.equal(c.optimizer.slots.length, 1);
  assert.ok(c.optimizer.slots[0].every((s) => s.every(Number.isFinite)));
  assert.equal(c.fit.order!.length, LIMIT);
  assert.deepEqual(
    [...c.fit.order!].sort((p, q) => p - q),
    Array.from({ length: LIMIT }, (_v, i) => i),
  );
  assert.equal(c.fit.sums.seen, BATCH * batch);
  assert.deepEqual(c.fit.history.epoch, [0]);
  assert.deepEqual(Object.keys(c.fit.rngs).sort(), ['augment', 'dropout', 'shuffle']);
  assert.equal(c.run.preset, 'seed002-mlp');
  assert.equal(c.run.epochs, 3);
  assert.equal(c.run.batchSize, BATCH);
  assert.equal(c.run.limit, LIMIT);
  assert.equal(c.backend, 'reference');
  const model = loadModel(c.path).model;
  assert.ok(model.getWeights().every((w) => w.every(Number.isFinite)));
  assert.ok(!fs.existsSync(path.join(root, 'S')), 'no final model from an interrupted run');
  const a = JSON.parse((await base).stdout);
  assert.deepEqual(c.fit.history.history, { loss: a.history.loss.slice(0, 1), accuracy: a.history.accuracy.slice(0, 1) });

  // the printed command is the one that works; a SIGTERM during it checkpoints too
  const cmd = m[2];
  const [node, ...argv] = cmd.split(' ');
  assert.equal(node, 'node');
  const again = spawn(process.execPath, argv, { cwd: root, env: { ...process.env, DIGITS_BACKEND: 'reference' } });
  let err2 = '';
  again.stderr.on('data', (d) => {
    err2 += d;
  });
  const closed = new Promise<number | null>((res) => again.on('close', res));
  await waitFor('a checkpoint after the resume', () => {
    const p = position(latestCheckpoint(ck));
    return p && p.epoch === 2;
  });
  again.kill('SIGTERM');
  assert.equal(await closed, 143, err2);
  assert.match(
    err2.trim().split('\n').at(-1)!,
    /^digits: interrupted by SIGTERM at .*; checkpoint saved; resume with: node \S+ train seed002-mlp --resume S\.ckpt$/,
  );

  const fin = spawnSync(process.execPath, argv, { cwd: root, encoding: 'utf8', env: { ...process.env, DIGITS_BACKEND: 'reference' } });
  assert.equal(fin.status, 0, fin.stderr);
  const b = JSON.parse(fin.stdout);
  assert.deepEqual(b.history, a.history);
  assert.deepEqual(b.test, a.test);
});

test("resume keeps the run's options: conflicting ones are usage errors, a fresh run will not overwrite checkpoints", () => {
  const root = tempDir('digits-opts-');
  const { x, y } = tinyData(40);
  const m = tinyModel();
  const dir = path.join(root, 'C');
  const run: TrainRun = {
    preset: 'seed002-mlp',
    epochs: 3,
    batchSize: 50,
    optimizer: 'rmsprop',
    seed: 0,
    validationSplit: 0,
    limit: 1000,
    data: SHARED_MNIST,
  };
  m.fit(x, y, {
    ...fitArgs(),
    epochs: 1,
    checkpoint: { save: (s) => writeCheckpoint(dir, m, s, { run, trainSeconds: 0, backend: 'reference' }) },
  });
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, DIGITS_BACKEND: 'reference' } });
  for (const [args, re] of [
    [
      ['train', 'seed002-mlp', '--resume', 'C', '--batch-size', '64'],
      /^digits: --batch-size: the run in C uses 50; a resumed run keeps it/,
    ],
    [['train', 'seed002-cnn', '--resume', 'C'], /^digits: --resume C: the checkpoint is of preset seed002-mlp, not seed002-cnn/],
    [
      ['train', 'seed002-mlp', '--checkpoint-dir', 'C', '--data', SHARED_MNIST],
      /^digits: \S+C holds a checkpoint of an earlier run .*: resume it with `node \S+ train seed002-mlp --resume C`/,
    ],
    [['train', 'seed002-mlp', '--checkpoint-minutes', '1'], /^digits: --checkpoint-minutes: give --out or --checkpoint-dir/],
  ] as [string[], RegExp][]) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  const none = cli('train', 'seed002-mlp', '--resume', 'nothing-here');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^digits: nothing-here: no such checkpoint directory\n$/);
});

const native = loadNative();
test(
  'native core: resumed on another thread count, a run stays within tolerance (bit-identical on the same one)',
  { skip: !native && 'native core not built' },
  () => {
    const ds = loadDataset(SHARED_MNIST);
    const n = 576;
    const t = toTensor(
      ds.train,
      28,
      28,
      10,
      Array.from({ length: n }, (_v, i) => i),
    );
    const x: Tensor = { shape: [n, 28, 28, 1], data: t.x },
      y: Tensor = { shape: [n, 10], data: t.y };
    const cnn = () => {
      const m = new Sequential({
        seed: 1,
        kernels: native!,
        layers: [
          new Conv2D({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
          new BatchNormalization(),
          new Dropout({ rate: 0.2 }),
          new Flatten(),
          new Dense({ units: 10, activation: 'softmax' }),
        ],
      });
      m.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
      return m;
    };
    const args: FitArgs = { epochs: 2, batchSize: 64, validationSplit: 1 / 9, seed: 2, verbose: 0 };
    const threads = nativeInfo()!.threads;
    const run = (resumeThreads: number) => {
      const first = cnn();
      let batches = 0,
        state: FitState | null = null;
      first.fit(x, y, {
        ...args,
        callbacks: [
          {
            onBatchEnd: () => {
              batches++;
            },
          },
        ],
        checkpoint: {
          save: (s) => {
            state = s;
          },
          interrupted: () => batches >= 13,
        },
      });
      const dir = tempDir('digits-native-');
      writeCheckpoint(dir, first, state!, { run: RUN, trainSeconds: 0, backend: 'native' });
      setThreads(resumeThreads);
      try {
        const second = cnn();
        restoreCheckpoint(second, readCheckpoint(dir));
        return { h: second.fit(x, y, { ...args, resume: readCheckpoint(dir).fit }), w: second.getWeights() };
      } finally {
        setThreads(threads);
      }
    };
    const whole = cnn();
    const expected = whole.fit(x, y, args);
    const same = run(threads);
    assert.deepEqual(same.h, expected, 'same machine, same threads: bit-identical');
    const other = run(threads > 1 ? 1 : 2);
    for (const k of Object.keys(expected.history)) {
      expected.history[k].forEach((v, i) =>
        assert.ok(Math.abs(v - other.h.history[k][i]) <= 1e-5 * Math.max(1, Math.abs(v)), `${k}[${i}]: ${v} vs ${other.h.history[k][i]}`),
      );
    }
    whole
      .getWeights()
      .forEach((w, i) =>
        w.forEach((v, j) =>
          assert.ok(Math.abs(v - other.w[i][j]) <= 1e-4 * Math.max(1, Math.abs(v)), `weight ${i}[${j}]: ${v} vs ${other.w[i][j]}`),
        ),
      );
  },
);

// Keeps FitState's shape honest for library users who store snapshots themselves.
const _typecheck: (s: FitState) => History = (s) => s.history;
void _typecheck;
