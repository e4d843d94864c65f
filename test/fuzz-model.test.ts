// Property-based fuzzing of the model loader: model.json trees with fields replaced, deleted or
// duplicated, weights.bin truncated or padded, and model.json mangled at the byte level on disk.
// A model that loads must also predict; everything else is a one-line DigitsError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { Sequential } from '../src/model/sequential';
import { Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D } from '../src/layers';
import { fromModelJson, loadModel, saveModel, toModelJson, weightsBuffer } from '../src/io/tfjs';
import { getPreset } from '../src/zoo/presets';
import { reference } from '../src/kernels';
import { sizeOf } from '../src/tensor';
import { tempDir, expectDigitsError } from './helpers/datafixtures';
import { applyEdits, applyMutations, edit, fuzz, mutation, newTally, oracle } from './helpers/fuzz';

function tiny(): Sequential {
  const m = new Sequential({
    seed: 1,
    kernels: reference,
    layers: [
      new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
      new BatchNormalization(),
      new MaxPooling2D({ poolSize: 2 }),
      new Dropout({ rate: 0.25 }),
      new Flatten(),
      new Dense({ units: 6 }),
      new Activation({ activation: 'tanh' }),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  return m;
}

const BASES = [tiny(), getPreset('seed001-small').build()].map((m) => {
  if (!m.optimizer) m.compile({ optimizer: 'sgd', loss: 'mean_squared_error' });
  return { json: JSON.stringify(toModelJson(m, { preset: 'fuzz' })), weights: weightsBuffer(m) };
});

/** A loaded model must be usable: one forward pass on a zero sample gives finite-sized output. */
function checkLoaded(m: Sequential): void {
  const n = sizeOf(m.inputShape);
  const y = m.predict({ shape: [1, ...m.inputShape], data: new Float32Array(n) });
  assert.equal(y.data.length, sizeOf(m.outputShape));
}

test('fuzz fromModelJson: edited model.json trees and resized weights', async (t) => {
  const tally = newTally();
  const prop = fc.property(
    fc.integer({ min: 0, max: BASES.length - 1 }),
    fc.array(edit, { minLength: 1, maxLength: 4 }),
    fc.oneof(fc.constant(null), fc.array(mutation(8), { minLength: 1, maxLength: 2 })),
    (b, edits, wm) => {
      const json = applyEdits(JSON.parse(BASES[b].json), edits);
      const weights = wm ? applyMutations(BASES[b].weights, wm) : BASES[b].weights;
      const loaded = oracle(tally, () => {
        const m = fromModelJson(json, weights, 'model.json', reference).model;
        checkLoaded(m);
        return m;
      });
      if (loaded) assert.ok(loaded.layers.length > 0);
    },
  );
  await fuzz(t, 'fromModelJson', tally, prop, 6000, 8);
});

test('fuzz loadModel: model.json mangled byte by byte on disk, weight paths included', async (t) => {
  const dir = tempDir('digits-fuzz-model-');
  const tally = newTally();
  const base = BASES[0];
  const prop = fc.property(fc.array(mutation(4096), { minLength: 1, maxLength: 3 }), fc.boolean(), (ms, dropWeights) => {
    fs.writeFileSync(path.join(dir, 'model.json'), applyMutations(Buffer.from(base.json), ms));
    if (dropWeights) fs.rmSync(path.join(dir, 'weights.bin'), { force: true });
    else fs.writeFileSync(path.join(dir, 'weights.bin'), base.weights);
    oracle(tally, () => checkLoaded(loadModel(dir).model));
  });
  try {
    await fuzz(t, 'loadModel', tally, prop, 3000, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a topology claiming billions of weights fails on the weights file, without allocating them', () => {
  const json = JSON.parse(BASES[0].json);
  json.modelTopology.config.layers[5].config.units = 2_000_000_000;
  const before = process.memoryUsage().rss;
  expectDigitsError(() => fromModelJson(json, BASES[0].weights, 'model.json', reference), /^model\.json: /);
  json.modelTopology.config.layers[0].config.batch_input_shape = [null, 100000, 100000, 1];
  expectDigitsError(() => fromModelJson(json, BASES[0].weights, 'model.json', reference), /^model\.json: /);
  assert.ok(process.memoryUsage().rss - before < 256 << 20);
  // the writer's own output still loads
  const dir = path.join(tempDir(), 'm');
  saveModel(tiny(), dir);
  checkLoaded(loadModel(dir).model);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('a weight path with a line break in model.json (found by the fuzzer, seed 191215849) is named in one line', () => {
  const dir = path.join(tempDir(), 'm');
  saveModel(tiny(), dir);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = ['weights.b\nn'];
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  expectDigitsError(() => loadModel(dir), /weights\.b\\nn: cannot read weights \(ENOENT\)$/);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('a layer whose name or class is an object with its own toString (found by the fuzzer, seed -1719120379) is named in one line', () => {
  const dir = path.join(tempDir(), 'm');
  saveModel(tiny(), dir);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const layers = json.modelTopology.config.layers;
  layers[0].config.name = { toString: '' };
  layers[0].class_name = { toString: '' };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  expectDigitsError(() => loadModel(dir), /layer 0: class_name \{"toString":""\} is not a string$/);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('a weights.bin that is a device never ends reading; a save killed between its renames is explained', () => {
  const dir = path.join(tempDir(), 'm');
  saveModel(tiny(), dir);
  fs.rmSync(path.join(dir, 'weights.bin'));
  fs.symlinkSync('/dev/zero', path.join(dir, 'weights.bin'));
  expectDigitsError(() => loadModel(dir), /weights\.bin: not a regular file, not a weights file$/);
  // the state saveModel is in between moving the old model aside and renaming the new one in
  fs.renameSync(dir, `${dir}.old-1-2`);
  expectDigitsError(() => loadModel(dir), /cannot read model \(ENOENT\); an interrupted save left the previous model in .*m\.old-1-2$/);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('values that cannot become strings (an object whose toString is not a function) are one-line errors', () => {
  // fuzz seed -1144010417: a weight's dtype {"toString": 0} made the error message itself throw a TypeError
  const unprintable = { toString: 0 };
  const json = JSON.parse(BASES[0].json);
  json.weightsManifest[0].weights[0].dtype = unprintable;
  expectDigitsError(() => fromModelJson(json, BASES[0].weights, 'model.json', reference), /has dtype \{"toString":0\}/);
  json.weightsManifest[0].weights[0].group = 'optimizer';
  expectDigitsError(() => fromModelJson(json, BASES[0].weights, 'model.json', reference), /cannot be skipped/);
  const versioned = JSON.parse(BASES[0].json);
  versioned.modelTopology.keras_version = unprintable;
  checkLoaded(fromModelJson(versioned, BASES[0].weights, 'model.json', reference).model);
});
