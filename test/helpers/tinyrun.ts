// A small model and data set that exercise every piece of fit's resumable state: BN moving statistics,
// dropout, augmentation, Adam, a validation split, ReduceLROnPlateau and EarlyStopping.
import { Sequential, type FitArgs } from '../../src/model/sequential';
import { BatchNormalization, Conv2D, Dense, Dropout, Flatten } from '../../src/layers';
import { EarlyStopping, ReduceLROnPlateau } from '../../src/train/callbacks';
import type { Callback } from '../../src/model/callback';
import { reference } from '../../src/kernels';
import { Rng } from '../../src/rng';
import type { TrainRun } from '../../src/train/checkpoint';
import type { Tensor } from '../../src/tensor';

export function tinyData(n: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(7);
  const x = new Float32Array(n * 64),
    y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i * 3 + c] = 1;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = rng.next() * 0.5 + (p % 3 === c ? 0.5 : 0);
  }
  return { x: { shape: [n, 8, 8, 1], data: x }, y: { shape: [n, 3], data: y } };
}

export function tinyModel(): Sequential {
  const m = new Sequential({
    seed: 3,
    kernels: reference,
    layers: [
      new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }),
      new BatchNormalization(),
      new Dropout({ rate: 0.3 }),
      new Flatten(),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
  return m;
}

export const RUN: TrainRun = {
  preset: 'tiny',
  epochs: 4,
  batchSize: 16,
  optimizer: 'adam',
  seed: 5,
  validationSplit: 0.2,
  data: '/nonexistent',
};

export function fitArgs(): FitArgs {
  const callbacks: Callback[] = [
    new ReduceLROnPlateau({ monitor: 'val_loss', patience: 1, factor: 0.5 }),
    new EarlyStopping({ monitor: 'val_loss', patience: 10, restoreBestWeights: true }),
  ];
  // augmentation draws from its own stream, so that stream has to survive the checkpoint too
  const augment = (x: Float32Array, n: number, rng: Rng) => {
    for (let i = 0; i < n * 64; i += 7) x[i] += (rng.next() - 0.5) * 0.1;
  };
  return {
    epochs: RUN.epochs,
    batchSize: RUN.batchSize,
    validationSplit: RUN.validationSplit,
    seed: RUN.seed,
    verbose: 0,
    callbacks,
    augment,
  };
}
