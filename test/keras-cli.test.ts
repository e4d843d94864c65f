// Keras files through the commands a user types: convert, summary, evaluate with --weights and
// --raw-pixels, train --from (fine-tuning with the file's own optimizer state), serve; bad files are one
// line on stderr, exit 1, and nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFile } from '../src/io/model-file';
import { buildServer } from '../src/serve/server';
import { fromModelJson } from '../src/io/tfjs-json';
import { reference } from '../src/kernels';
import { loadModelArg } from '../src/cli/model-arg';
import { loadDataset } from '../src/data/mnist';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir } from './helpers/datafixtures';
import { renderDigit } from './helpers/images';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures/keras');
const SEED003 = path.resolve(__dirname, '../../../shared/keras/seed003-model.h5');
const BIN = path.resolve(__dirname, '../../bin/digits.js');
const fixture = (n: string) => path.join(FIXTURES, n);

function digits(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("convert writes the format out's extension names; each file loads back with the same weights", async () => {
  const dir = tempDir();
  const from = fixture('keras3.8-sequential.keras');
  const original = (await loadModelFile(from)).model;
  for (const [out, format] of [
    ['a.keras', 'keras'],
    ['b.h5', 'h5'],
    ['c', 'tfjs'],
    ['d.weights.h5', null],
    ['e.onnx', null],
  ] as const) {
    const r = digits('convert', from, path.join(dir, out));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /→/);
    if (!format) continue;
    const back = await loadModelFile(path.join(dir, out));
    assert.equal(back.format, format);
    assert.deepEqual(back.model.getWeights(), original.getWeights());
  }
  // Keras 2 has no name for a Conv2D's leaky_relu: the .h5 is refused in one line, the .keras written
  const leaky = fixture('keras3.8-legacy-functional.h5');
  const refused = digits('convert', leaky, path.join(dir, 'leaky.h5'));
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^digits: .*leaky\.h5: layer conv2d \(Conv2D\): Keras 2 has no name for activation leaky_relu with alpha 0\.2 \(a \.keras file can hold it\)\n$/,
  );
  assert.ok(!fs.existsSync(path.join(dir, 'leaky.h5')));
  assert.equal(digits('convert', leaky, path.join(dir, 'leaky.keras')).code, 0);
  // Keras 3 weights only, onto the architecture of the file they came from
  const onto = await loadModelArg(path.join(dir, 'a.keras'), { weights: path.join(dir, 'd.weights.h5') });
  assert.deepEqual(onto.model.getWeights(), original.getWeights());
});

test('bad files: one line naming the file, exit 1, nothing written', () => {
  const dir = tempDir();
  for (const bad of ['invalid-lstm.h5', 'invalid-functional-add.keras', 'invalid-shape-mismatch.h5', 'invalid-nan-weights.keras']) {
    const out = path.join(dir, `${bad}.keras`);
    const r = digits('convert', fixture(`invalid/${bad}`), out);
    assert.equal(r.code, 1, bad);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`digits: ${fixture(`invalid/${bad}`)}: `), r.stderr);
    assert.ok(!fs.existsSync(out));
  }
  assert.deepEqual(fs.readdirSync(dir), []);
  const notModel = path.join(dir, 'notes.txt');
  fs.writeFileSync(notModel, 'hello');
  const r = digits('evaluate', notModel, '--data', SHARED_MNIST);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /notes\.txt: not a model file \(neither HDF5, a zip archive nor JSON/);
  // the output directory is checked before the model is read
  const r2 = digits('convert', fixture('keras3.8-sequential.keras'), path.join(dir, 'missing', 'x.h5'));
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /the directory .*missing does not exist/);
  // weights only, without an architecture
  const r3 = digits('evaluate', fixture('keras3.7-cnn.weights.h5'), '--data', SHARED_MNIST);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /holds weights only \(no model_config\): load it onto an architecture with --weights/);
});

