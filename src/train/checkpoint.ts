// Resumable training. A checkpoint is a directory DIR/ckpt-<seq>-epoch<E>-batch<B>/ holding the model
// (model.json + weights.bin, loadable by `digits evaluate`), and state.json + state.bin: the optimizer's
// slots, fit's RNG streams, sample order and running sums, the history, the callbacks' state and the
// run's options. It is built under a dot-named temp dir, fsynced and renamed into place, and only then
// are older checkpoints removed, so at every instant DIR holds at least one complete checkpoint and a
// kill -9 leaves at most a temp dir that readers ignore.
import { fsyncDir, writeFileSynced, mkdirp } from '../fsutil';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FitCheckpoint, FitState, Sequential } from '../model/sequential';
import { loadModel, toModelJson, weightsBuffer } from '../io/tfjs';
import { DigitsError, UsageError } from '../errors';

export const CHECKPOINT_FORMAT = 'digits-checkpoint';
export const CHECKPOINT_VERSION = 1;
const NAME = /^ckpt-(\d{6,})-epoch(\d+)-batch(\d+)$/;
const TEMP = /^\.ckpt-.*\.tmp-\d+$/;
const MAX_STATE_JSON = 64 << 20;

/** The options of a `digits train` run, kept so `--resume DIR` needs nothing else. */
export interface TrainRun {
  preset: string;
  epochs: number;
  batchSize: number;
  optimizer: string;
  learningRate?: number;
  seed: number;
  validationSplit: number;
  limit?: number;
  /** The model's class count (--classes; a preset's 10 when absent). */
  classes?: number;
  /** Absolute paths. */
  data: string;
  out?: string;
  json?: boolean;
  checkpointDir?: string;
  /** The directory is `<out>.ckpt`, made for this run: removed once the model is saved. */
  checkpointDirIsDefault?: boolean;
  checkpointMinutes?: number;
}

export interface OptimizerSnapshot {
  className: string;
  learningRate: number;
  iterations: number;
  slots: Float32Array[][];
}

export interface Checkpoint {
  /** The checkpoint's own directory. */
  path: string;
  run: TrainRun;
  fit: FitState;
  optimizer: OptimizerSnapshot;
  /** Training time of the run up to this checkpoint, over all its sessions. */
  trainSeconds: number;
  backend: string;
  savedAt: string;
}

// ---- state.json + state.bin: JSON whose typed arrays live in the binary file ----

/** JSON.stringify with Float32Array/Int32Array moved into one binary buffer and non-finite numbers kept. */
export function encodeState(value: unknown): { json: string; bin: Buffer } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const json = JSON.stringify(value, (_k, v) => {
    if (v instanceof Float32Array || v instanceof Int32Array) {
      const ref = { $typed: v instanceof Float32Array ? 'f32' : 'i32', offset, length: v.length };
      chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      offset += v.byteLength;
      return ref;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
    return v;
  });
  return { json, bin: Buffer.concat(chunks) };
}

