// Model files: our save/load round trip, interoperability with TF.js' Layers format in both directions,
// one-line errors for damaged files, and atomic replacement of a model directory.
// The reference backend keeps results identical on every machine (the native core may not be built).
process.env.DIGITS_BACKEND = 'reference';

import { test, describe, before, mock } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { fromModelJson, loadModel, saveModel, toModelJson, weightsBuffer } from '../src/io/tfjs';
import { PRESETS, getPreset } from '../src/zoo/presets';
import { Sequential } from '../src/model/sequential';
import { Rng } from '../src/rng';
import type { Tensor } from '../src/tensor';
import { DigitsError } from '../src/errors';
import { loadTfjs, maxAbsDiff, tfjsLoadDir, tfjsSaveDir, type Tfjs } from './helpers/tfjs';
import { tempDir } from './helpers/datafixtures';

// The real node:fs module object. io.ts reaches fs through esModuleInterop's live bindings, so methods
// mocked here are the ones saveModel calls (used to inject I/O failures mid-save).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const realFs: typeof fs = require('node:fs');

/** n MNIST-shaped images (NHWC, [n, 28, 28, 1]) with pixels uniform in [0, 1), reproducible from seed. */
function randomImages(n: number, seed: number, shape: number[] = [28, 28, 1]): Tensor {
  const r = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape: [n, ...shape], data: Float32Array.from({ length: n * size }, () => r.next()) };
}

/**
 * A preset's model with its weights created. saveModel does not build an unbuilt model before it writes
 * weights.bin (see the dedicated test below), so the tests of other properties build first.
 */
function presetModel(name: string, seed: number, inputShape?: number[], classes?: number): Sequential {
  return getPreset(name).build(inputShape, classes, seed).build();
}

/** One-hot targets for n samples over `classes` classes. */
function oneHot(n: number, classes: number): Float32Array {
  const t = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) t[i * classes + ((i * 7) % classes)] = 1;
  return t;
}

/** Two Adam steps on random data, so BatchNormalization's moving statistics leave their 0 / 1 start. */
function trainTwoSteps(model: Sequential, seed = 21): void {
  model.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  const n = 8;
  const x = randomImages(n, seed, model.inputShape);
  const t = oneHot(n, model.outputShape[0]);
  model.trainOnBatch(x.data, t, n);
  model.trainOnBatch(x.data, t, n);
}

function movingStatsAreTrained(model: Sequential): boolean {
  const stats = model.layers.filter((l) => l.className === 'BatchNormalization').map((l) => l.weights);
  return stats.length > 0 && stats.every(([, , mean, variance]) => mean.value.some((v) => v !== 0) && variance.value.some((v) => v !== 1));
}

