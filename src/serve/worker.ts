// One worker of `digits serve`'s pool: decodes and preprocesses a batch of requests' images, then runs
// the network once over every digit in the batch, off the server's event loop. The model arrives as
// model.json + weights bytes, so the worker loads exactly what the server loaded, whatever its file format.
import { parentPort, workerData } from 'node:worker_threads';
import { fromModelJson } from '../io/tfjs-json';
import { setThreads } from '../kernels';
import { imageToDigits, ImageError } from '../data/image';
import { preprocess, SIZE } from '../data/preprocess';
import { classify, predictAnswer, type Prediction } from './predict';

export interface WorkerInit {
  modelJson: unknown;
  weights: Uint8Array;
  threads: number;
}

/** A request as the pool hands it over: image bytes, or 28×28 pixels in [0, 1] (the JSON API). */
export type Job = { id: number; image: Uint8Array; name: string; row: boolean } | { id: number; pixels: Float32Array; preprocess: boolean };

/** A job's answer as /api/predict's JSON text (built here, off the server's event loop), or its error. */
export type JobResult = { id: number; body: string } | { id: number; error: string; status: number };

const init = workerData as WorkerInit;
// each worker is one of several: oneDNN's own threads would only fight each other over the cores
setThreads(init.threads);
const { model } = fromModelJson(init.modelJson, init.weights, 'model.json');

async function digitsOf(job: Job): Promise<Float32Array[]> {
  if ('image' in job) return imageToDigits(job.image, job.name, job.row);
  if (!job.preprocess) return [job.pixels];
  return [preprocess({ width: SIZE, height: SIZE, data: job.pixels.map((v) => v * 255) })];
}

parentPort!.on('message', async (jobs: Job[]) => {
  const settled = await Promise.allSettled(jobs.map(digitsOf));
  const ok = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [{ i, digits: s.value }] : []));
  let preds: Prediction[] = [];
  let failure: unknown;
  try {
    preds = classify(
      model,
      ok.flatMap((o) => o.digits),
    );
  } catch (e) {
    failure = e;
  }
  const results: JobResult[] = [];
  let at = 0;
  settled.forEach((s, i) => {
    if (s.status === 'rejected' || failure) {
      const e = (s.status === 'rejected' ? s.reason : failure) as Error;
      results.push({ id: jobs[i].id, error: e?.message ?? String(e), status: e instanceof ImageError ? e.status : 500 });
      return;
    }
    const n = s.value.length,
      job = jobs[i];
    results.push({ id: job.id, body: JSON.stringify(predictAnswer('row' in job && job.row, s.value, preds.slice(at, at + n))) });
    at += n;
  });
  parentPort!.postMessage(results);
});