test("summary of a file prints Keras' table; --weights puts save_weights files onto model.to_json() architectures", () => {
  const r = digits('summary', fixture('tf2.12-functional.h5'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Model: "/);
  assert.match(r.stdout, /^Total params: /m);
  const e = digits(
    'evaluate',
    fixture('tf2.12-mlp-weights.model.json'),
    '--weights',
    fixture('tf2.12-mlp-weights.h5'),
    '--data',
    SHARED_MNIST,
    '--json',
  );
  assert.equal(e.code, 0, e.stderr);
  assert.ok(JSON.parse(e.stdout).accuracy >= 0);
  const wrong = digits('evaluate', 'seed002-cnn', '--weights', fixture('tf2.12-mlp-weights.h5'), '--data', SHARED_MNIST);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /has weights for 2 layers \(dense, dense_1\), the model has 5 layers with weights/);
});

test('models fed raw 0-255 pixels: Rescaling(1/255) first is recognised, --raw-pixels says it for the rest, and conversions remember', async () => {
  const exp = JSON.parse(fs.readFileSync(fixture('keras3.1-legacy.h5.expected.json'), 'utf8'));
  const notes: string[] = [];
  const { model } = await loadModelArg(fixture('keras3.1-legacy.h5'), {}, (n) => notes.push(n));
  assert.equal(model.inputScale, 255);
  assert.match(notes.join(), /starts with Rescaling\(1\/255\), so it takes 0-255 pixels/);
  // our image paths give [0, 1]: the scaled model computes what Keras does on the raw pixels
  const x = Float32Array.from(exp.inputs.flat(Infinity) as number[], (v) => v / 255);
  const out = model.predict({ shape: [exp.inputs.length, ...exp.input_shape], data: x }).data;
  const want = exp.outputs.flat(Infinity) as number[];
  assert.ok(want.every((v, i) => Math.abs(v - out[i]) < 2e-6));
  // a model with no such layer, marked by the flag, keeps the mark through a conversion
  const dir = tempDir();
  const r = digits('convert', fixture('keras3.8-sequential.keras'), path.join(dir, 'raw.h5'), '--raw-pixels');
  assert.equal(r.code, 0, r.stderr);
  const back = await loadModelFile(path.join(dir, 'raw.h5'));
  assert.equal(back.model.inputScale, 255);
  assert.equal(back.metadata?.rawPixels, true);
});

test(
  "train --from fine-tunes with the file's optimizer and its slots, and saves in --out's format",
  { skip: !fs.existsSync(SEED003) && 'no seed003-model.h5' },
  async () => {
    const dir = tempDir();
    const out = path.join(dir, 'tuned.keras');
    const r = digits('train', '--from', SEED003, '--data', SHARED_MNIST, '--limit', '640', '--epochs', '1', '--out', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.optimizer, 'RMSprop');
    assert.equal(j.batchSize, 32);
    assert.equal(j.history.loss.length, 1);
    assert.equal(Math.round(j.before.accuracy * 10000), 9940);
    // 640 digits at the notebook's learning rate from its converged state: still a good model
    assert.ok(j.test.accuracy > 0.985, `after fine-tuning ${j.test.accuracy}`);
    const back = await loadModelFile(out);
    assert.equal(back.format, 'keras');
    assert.equal(back.metadata?.fineTunedFrom, SEED003);
    // 24,375 steps in Keras, then 20 here
    assert.equal(back.optimizerSlots?.iterations, 24375 + 20);
    const text = digits('train', '--from', SEED003, '--data', SHARED_MNIST, '--limit', '64', '--epochs', '1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /RMSprop state restored \(rms for 24 weights, step 24375\)/);
    // a file without a training config needs an optimizer named
    const none = digits('train', '--from', fixture('keras3.4-functional-deflated.keras'), '--data', SHARED_MNIST, '--limit', '64');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /choose one with --optimizer/);
    const withOpt = digits(
      'train',
      '--from',
      fixture('keras3.4-functional-deflated.keras'),
      '--optimizer',
      'adam',
      '--data',
      SHARED_MNIST,
      '--limit',
      '64',
      '--json',
    );
    assert.equal(withOpt.code, 0, withOpt.stderr);
    assert.equal(digits('train', 'seed002-cnn', '--from', SEED003).code, 2);
  },
);

test(
  'serve runs a Keras file: the API answers and the page gets a model.json that predicts the same',
  { skip: !fs.existsSync(SEED003) && 'no seed003-model.h5' },
  async () => {
    const app = await buildServer({ modelDir: SEED003, dataDir: SHARED_MNIST });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const ds = loadDataset(SHARED_MNIST);
      const png = await renderDigit(ds.test.images.subarray(0, 784), 'png', 1);
      const r = await fetch(`${base}/api/predict`, { method: 'POST', body: new Uint8Array(png), headers: { 'content-type': 'image/png' } });
      assert.equal(r.status, 200);
      const a = await r.json();
      assert.equal(a.top[0].digit, ds.test.labels[0]);
      const info = await (await fetch(`${base}/api/model`)).json();
      assert.equal(info.params, 336490);
      const json = await (await fetch(`${base}/model/model.json`)).json();
      const weights = new Uint8Array(await (await fetch(`${base}/model/weights.bin`)).arrayBuffer());
      const page = fromModelJson(json, weights, 'model.json', reference).model;
      const x = { shape: [1, 28, 28, 1], data: Float32Array.from(a.preprocessed.flat() as number[]) };
      const p = page.predictProba(x).data;
      // the API rounds the 28x28 it returns to 4 decimals; the page's model sees those
      assert.ok(Math.abs(p[a.top[0].digit] - a.top[0].probability) < 1e-3);
    } finally {
      await app.close();
    }
  },
);
