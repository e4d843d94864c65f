// Keras callbacks: hooks the fit loop calls, with the same names, arguments and defaults.
import type { Sequential } from '../model/sequential';

export type Logs = Record<string, number>;

export interface Callback {
  setModel?(model: Sequential): void;
  onTrainBegin?(): void;
  onEpochBegin?(epoch: number): void;
  onBatchEnd?(batch: number, logs: Logs): void;
  onEpochEnd?(epoch: number, logs: Logs): void;
  onTrainEnd?(history: Record<string, number[]>): void;
}

abstract class Monitoring implements Callback {
  protected model!: Sequential;
  protected best: number;
  protected wait = 0;
  protected readonly better: (a: number, b: number) => boolean;

  constructor(readonly monitor: string, mode: 'min' | 'max' | 'auto', readonly minDelta: number) {
    const max = mode === 'max' || (mode === 'auto' && /acc/.test(monitor));
    this.better = max ? (a, b) => a > b + this.minDelta : (a, b) => a < b - this.minDelta;
    this.best = max ? -Infinity : Infinity;
  }
  setModel(m: Sequential) { this.model = m; }
  protected value(logs: Logs): number | undefined { return logs[this.monitor]; }
}

export class EarlyStopping extends Monitoring {
  stoppedEpoch = -1;
  private bestWeights: Float32Array[] | null = null;
  readonly patience: number;
  readonly restoreBestWeights: boolean;

  constructor(o: { monitor?: string; patience?: number; minDelta?: number; mode?: 'min' | 'max' | 'auto'; restoreBestWeights?: boolean } = {}) {
    super(o.monitor ?? 'val_loss', o.mode ?? 'auto', o.minDelta ?? 0);
    this.patience = o.patience ?? 0;
    this.restoreBestWeights = o.restoreBestWeights ?? false;
  }

  onEpochEnd(epoch: number, logs: Logs) {
    const v = this.value(logs);
    if (v === undefined) return;
    if (this.better(v, this.best)) {
      this.best = v;
      this.wait = 0;
      if (this.restoreBestWeights) this.bestWeights = this.model.getWeights().map((w) => w.slice());
      return;
    }
    if (++this.wait > this.patience) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
      if (this.bestWeights) this.model.setWeights(this.bestWeights);
    }
  }
}

export class ReduceLROnPlateau extends Monitoring {
  readonly factor: number; readonly patience: number; readonly minLr: number; readonly cooldown: number;
  private cooldownLeft = 0;

  constructor(o: { monitor?: string; factor?: number; patience?: number; minDelta?: number; minLr?: number; cooldown?: number; mode?: 'min' | 'max' | 'auto' } = {}) {
    super(o.monitor ?? 'val_loss', o.mode ?? 'auto', o.minDelta ?? 1e-4);
    this.factor = o.factor ?? 0.1;
    this.patience = o.patience ?? 10;
    this.minLr = o.minLr ?? 0;
    this.cooldown = o.cooldown ?? 0;
  }

  onEpochEnd(_epoch: number, logs: Logs) {
    const opt = this.model.optimizer;
    logs.lr = opt.learningRate;
    const v = this.value(logs);
    if (v === undefined) return;
    if (this.cooldownLeft > 0) { this.cooldownLeft--; this.wait = 0; }
    if (this.better(v, this.best)) { this.best = v; this.wait = 0; return; }
    if (this.cooldownLeft === 0 && ++this.wait >= this.patience && opt.learningRate > this.minLr) {
      opt.learningRate = Math.max(opt.learningRate * this.factor, this.minLr);
      this.cooldownLeft = this.cooldown;
      this.wait = 0;
    }
  }
}

export class LearningRateScheduler implements Callback {
  private model!: Sequential;
  constructor(readonly schedule: (epoch: number, lr: number) => number) {}
  setModel(m: Sequential) { this.model = m; }
  onEpochBegin(epoch: number) { this.model.optimizer.learningRate = this.schedule(epoch, this.model.optimizer.learningRate); }
}