export function decodeState(json: string, bin: Uint8Array, where: string): any {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new DigitsError(`${where}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  const revive = (v: any): any => {
    if (Array.isArray(v)) return v.map(revive);
    if (!v || typeof v !== 'object') return v;
    if (typeof v.$num === 'string') {
      const n = Number(v.$num);
      if (Number.isFinite(n)) throw new DigitsError(`${where}: bad number ${JSON.stringify(v.$num)}`);
      return n;
    }
    if (v.$typed !== undefined) {
      const { $typed: t, offset, length } = v;
      if (
        (t !== 'f32' && t !== 'i32') ||
        !Number.isInteger(offset) ||
        !Number.isInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset % 4 !== 0 ||
        offset + 4 * length > bin.length
      ) {
        throw new DigitsError(`${where}: array reference ${JSON.stringify(v)} is outside state.bin (${bin.length} bytes)`);
      }
      // a copy: the file's buffer may sit at any byte offset, and typed arrays need theirs aligned
      const bytes = new Uint8Array(bin.subarray(offset, offset + 4 * length)).buffer;
      return t === 'f32' ? new Float32Array(bytes) : new Int32Array(bytes);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  };
  return revive(parsed);
}

// ---- writing ----

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

function listCheckpoints(dir: string): { name: string; seq: number; epoch: number; batch: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .flatMap((name) => {
      const m = NAME.exec(name);
      return m ? [{ name, seq: Number(m[1]), epoch: Number(m[2]), batch: Number(m[3]) }] : [];
    })
    .sort((a, b) => a.seq - b.seq);
}

/** Writes a checkpoint of `model` and `fit` into `dir` atomically; returns its path. */
export function writeCheckpoint(
  dir: string,
  model: Sequential,
  fit: FitState,
  extra: { run: TrainRun; trainSeconds: number; backend: string },
): string {
  try {
    mkdirp(dir);
    const existing = listCheckpoints(dir);
    // temp dirs are left only by a run that died mid-write; one run writes a directory at a time
    for (const name of fs.readdirSync(dir)) if (TEMP.test(name)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    const seq = (existing.at(-1)?.seq ?? 0) + 1;
    const name = `ckpt-${String(seq).padStart(6, '0')}-epoch${fit.epoch}-batch${fit.batch}`;
    const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
    fs.mkdirSync(tmp);
    const opt = model.optimizer.getState();
    const weights = weightsBuffer(model);
    const { json, bin } = encodeState({
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      savedAt: new Date().toISOString(),
      backend: extra.backend,
      run: extra.run,
      trainSeconds: extra.trainSeconds,
      fit,
      optimizer: {
        className: model.optimizer.className,
        learningRate: model.optimizer.learningRate,
        iterations: opt.iterations,
        slots: opt.slots,
      },
      sha256: { weights: sha256(weights) },
    });
    writeFileSynced(path.join(tmp, 'weights.bin'), weights);
    writeFileSynced(path.join(tmp, 'model.json'), JSON.stringify(toModelJson(model)));
    writeFileSynced(path.join(tmp, 'state.bin'), bin);
    // the digest of state.bin goes last, into a file of its own, so state.json needs no second pass
    writeFileSynced(path.join(tmp, 'state.json'), json);
    writeFileSynced(path.join(tmp, 'state.sha256'), `${sha256(bin)}  state.bin\n${sha256(Buffer.from(json))}  state.json\n`);
    fsyncDir(tmp);
    const final = path.join(dir, name);
    fs.renameSync(tmp, final);
    fsyncDir(dir);
    for (const old of existing) fs.rmSync(path.join(dir, old.name), { recursive: true, force: true });
    return final;
  } catch (e) {
    if (e instanceof DigitsError) throw e;
    throw new DigitsError(`${dir}: cannot write a checkpoint (${oneLine((e as Error).message)})`);
  }
}

/** Removes a checkpoint directory written by writeCheckpoint (and nothing else it may contain). */
export function removeCheckpoints(dir: string): void {
  for (const c of listCheckpoints(dir)) fs.rmSync(path.join(dir, c.name), { recursive: true, force: true });
  try {
    for (const name of fs.readdirSync(dir)) if (TEMP.test(name)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  } catch {
    /* gone */
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not empty: the user keeps other files there */
  }
}

// ---- reading ----

/** Path of the newest complete checkpoint in `dir`, or null; temp dirs of interrupted writes are ignored. */
export function latestCheckpoint(dir: string): string | null {
  const last = listCheckpoints(dir).at(-1);
  return last ? path.join(dir, last.name) : null;
}

/** Reads the newest checkpoint in `dir` (or `dir` itself when it is one), checking every field. */
export function readCheckpoint(dir: string): Checkpoint {
  if (!fs.existsSync(dir)) throw new DigitsError(`${dir}: no such checkpoint directory`);
  const at = NAME.test(path.basename(path.resolve(dir))) ? dir : latestCheckpoint(dir);
  if (!at) throw new DigitsError(`${dir}: no checkpoint in this directory (it holds no ckpt-* entry)`);
  const read = (f: string, max = Infinity): Buffer => {
    const file = path.join(at, f);
    try {
      if (fs.statSync(file).size > max) throw new DigitsError(`${file}: larger than ${max} bytes, not a checkpoint file`);
      return fs.readFileSync(file);
    } catch (e) {
      if (e instanceof DigitsError) throw e;
      throw new DigitsError(`${file}: cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? oneLine((e as Error).message)})`);
    }
  };
  const where = path.join(at, 'state.json');
  const json = read('state.json', MAX_STATE_JSON);
  const bin = read('state.bin');
  const sums = read('state.sha256', 4096).toString('utf8');
  if (!sums.includes(`${sha256(bin)}  state.bin`))
    throw new DigitsError(`${path.join(at, 'state.bin')}: checksum mismatch (corrupt checkpoint)`);
  if (!sums.includes(`${sha256(json)}  state.json`)) throw new DigitsError(`${where}: checksum mismatch (corrupt checkpoint)`);
  const s = decodeState(json.toString('utf8'), bin, where);
  const bad = (field: string, what: string): never => {
    throw new DigitsError(`${where}: ${field} ${what}`);
  };
  if (!s || typeof s !== 'object' || s.format !== CHECKPOINT_FORMAT) bad('format', `is not '${CHECKPOINT_FORMAT}'`);
  if (s.version !== CHECKPOINT_VERSION)
    bad('version', `${JSON.stringify(s.version)} is not supported (this digits reads version ${CHECKPOINT_VERSION})`);
  if (sha256(read('weights.bin')) !== s.sha256?.weights)
    throw new DigitsError(`${path.join(at, 'weights.bin')}: checksum mismatch (corrupt checkpoint)`);
  checkFitState(s.fit, bad);
  checkRun(s.run, bad);
  const o = s.optimizer;
  if (!o || typeof o.className !== 'string') bad('optimizer', 'is missing');
  if (!(typeof o.learningRate === 'number' && o.learningRate >= 0 && Number.isFinite(o.learningRate)))
    bad('optimizer.learningRate', 'is not a finite number ≥ 0');
  if (!isCount(o.iterations)) bad('optimizer.iterations', 'is not a count');
  if (!Array.isArray(o.slots) || !o.slots.every((g: unknown) => Array.isArray(g) && g.every((a) => a instanceof Float32Array)))
    bad('optimizer.slots', 'are not lists of float arrays');
  if (typeof s.trainSeconds !== 'number' || !(s.trainSeconds >= 0)) bad('trainSeconds', 'is not a number ≥ 0');
  return {
    path: at,
    run: s.run,
    fit: s.fit,
    optimizer: o,
    trainSeconds: s.trainSeconds,
    backend: String(s.backend),
    savedAt: String(s.savedAt),
  };
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

function checkFitState(f: any, bad: (field: string, what: string) => never): void {
  if (!f || typeof f !== 'object') bad('fit', 'is missing');
  if (!isCount(f.epoch) || !isCount(f.batch)) bad('fit.epoch/batch', 'are not counts');
  for (const k of ['shuffle', 'dropout', 'augment']) {
    const r = f.rngs?.[k];
    if (!(Array.isArray(r) && r.length === 4 && r.every((w) => Number.isInteger(w) && w >= -(2 ** 31) && w < 2 ** 32)))
      bad(`fit.rngs.${k}`, 'is not four 32-bit words');
  }
  if (f.order !== null && !(f.order instanceof Int32Array)) bad('fit.order', 'is not null or an int array');
  if (f.batch > 0 && f.order && f.order.some((i: number) => i < 0 || i >= f.order.length)) bad('fit.order', 'is not a permutation');
  if (!f.sums || !['loss', 'correct', 'seen'].every((k) => typeof f.sums[k] === 'number')) bad('fit.sums', 'are not numbers');
  if (typeof f.stopTraining !== 'boolean') bad('fit.stopTraining', 'is not a boolean');
  const h = f.history;
  if (!h || !isNumbers(h.epoch) || !h.history || typeof h.history !== 'object' || !Object.values(h.history).every(isNumbers))
    bad('fit.history', 'is not {epoch: number[], history: {name: number[]}}');
  if (!Array.isArray(f.callbacks)) bad('fit.callbacks', 'is not a list');
}

function checkRun(r: any, bad: (field: string, what: string) => never): void {
  if (!r || typeof r !== 'object') bad('run', 'is missing');
  if (typeof r.preset !== 'string' || typeof r.optimizer !== 'string' || typeof r.data !== 'string')
    bad('run', 'lacks preset, optimizer or data');
  for (const k of ['epochs', 'batchSize']) if (!(isCount(r[k]) && r[k] > 0)) bad(`run.${k}`, 'is not a positive integer');
  if (!isCount(r.seed)) bad('run.seed', 'is not an integer ≥ 0');
  if (!(typeof r.validationSplit === 'number' && r.validationSplit >= 0 && r.validationSplit < 1))
    bad('run.validationSplit', 'is not in [0, 1)');
}

/** Puts the checkpoint's weights (BN moving statistics included) and optimizer state into a compiled model. */
export function restoreCheckpoint(model: Sequential, ckpt: Checkpoint): void {
  const saved = loadModel(ckpt.path).model;
  model.setWeights(saved.getWeights());
  const o = ckpt.optimizer;
  if (o.className !== model.optimizer.className)
    throw new DigitsError(`${ckpt.path}: the checkpoint's optimizer is ${o.className}, the model's is ${model.optimizer.className}`);
  const trainable = model.layers.flatMap((l) => l.weights.filter((w) => w.grad));
  for (const slot of o.slots) {
    if (slot.length !== trainable.length || slot.some((a, i) => a.length !== trainable[i].value.length)) {
      throw new DigitsError(`${ckpt.path}: the optimizer slots do not match the model's ${trainable.length} trainable weights`);
    }
  }
  try {
    model.optimizer.setState({ iterations: o.iterations, slots: o.slots });
  } catch (e) {
    throw e instanceof DigitsError ? new DigitsError(`${ckpt.path}: ${e.message}`) : e;
  }
  model.optimizer.learningRate = o.learningRate;
}

