// The Keras bridge: files written by every Keras from 2.2 to 3.x (emulated layout for layout in
// test/fixtures/keras, made by scripts/keras_fixtures.py from Keras' saving code, with a float64 NumPy
// forward pass as the expected outputs) load and predict what Keras predicts; seed003's own trained
// model.h5 scores the notebook's numbers on real MNIST; what we write is laid out field by field as Keras
// writes it, loads in Keras' loaders (scripts/keras_check.py) and round-trips bit for bit.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync, zipSync, strFromU8, strToU8 } from 'fflate';
import { loadArchitecture, loadModelFile, loadWeightsInto, modelBytes, saveModelFile, type LoadedFile } from '../src/io/model-file';
import { openH5 } from '../src/io/hdf5';
import { layerPaths } from '../src/io/keras-v3';
import { PRESETS, getPreset } from '../src/zoo/presets';
import { Sequential } from '../src/model/sequential';
import {
  Conv2D,
  Dense,
  Flatten,
  AveragePooling2D,
  GlobalAveragePooling2D,
  Rescaling,
  Reshape,
  BatchNormalization,
  Activation,
  LeakyReLU,
  ReLU,
  ELU,
  Dropout,
  MaxPooling2D,
} from '../src/layers';
import { loadDataset, toTensor } from '../src/data/mnist';
import { Rng } from '../src/rng';
import { DigitsError } from '../src/errors';
import { SHARED_MNIST } from './helpers/paths';
import { tempDir, expectDigitsErrorAsync } from './helpers/datafixtures';
import { loadTfjs, tfjsLoadDir } from './helpers/tfjs';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures/keras');
const SEED003 = path.resolve(__dirname, '../../../shared/keras/seed003-model.h5');
const BIN = path.resolve(__dirname, '../../bin/digits.js');
const PYTHON = '/usr/bin/python3';