/** Bit-for-bit equality (stricter than ===: tells -0 from 0 and compares NaN payloads). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs fn, requires a DigitsError whose message is one line and matches every pattern. */
function expectDigitsError(fn: () => unknown, ...patterns: RegExp[]): DigitsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, 'expected an error, but none was thrown');
  assert.ok(
    caught instanceof DigitsError,
    `expected a DigitsError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
  );
  assert.doesNotMatch(caught.message, /[\r\n]/, `error message must be one line: ${JSON.stringify(caught.message)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

/** Leftovers of an interrupted or failed save next to `dir` (saveModel stages in <dir>.tmp-*, parks the old one in <dir>.old-*). */
function leftovers(dir: string): string[] {
  const base = path.basename(dir);
  return fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${base}.tmp-`) || f.startsWith(`${base}.old-`));
}

// a -tuned twin has its seed's layers: saving it again would test nothing new
const SEED_LAYERS = PRESETS.filter((p) => !p.tunes);
let root: string;
before(() => {
  root = tempDir('digits-io-');
});

describe('save → load round trip', () => {
  for (const preset of SEED_LAYERS) {
    test(`${preset.name}: predictions, weights, summary, metadata and compile state survive`, () => {
      const model = presetModel(preset.name, 7);
      // half the recipe's rate, so a restored default could not pass for a restored value
      const lr = preset.recipe.learningRate / 2;
      model.compile({
        optimizer: preset.recipe.optimizer,
        optimizerConfig: { learningRate: lr },
        loss: preset.recipe.loss,
        metrics: ['accuracy'],
      });
      const metadata = {
        preset: preset.name,
        history: { loss: [0.5, 0.25], accuracy: [0.9, 0.95] },
        testAccuracy: 0.9912,
        note: 'é ✓',
        nested: [{ a: null }],
      };
      const dir = path.join(root, 'roundtrip', preset.name);
      saveModel(model, dir, metadata);

      const loaded = loadModel(dir);
      const back = loaded.model;
      assert.equal(back.summary(), model.summary());
      assert.deepEqual(back.inputShape, model.inputShape);
      const [w0, w1] = [model.getWeights(), back.getWeights()];
      assert.equal(w1.length, w0.length);
      w0.forEach((w, i) => assert.ok(sameBits(w, w1[i]), `weight ${i} differs after the round trip`));
      const x = randomImages(3, 11);
      assert.ok(sameBits(back.predict(x).data, model.predict(x).data), 'predictions differ after the round trip');
      assert.deepEqual(loaded.metadata, metadata);
      // trainingConfig brings back the compile: same optimizer class and hyper-parameters, loss, metrics
      assert.ok(back.optimizer, 'loaded model is not compiled');
      assert.equal(back.optimizer.className, model.optimizer.className);
      assert.deepEqual(back.optimizer.getConfig(), model.optimizer.getConfig());
      assert.equal(back.optimizer.learningRate, lr);
      assert.equal(back.loss, model.loss);
      assert.deepEqual(back.metrics, model.metrics);
    });
  }

  test('trained BatchNormalization statistics round-trip bit for bit, and the loaded model trains on', () => {
    const model = presetModel('seed003-bn', 5);
    trainTwoSteps(model);
    assert.ok(movingStatsAreTrained(model), 'two training steps should move the BN statistics');
    const dir = path.join(root, 'roundtrip', 'bn-trained');
    saveModel(model, dir);
    const { model: back, metadata } = loadModel(dir);
    assert.equal(metadata, null);
    assert.ok(sameBits(weightsBuffer(back), weightsBuffer(model)));
    const x = randomImages(4, 12);
    assert.ok(sameBits(back.predict(x).data, model.predict(x).data));
    // compiled from trainingConfig, so one more step runs and changes the weights
    const before = weightsBuffer(back);
    back.trainOnBatch(x.data, oneHot(4, 10), 4);
    assert.ok(!weightsBuffer(back).equals(before));
  });

  test("AdamW saves as Keras' Adam with its weight_decay (TF.js has no AdamW) and loads back decaying alike", () => {
    const model = presetModel('seed002-mlp', 4);
    model.compile({ optimizer: 'adamw', optimizerConfig: { learningRate: 0.01, weightDecay: 0.05 }, loss: 'categorical_crossentropy' });
    const dir = path.join(root, 'roundtrip', 'adamw');
    saveModel(model, dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.deepEqual(json.trainingConfig.optimizer_config, {
      class_name: 'Adam',
      config: { learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, weight_decay: 0.05 },
    });
    const back = loadModel(dir).model;
    assert.deepEqual(back.optimizer!.getConfig(), model.optimizer!.getConfig());
    // one step from the same weights: bit-identical to the original's, and unlike Adam without the decay
    const plain = loadModel(dir).model;
    plain.compile({ optimizer: 'adam', optimizerConfig: { learningRate: 0.01 }, loss: 'categorical_crossentropy' });
    const x = randomImages(4, 21),
      t = oneHot(4, 10);
    for (const m of [model, back, plain]) m.trainOnBatch(x.data, t, 4);
    assert.ok(sameBits(weightsBuffer(back), weightsBuffer(model)));
    assert.ok(!weightsBuffer(plain).equals(weightsBuffer(model)));
  });

  test('a model that was never built or compiled is saved with all its weights', () => {
    // predict / summary / toModelJson build lazily; weightsBuffer must not see an unbuilt (weightless) model
    const model = getPreset('seed002-mlp').build(undefined, undefined, 12);
    const dir = path.join(root, 'roundtrip', 'never-built');
    saveModel(model, dir);
    assert.equal(fs.statSync(path.join(dir, 'weights.bin')).size, 4 * model.countParams());
    const { model: back } = loadModel(dir);
    const x = randomImages(2, 15);
    assert.ok(sameBits(back.predict(x).data, model.predict(x).data));
  });

  test('an uncompiled model saves without trainingConfig and loads uncompiled', () => {
    const model = presetModel('seed002-mlp', 2);
    const dir = path.join(root, 'roundtrip', 'uncompiled');
    saveModel(model, dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.equal(json.trainingConfig, undefined);
    const { model: back } = loadModel(dir);
    assert.equal(back.optimizer, undefined);
    const x = randomImages(2, 13);
    assert.ok(sameBits(back.predict(x).data, model.predict(x).data));
  });

  test('non-MNIST input shape and class count round-trip; loadModel also takes the model.json path', () => {
    const model = presetModel('seed001-small', 9, [20, 20, 3], 4);
    const dir = path.join(root, 'roundtrip', 'rgb');
    saveModel(model, dir);
    const { model: back } = loadModel(path.join(dir, 'model.json'));
    assert.deepEqual(back.inputShape, [20, 20, 3]);
    assert.deepEqual(back.outputShape, [4]);
    const x = randomImages(2, 14, [20, 20, 3]);
    assert.ok(sameBits(back.predict(x).data, model.predict(x).data));
  });

  test('fromModelJson(toModelJson, weightsBuffer) is the same round trip in memory', () => {
    const model = presetModel('seed004-keras', 4);
    const { model: back } = fromModelJson(JSON.parse(JSON.stringify(toModelJson(model))), weightsBuffer(model), 'memory');
    assert.ok(sameBits(weightsBuffer(back), weightsBuffer(model)));
  });

  test('a manifest split over several shard files (as the TF.js converter writes) loads the same', () => {
    const model = presetModel('seed002-cnn', 6);
    const dir = path.join(root, 'roundtrip', 'sharded');
    saveModel(model, dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
    // shard boundaries deliberately fall inside weights and off 4-byte alignment
    const cuts = [0, 1001, 200003, bin.length];
    const paths = cuts.slice(1).map((_c, i) => `group1-shard${i + 1}of3.bin`);
    paths.forEach((p, i) => fs.writeFileSync(path.join(dir, p), bin.subarray(cuts[i], cuts[i + 1])));
    fs.unlinkSync(path.join(dir, 'weights.bin'));
    json.weightsManifest[0].paths = paths;
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const { model: back } = loadModel(dir);
    assert.ok(sameBits(weightsBuffer(back), weightsBuffer(model)));
  });
});

describe('TF.js loads what we save', () => {
  let tf: Tfjs;
  before(async () => {
    tf = await loadTfjs();
  });

  // TF.js' registered class names for our optimizers (its deserializer looks these up verbatim)
  const TFJS_OPTIMIZER: Record<string, string> = { sgd: 'SGD', rmsprop: 'RMSProp', adam: 'Adam', adamw: 'Adam' };

  for (const preset of SEED_LAYERS) {
    test(`${preset.name}: tf.loadLayersModel predicts what we predict (≤ 1e-5)`, async () => {
      const model = presetModel(preset.name, 3);
      // seed003-bn is trained a little so moving statistics and inference-mode BN are really compared
      if (preset.name === 'seed003-bn') {
        trainTwoSteps(model);
        assert.ok(movingStatsAreTrained(model));
      }
      const dir = path.join(root, 'to-tfjs', preset.name);
      saveModel(model, dir);
      // without trainingConfig: topology and weights alone (the optimizer name is checked below)
      const tm = await tfjsLoadDir(tf, dir, { dropTrainingConfig: true });
      try {
        assert.deepEqual(
          tm.layers.map((l) => l.name),
          model.layers.map((l) => l.name),
        );
        const x = randomImages(4, 31);
        const ours = model.predict(x).data;
        const out = tm.predict(tf.tensor4d(x.data, [4, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor;
        const theirs = await out.data();
        out.dispose();
        const d = maxAbsDiff(ours, theirs);
        assert.ok(d <= 1e-5, `max |ours − tfjs| = ${d}`);
      } finally {
        tm.dispose();
      }
    });

    test(`${preset.name}: TF.js accepts our trainingConfig (${preset.recipe.optimizer}) and userDefinedMetadata`, async () => {
      const model = presetModel(preset.name, 3);
      model.compile({
        optimizer: preset.recipe.optimizer,
        optimizerConfig: { learningRate: preset.recipe.learningRate },
        loss: preset.recipe.loss,
      });
      const dir = path.join(root, 'to-tfjs-compiled', preset.name);
      const metadata = { preset: preset.name, testAccuracy: 0.99 };
      saveModel(model, dir, metadata);
      let tm: import('@tensorflow/tfjs').LayersModel;
      try {
        tm = await tfjsLoadDir(tf, dir);
      } catch (e) {
        const oc = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).trainingConfig?.optimizer_config;
        assert.fail(`TF.js rejects our model.json (optimizer_config ${JSON.stringify(oc)}): ${(e as Error).message.split('\n')[0]}`);
      }
      try {
        assert.equal(tm.optimizer.getClassName(), TFJS_OPTIMIZER[preset.recipe.optimizer]);
        assert.equal((tm.optimizer.getConfig() as { learningRate: number }).learningRate, preset.recipe.learningRate);
        assert.deepEqual(tm.getUserDefinedMetadata(), { digits: metadata });
      } finally {
        tm.dispose();
      }
    });
  }
});

describe('we load what TF.js saves', () => {
  let tf: Tfjs;
  before(async () => {
    tf = await loadTfjs();
  });

  // TF.js initialisers are seeded so a failure reproduces with the same weights
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }) });

  type Builder = () => import('@tensorflow/tfjs').Sequential;
  const builders = (): Record<string, { build: Builder; shape: number[] }> => ({
    // strided same conv, BN, valid conv, pooling, dropout, dense relu, dense linear + Activation softmax
    'conv/bn/pool/dropout/activation': {
      shape: [28, 28, 1],
      build: () =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({
              inputShape: [28, 28, 1],
              filters: 8,
              kernelSize: 3,
              strides: 2,
              padding: 'same',
              activation: 'relu',
              ...init(1),
            }),
            tf.layers.batchNormalization(),
            tf.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'valid', activation: 'relu', ...init(2) }),
            tf.layers.maxPooling2d({ poolSize: 2 }),
            tf.layers.dropout({ rate: 0.25 }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 16, activation: 'relu', ...init(3) }),
            tf.layers.dense({ units: 10, ...init(4) }),
            tf.layers.activation({ activation: 'softmax' }),
          ],
        }),
    },
    // odd geometry: rectangular kernel and strides without bias, same-padded pooling with its own stride,
    // strided same conv on an odd size, tanh / sigmoid, BN on a dense output with its own momentum / epsilon
    'rectangular/no-bias/same-pool/dense-bn': {
      shape: [28, 28, 1],
      build: () =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({
              inputShape: [28, 28, 1],
              filters: 6,
              kernelSize: [5, 3],
              strides: [2, 1],
              padding: 'valid',
              useBias: false,
              activation: 'tanh',
              ...init(5),
            }),
            tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
            tf.layers.conv2d({ filters: 10, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', ...init(6) }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 20, activation: 'sigmoid', ...init(7) }),
            tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }),
            tf.layers.dense({ units: 10, activation: 'softmax', ...init(8) }),
          ],
        }),
    },
    mlp: {
      shape: [28, 28, 1],
      build: () =>
        tf.sequential({
          layers: [
            tf.layers.flatten({ inputShape: [28, 28, 1] }),
            tf.layers.dense({ units: 32, activation: 'relu', ...init(9) }),
            tf.layers.dense({ units: 10, activation: 'softmax', ...init(10) }),
          ],
        }),
    },
  });

  /** A TF.js model after one fit epoch (two batches), so BN statistics and weights are not at their init. */
  async function trainedTfjs(build: Builder): Promise<import('@tensorflow/tfjs').Sequential> {
    const m = build();
    m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const x = randomImages(8, 41);
    const xs = tf.tensor4d(x.data, [8, 28, 28, 1]);
    const ys = tf.tensor2d(oneHot(8, 10), [8, 10]);
    await m.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
    xs.dispose();
    ys.dispose();
    return m;
  }

  async function comparePredictions(tm: import('@tensorflow/tfjs').LayersModel, ours: Sequential): Promise<void> {
    const x = randomImages(5, 42);
    const input = tf.tensor4d(x.data, [5, 28, 28, 1]);
    const out = tm.predict(input) as import('@tensorflow/tfjs').Tensor;
    const theirs = await out.data();
    input.dispose();
    out.dispose();
    const d = maxAbsDiff(ours.predict(x).data, theirs);
    assert.ok(d <= 1e-5, `max |ours − tfjs| = ${d}`);
  }

  for (const name of ['conv/bn/pool/dropout/activation', 'rectangular/no-bias/same-pool/dense-bn', 'mlp']) {
    test(`${name}: loadModel + predict matches tfjs predict (≤ 1e-5)`, async () => {
      const tm = await trainedTfjs(builders()[name].build);
      try {
        const dir = path.join(root, 'from-tfjs', name.replace(/\W+/g, '-'));
        await tfjsSaveDir(tm, dir);
        const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
        // TF.js' own naming (conv2d_Conv2D1, ...) and its manifest order (moving stats last) must be coped with
        assert.ok(
          json.weightsManifest[0].weights.every((w: { name: string }) => /_[A-Z]\w*\d+\//.test(w.name)),
          'expected TF.js-style weight names',
        );
        const { model } = loadModel(dir);
        assert.deepEqual(
          model.layers.map((l) => l.name),
          tm.layers.map((l) => l.name),
        );
        assert.equal(model.countParams(), tm.countParams());
        await comparePredictions(tm, model);
      } finally {
        tm.dispose();
      }
    });
  }

  test('a TF.js model saved with includeOptimizer (optimizer weights appended, int32 iter) loads and is compiled', async () => {
    const tm = await trainedTfjs(builders()['conv/bn/pool/dropout/activation'].build);
    try {
      const dir = path.join(root, 'from-tfjs', 'with-optimizer');
      await tfjsSaveDir(tm, dir, true);
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      assert.ok(json.trainingConfig, 'TF.js writes trainingConfig with includeOptimizer');
      assert.ok(json.weightsManifest[0].weights.some((w: { group?: string }) => w.group === 'optimizer'));
      const { model } = loadModel(dir);
      await comparePredictions(tm, model);
      assert.equal(model.optimizer?.className, 'Adam');
      assert.equal(model.optimizer.learningRate, 0.01);
      assert.equal(model.loss, 'categorical_crossentropy');
    } finally {
      tm.dispose();
    }
  });
});

describe('damaged model files fail with one-line DigitsErrors naming the file', () => {
  // seed002-cnn: its first kernel is [3, 3, 1, 32], the second layer is pooling, the third conv2d_1
  let good: string;
  before(() => {
    good = path.join(root, 'errors', 'good');
    saveModel(presetModel('seed002-cnn', 8), good);
  });

  let count = 0;
  /** A copy of the good model directory, with model.json and weights.bin passed through edit. */
  function damaged(edit: (json: any, bin: Buffer) => { json?: any; text?: string; bin?: Buffer | null }): { dir: string; file: string } {
    const dir = path.join(root, 'errors', `case${++count}`);
    fs.mkdirSync(dir, { recursive: true });
    const r = edit(JSON.parse(fs.readFileSync(path.join(good, 'model.json'), 'utf8')), fs.readFileSync(path.join(good, 'weights.bin')));
    fs.writeFileSync(path.join(dir, 'model.json'), r.text ?? JSON.stringify(r.json, null, 1));
    if (r.bin !== null) fs.writeFileSync(path.join(dir, 'weights.bin'), r.bin ?? fs.readFileSync(path.join(good, 'weights.bin')));
    return { dir, file: path.join(dir, 'model.json') };
  }
  const at = (p: string): RegExp => new RegExp(`^${escapeRe(p)}: `);

  test('the undamaged copy loads (so each failure below is the damage, not the fixture)', () => {
    const { dir } = damaged((json) => ({ json }));
    assert.ok(loadModel(dir).model instanceof Sequential);
  });

  test('unknown layer class (LSTM)', () => {
    const { dir, file } = damaged((json) => {
      json.modelTopology.config.layers[2].class_name = 'LSTM';
      return { json };
    });
    expectDigitsError(() => loadModel(dir), at(file), /layer 2 \(conv2d_1, LSTM\): layer class 'LSTM' is not supported/);
  });

  test('weights.bin truncated by a few bytes', () => {
    const { dir, file } = damaged((json, bin) => ({ json, bin: bin.subarray(0, bin.length - 3) }));
    expectDigitsError(() => loadModel(dir), at(file), /truncated weights\.bin/, /needs \d+/);
  });

  test('weights.bin with extra bytes', () => {
    const { dir, file } = damaged((json, bin) => ({ json, bin: Buffer.concat([bin, Buffer.alloc(8)]) }));
    expectDigitsError(
      () => loadModel(dir),
      at(file),
      new RegExp(`has ${fs.statSync(path.join(good, 'weights.bin')).size + 8} bytes, the manifest describes`),
    );
  });

  test('manifest kernel shape [3,3,1,31] against a [3,3,1,32] layer (weights.bin otherwise consistent)', () => {
    // drop the kernel's last 9 floats too, so the byte count agrees and the per-weight check must catch it
    const { dir, file } = damaged((json, bin) => {
      json.weightsManifest[0].weights[0].shape = [3, 3, 1, 31];
      return { json, bin: Buffer.concat([bin.subarray(0, 279 * 4), bin.subarray(288 * 4)]) };
    });
    expectDigitsError(() => loadModel(dir), at(file), /conv2d\/kernel/, /279/, /\[3,3,1,32\]/);
  });

  test('manifest kernel shape [3,3,1,31] with weights.bin unchanged', () => {
    const { dir, file } = damaged((json) => {
      json.weightsManifest[0].weights[0].shape = [3, 3, 1, 31];
      return { json };
    });
    expectDigitsError(() => loadModel(dir), at(file), /bytes/);
  });

  test('manifest kernel shape with the right element count but the wrong shape ([3,3,32,1] for [3,3,1,32])', () => {
    // TF.js refuses this (shape mismatch on assignment); accepting it would silently scramble the kernel
    const { dir, file } = damaged((json) => {
      json.weightsManifest[0].weights[0].shape = [3, 3, 32, 1];
      return { json };
    });
    expectDigitsError(() => loadModel(dir), at(file), /conv2d\/kernel/, /3,3,32,1/, /3,3,1,32/);
  });

  test('missing weights.bin', () => {
    const { dir } = damaged((json) => ({ json, bin: null }));
    expectDigitsError(() => loadModel(dir), at(path.join(dir, 'weights.bin')), /ENOENT/);
  });

  test('missing model.json', () => {
    const dir = path.join(root, 'errors', 'empty');
    fs.mkdirSync(dir, { recursive: true });
    expectDigitsError(() => loadModel(dir), at(path.join(dir, 'model.json')), /cannot read model \(ENOENT\)/);
  });

  test('invalid JSON: truncated file', () => {
    const { dir, file } = damaged((json) => ({ text: JSON.stringify(json, null, 1).slice(0, 500) }));
    expectDigitsError(() => loadModel(dir), at(file), /invalid JSON/);
  });

  test('invalid JSON: a stray token in a multi-line model.json', () => {
    // V8 quotes the text around an unexpected token, raw newlines included; the message must stay one line
    const { dir, file } = damaged((json) => ({ text: JSON.stringify(json, null, 1).replace('"layers-model"', 'x') }));
    expectDigitsError(() => loadModel(dir), at(file), /invalid JSON/);
  });

  test('no modelTopology', () => {
    const { dir, file } = damaged((json) => {
      delete json.modelTopology;
      return { json };
    });
    expectDigitsError(() => loadModel(dir), at(file), /no modelTopology/);
  });

  test("weight path with '..' is refused even when the file it points at exists", () => {
    const { dir, file } = damaged((json) => {
      json.weightsManifest[0].paths = ['../weights.bin'];
      return { json };
    });
    fs.copyFileSync(path.join(good, 'weights.bin'), path.join(path.dirname(dir), 'weights.bin'));
    expectDigitsError(() => loadModel(dir), at(file), /weight path "\.\.\/weights\.bin" must be a relative file name/);
  });

  test('absolute weight path is refused', () => {
    const abs = path.join(good, 'weights.bin');
    const { dir, file } = damaged((json) => {
      json.weightsManifest[0].paths = [abs];
      return { json };
    });
    expectDigitsError(() => loadModel(dir), at(file), /must be a relative file name/);
  });
});

describe('saving over an existing model directory', () => {
  const small = (seed: number) => presetModel('seed001-small', seed);
  const mlp = (seed: number) => presetModel('seed002-mlp', seed);

  test('replaces the directory wholesale and leaves no *.tmp-* or *.old-* behind', () => {
    const dir = path.join(root, 'atomic', 'model');
    const first = small(1);
    saveModel(first, dir, { run: 1 });
    // a stale shard from some earlier format must not survive next to the new files
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), 'stale');
    const second = mlp(2);
    saveModel(second, dir, { run: 2 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.json', 'weights.bin']);
    const loaded = loadModel(dir);
    assert.deepEqual(loaded.metadata, { run: 2 });
    assert.equal(loaded.model.summary(), second.summary());
    assert.ok(sameBits(weightsBuffer(loaded.model), weightsBuffer(second)));
    assert.deepEqual(leftovers(dir), []);
  });

  test('a write failure while staging leaves the old model intact and no staging dir', () => {
    const dir = path.join(root, 'atomic', 'write-fails');
    const old = small(3);
    saveModel(old, dir, { run: 'old' });
    const orig = realFs.writeFileSync;
    const m = mock.method(realFs, 'writeFileSync', function (this: unknown, ...args: Parameters<typeof fs.writeFileSync>) {
      if (typeof args[1] === 'string') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return orig.apply(realFs, args);
    });
    try {
      expectDigitsError(() => saveModel(mlp(4), dir, { run: 'new' }), new RegExp(`^${escapeRe(dir)}: cannot save the model \\(ENOSPC`));
    } finally {
      m.mock.restore();
    }
    assert.deepEqual(leftovers(dir), []);
    const loaded = loadModel(dir);
    assert.deepEqual(loaded.metadata, { run: 'old' });
    assert.ok(sameBits(weightsBuffer(loaded.model), weightsBuffer(old)));
  });

  test('a failure while swapping the new directory in leaves the old model loadable at the target', () => {
    const dir = path.join(root, 'atomic', 'swap-fails');
    const old = small(5);
    saveModel(old, dir, { run: 'old' });
    const orig = realFs.renameSync;
    let calls = 0;
    // the first rename parks the old model, the second (staging → target) fails
    const m = mock.method(realFs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
      if (++calls === 2) throw Object.assign(new Error(`EIO: i/o error, rename '${from}' -> '${to}'`), { code: 'EIO' });
      return orig(from, to);
    });
    try {
      expectDigitsError(() => saveModel(mlp(6), dir, { run: 'new' }), new RegExp(`^${escapeRe(dir)}: cannot save the model`));
    } finally {
      m.mock.restore();
    }
    assert.ok(
      fs.existsSync(path.join(dir, 'model.json')),
      `the old model is gone from ${dir}; siblings: ${fs.readdirSync(path.dirname(dir)).join(', ')}`,
    );
    const loaded = loadModel(dir);
    assert.deepEqual(loaded.metadata, { run: 'old' });
    assert.ok(sameBits(weightsBuffer(loaded.model), weightsBuffer(old)));
    assert.deepEqual(leftovers(dir), []);
  });

  test('an unusable target (parent is a file) is a one-line DigitsError naming the target', () => {
    const file = path.join(root, 'atomic', 'plain-file');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'not a directory');
    const dir = path.join(file, 'model');
    expectDigitsError(() => saveModel(small(7), dir), new RegExp(`^${escapeRe(dir)}: cannot save the model`));
  });

  test('does not delete an existing directory that is not a model directory', () => {
    // e.g. `digits train --save .` or a typo pointing at a data directory: replacing it would delete user files
    const dir = path.join(root, 'atomic', 'not-a-model');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    try {
      saveModel(small(8), dir);
    } catch (e) {
      assert.ok(e instanceof DigitsError, String(e));
    }
    assert.ok(fs.existsSync(path.join(dir, 'notes.txt')), 'saveModel deleted notes.txt, an unrelated file in the target directory');
  });
});
