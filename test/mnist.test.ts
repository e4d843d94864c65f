import { test, describe, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../src/errors';
import {
  Dataset,
  defaultCacheDir,
  gatherImages,
  imagesToFloat,
  loadDataset,
  oneHot,
  resolveDataDir,
  sliceSplit,
  splitValidation,
  toTensor,
} from '../src/data/mnist';
import { escapeRe, expectDigitsError, tempDir, writeIdx, writeTinyDataset } from './helpers/datafixtures';
import { SHARED_MNIST } from './helpers/paths';

function histogram(labels: Uint8Array, classes: number): number[] {
  const h = new Array<number>(classes).fill(0);
  for (const l of labels) h[l]++;
  return h;
}

describe('real MNIST', () => {
  let ds: Dataset;
  before(() => {
    ds = loadDataset(SHARED_MNIST);
  });

  test('shapes and class count come out of the files', () => {
    assert.equal(ds.train.count, 60000);
    assert.equal(ds.test.count, 10000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.classes, 10);
    assert.equal(ds.train.images.length, 60000 * 28 * 28);
    assert.equal(ds.train.labels.length, 60000);
  });

  test('known labels and class histograms', () => {
    assert.equal(ds.train.labels[0], 5);
    assert.equal(ds.test.labels[0], 7);
    const train = histogram(ds.train.labels, ds.classes);
    const testH = histogram(ds.test.labels, ds.classes);
    assert.equal(
      train.reduce((a, b) => a + b),
      60000,
    );
    assert.equal(
      testH.reduce((a, b) => a + b),
      10000,
    );
    assert.deepEqual(train, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert.deepEqual(testH, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  test('imagesToFloat scales into [0, 1] with both ends reached', () => {
    const x = imagesToFloat(ds.test.images, ds.test.count, ds.height, ds.width);
    assert.equal(x.length, 10000 * 28 * 28);
    let min = Infinity;
    let max = -Infinity;
    for (const v of x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
  });

  test('splitValidation(60000, 0.1) holds out the last 6000', () => {
    const { train, val } = splitValidation(ds.train.count, 0.1);
    assert.deepEqual(train, [0, 54000]);
    assert.deepEqual(val, [54000, 60000]);
    const v = sliceSplit(ds.train, val, ds.height, ds.width);
    assert.equal(v.count, 6000);
    assert.equal(v.labels[0], ds.train.labels[54000]);
    assert.equal(v.images[0], ds.train.images[54000 * 784]);
  });
});

describe('splitValidation', () => {
  test('Keras floor semantics', () => {
    assert.deepEqual(splitValidation(10, 0.25), { train: [0, 7], val: [7, 10] });
    assert.deepEqual(splitValidation(3, 0.5), { train: [0, 1], val: [1, 3] });
    assert.deepEqual(splitValidation(100, 0.2), { train: [0, 80], val: [80, 100] });
  });

  test('fraction 0 keeps everything for training', () => {
    assert.deepEqual(splitValidation(5, 0), { train: [0, 5], val: [5, 5] });
  });

  test('out-of-range fractions and empty sides are usage errors', () => {
    for (const f of [1, -0.1, 1.5, NaN]) assert.throws(() => splitValidation(10, f), UsageError);
    assert.throws(() => splitValidation(1, 0.5), /not enough/);
    assert.throws(() => splitValidation(10, 1e-17), /not enough/);
  });
});

describe('tensor helpers', () => {
  test('oneHot rows', () => {
    const y = oneHot(Uint8Array.from([2, 0, 1]), 3);
    assert.deepEqual(Array.from(y), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
    assert.deepEqual(Array.from(oneHot(Uint8Array.from([2, 0, 1]), 3, [2, 2])), [0, 1, 0, 0, 1, 0]);
    assert.throws(() => oneHot(Uint8Array.from([3]), 3), RangeError);
  });

  test('gatherImages and toTensor follow the index order', () => {
    const images = Uint8Array.from([0, 255, 51, 102, 204, 153]); // three 1x2 images
    assert.deepEqual(Array.from(gatherImages(images, [2, 0], 1, 2)), [204 / 255, 153 / 255, 0, 1].map(Math.fround));
    const t = toTensor({ images, labels: Uint8Array.from([0, 1, 0]), count: 3 }, 1, 2, 2, Int32Array.from([1]));
    assert.equal(t.count, 1);
    assert.deepEqual(Array.from(t.x), [51 / 255, 102 / 255].map(Math.fround));
    assert.deepEqual(Array.from(t.y), [0, 1]);
    assert.throws(() => gatherImages(images, [3], 1, 2), RangeError);
  });
});

describe('loadDataset on generated data', () => {
  let root: string;
  before(() => {
    root = tempDir('digits-mnist-');
  });
  let n = 0;
  const freshDir = (): string => {
    const d = path.join(root, `ds${n++}`);
    fs.mkdirSync(d);
    return d;
  };

  test('any size and class count: 5x7 images, 12 classes from the training labels', () => {
    const dir = freshDir();
    const labels = [0, 3, 11, 2, 1, 0, 4, 5, 6, 7, 8, 9, 10];
    writeTinyDataset(dir, { n: labels.length, h: 5, w: 7, labels }, { n: 2, h: 5, w: 7, labels: [4, 4] }, false);
    const ds = loadDataset(dir);
    assert.equal(ds.height, 5);
    assert.equal(ds.width, 7);
    assert.equal(ds.classes, 12);
    assert.equal(ds.train.count, 13);
    assert.equal(ds.test.count, 2);
  });

  test('a class count from the labels needs every class among the training labels: one stray label is an error, not a bigger model', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 4, h: 2, w: 2, labels: [0, 1, 200, 1] }, { n: 2, h: 2, w: 2, labels: [0, 1] });
    expectDigitsError(
      () => loadDataset(dir),
      /train-labels-idx1-ubyte\.gz: class 2 never appears among the 4 training labels, yet the largest label makes 201 classes/,
    );
  });

  test('test labels must be among the training classes', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 3, h: 2, w: 2, labels: [0, 1, 1] }, { n: 2, h: 2, w: 2, labels: [0, 4] });
    expectDigitsError(
      () => loadDataset(dir),
      /t10k-labels-idx1-ubyte\.gz: label 4 at index 1 is not among the training classes \(0\.\.1\)/,
    );
  });

  test("a model's class count (a preset's 10) fixes the classes: a label at or above it names file, index and value", () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 3, h: 2, w: 2, labels: [0, 9, 1] }, { n: 2, h: 2, w: 2, labels: [0, 1] });
    assert.equal(loadDataset(dir, 10).classes, 10);
    const bad = freshDir();
    writeTinyDataset(bad, { n: 3, h: 2, w: 2, labels: [0, 200, 1] }, { n: 2, h: 2, w: 2, labels: [0, 1] });
    expectDigitsError(
      () => loadDataset(bad, 10),
      /train-labels-idx1-ubyte\.gz: label 200 at index 1 is outside the model's 10 classes \(0\.\.9\)/,
    );
    const badTest = freshDir();
    writeTinyDataset(badTest, { n: 3, h: 2, w: 2, labels: [0, 2, 1] }, { n: 2, h: 2, w: 2, labels: [0, 10] });
    expectDigitsError(() => loadDataset(badTest, 10), /t10k-labels-idx1-ubyte\.gz: label 10 at index 1 is outside the model's 10 classes/);
  });

  test('.gz wins over an uncompressed copy of the same file', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 3, h: 2, w: 2, labels: [0, 1, 2] }, { n: 1, h: 2, w: 2, labels: [1] });
    writeIdx(path.join(dir, 'train-labels-idx1-ubyte'), { dims: [3], data: [9, 9, 9] });
    assert.deepEqual(Array.from(loadDataset(dir).train.labels), [0, 1, 2]);
  });

  test('image/label count mismatch names both files', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 4, h: 2, w: 2, labelCount: 3 }, { n: 2, h: 2, w: 2 });
    const imgs = path.join(dir, 'train-images-idx3-ubyte.gz');
    const lbls = path.join(dir, 'train-labels-idx1-ubyte.gz');
    expectDigitsError(() => loadDataset(dir), new RegExp(`${escapeRe(imgs)} has 4 images but ${escapeRe(lbls)} has 3 labels`));
  });

  test('train/test image size mismatch names both files', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 2, h: 28, w: 28 }, { n: 2, h: 32, w: 32 });
    expectDigitsError(
      () => loadDataset(dir),
      /image size differs/,
      /train-images-idx3-ubyte\.gz is 28x28/,
      /t10k-images-idx3-ubyte\.gz is 32x32/,
    );
  });

  test('images with 2 dims and labels with 2 dims are rejected', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 2, h: 2, w: 2 }, { n: 2, h: 2, w: 2 });
    const imgs = path.join(dir, 't10k-images-idx3-ubyte.gz');
    writeIdx(imgs, { dims: [2, 4] }, true);
    expectDigitsError(() => loadDataset(dir), new RegExp(`^${escapeRe(imgs)}: images need 3 dimensions`), /got 2/);

    writeIdx(imgs, { dims: [2, 2, 2] }, true);
    const lbls = path.join(dir, 'train-labels-idx1-ubyte.gz');
    writeIdx(lbls, { dims: [2, 1], data: [0, 1] }, true);
    expectDigitsError(() => loadDataset(dir), new RegExp(`^${escapeRe(lbls)}: labels need 1 dimension`));
  });

  test('empty image set and single-class data are rejected', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 0, h: 2, w: 2 }, { n: 1, h: 2, w: 2 });
    expectDigitsError(() => loadDataset(dir), /train-images-idx3-ubyte\.gz: empty image set/);
    const dir2 = freshDir();
    writeTinyDataset(dir2, { n: 2, h: 2, w: 2, labels: [0, 0] }, { n: 1, h: 2, w: 2, labels: [0] });
    expectDigitsError(() => loadDataset(dir2), /need at least 2 classes/);
  });

  test('a missing file says how to get the data', () => {
    const dir = freshDir();
    writeTinyDataset(dir, { n: 2, h: 2, w: 2 }, { n: 1, h: 2, w: 2 });
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
    expectDigitsError(() => loadDataset(dir), /t10k-labels-idx1-ubyte\[\.gz\]: file not found/, /digits download/);
  });
});