function digits(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Expected {
  format: string;
  keras_version: string;
  input_shape: number[];
  inputs: unknown[];
  outputs: unknown[];
  layers: [string, string, (number | null)[], number][];
  total_params: number;
  trainable_params: number;
}

const fixtures = fs
  .readdirSync(FIXTURES)
  .filter((n) => n.endsWith('.expected.json'))
  .map((n) => n.replace(/\.expected\.json$/, ''));

/** A fixture's model: a full model file, or a weights-only file onto the architecture beside it. */
async function loadFixture(name: string): Promise<LoadedFile> {
  const file = path.join(FIXTURES, name);
  if (!/weights\.h5$/.test(name)) return loadModelFile(file);
  const loaded = await loadArchitecture(file.replace(/(\.weights)?\.h5$/, '.model.json'), file);
  await loadWeightsInto(loaded.model, file);
  return loaded;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function sameWeights(a: Sequential, b: Sequential): boolean {
  const x = a.getWeights(),
    y = b.getWeights();
  return x.length === y.length && x.every((v, i) => v.length === y[i].length && v.every((q, j) => Object.is(q, y[i][j])));
}

function randomInput(model: Sequential, n: number, seed: number): { shape: number[]; data: Float32Array } {
  const r = new Rng(seed);
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  return { shape: [n, ...model.inputShape], data: Float32Array.from({ length: n * size }, () => r.next()) };
}

/** Two optimizer steps, so BN statistics and optimizer slots hold something other than their start values. */
function trainTwoSteps(model: Sequential): void {
  if (!model.optimizer) model.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  const x = randomInput(model, 8, 3);
  const classes = model.outputShape[0];
  const t = new Float32Array(8 * classes);
  for (let i = 0; i < 8; i++) t[i * classes + (i % classes)] = 1;
  model.trainOnBatch(x.data, t, 8);
  model.trainOnBatch(x.data, t, 8);
}

const hasChecker = spawnSync(PYTHON, ['-c', 'import h5py, numpy'], { encoding: 'utf8' }).status === 0;
test("Keras' loaders can be consulted: Debian's python3-h5py is installed (scripts/setup.sh installs it)", () => {
  assert.ok(hasChecker, `${PYTHON} cannot import h5py and numpy: run scripts/setup.sh (apt install python3-h5py)`);
});

/** Keras' loaders, emulated from their source (scripts/keras_check.py): every one that applies must accept. */
function kerasCheck(
  file: string,
  inputs?: string,
  require = 'all',
): { ok: boolean; outputs?: number[][]; loaders: Record<string, string>; notes: string[] } {
  const r = spawnSync(
    PYTHON,
    [path.resolve(__dirname, '../../scripts/keras_check.py'), file, '--require', require, ...(inputs ? ['--inputs', inputs] : [])],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `keras_check ${path.basename(file)}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * A legacy .h5 is tf.keras' format: its loader must take it without a word; Keras 3's must load it, and
 * may only warn where it warns for every tf.keras file too (LeakyReLU's `alpha`, which Keras 3 renamed).
 */
function legacyCheck(file: string, inputs: string): { outputs?: number[][]; loaders: Record<string, string> } {
  const c = kerasCheck(file, inputs, 'tf.keras');
  const k3 = spawnSync(PYTHON, [path.resolve(__dirname, '../../scripts/keras_check.py'), file, '--require', 'keras3'], {
    encoding: 'utf8',
  });
  if (k3.status !== 0)
    assert.match(
      k3.stderr + k3.stdout,
      /^[^\n]*LeakyReLU 'alpha' -> UserWarning 'Argument `alpha` is deprecated'\s*$/,
      'Keras 3 refuses the .h5',
    );
  return c;
}

describe('files written by Keras 2.2 to 3.x', () => {
  test('the fixtures cover both containers, every writer generation and the layer types the issue lists', () => {
    assert.ok(fixtures.length >= 20, `${fixtures.length} fixtures`);
    const classes = new Set(
      fixtures.flatMap((f) =>
        (JSON.parse(fs.readFileSync(path.join(FIXTURES, `${f}.expected.json`), 'utf8')) as Expected).layers.map((l) => l[1]),
      ),
    );
    for (const c of [
      'InputLayer',
      'Conv2D',
      'Dense',
      'Activation',
      'AveragePooling2D',
      'GlobalAveragePooling2D',
      'Reshape',
      'Rescaling',
      'BatchNormalization',
      'LeakyReLU',
      'ReLU',
    ])
      assert.ok(classes.has(c), `no fixture has ${c}`);
    for (const v of ['2.2', '2.4', '2.12', '2.13', '3.1', '3.3', '3.8'])
      assert.ok(
        fixtures.some((f) => f.includes(v)),
        `no Keras ${v} fixture`,
      );
  });

  for (const name of fixtures) {
    test(`${name}: loads and predicts what Keras computes, with Keras' layer table`, async () => {
      const exp = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected;
      const { model } = await loadFixture(name);
      const x = Float32Array.from(exp.inputs.flat(Infinity) as number[]);
      const out = model.predict({ shape: [exp.inputs.length, ...exp.input_shape], data: x });
      // float32 here, float64 in the reference: agreement to a few ulps of the probabilities
      assert.ok(maxAbsDiff(out.data, exp.outputs.flat(Infinity) as number[]) < 2e-6, 'outputs differ from the NumPy reference');
      assert.deepEqual(
        model.layers.map((l) => [l.name, l.className, [null, ...l.outputShape], l.countParams()]),
        exp.layers.filter((l) => l[1] !== 'InputLayer'),
      );
      assert.equal(model.countParams(), exp.total_params);
      assert.equal(
        model.layers.reduce((s, l) => s + l.trainableParams(), 0),
        exp.trainable_params,
      );
    });
  }

  test("the container is known by its magic bytes: TF 2.11's HDF5 under a .keras name loads as HDF5", async () => {
    const r = await loadModelFile(path.join(FIXTURES, 'tf2.11-hdf5-named.keras'));
    assert.equal(r.format, 'h5');
    const copy = path.join(tempDir(), 'no-extension');
    fs.copyFileSync(path.join(FIXTURES, 'keras3.8-sequential.keras'), copy);
    assert.equal((await loadModelFile(copy)).format, 'keras');
  });

  test('optimizer state comes back where the file has it: tf.keras slots by name, Keras 3 by order', async () => {
    const tf24 = await loadFixture('tf2.4-sequential-rmsprop.h5');
    assert.equal(tf24.model.optimizer.className, 'RMSprop');
    const trainable = tf24.model.layers.flatMap((l) => l.weights.filter((w) => w.grad)).length;
    assert.equal(tf24.optimizerSlots?.slots.size, trainable);
    const k3 = await loadFixture('keras3.8-sequential.keras');
    assert.equal(k3.model.optimizer.className, 'Adam');
    const n3 = k3.model.layers.flatMap((l) => l.weights.filter((w) => w.grad)).length;
    assert.equal(k3.optimizerSlots?.slots.size, 2 * n3);
    assert.ok(k3.optimizerSlots!.iterations > 0);
  });

  const invalid: [string, RegExp][] = [
    ['invalid-functional-add.keras', /layer 'add' \(Add\) takes 2 inputs; only plain chains/],
    ['invalid-lstm.h5', /\(lstm, LSTM\): layer class 'LSTM' is not supported/],
    ['invalid-conv-dilation.keras', /\(conv2d, Conv2D\): dilation_rate \[2,2\] is not supported/],
    ['invalid-no-weights-member.keras', /no model\.weights\.h5/],
    ['invalid-shape-mismatch.h5', /weight dense\/kernel:0 of layer dense has shape \[60,3\], the layer needs \[64,3\]/],
    ['invalid-nan-weights.keras', /of layer dense holds NaN/],
    ['invalid-missing-bias.keras', /layer conv2d \(Conv2D\) has 1 weights in the file, the layer needs 2/],
  ];
  for (const [file, message] of invalid) {
    test(`refused in one line naming the file: ${file}`, async () => {
      const p = path.join(FIXTURES, 'invalid', file);
      await assert.rejects(
        loadModelFile(p),
        (e: Error) => e instanceof DigitsError && e.message.startsWith(p) && !e.message.includes('\n') && message.test(e.message),
      );
    });
  }
});

