// Locating and loading an MNIST-layout dataset (four idx files). Shapes and the class count come from
// the files themselves, so any uint8 idx image/label set with the standard file names trains.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DigitsError, UsageError } from '../errors';
import { readIdx } from './idx';
import { bytesToFloat, gatherBytesToFloat } from '../tensor';

export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;
export type MnistFileName = (typeof MNIST_FILES)[keyof typeof MNIST_FILES];
export const MNIST_FILE_NAMES: readonly MnistFileName[] = [
  MNIST_FILES.trainImages,
  MNIST_FILES.trainLabels,
  MNIST_FILES.testImages,
  MNIST_FILES.testLabels,
];

export interface Split {
  /** count x height x width bytes, row-major; also the memory layout of NHWC [count, h, w, 1]. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  train: Split;
  test: Split;
  height: number;
  width: number;
  classes: number;
}

/** Half-open index range [start, end). */
export type Range = readonly [start: number, end: number];

export function defaultCacheDir(): string {
  return path.join(os.homedir(), '.cache', 'digits', 'mnist');
}

/**
 * Path of `<dir>/<base>.gz` or `<dir>/<base>`, else undefined. The `.gz` form wins because that is what
 * `digits download` writes and verifies; a stale uncompressed copy next to it must not shadow it.
 */
export function findIdxFile(dir: string, base: string): string | undefined {
  for (const candidate of [path.join(dir, `${base}.gz`), path.join(dir, base)]) {
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

/** `--data` value, else $DIGITS_DATA, else the download cache; fails unless all four files are there. */
export function resolveDataDir(opt?: string, env: NodeJS.ProcessEnv = process.env): string {
  let dir: string;
  let source: string;
  if (opt !== undefined && opt !== '') {
    dir = opt;
    source = '--data';
  } else if (env.DIGITS_DATA) {
    dir = env.DIGITS_DATA;
    source = '$DIGITS_DATA';
  } else {
    dir = defaultCacheDir();
    source = 'default cache';
  }
  dir = path.resolve(expandHome(dir));

  const hint = 'run `digits download` or pass --data DIR';
  if (!isDir(dir)) throw new DigitsError(`data directory ${dir} (${source}) does not exist: ${hint}`);
  const missing = MNIST_FILE_NAMES.filter((f) => findIdxFile(dir, f) === undefined);
  if (missing.length > 0) {
    throw new DigitsError(`data directory ${dir} (${source}) lacks ${missing.map((f) => `${f}[.gz]`).join(', ')}: ${hint}`);
  }
  return dir;
}

/**
 * The four files of a dataset, checked against each other before any training. `classes` is the model's
 * class count when something fixes it (a preset has 10, a saved model its outputs): every label must be
 * below it. Without it the count comes from the training labels, and then every class up to the largest
 * label must appear among them, and the test labels must be among them — so one corrupted byte (a label of
 * 200) is a one-line error naming the file, index and value, not a 201-class model.
 */
export function loadDataset(dir: string, classes?: number): Dataset {
  const train = loadSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels);
  const test = loadSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels);
  const k = checkPair(train, test, classes);
  return { train: train.split, test: test.split, height: train.height, width: train.width, classes: k };
}

interface PairSide {
  split: { labels: Uint8Array; count: number };
  height: number;
  width: number;
  imagesPath: string;
  labelsPath: string;
}

/** The training and test halves agree on the image size and the labels on the classes; returns the class count. */
function checkPair(train: PairSide, test: PairSide, classes?: number): number {
  if (train.height !== test.height || train.width !== test.width) {
    throw new DigitsError(
      `image size differs: ${train.imagesPath} is ${train.height}x${train.width} ` +
        `but ${test.imagesPath} is ${test.height}x${test.width}`,
    );
  }
  const k = classes ?? maxLabel(train.split.labels) + 1;
  if (classes !== undefined) {
    checkLabels(train.labelsPath, train.split.labels, k, `outside the model's ${k} classes (0..${k - 1})`);
  } else {
    if (k < 2) throw new DigitsError(`${train.labelsPath}: every label is 0, need at least 2 classes`);
    const seen = new Uint8Array(k);
    for (const v of train.split.labels) seen[v] = 1;
    const absent = seen.indexOf(0);
    if (absent >= 0) {
      throw new DigitsError(
        `${train.labelsPath}: class ${absent} never appears among the ${train.split.count} training labels, yet the largest label makes ${k} classes (a corrupted label?)`,
      );
    }
  }
  checkLabels(
    test.labelsPath,
    test.split.labels,
    k,
    classes !== undefined ? `outside the model's ${k} classes (0..${k - 1})` : `not among the training classes (0..${k - 1})`,
  );
  return k;
}

function checkLabels(file: string, labels: Uint8Array, classes: number, what: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) throw new DigitsError(`${file}: label ${labels[i]} at index ${i} is ${what}`);
  }
}

export interface LoadedSplit {
  split: Split;
  height: number;
  width: number;
  imagesPath: string;
  labelsPath: string;
}

/** Loads one images/labels pair given explicit paths (raw or gzip; large gzipped images through the decoded cache). */
export function loadSplitFiles(imagesPath: string, labelsPath: string): LoadedSplit {
  const images = readIdx(imagesPath, { cache: true });
  checkImageDims(imagesPath, images.dims);
  const labels = readIdx(labelsPath);
  const [count, height, width] = checkShapes(imagesPath, images.dims, labelsPath, labels.dims);
  return { split: { images: images.data, labels: labels.data, count }, height, width, imagesPath, labelsPath };
}

