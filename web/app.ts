// The draw-a-digit page. The model is fetched once and runs here on the reference kernels, and the
// drawing goes through the same preprocess() as the server's images: after loading, no server needed.
import { fromModelJson } from '../src/io/tfjs-json';
import { reference } from '../src/kernels/reference';
import { ImageError, preprocess, SIZE } from '../src/data/preprocess';
import { classify, type Prediction } from '../src/serve/predict';
import type { Sequential } from '../src/model/sequential';
import { attachPad } from './pad';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const pad = $<HTMLCanvasElement>('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true })!;
const THROTTLE_MS = 80;

function paintDigit(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, scale: number): void {
  const img = new ImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const v = Math.round(pixels[i] * scale);
    img.data.set([v, v, v, 255], i * 4);
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
}

function clearPad(): void {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function makeBars(): HTMLElement[] {
  const bars = $('bars');
  return Array.from({ length: 10 }, (_v, d) => {
    const label = document.createElement('span'),
      bar = document.createElement('div'),
      fill = document.createElement('div'),
      pct = document.createElement('span');
    label.textContent = String(d);
    bar.className = 'bar';
    bar.appendChild(fill);
    pct.id = `p${d}`;
    bars.append(label, bar, pct);
    return bar;
  });
}

function show(bars: HTMLElement[], p: Prediction | null, seen: Float32Array | null): void {
  const best = p?.top[0];
  const pred = $('prediction');
  pred.textContent = best ? String(best.digit) : '';
  pred.dataset.digit = best ? String(best.digit) : '';
  $('confidence').textContent = best ? `${(best.probability * 100).toFixed(1)}% sure` : 'draw 0–9 in the box';
  bars.forEach((bar, d) => {
    const v = p?.probabilities[d] ?? 0;
    (bar.firstChild as HTMLElement).style.width = `${v * 100}%`;
    bar.classList.toggle('top', d === best?.digit);
    $(`p${d}`).textContent = p ? `${(v * 100).toFixed(1)}%` : '';
  });
  paintDigit($<HTMLCanvasElement>('seen'), seen ?? new Float32Array(SIZE * SIZE), 255);
}

function setupPad(model: Sequential, bars: HTMLElement[]): void {
  let timer: number | undefined;
  const predictNow = () => {
    timer = undefined;
    const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
    let x: Float32Array;
    // the canvas's RGBA as it is: preprocess reads colour and alpha itself, as it does for uploads
    try {
      x = preprocess({ width: pad.width, height: pad.height, channels: 4, data });
    } catch (e) {
      if (e instanceof ImageError) {
        show(bars, null, null);
        return;
      }
      throw e;
    }
    show(bars, classify(model, [x])[0], x);
  };
  const schedule = () => {
    timer ??= window.setTimeout(predictNow, THROTTLE_MS);
  };
  // MNIST strokes are about an eighth of the digit's height; a digit drawn across most of the box matches
  ctx.lineWidth = 22;
  attachPad(pad, ctx, { drawn: schedule, up: schedule });
  $('clear').addEventListener('click', () => {
    clearPad();
    show(bars, null, null);
  });
}

async function loadSamples(model: Sequential): Promise<void> {
  const box = $('samples');
  let samples: { index: number; label: number; pixels: number[] }[];
  try {
    const r = await fetch('api/samples?n=12');
    if (!r.ok) throw new Error((await r.json()).error);
    samples = (await r.json()).samples;
  } catch (e) {
    // offline after load: keep the digits already shown
    if (box.childElementCount === 0) box.textContent = `no test digits (${(e as Error).message})`;
    return;
  }
  const preds = classify(
    model,
    samples.map((s) => Float32Array.from(s.pixels, (v) => v / 255)),
  );
  box.replaceChildren(
    ...samples.map((s, i) => {
      const fig = document.createElement('figure'),
        c = document.createElement('canvas'),
        cap = document.createElement('figcaption');
      c.width = c.height = SIZE;
      paintDigit(c, s.pixels, 1);
      const got = preds[i].top[0].digit;
      cap.textContent = got === s.label ? `${got}` : `${got} (is ${s.label})`;
      cap.className = got === s.label ? 'ok' : 'bad';
      fig.title = `test digit #${s.index}, label ${s.label}`;
      fig.append(c, cap);
      return fig;
    }),
  );
}

async function main(): Promise<void> {
  const [json, weights, info] = await Promise.all([
    fetch('model/model.json').then((r) => r.json()),
    fetch('model/weights.bin').then((r) => r.arrayBuffer()),
    fetch('api/model').then((r) => r.json()),
  ]);
  const { model } = fromModelJson(json, new Uint8Array(weights), 'model.json', reference);
  const acc = info.test?.accuracy;
  $('status').textContent =
    `${info.preset ?? model.name} · ${model.countParams().toLocaleString('en-US')} parameters` +
    `${typeof acc === 'number' ? ` · ${(acc * 100).toFixed(2)}% on the test set` : ''} · running in your browser`;
  const bars = makeBars();
  clearPad();
  show(bars, null, null);
  setupPad(model, bars);
  $('more').addEventListener('click', () => {
    void loadSamples(model);
  });
  document.body.dataset.ready = 'true';
  await loadSamples(model);
}

main().catch((e) => {
  $('status').textContent = `could not start: ${(e as Error).message}`;
});
