// Keras callbacks: hooks the fit loop calls, with the same names, arguments and defaults.
import type { Sequential } from '../model/sequential';
import type { Callback, FitParams, Logs } from '../model/callback';
import { saveModel, type DigitsMetadata } from '../io/tfjs';
import { UsageError } from '../errors';

abstract class Monitoring implements Callback {
  protected model!: Sequential;
  protected best: number;
  protected wait = 0;
  protected readonly better: (a: number, b: number) => boolean;

  constructor(
    readonly monitor: string,
    mode: 'min' | 'max' | 'auto',
    readonly minDelta: number,
  ) {
    const max = mode === 'max' || (mode === 'auto' && /acc/.test(monitor));
    this.better = max ? (a, b) => a > b + this.minDelta : (a, b) => a < b - this.minDelta;
    this.best = max ? -Infinity : Infinity;
  }
  setModel(m: Sequential) {
    this.model = m;
  }
  protected value(logs: Logs): number | undefined {
    return logs[this.monitor];
  }
  getState(): { best: number; wait: number } {
    return { best: this.best, wait: this.wait };
  }
  setState(s: { best: number; wait: number }) {
    this.best = s.best;
    this.wait = s.wait;
  }
}

export class EarlyStopping extends Monitoring {
  stoppedEpoch = -1;
  private bestWeights: Float32Array[] | null = null;
  readonly patience: number;
  readonly restoreBestWeights: boolean;

  constructor(
    o: { monitor?: string; patience?: number; minDelta?: number; mode?: 'min' | 'max' | 'auto'; restoreBestWeights?: boolean } = {},
  ) {
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
    // Keras stops once `patience` epochs in a row have not improved (seed003's notebook: best at 13, stopped after 23)
    if (++this.wait >= this.patience) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
      if (this.bestWeights) this.model.setWeights(this.bestWeights);
    }
  }

  override getState() {
    return { ...super.getState(), stoppedEpoch: this.stoppedEpoch, bestWeights: this.bestWeights };
  }
  override setState(s: ReturnType<EarlyStopping['getState']>) {
    super.setState(s);
    this.stoppedEpoch = s.stoppedEpoch;
    this.bestWeights = s.bestWeights;
  }
}

export class ReduceLROnPlateau extends Monitoring {
  readonly factor: number;
  readonly patience: number;
  readonly minLr: number;
  readonly cooldown: number;
  private cooldownLeft = 0;

  constructor(
    o: {
      monitor?: string;
      factor?: number;
      patience?: number;
      minDelta?: number;
      minLr?: number;
      cooldown?: number;
      mode?: 'min' | 'max' | 'auto';
    } = {},
  ) {
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
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.wait = 0;
    }
    if (this.better(v, this.best)) {
      this.best = v;
      this.wait = 0;
      return;
    }
    if (this.cooldownLeft === 0 && ++this.wait >= this.patience && opt.learningRate > this.minLr) {
      opt.learningRate = Math.max(opt.learningRate * this.factor, this.minLr);
      this.cooldownLeft = this.cooldown;
      this.wait = 0;
    }
  }

  override getState() {
    return { ...super.getState(), cooldownLeft: this.cooldownLeft };
  }
  override setState(s: ReturnType<ReduceLROnPlateau['getState']>) {
    super.setState(s);
    this.cooldownLeft = s.cooldownLeft;
  }
}

export class LearningRateScheduler implements Callback {
  private model!: Sequential;
  constructor(readonly schedule: (epoch: number, lr: number) => number) {}
  setModel(m: Sequential) {
    this.model = m;
  }
  onEpochBegin(epoch: number) {
    this.model.optimizer.learningRate = this.schedule(epoch, this.model.optimizer.learningRate);
  }
}

/** Keras' filepath formatting: `{epoch}` (1-based), `{epoch:02d}`, `{val_accuracy:.4f}`, any key of the logs. */
export function formatCheckpointPath(template: string, epoch: number, logs: Logs): string {
  return template.replace(/\{(\w+)(?::([^}]*))?\}/g, (whole, key: string, spec?: string) => {
    const v = key === 'epoch' ? epoch + 1 : logs[key];
    if (v === undefined) return whole;
    const d = spec?.match(/^0?(\d*)d$/);
    if (d) return String(Math.round(v)).padStart(Number(d[1] || 0), spec!.startsWith('0') ? '0' : ' ');
    const f = spec?.match(/^\.(\d+)f$/);
    return f ? v.toFixed(Number(f[1])) : String(v);
  });
}

/**
 * Keras' ModelCheckpoint: saves the model (TF.js Layers directory, via saveModel) after an epoch —
 * every epoch, or with saveBestOnly only when `monitor` improved. `metadata` goes into model.json.
 */
export class ModelCheckpoint extends Monitoring {
  readonly saveBestOnly: boolean;
  readonly verbose: 0 | 1;
  /** Epoch (0-based) and directory of the last save. */
  lastSaved: { epoch: number; path: string } | null = null;
  private readonly metadata?: (epoch: number, logs: Logs) => DigitsMetadata;
  private readonly log: (s: string) => void;

