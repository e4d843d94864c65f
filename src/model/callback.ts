// What the fit loop calls: Keras' callback hooks, with the same names and arguments. The callbacks
// themselves (EarlyStopping, ModelCheckpoint, …) are in src/train/callbacks.ts.
import type { Sequential } from './sequential';

export type Logs = Record<string, number>;

export interface FitParams {
  epochs: number;
  steps: number;
  batchSize: number;
  samples: number;
}

/** Hooks for a model of type M (a Sequential unless a loop runs on another Fittable). */
export interface Callback<M = Sequential> {
  setModel?(model: M): void;
  onTrainBegin?(): void;
  /** Keras' callback.params: what fit() will run, for schedules that count steps. */
  setParams?(params: FitParams): void;
  onEpochBegin?(epoch: number): void;
  onBatchBegin?(batch: number): void;
  onBatchEnd?(batch: number, logs: Logs): void;
  onEpochEnd?(epoch: number, logs: Logs): void;
  onTrainEnd?(history: Record<string, number[]>): void;
  /** What a checkpoint must keep for a resumed run to behave as an uninterrupted one (numbers, arrays, Float32Arrays). */
  getState?(): unknown;
  setState?(state: unknown): void;
}