// ---- the `digits train` side: options, signals, timing ----

/**
 * The run to continue: the checkpoint's options, where the command line may change only what does not
 * break the replay (epochs to train to, learning rate, paths, output format). `given` says which options
 * the user typed; any other option that differs from the checkpoint's is a usage error, not a silent change.
 */
export function resumeRun(
  preset: string,
  ckpt: Checkpoint,
  opts: Record<string, unknown>,
  given: (key: string) => boolean,
  dir: string,
): TrainRun {
  const run: TrainRun = { ...ckpt.run };
  if (preset !== run.preset) throw new UsageError(`--resume ${dir}: the checkpoint is of preset ${run.preset}, not ${preset}`);
  const fixed: [string, keyof TrainRun, string][] = [
    ['batchSize', 'batchSize', '--batch-size'],
    ['optimizer', 'optimizer', '--optimizer'],
    ['seed', 'seed', '--seed'],
    ['validationSplit', 'validationSplit', '--validation-split'],
    ['limit', 'limit', '--limit'],
    ['classes', 'classes', '--classes'],
  ];
  for (const [opt, key, flag] of fixed) {
    if (given(opt) && opts[opt] !== run[key])
      throw new UsageError(`${flag}: the run in ${dir} uses ${run[key] ?? 'none'}; a resumed run keeps it (drop the option)`);
  }
  if (given('epochs')) {
    const epochs = opts.epochs as number;
    if (epochs < ckpt.fit.epoch) throw new UsageError(`--epochs: the run in ${dir} has already trained ${ckpt.fit.epoch} epochs`);
    run.epochs = epochs;
  }
  if (given('data')) run.data = path.resolve(String(opts.data));
  if (given('out')) {
    run.out = path.resolve(String(opts.out));
  }
  if (given('json')) run.json = Boolean(opts.json);
  if (given('checkpointMinutes')) run.checkpointMinutes = opts.checkpointMinutes as number;
  run.checkpointDir = given('checkpointDir') ? path.resolve(String(opts.checkpointDir)) : path.resolve(dir);
  if (given('checkpointDir')) run.checkpointDirIsDefault = false;
  return run;
}

