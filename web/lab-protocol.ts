// Messages between the lab page (web/lab.ts) and its training worker (web/lab-worker.ts).
import type { Logs } from '../src/model/callback';
import type { History } from '../src/model/sequential';
import type { TestReport, TrainOptions } from '../src/lab/session';

/** Int32 slots of the shared control block: stop after this batch; a stroke is being drawn (1) or was answered (0). */
export const CTRL_STOP = 0;
export const CTRL_INPUT = 1;
/** Longest the trainer waits after one batch for the page to answer a stroke. */
export const INPUT_PAUSE_MS = 250;

export type ModelSource =
  | { kind: 'preset'; preset: string; seed: number }
  | { kind: 'json'; name: string; json: Record<string, unknown>; weights: Uint8Array; metadata: Record<string, unknown> | null };

export type ToWorker =
  | { type: 'init'; threads: number; control: SharedArrayBuffer }
  | { type: 'model'; id: number; source: ModelSource }
  | { type: 'data'; id: number }
  | { type: 'train'; id: number; opts: TrainOptions & { preset?: boolean } }
  | { type: 'resume'; id: number }
  | { type: 'evaluate'; id: number }
  | {
      type: 'finetune';
      id: number;
      examples: { pixels: Float32Array; label: number }[];
      opts: { epochs?: number; mnist?: number; repeat?: number; learningRate?: number };
    }
  | { type: 'export'; id: number; format: 'keras' | 'tfjs' };

export interface RunResult {
  history: History;
  stopped: boolean;
  canResume: boolean;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  epoch: number;
  batch: number;
  test: TestReport | null;
  threads: number;
}

export type FromWorker =
  | { type: 'ready'; threads: number; isolated: boolean }
  | { type: 'status'; text: string }
  | { type: 'log'; text: string }
  | { type: 'progress'; epoch: number; batch: number; steps: number; logs: Logs; at: number; samplesPerSecond: number }
  | { type: 'epoch'; epoch: number; logs: Logs }
  | { type: 'weights'; values: Float32Array[] }
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'error'; id: number | null; message: string };

export interface DataInfo {
  train: number;
  test: number;
  source: 'network' | 'cache' | 'memory';
  seconds: number;
}