  constructor(
    readonly filepath: string,
    o: {
      monitor?: string;
      mode?: 'min' | 'max' | 'auto';
      saveBestOnly?: boolean;
      verbose?: 0 | 1;
      initialValueThreshold?: number;
      metadata?: (epoch: number, logs: Logs) => DigitsMetadata;
      log?: (s: string) => void;
    } = {},
  ) {
    super(o.monitor ?? 'val_loss', o.mode ?? 'auto', 0);
    this.saveBestOnly = o.saveBestOnly ?? false;
    this.verbose = o.verbose ?? 0;
    if (o.initialValueThreshold !== undefined) this.best = o.initialValueThreshold;
    this.metadata = o.metadata;
    this.log = o.log ?? ((line) => process.stderr.write(line + '\n'));
  }

  onEpochEnd(epoch: number, logs: Logs) {
    const path = formatCheckpointPath(this.filepath, epoch, logs);
    if (this.saveBestOnly) {
      const v = this.value(logs);
      if (v === undefined) {
        this.log(
          `ModelCheckpoint: can save best model only with ${this.monitor} available, skipping (logs have ${Object.keys(logs).join(', ')})`,
        );
        return;
      }
      if (!this.better(v, this.best)) {
        if (this.verbose) this.log(`Epoch ${epoch + 1}: ${this.monitor} did not improve from ${this.best.toFixed(5)}`);
        return;
      }
      if (this.verbose)
        this.log(`Epoch ${epoch + 1}: ${this.monitor} improved from ${this.best.toFixed(5)} to ${v.toFixed(5)}, saving model to ${path}`);
      this.best = v;
    } else if (this.verbose) this.log(`Epoch ${epoch + 1}: saving model to ${path}`);
    saveModel(this.model, path, this.metadata?.(epoch, logs) ?? { checkpoint: { epoch: epoch + 1, logs } });
    this.lastSaved = { epoch, path };
  }
}

export interface OneCycleOptions {
  /** Peak learning rate. */
  maxLr: number;
  /** Steps (batches) in the whole run; default: epochs × steps per epoch, from fit(). */
  totalSteps?: number;
  /** Fraction of the steps spent warming up. */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** The warm-up starts at maxLr / divFactor... */
  divFactor?: number;
  /** ...and the anneal ends at maxLr / divFactor / finalDivFactor. */
  finalDivFactor?: number;
  /** Cycle momentum (Adam's beta1, SGD's momentum) inversely to the rate, between these two. */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/**
 * The one-cycle rate at step `step` (0-based) of `totalSteps`, and the momentum that goes with it:
 * PyTorch's OneCycleLR (two phases), which is the reference definition — Keras has no built-in one.
 */
export function oneCycleAt(step: number, totalSteps: number, o: OneCycleOptions): { lr: number; momentum: number } {
  const pctStart = o.pctStart ?? 0.3,
    div = o.divFactor ?? 25,
    finalDiv = o.finalDivFactor ?? 1e4;
  const base = o.baseMomentum ?? 0.85,
    max = o.maxMomentum ?? 0.95;
  const initial = o.maxLr / div,
    min = initial / finalDiv;
  const anneal =
    o.annealStrategy === 'linear'
      ? (a: number, b: number, p: number) => a + (b - a) * p
      : (a: number, b: number, p: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * p) + 1);
  const warmEnd = pctStart * totalSteps - 1,
    end = totalSteps - 1;
  if (step <= warmEnd) {
    const p = warmEnd > 0 ? step / warmEnd : 1;
    return { lr: anneal(initial, o.maxLr, p), momentum: anneal(max, base, p) };
  }
  const p = Math.min(1, (step - warmEnd) / (end - warmEnd));
  return { lr: anneal(o.maxLr, min, p), momentum: anneal(base, max, p) };
}

/**
 * One-cycle learning-rate policy (Smith & Topin, "Super-Convergence"), set before every batch: a
 * warm-up from maxLr / divFactor to maxLr over pctStart of the steps, then an anneal to almost zero.
 * The step is epoch × steps per epoch + batch, so a resumed run lands on the same schedule.
 */
export class OneCycle implements Callback {
  private model!: Sequential;
  private stepsPerEpoch = 0;
  private total = 0;
  private epoch = 0;
  constructor(readonly options: OneCycleOptions) {
    if (!(options.maxLr > 0)) throw new UsageError(`OneCycle: maxLr must be > 0, got ${options.maxLr}`);
  }
  setModel(m: Sequential) {
    this.model = m;
  }
  setParams(p: FitParams) {
    this.stepsPerEpoch = p.steps;
    this.total = this.options.totalSteps ?? p.epochs * p.steps;
  }
  onEpochBegin(epoch: number) {
    this.epoch = epoch;
  }
  onBatchBegin(batch: number) {
    const { lr, momentum } = oneCycleAt(this.epoch * this.stepsPerEpoch + batch, this.total, this.options);
    const opt = this.model.optimizer as { learningRate: number; beta1?: number; momentum?: number };
    opt.learningRate = lr;
    if (this.options.cycleMomentum ?? true) {
      if (typeof opt.beta1 === 'number') opt.beta1 = momentum;
      else if (typeof opt.momentum === 'number' && opt.momentum > 0) opt.momentum = momentum;
    }
  }
  onEpochEnd(_epoch: number, logs: Logs) {
    logs.lr = this.model.optimizer.learningRate;
  }
  getState() {
    return { epoch: this.epoch };
  }
  setState(s: { epoch: number }) {
    this.epoch = s.epoch;
  }
}