/**
 * What --resume names: a checkpoint directory, or — what a person types — the run's --out, whose
 * checkpoints are in `<out>.ckpt` until the model is saved.
 */
export function resumeTarget(dir: string): string {
  const ckpt = `${dir.replace(/[\\/]+$/, '')}.ckpt`;
  if (fs.existsSync(dir) && latestCheckpoint(dir)) return dir;
  if (fs.existsSync(ckpt) && latestCheckpoint(ckpt)) return ckpt;
  if (fs.existsSync(dir) && fs.existsSync(path.join(dir, 'model.json')) && !fs.existsSync(ckpt)) {
    throw new DigitsError(`${dir}: a finished model (its run saved it and removed ${path.basename(ckpt)}): nothing to resume`);
  }
  return dir;
}

/** Refuses to start a fresh run over another run's checkpoints (it would replace them). */
export function checkFreshCheckpointDir(dir: string, command: string): void {
  const last = latestCheckpoint(dir);
  if (!last) return;
  throw new UsageError(
    `${dir} holds a checkpoint of an earlier run (${path.basename(last)}): resume it with \`${command}\`, or remove the directory`,
  );
}

/** How the user invoked us, for a copy-paste resume command. */
export function invocation(script: string | undefined): string {
  if (!script || path.basename(script) === 'digits') return 'digits';
  const rel = path.relative(process.cwd(), script);
  return `node ${shellQuote(rel && !rel.startsWith('..') ? rel : script)}`;
}

