// Back-pressure for the server: a bounded number of jobs run at once (decoding holds memory and
// libuv threads), a bounded number wait, and the rest are refused at once with 503 rather than
// queued without end. Inference itself is batched: every digit that is ready when the event loop
// comes round goes through the network in one forward pass, which is far cheaper than one by one.
import type { Sequential } from '../model/sequential';
import { classify, type Prediction } from './predict';

export class BusyError extends Error {
  readonly statusCode = 503;
  constructor(message: string) {
    super(message);
    this.name = 'BusyError';
  }
}

export class Limiter {
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(
    readonly maxActive: number,
    readonly maxWaiting: number,
    readonly waitMs: number,
  ) {}

  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxActive) {
      if (this.waiting.length >= this.maxWaiting)
        throw new BusyError(`server busy: ${this.waiting.length} requests already waiting, retry later`);
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(go), 1);
          reject(new BusyError(`server busy: no inference slot within ${this.waitMs} ms, retry later`));
        }, this.waitMs);
        this.waiting.push(go);
      });
    } else this.active++;
    // a released slot passes straight to the next waiter, so `active` counts it already
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export class Batcher {
  private pending: { digits: Float32Array[]; resolve: (p: Prediction[]) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  constructor(
    private model: Sequential,
    private maxBatch = 64,
    private onBatch?: (requests: number) => void,
  ) {}

  classify(digits: Float32Array[]): Promise<Prediction[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ digits, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const take: typeof this.pending = [];
    let n = 0;
    while (this.pending.length > 0 && (take.length === 0 || n + this.pending[0].digits.length <= this.maxBatch)) {
      const job = this.pending.shift()!;
      take.push(job);
      n += job.digits.length;
    }
    this.onBatch?.(take.length);
    try {
      const preds = classify(
        this.model,
        take.flatMap((j) => j.digits),
      );
      let o = 0;
      for (const j of take) {
        j.resolve(preds.slice(o, o + j.digits.length));
        o += j.digits.length;
      }
    } catch (e) {
      for (const j of take) j.reject(e);
    }
    this.schedule(); // the rest after other I/O has had its turn
  }
}
