// The `digits` command end to end, as a user runs it: real MNIST, real files, exit codes, and
// TF.js scoring the saved model the same as `digits evaluate` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir } from './helpers/datafixtures';
import { loadDataset, toTensor } from '../src/data/mnist';

const BIN = path.resolve(__dirname, '../../bin/digits.js');

function digits(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const COUNTS: Record<string, string[]> = {
  'seed000-kaggle': ['567,646', '567,646', '0'],
  'seed001-small': ['17,802', '17,802', '0'],
  'seed002-mlp': ['407,050', '407,050', '0'],
  'seed002-cnn': ['93,322', '93,322', '0'],
  'seed003-bn': ['336,490', '335,594', '896'],
  'seed004-keras': ['1,199,882', '1,199,882', '0'],
};

test("digits summary prints the seed documents' parameter counts", () => {
  for (const [preset, [total, trainable, non]] of Object.entries(COUNTS)) {
    const r = digits('summary', preset);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Total params: ${total}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Trainable params: ${trainable}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Non-trainable params: ${non}$`, 'm'));
  }
});

test("digits summary --explain shows seed 001's hand arithmetic", () => {
  const r = digits('summary', 'seed001-small', '--explain');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /25 = 28 - 4 \+ 1/);
  assert.match(r.stdout, /544 = 32 × \(4·4·1 \+ 1\)/);
  assert.match(r.stdout, /800 = 5 × 5 × 32/);
  assert.match(r.stdout, /8010 = 10 × \(800 \+ 1\)/);
});

test('usage errors exit 2 with one line and no stack', () => {
  for (const args of [
    ['train', 'no-such-preset'],
    ['train', 'seed002-mlp', '--epochs', 'x'],
    ['train', 'seed002-mlp', '--validation-split', '1.5'],
    ['frobnicate'],
    ['predict', '--model', 'M'],
  ]) {
    const r = digits(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('runtime errors exit 1 with one line naming the file', () => {
  const empty = tempDir('digits-cli-');
  const bad = digits('train', 'seed002-mlp', '--data', empty);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr.trim(), new RegExp(`^digits: .*${empty}.*digits download`));
  fs.writeFileSync(path.join(empty, 'model.json'), '{"modelTopology": ');
  const r = digits('evaluate', empty, '--data', SHARED_MNIST);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /model\.json: invalid JSON/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('train → evaluate → predict on real MNIST, and TF.js scores the saved model the same', async () => {
  const out = path.join(tempDir('digits-cli-'), 'M');
  const t = digits('train', 'seed002-mlp', '--epochs', '1', '--limit', '12000', '--data', SHARED_MNIST, '--out', out, '--json');
  assert.equal(t.code, 0, t.stderr);
  const trained = JSON.parse(t.stdout);
  assert.equal(trained.history.loss.length, 1);
  assert.ok(trained.test.accuracy >= 0.9, `test accuracy ${trained.test.accuracy} after one epoch on 12,000 digits`);

  const e = digits('evaluate', out, '--data', SHARED_MNIST, '--json');
  assert.equal(e.code, 0, e.stderr);
  const evaluated = JSON.parse(e.stdout);
  assert.equal(evaluated.accuracy, trained.test.accuracy);
  const cm: number[][] = evaluated.confusionMatrix;
  assert.equal(
    cm.flat().reduce((a, b) => a + b, 0),
    10000,
  );
  assert.equal(cm.reduce((s, row, i) => s + row[i], 0) / 10000, evaluated.accuracy);

  const p = digits('predict', out, '--index', '0', '--data', SHARED_MNIST);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /test digit #0, label 7/);
  assert.match(p.stdout, /@/);

  // TF.js (pure JS) loads model.json + weights.bin and gets the same test accuracy
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(out, 'weights.bin'));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    }),
  );
  const ds = loadDataset(SHARED_MNIST);
  const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
  const pred = tf.tidy(() =>
    model
      .predict(tf.tensor4d(te.x, [ds.test.count, ds.height, ds.width, 1]))
      .argMax(-1)
      .dataSync(),
  );
  let correct = 0;
  for (let i = 0; i < ds.test.count; i++) if (pred[i] === ds.test.labels[i]) correct++;
  assert.equal(correct / ds.test.count, evaluated.accuracy);
});

test('digits speedrun passes 99% on the real test set (its time is a benchmark, not asserted here)', () => {
  const r = digits('speedrun', '--data', SHARED_MNIST, '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.epochs, 2);
  assert.ok(s.accuracy >= 0.99, `speedrun test accuracy ${s.accuracy}`);
  assert.ok(s.wallSeconds > s.trainSeconds && s.trainSeconds > 0, JSON.stringify(s));
});

test('outputs that cannot be written are refused before any work, in one line, within seconds', () => {
  const started = Date.now();
  // Node's own recursive mkdir spins forever under /proc; training would have finished first and then hung
  const proc = digits('train', 'seed002-mlp', '--epochs', '1', '--data', SHARED_MNIST, '--out', '/proc/x');
  assert.equal(proc.code, 1);
  assert.match(proc.stderr, /^digits: --out \/proc\/x: cannot write in \/proc/);
  const inside = digits('train', 'seed002-mlp', '--epochs', '1', '--data', SHARED_MNIST, '--out', path.join(SHARED_MNIST, 'model'));
  assert.equal(inside.code, 1);
  assert.match(inside.stderr, /inside the data directory/);
  const notModel = tempDir('digits-cli-');
  fs.writeFileSync(path.join(notModel, 'notes.txt'), 'mine');
  const occupied = digits('train', 'seed002-mlp', '--epochs', '1', '--data', SHARED_MNIST, '--out', notModel);
  assert.equal(occupied.code, 1);
  assert.match(occupied.stderr, /exists and is not a model directory/);
  assert.equal(digits('convert', 'seed002-mlp', '/proc/x.keras').code, 1);
  assert.ok(Date.now() - started < 30_000, 'refused before training');
});

test('a corrupted label in the training file is a one-line error naming file, index and value, before training', () => {
  const dir = tempDir('digits-cli-');
  for (const f of fs.readdirSync(SHARED_MNIST).filter((n) => /ubyte/.test(n)))
    fs.copyFileSync(path.join(SHARED_MNIST, f), path.join(dir, f));
  const labels = fs.readdirSync(dir).find((n) => n.startsWith('train-labels'))!;
  const file = path.join(dir, labels);
  const gz = labels.endsWith('.gz');
  const raw = gz ? zlib.gunzipSync(fs.readFileSync(file)) : fs.readFileSync(file);
  raw[8 + 1234] = 200;
  fs.writeFileSync(file, gz ? zlib.gzipSync(raw) : raw);
  const r = digits('train', 'seed002-mlp', '--epochs', '1', '--data', dir);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `digits: ${file}: label 200 at index 1234 is outside the model's 10 classes (0..9)`);
});

test('with no model given, predict and evaluate use the shipped model (models/digits-real)', () => {
  const photo = path.resolve(__dirname, '../../../shared/real-digits/u003.jpg'); // a phone photo of a 9 on paper
  if (fs.existsSync(photo)) {
    const p = digits('predict', photo, '--json');
    assert.equal(p.code, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).results[0].top[0].digit, 9, p.stdout.slice(0, 200));
  }
  const e = digits('evaluate', '--data', SHARED_MNIST, '--json');
  assert.equal(e.code, 0, e.stderr);
  assert.ok(JSON.parse(e.stdout).accuracy >= 0.995, e.stdout.slice(0, 200));
});

test('starting the CLI loads no picture decoder, HTTP server or protobuf library: the commands that need them do', () => {
  const main = path.resolve(__dirname, '../src/cli/main.js');
  const probe = `require(${JSON.stringify(main)}); const ks = Object.keys(require.cache);
    console.log(JSON.stringify(['sharp', 'fastify', 'prom-client', 'protobufjs'].filter((n) => ks.some((k) => k.includes('/node_modules/' + n + '/')))));`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});