function checkImageDims(imagesPath: string, imageDims: number[]): void {
  if (imageDims.length !== 3) {
    throw new DigitsError(
      `${imagesPath}: images need 3 dimensions (count x height x width), ` + `got ${imageDims.length} (dims ${imageDims.join('x')})`,
    );
  }
}

/** count x height x width images (checkImageDims) with as many labels; returns [count, height, width]. */
function checkShapes(imagesPath: string, imageDims: number[], labelsPath: string, labelDims: number[]): [number, number, number] {
  if (labelDims.length !== 1) {
    throw new DigitsError(`${labelsPath}: labels need 1 dimension, got ${labelDims.length} (dims ${labelDims.join('x')})`);
  }
  const [count, height, width] = imageDims;
  if (count === 0 || height === 0 || width === 0) {
    throw new DigitsError(`${imagesPath}: empty image set (dims ${imageDims.join('x')})`);
  }
  if (labelDims[0] !== count) {
    throw new DigitsError(`${imagesPath} has ${count} images but ${labelsPath} has ${labelDims[0]} labels`);
  }
  return [count, height, width];
}

function locate(dir: string, base: string): string {
  const p = findIdxFile(dir, base);
  if (p === undefined) {
    throw new DigitsError(`${path.join(dir, base)}[.gz]: file not found: run \`digits download\` or pass --data DIR`);
  }
  return p;
}

function loadSplit(dir: string, imagesBase: string, labelsBase: string): LoadedSplit {
  return loadSplitFiles(locate(dir, imagesBase), locate(dir, labelsBase));
}

function maxLabel(labels: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > m) m = labels[i];
  return m;
}

/** Bytes to [0, 1] floats; the result is [count, h, w] = NHWC [count, h, w, 1]. */
export function imagesToFloat(images: Uint8Array, count: number, h: number, w: number): Float32Array<ArrayBuffer> {
  const n = count * h * w;
  if (images.length < n) throw new RangeError(`imagesToFloat: ${images.length} bytes, need ${n}`);
  const out = new Float32Array(n);
  bytesToFloat(images, 0, out, 0, n);
  return out;
}

/** Like imagesToFloat for the images at `indices`, in that order (for shuffled mini-batches). */
export function gatherImages(images: Uint8Array, indices: ArrayLike<number>, h: number, w: number): Float32Array<ArrayBuffer> {
  const size = h * w;
  for (let j = 0; j < indices.length; j++) {
    const src = indices[j] * size;
    if (src < 0 || src + size > images.length) throw new RangeError(`gatherImages: index ${indices[j]} out of range`);
  }
  const out = new Float32Array(indices.length * size);
  gatherBytesToFloat(images, indices, 0, indices.length, size, out);
  return out;
}

/** [n, classes] one-hot rows, for all labels or those at `indices`. */
export function oneHot(labels: Uint8Array, classes: number, indices?: ArrayLike<number>): Float32Array<ArrayBuffer> {
  const n = indices ? indices.length : labels.length;
  const out = new Float32Array(n * classes);
  for (let j = 0; j < n; j++) {
    const label = labels[indices ? indices[j] : j];
    if (label === undefined || label >= classes) {
      throw new RangeError(`oneHot: label ${label} at row ${j} not in [0, ${classes})`);
    }
    out[j * classes + label] = 1;
  }
  return out;
}

export interface Tensors {
  x: Float32Array<ArrayBuffer>;
  y: Float32Array<ArrayBuffer>;
  count: number;
}

/** Float images and one-hot labels for a whole split, or for `indices` of it in that order. */
export function toTensor(split: Split, h: number, w: number, classes: number, indices?: ArrayLike<number>): Tensors {
  if (indices === undefined) {
    return { x: imagesToFloat(split.images, split.count, h, w), y: oneHot(split.labels, classes), count: split.count };
  }
  return { x: gatherImages(split.images, indices, h, w), y: oneHot(split.labels, classes, indices), count: indices.length };
}

/** Rows [start, end) of a split, sharing memory with it. */
export function sliceSplit(split: Split, [start, end]: Range, h: number, w: number): Split {
  const size = h * w;
  return {
    images: split.images.subarray(start * size, end * size),
    labels: split.labels.subarray(start, end),
    count: end - start,
  };
}

/**
 * Keras `validation_split`: the LAST fraction of the (unshuffled) samples is held out, with
 * split_at = floor(n * (1 - fraction)); like Keras, a split leaving either side empty is an error.
 */
export function splitValidation(n: number, fraction: number): { train: Range; val: Range } {
  if (!Number.isFinite(fraction) || fraction < 0 || fraction >= 1) {
    throw new UsageError(`validation split must be in [0, 1), got ${fraction}`);
  }
  if (fraction === 0) return { train: [0, n], val: [n, n] };
  const k = Math.floor(n * (1 - fraction));
  if (k === 0 || k === n) {
    throw new UsageError(`${n} training samples are not enough to hold out a validation split of ${fraction}`);
  }
  return { train: [0, k], val: [k, n] };
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