describe('resolveDataDir', () => {
  let root: string;
  before(() => {
    root = tempDir('digits-resolve-');
  });

  test('--data beats $DIGITS_DATA, which beats the cache', () => {
    assert.equal(resolveDataDir(SHARED_MNIST, { DIGITS_DATA: root }), path.resolve(SHARED_MNIST));
    assert.equal(resolveDataDir(undefined, { DIGITS_DATA: SHARED_MNIST }), path.resolve(SHARED_MNIST));
    expectDigitsError(() => resolveDataDir(undefined, { DIGITS_DATA: root }), /\$DIGITS_DATA/);
  });

  test('a directory lacking files lists them and suggests download or --data', () => {
    fs.writeFileSync(path.join(root, 'train-images-idx3-ubyte.gz'), '');
    const e = expectDigitsError(
      () => resolveDataDir(root, {}),
      new RegExp(escapeRe(root)),
      /\(--data\)/,
      /train-labels-idx1-ubyte\[\.gz\]/,
      /t10k-images-idx3-ubyte\[\.gz\]/,
      /digits download/,
      /--data DIR/,
    );
    assert.doesNotMatch(e.message, /train-images/);
  });

  test('a nonexistent directory', () => {
    expectDigitsError(() => resolveDataDir(path.join(root, 'nope'), {}), /does not exist/, /digits download/);
  });

  test('default is ~/.cache/digits/mnist', () => {
    const saved = process.env.HOME;
    process.env.HOME = path.join(root, 'home');
    try {
      assert.equal(defaultCacheDir(), path.join(os.homedir(), '.cache', 'digits', 'mnist'));
      assert.ok(defaultCacheDir().startsWith(path.join(root, 'home')));
      expectDigitsError(() => resolveDataDir(undefined, {}), /default cache/, new RegExp(escapeRe(defaultCacheDir())));
    } finally {
      process.env.HOME = saved;
    }
  });
});