describe("seed003's own trained model.h5 (Keras 2.4.0)", { skip: !fs.existsSync(SEED003) && `no ${SEED003}` }, () => {
  test("evaluates to the notebook's epoch-13 numbers: 9,940 of 10,000 and loss 0.0203", () => {
    const r = digits('evaluate', SEED003, '--data', SHARED_MNIST, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(Math.round(j.accuracy * 10000), 9940);
    assert.equal(j.loss.toFixed(4), '0.0203');
  });

  test("its summary is the document's table (seed003-bn's)", () => {
    const r = digits('summary', SEED003);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), getPreset('seed003-bn').build().summary());
  });

  test('converted to .keras, .h5, TF.js and .onnx, each scores the same', async () => {
    const dir = tempDir();
    const ds = loadDataset(SHARED_MNIST);
    const te = toTensor(ds.test, 28, 28, 10);
    const x = { shape: [ds.test.count, 28, 28, 1], data: te.x },
      y = { shape: [ds.test.count, 10], data: te.y };
    const original = (await loadModelFile(SEED003)).model;
    const want = original.evaluate(x, y);
    for (const out of ['m.keras', 'm.h5', 'm-tfjs']) {
      const r = digits('convert', SEED003, path.join(dir, out));
      assert.equal(r.code, 0, r.stderr);
      const loaded = (await loadModelFile(path.join(dir, out))).model;
      assert.ok(sameWeights(original, loaded), `${out}: weights changed`);
      assert.deepEqual(loaded.evaluate(x, y), want, out);
    }
    assert.equal(digits('convert', SEED003, path.join(dir, 'm.onnx')).code, 0);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(fs.readFileSync(path.join(dir, 'm.onnx')));
    const n = ds.test.count;
    const res = await session.run({ input: new ort.Tensor('float32', x.data, [n, 28, 28, 1]) });
    const p = res.output.data as Float32Array;
    let correct = 0,
      loss = 0;
    for (let i = 0; i < n; i++) {
      const row = p.subarray(i * 10, i * 10 + 10),
        label = ds.test.labels[i];
      if (row.indexOf(Math.max(...row)) === label) correct++;
      loss -= Math.log(Math.min(Math.max(row[label], 1e-7), 1 - 1e-7));
    }
    assert.equal(correct, 9940);
    assert.equal((loss / n).toFixed(4), '0.0203');
  });

  test('its RMSprop state (24 slots, step 24,375) carries into fine-tuning', async () => {
    const r = await loadModelFile(SEED003);
    assert.equal(r.optimizerSlots?.iterations, 24375);
    assert.equal(r.optimizerSlots?.slots.size, 24);
  });
});

