// The MNIST tensors the model commands feed (train, evaluate, predict --index, fine-tuning), and the check
// that a model takes this dataset's images and classes.
import { loadDataset, resolveDataDir, toTensor, type Dataset } from '../data/mnist';
import type { Sequential } from '../model/sequential';
import { sizeOf, type Tensor } from '../tensor';
import { DigitsError } from '../errors';

export interface Data { ds: Dataset; train: Tensor; trainLabels: Tensor; test: Tensor; testLabels: Tensor }

/** `classes`: the model's (a preset's 10, a saved model's outputs); the labels are checked against it. */
export function loadData(dir: string | undefined, limit: number | undefined, classes: number | undefined): Data {
  const ds = loadDataset(resolveDataDir(dir), classes);
  const n = Math.min(limit ?? ds.train.count, ds.train.count);
  const tr = toTensor(ds.train, ds.height, ds.width, ds.classes, n < ds.train.count ? Array.from({ length: n }, (_v, i) => i) : undefined);
  const te = toTensor(ds.test, ds.height, ds.width, ds.classes);
  return {
    ds,
    train: { shape: [n, ds.height, ds.width, 1], data: tr.x },
    trainLabels: { shape: [n, ds.classes], data: tr.y },
    test: { shape: [ds.test.count, ds.height, ds.width, 1], data: te.x },
    testLabels: { shape: [ds.test.count, ds.classes], data: te.y },
  };
}

export function checkModelFits(model: Sequential, d: Data, where: string): void {
  const want = sizeOf(model.inputShape), have = d.ds.height * d.ds.width;
  if (want !== have) throw new DigitsError(`${where}: the model takes [${model.inputShape}] inputs, the dataset has ${d.ds.height}x${d.ds.width} images`);
  const classes = sizeOf(model.outputShape);
  if (classes !== d.ds.classes) throw new DigitsError(`${where}: the model has ${classes} outputs, the dataset has ${d.ds.classes} classes`);
}

