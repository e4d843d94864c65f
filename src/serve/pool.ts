// The server's workers: decoding, preprocessing and inference run in worker threads (one per core by
// default), fed from one bounded queue. An idle worker takes every waiting request up to a batch, so
// under load the network runs over many requests' digits at once; a request that waits past its
// deadline, or finds the queue full, is refused with 503 (Retry-After) instead of waiting without end.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ImageError } from '../data/image';
import type { Job, JobResult, WorkerInit } from './worker';
import { BusyError } from './queue';

export type JobInput = { image: Uint8Array; name: string; row: boolean } | { pixels: Float32Array; preprocess: boolean };
/** /api/predict's answer, as JSON text. */
export interface JobOutput {
  body: string;
}

interface Pending {
  job: Job;
  resolve: (r: JobOutput) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface PoolOptions {
  workers: number;
  /** Requests one worker takes at once. */
  maxBatch?: number;
  /** Requests waiting for a worker before new ones are refused. */
  maxWaiting?: number;
  /** Longest wait for a worker, ms. */
  timeoutMs?: number;
  /** Told the size of every batch a worker takes (metrics). */
  onBatch?: (requests: number) => void;
}

export class WorkerPool {
  private queue: Pending[] = [];
  private idle: Worker[] = [];
  private inFlight = new Map<Worker, Pending[]>();
  private nextId = 1;
  private closed = false;
  private readonly maxBatch: number;
  private readonly maxWaiting: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly init: WorkerInit,
    private readonly o: PoolOptions,
  ) {
    this.maxBatch = o.maxBatch ?? 32;
    this.maxWaiting = o.maxWaiting ?? 4096;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    for (let i = 0; i < Math.max(1, o.workers); i++) this.spawn();
  }

  get load(): { active: number; waiting: number; workers: number } {
    let active = 0;
    for (const jobs of this.inFlight.values()) active += jobs.length;
    return { active, waiting: this.queue.length, workers: this.inFlight.size };
  }

  run(input: JobInput): Promise<JobOutput> {
    if (this.closed) return Promise.reject(new BusyError('server closing'));
    if (this.queue.length >= this.maxWaiting)
      return Promise.reject(new BusyError(`server busy: ${this.queue.length} requests already waiting, retry later`));
    return new Promise((resolve, reject) => {
      const p: Pending = {
        job: { id: this.nextId++, ...input } as Job,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(p);
          if (i < 0) return; // already with a worker: it will answer
          this.queue.splice(i, 1);
          reject(new BusyError(`server busy: no worker within ${this.timeoutMs} ms, retry later`));
        }, this.timeoutMs),
      };
      this.queue.push(p);
      this.dispatch();
    });
  }

  private spawn(): void {
    const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: this.init });
    w.on('message', (results: JobResult[]) => this.finish(w, results));
    w.on('error', (e) => this.fail(w, e));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(w, new Error(`worker exited with code ${code}`));
    });
    this.inFlight.set(w, []);
    this.idle.push(w);
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const batch = this.queue.splice(0, this.maxBatch);
      for (const p of batch) clearTimeout(p.timer);
      this.inFlight.set(w, batch);
      this.o.onBatch?.(batch.length);
      w.postMessage(batch.map((p) => p.job));
    }
  }

  private finish(w: Worker, results: JobResult[]): void {
    const batch = this.inFlight.get(w) ?? [];
    const byId = new Map(results.map((r) => [r.id, r]));
    for (const p of batch) {
      const r = byId.get(p.job.id);
      if (!r) p.reject(new Error('worker gave no answer'));
      else if ('error' in r) p.reject(r.status < 500 ? new ImageError(r.error, r.status) : new Error(r.error));
      else p.resolve({ body: r.body });
    }
    this.inFlight.set(w, []);
    if (this.closed) return;
    this.idle.push(w);
    this.dispatch();
  }

  /** A crashed worker fails its requests (500) and is replaced, so one bad image cannot stop the server. */
  private fail(w: Worker, e: unknown): void {
    const batch = this.inFlight.get(w);
    if (batch === undefined) return;
    this.inFlight.delete(w);
    this.idle = this.idle.filter((x) => x !== w);
    for (const p of batch) p.reject(e);
    if (this.closed) return;
    void w.terminate();
    this.spawn();
    this.dispatch();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue) {
      clearTimeout(p.timer);
      p.reject(new BusyError('server closing'));
    }
    this.queue = [];
    const workers = [...this.inFlight.keys()];
    this.inFlight.clear();
    this.idle = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
