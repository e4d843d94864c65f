// Keras-style progress: a live bar on a terminal, one line per epoch otherwise (logs, CI). It writes to
// anything with write(): Node's stderr by default, a log panel in the browser lab.
import type { Callback, Logs } from './callback';

/** Where the bar is drawn; `isTTY` (as Node's streams have it) picks the live bar over per-epoch lines. */
export interface TextOut {
  write(s: string): unknown;
  isTTY?: boolean;
}

/** Node's stderr where there is one; elsewhere (a browser) one console line per write. */
const defaultOut = (): TextOut => globalThis.process?.stderr ?? { write: (s: string) => console.log(s.replace(/\n$/, '')) };

function fmt(logs: Logs): string {
  return Object.entries(logs)
    .map(([k, v]) => `${k}: ${k === 'lr' ? v.toExponential(2) : v.toFixed(4)}`)
    .join(' - ');
}

function duration(s: number): string {
  if (s >= 3600)
    return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  return `${Math.round(s)}s`;
}

export class ProgressBar implements Callback {
  private start = 0;
  private lastDraw = 0;
  private epochs = 0;

  constructor(
    private steps: number,
    epochs: number,
    private out: TextOut = defaultOut(),
    private tty = Boolean(out.isTTY),
  ) {
    this.epochs = epochs;
  }

  onEpochBegin(epoch: number) {
    this.start = Date.now();
    this.out.write(`Epoch ${epoch + 1}/${this.epochs}\n`);
  }

  onBatchEnd(batch: number, logs: Logs) {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && batch + 1 < this.steps) return;
    this.lastDraw = now;
    const done = batch + 1;
    const eta = ((now - this.start) / 1000 / done) * (this.steps - done);
    this.out.write(`\r${this.bar(done)} - ETA: ${duration(eta)} - ${fmt(logs)}\x1b[K`);
  }

  onEpochEnd(_epoch: number, logs: Logs) {
    const secs = (Date.now() - this.start) / 1000;
    const perStep = Math.round((secs * 1000) / this.steps);
    this.out.write(
      `${this.tty ? '\r' : ''}${this.bar(this.steps)} - ${duration(secs)} ${perStep}ms/step - ${fmt(logs)}${this.tty ? '\x1b[K' : ''}\n`,
    );
  }

  private bar(done: number): string {
    const w = String(this.steps).length;
    const width = 30;
    const filled = Math.floor((width * done) / this.steps);
    const body =
      done >= this.steps ? '='.repeat(width) : '='.repeat(Math.max(filled - 1, 0)) + '>' + '.'.repeat(width - Math.max(filled, 1));
    return `${String(done).padStart(w)}/${this.steps} [${body}]`;
  }
}