export function shellQuote(s: string): string {
  return /^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * fit's checkpoint hook for the CLI: writes at every epoch end and every `minutes`, and turns
 * SIGINT/SIGTERM into "finish the batch, checkpoint, stop". A second signal exits at once; the last
 * checkpoint on disk is complete either way.
 */
export class CheckpointWriter implements FitCheckpoint {
  signal: NodeJS.Signals | null = null;
  /** Position of the last snapshot fit handed over, written or not. */
  last: { epoch: number; batch: number } | null = null;
  lastPath: string | null;
  private lastSave = Date.now();
  private readonly started = Date.now();

  /** `resumedFrom`: the checkpoint this session started from, the good one until the first save. */
  constructor(
    private readonly model: Sequential,
    private readonly run: TrainRun,
    private readonly backend: string,
    private readonly priorSeconds = 0,
    resumedFrom?: string,
  ) {
    this.lastPath = resumedFrom ?? null;
  }

  trainSeconds(): number {
    return this.priorSeconds + (Date.now() - this.started) / 1000;
  }

  due(): boolean {
    return this.run.checkpointMinutes !== undefined && Date.now() - this.lastSave >= this.run.checkpointMinutes * 60_000;
  }

  interrupted(): boolean {
    return this.signal !== null;
  }

  save(state: FitState): void {
    this.last = { epoch: state.epoch, batch: state.batch };
    if (this.run.checkpointDir) {
      this.lastPath = writeCheckpoint(this.run.checkpointDir, this.model, state, {
        run: this.run,
        trainSeconds: this.trainSeconds(),
        backend: this.backend,
      });
    }
    this.lastSave = Date.now();
  }

  /** Installs the SIGINT/SIGTERM handlers; returns their removal. */
  trapSignals(stderr: (s: string) => void): () => void {
    const handler = (sig: NodeJS.Signals) => {
      if (this.signal) {
        stderr(`digits: ${sig} again: stopping now${this.lastPath ? `; the last checkpoint (${this.lastPath}) is complete` : ''}\n`);
        process.exit(SIGNAL_EXIT[sig] ?? 1);
      }
      this.signal = sig;
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }

  /** The one-line error for an interrupted run: where it stopped and the exact command that continues it. */
  interruption(resumeCommand: string): DigitsError {
    const sig = this.signal ?? 'SIGINT';
    const l = this.last;
    const at = !l
      ? 'the start'
      : l.batch > 0
        ? `epoch ${l.epoch + 1}/${this.run.epochs}, batch ${l.batch}`
        : `the end of epoch ${l.epoch}/${this.run.epochs}`;
    const msg = this.lastPath
      ? `interrupted by ${sig} at ${at}; checkpoint saved; resume with: ${resumeCommand}`
      : `interrupted by ${sig} at ${at}; nothing saved (train with --out DIR or --checkpoint-dir DIR to make runs resumable)`;
    return new DigitsError(msg, SIGNAL_EXIT[sig] ?? 1);
  }

  /** A training fault, with where the last good checkpoint is. */
  explainFault(e: unknown, resumeCommand: string): unknown {
    if (!(e instanceof DigitsError) || !this.lastPath) return e;
    const lr = /learning rate/.test(e.message) ? ' --lr <lower rate>' : '';
    return new DigitsError(`${e.message}; the last good checkpoint is kept (resume with: ${resumeCommand}${lr})`, e.exitCode);
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