describe('what we write', () => {
  /** A model using every layer and activation that all three writers can name. */
  function everyLayer(eluAlpha = 0.5): Sequential {
    const m = new Sequential({
      name: 'every_layer',
      seed: 7,
      layers: [
        new Rescaling({ scale: 1 / 255, offset: 0, inputShape: [28, 28] }),
        new Reshape({ targetShape: [28, 28, 1] }),
        new Conv2D({ filters: 4, kernelSize: 5, strides: 2, padding: 'same', activation: 'elu' }),
        new BatchNormalization({ center: false }),
        new LeakyReLU({ alpha: 0.1 }),
        new Conv2D({ filters: 6, kernelSize: 3, padding: 'valid', activation: 'tanh', useBias: false }),
        new AveragePooling2D({ poolSize: 2, padding: 'same' }),
        new ReLU({ maxValue: 6 }),
        new ELU({ alpha: eluAlpha }),
        new MaxPooling2D({ poolSize: 2, strides: 1 }),
        new GlobalAveragePooling2D(),
        new Dense({ units: 16, activation: 'sigmoid' }),
        new BatchNormalization({ scale: false }),
        new Dropout({ rate: 0.2 }),
        new Dense({ units: 10 }),
        new Activation({ activation: 'softmax' }),
      ],
    });
    m.build();
    return m;
  }

  const models: [string, () => Sequential][] = [
    ...PRESETS.map((p) => [p.name, () => p.build(undefined, undefined, 3).build()] as [string, () => Sequential]),
    ['every layer', everyLayer],
    [
      'flat 784 MLP',
      () =>
        new Sequential({
          layers: [new Dense({ units: 32, activation: 'relu', inputShape: [784] }), new Dense({ units: 10, activation: 'softmax' })],
        }).build(),
    ],
  ];

  for (const [name, make] of models) {
    test(`${name}: .h5 and .keras round-trip bit for bit, and Keras' loaders accept both`, async () => {
      const model = make();
      trainTwoSteps(model);
      const dir = tempDir();
      const x = randomInput(model, 4, 11);
      const want = model.predict(x).data;
      const inputs = path.join(dir, 'inputs.json');
      // keras_check computes in float64 from the raw inputs the model takes
      fs.writeFileSync(inputs, JSON.stringify(Array.from(x.data)));
      for (const ext of ['h5', 'keras']) {
        const file = path.join(dir, `m.${ext}`);
        await saveModelFile(model, file, { preset: name });
        const back = await loadModelFile(file);
        assert.ok(sameWeights(model, back.model), `${ext}: weights differ`);
        assert.deepEqual(Array.from(back.model.predict(x).data), Array.from(want), `${ext}: predictions differ`);
        assert.deepEqual(back.metadata?.preset, name);
        assert.equal(back.model.optimizer.className, model.optimizer.className);
        {
          const shape = [x.shape[0], ...model.inputShape];
          fs.writeFileSync(inputs, JSON.stringify({ inputs: reshape(Array.from(x.data), shape) }));
          const c = ext === 'h5' ? legacyCheck(file, inputs) : kerasCheck(file, inputs);
          assert.ok(maxAbsDiff(c.outputs!.flat(Infinity) as number[], want) < 1e-5, `${ext}: Keras' computation differs`);
        }
      }
      // the Keras 3 file continues the optimizer exactly: same slots, same step
      const k3 = await loadModelFile(path.join(dir, 'm.keras'));
      const names = model.optimizer.slotNames();
      assert.equal(k3.optimizerSlots?.slots.size, names.length * model.layers.flatMap((l) => l.weights.filter((w) => w.grad)).length);
      assert.equal(k3.optimizerSlots?.iterations, 2);
    });
  }

  test('legacy .h5, field by field as tf.keras 2.x writes it', async () => {
    const model = getPreset('seed002-cnn').build(undefined, undefined, 1).build();
    model.compile({ optimizer: 'rmsprop', loss: 'categorical_crossentropy' });
    const f = await openH5(await modelBytes(model, 'h5'), 'm.h5');
    try {
      assert.equal(f.attr('/', 'keras_version'), '2.15.0');
      assert.equal(f.attr('/', 'backend'), 'tensorflow');
      const config = JSON.parse(f.attr('/', 'model_config') as string);
      assert.equal(config.class_name, 'Sequential');
      const layers = config.config.layers;
      assert.deepEqual(layers[0], {
        class_name: 'InputLayer',
        config: { batch_input_shape: [null, 28, 28, 1], dtype: 'float32', sparse: false, ragged: false, name: 'conv2d_input' },
      });
      assert.deepEqual(
        layers.slice(1).map((l: { class_name: string }) => l.class_name),
        model.layers.map((l) => l.className),
      );
      assert.ok(
        layers.slice(1).every((l: { config: Record<string, unknown> }) => !('batch_input_shape' in l.config)),
        'batch_input_shape only on the InputLayer',
      );
      const conv = layers[1].config;
      assert.deepEqual(
        [conv.filters, conv.kernel_size, conv.strides, conv.padding, conv.activation, conv.data_format, conv.dtype],
        [32, [3, 3], [1, 1], 'valid', 'relu', 'channels_last', 'float32'],
      );
      assert.deepEqual(conv.kernel_initializer, { class_name: 'GlorotUniform', config: { seed: null } });
      const tc = JSON.parse(f.attr('/', 'training_config') as string);
      assert.equal(tc.loss, 'categorical_crossentropy');
      assert.deepEqual(tc.optimizer_config, {
        class_name: 'RMSprop',
        config: { name: 'RMSprop', learning_rate: 0.001, rho: 0.9, epsilon: 1e-7, momentum: 0, centered: false },
      });
      assert.deepEqual(
        f.attr('/model_weights', 'layer_names'),
        model.layers.map((l) => l.name),
      );
      assert.deepEqual(f.attr('/model_weights/conv2d', 'weight_names'), ['conv2d/kernel:0', 'conv2d/bias:0']);
      assert.deepEqual(f.attr('/model_weights/flatten', 'weight_names'), [], "a weightless layer's names are an empty array");
      assert.deepEqual(f.info('/model_weights/conv2d/conv2d/kernel:0'), { shape: [3, 3, 1, 32], dtype: 'float32' });
      assert.deepEqual(f.info('/model_weights/dense_1/dense_1/bias:0'), { shape: [10], dtype: 'float32' });
      assert.ok(f.isGroup('/model_weights/top_level_model_weights'));
      assert.ok(!f.isGroup('/optimizer_weights'), 'no optimizer_weights: tf.keras and Keras 3 lay them out differently');
    } finally {
      f.close();
    }
  });

  test('.keras, member by member as Keras 3 writes it', async () => {
    const model = getPreset('seed003-bn').build(undefined, undefined, 1).build();
    trainTwoSteps(model);
    const bytes = await modelBytes(model, 'keras', { preset: 'seed003-bn' });
    const members = unzipSync(bytes);
    assert.deepEqual(Object.keys(members), ['metadata.json', 'config.json', 'model.weights.h5']);
    // stored, not deflated: the local header's compression method is 0 for every member
    for (let at = 0, seen = 0; seen < 3; seen++) {
      assert.equal(bytes[at + 8] | (bytes[at + 9] << 8), 0);
      at +=
        30 +
        (bytes[at + 26] | (bytes[at + 27] << 8)) +
        (bytes[at + 18] | (bytes[at + 19] << 8) | (bytes[at + 20] << 16) | (bytes[at + 21] << 24));
    }
    const meta = JSON.parse(strFromU8(members['metadata.json']));
    assert.equal(meta.keras_version, '3.8.0');
    assert.match(meta.date_saved, /^\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d$/);
    const config = JSON.parse(strFromU8(members['config.json']));
    assert.deepEqual([config.module, config.class_name, config.registered_name], ['keras', 'Sequential', null]);
    assert.deepEqual(config.build_config, { input_shape: [null, 28, 28, 1] });
    assert.deepEqual(config.config.layers[0], {
      module: 'keras.layers',
      class_name: 'InputLayer',
      config: { batch_shape: [null, 28, 28, 1], dtype: 'float32', sparse: false, name: 'input_layer' },
      registered_name: null,
    });
    const bn = config.config.layers[3];
    assert.deepEqual(
      [bn.module, bn.class_name, bn.config.axis, bn.config.dtype, bn.build_config],
      ['keras.layers', 'BatchNormalization', -1, 'float32', { input_shape: [null, 14, 14, 32] }],
    );
    assert.deepEqual(bn.config.gamma_initializer, { module: 'keras.initializers', class_name: 'Ones', config: {}, registered_name: null });
    assert.equal(config.compile_config.optimizer.class_name, 'Adam');
    assert.deepEqual(Object.keys(config.compile_config.optimizer.config).sort(), [
      'amsgrad',
      'beta_1',
      'beta_2',
      'epsilon',
      'learning_rate',
      'name',
    ]);
    const f = await openH5(members['model.weights.h5'], 'model.weights.h5');
    try {
      assert.deepEqual(f.keys('/').sort(), ['layers', 'optimizer', 'vars']);
      const paths = layerPaths(model.layers);
      assert.deepEqual(f.keys('/layers').sort(), [...paths].sort());
      assert.deepEqual(paths.slice(0, 5), ['conv2d', 'conv2d_1', 'batch_normalization', 'conv2d_2', 'batch_normalization_1']);
      model.layers.forEach((l, i) => {
        assert.deepEqual(f.keys(`/layers/${paths[i]}/vars`).sort(), l.weights.map((_w, j) => String(j)).sort());
        l.weights.forEach((w, j) => assert.deepEqual(f.readFloat32(`/layers/${paths[i]}/vars/${j}`).data, w.value));
      });
      const trainable = model.layers.flatMap((l) => l.weights.filter((w) => w.grad));
      assert.equal(f.keys('/optimizer/vars').length, 2 + 2 * trainable.length);
      assert.deepEqual(f.info('/optimizer/vars/0'), { shape: [], dtype: 'int64' });
      assert.equal(f.readFloat32('/optimizer/vars/0').data[0], 2);
      assert.equal(f.readFloat32('/optimizer/vars/1').data[0], Math.fround(1e-3));
      const { slots } = model.optimizer.getState();
      // Adam's momentum and velocity, interleaved per variable
      assert.deepEqual(f.readFloat32('/optimizer/vars/2').data, slots[0][0]);
      assert.deepEqual(f.readFloat32('/optimizer/vars/3').data, slots[1][0]);
      assert.deepEqual(f.readFloat32('/optimizer/vars/4').data, slots[0][1]);
    } finally {
      f.close();
    }
  });

  test('TF.js loads a Keras file converted to its format and predicts the same', async () => {
    const tf = await loadTfjs();
    const dir = tempDir();
    for (const name of ['keras3.8-sequential.keras', 'tf2.12-functional.h5', 'every layer']) {
      // TF.js' ELU layer takes alpha 1 only
      const model = name === 'every layer' ? everyLayer(1) : (await loadFixture(name)).model;
      const out = path.join(dir, name.replace(/\W/g, '_'));
      await saveModelFile(model, out);
      const m = await tfjsLoadDir(tf, out);
      const x = randomInput(model, 3, 5);
      const theirs = (m.predict(tf.tensor(x.data, x.shape)) as { dataSync(): Float32Array }).dataSync();
      assert.ok(maxAbsDiff(theirs, model.predict(x).data) < 1e-5, name);
    }
  });

  test('from_logits survives every format, and evaluate reports the exact (unclipped) cross-entropy', async () => {
    const model = new Sequential({ seed: 2, layers: [new Flatten({ inputShape: [28, 28, 1] }), new Dense({ units: 10 })] });
    model.build();
    for (const w of model.layers[1].weights) for (let i = 0; i < w.value.length; i++) w.value[i] *= 40;
    model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', fromLogits: true });
    const x = randomInput(model, 16, 9);
    const labels = { shape: [16], data: Float32Array.from({ length: 16 }, (_v, i) => i % 10) };
    const logits = model.predict(x).data;
    let exact = 0;
    for (let r = 0; r < 16; r++) {
      const row = Array.from(logits.subarray(r * 10, r * 10 + 10));
      const m = Math.max(...row);
      exact += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[r % 10];
    }
    const want = model.evaluate(x, labels).loss;
    assert.ok(Math.abs(want - exact / 16) < 1e-9 * Math.max(1, exact / 16));
    assert.ok(exact / 16 > 16.2, 'some rows are past the 1e-7 clipping a probability-based loss would apply');
    const dir = tempDir();
    for (const out of ['m.h5', 'm.keras', 'm-tfjs']) {
      await saveModelFile(model, path.join(dir, out));
      const back = (await loadModelFile(path.join(dir, out))).model;
      assert.equal(back.fromLogits, true, out);
      assert.equal(back.evaluate(x, labels).loss, want, out);
      const p = back.predictProba(x).data;
      for (let r = 0; r < 16; r++) assert.ok(Math.abs(p.subarray(r * 10, r * 10 + 10).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
  });
});

test('an activation parameter beyond float32 is refused in one line (found by the .keras fuzzer, seed -570180423)', async () => {
  // -1e308 is -Infinity in float32: a LeakyReLU with it made 0 × Infinity = NaN in predict
  const members = unzipSync(fs.readFileSync(path.join(FIXTURES, 'keras3.11-renamed-layers.keras')));
  const config = JSON.parse(strFromU8(members['config.json']));
  const dir = tempDir();
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // our LeakyReLU calls Keras 3's negative_slope by its Keras 2 and TF.js name, alpha
  for (const [cls, key, value, said] of [
    ['LeakyReLU', 'negative_slope', -1e308, 'alpha'],
    ['LeakyReLU', 'negative_slope', 1e39, 'alpha'],
    ['ReLU', 'negative_slope', -1e308, 'negative_slope'],
    ['ReLU', 'max_value', 1e308, 'max_value'],
  ] as const) {
    const edited = structuredClone(config);
    const layer = edited.config.layers.find((l: { class_name: string }) => l.class_name === cls);
    layer.config[key] = value;
    const file = path.join(dir, `${cls}-${key}.keras`);
    fs.writeFileSync(file, zipSync({ ...members, 'config.json': strToU8(JSON.stringify(edited)) }));
    await expectDigitsErrorAsync(
      () => loadModelFile(file),
      new RegExp(`^${escape(file)}: .*${cls}: ${said} must be a float32 number, got ${escape(String(value))}$`),
    );
  }
  // the same holds where the parameter multiplies every pixel
  assert.throws(
    () => new Rescaling({ scale: 1e308 }),
    /^UsageError: Rescaling: scale must be a float32 number or a list of them, got 1e\+308$/,
  );
  assert.throws(() => new Rescaling({ scale: 1, offset: [0, -1e39] }), /offset must be a float32 number/);
  fs.rmSync(dir, { recursive: true, force: true });
});

function reshape(flat: number[], shape: number[]): unknown {
  if (shape.length === 1) return flat;
  const size = flat.length / shape[0];
  return Array.from({ length: shape[0] }, (_v, i) => reshape(flat.slice(i * size, (i + 1) * size), shape.slice(1)));
}
