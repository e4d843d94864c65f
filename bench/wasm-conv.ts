// The wasm core's convolutions with Winograd against its direct kernels, per shape and direction, with the
// native core in the same rounds as the yardstick: the measurements behind wasm/src/winograd.c's choice of
// where Winograd runs. Rounds alternate between the three, and each keeps its best, so a busy minute on a
// shared machine slows them alike. Where Winograd does not apply to a shape and direction, both wasm
// columns run the direct kernel (speedup ≈ 1). Run: node dist/bench/wasm-conv.js [--threads N]
import type { ConvGeom, Kernels } from '../src/kernels/kernels';
import { loadNative, setThreads } from '../src/kernels/native';
import { loadWasm, setWasmThreads, setWasmWinograd } from '../src/kernels/wasm';
import { Rng } from '../src/rng';
import { msPerCall } from './timing';

const args = process.argv.slice(2);
const threads = Number(args.includes('--threads') ? args[args.indexOf('--threads') + 1] : 2);

// [n, size, c, f, k, same]: the presets' stride-1 convolutions and the edges of Winograd's rule
const SHAPES: Array<[number, number, number, number, number, boolean]> = [
  [86, 28, 32, 32, 5, true], // seed000-kaggle
  [86, 14, 32, 64, 5, true],
  [86, 14, 64, 64, 5, true],
  [60, 13, 32, 64, 3, false], // seed002-cnn
  [60, 5, 64, 64, 3, false],
  [128, 14, 64, 64, 3, true], // digits-best
  [128, 7, 64, 128, 3, true],
  [128, 7, 64, 64, 3, false], // tiles overhanging a small map
  [32, 14, 256, 256, 3, true], // the widest layers Winograd takes
  [16, 7, 512, 512, 3, true], // wider: direct
];

function geom([n, h, c, f, k, same]: (typeof SHAPES)[number]): ConvGeom {
  const o = same ? h : h - k + 1,
    p = same ? (k - 1) / 2 : 0;
  return { n, h, w: h, c, f, oh: o, ow: o, kh: k, kw: k, sh: 1, sw: 1, padTop: p, padLeft: p };
}

function main(): void {
  const nat = loadNative(),
    wasm = loadWasm();
  if (!wasm) throw new Error('the wasm core does not load here');
  setWasmThreads(threads);
  if (nat) setThreads(threads);
  const rng = new Rng(5);
  const rand = (len: number) => Float32Array.from({ length: len }, () => rng.uniform(-1, 1));
  console.log(`conv ms per call, best of 5 alternating rounds, ${threads} threads; wino/direct = the direct kernel's time over Winograd's`);
  console.log('shape (n size c→f k)            dir      native  wasm direct  wasm wino  wino/direct  wasm/native');
  for (const s of SHAPES) {
    const g = geom(s);
    const x = rand(g.n * g.h * g.w * g.c),
      w = rand(g.kh * g.kw * g.c * g.f),
      b = rand(g.f),
      dy = rand(g.n * g.oh * g.ow * g.f);
    const y = new Float32Array(dy.length),
      dx = new Float32Array(x.length),
      dw = new Float32Array(w.length),
      db = new Float32Array(g.f);
    const ops: Array<[string, (k: Kernels) => void]> = [
      ['forward', (k) => k.conv2dForward(g, x, w, b, y, true)],
      ['back data', (k) => k.conv2dBackwardData(g, dy, w, dx)],
      ['back weights', (k) => k.conv2dBackwardWeights(g, x, dy, dw, db)],
    ];
    for (const [name, op] of ops) {
      const sides: Array<[Kernels | null, boolean]> = [
        [nat, true],
        [wasm, false],
        [wasm, true],
      ];
      const best = sides.map(() => Infinity);
      for (let round = -1; round < 5; round++)
        sides.forEach(([k, wino], i) => {
          if (!k) return;
          setWasmWinograd(wino);
          const t = msPerCall(() => op(k), round < 0 ? 1 : 60); // round -1: warm-up
          if (round >= 0) best[i] = Math.min(best[i], t);
        });
      setWasmWinograd(true);
      const [tn, td, tw] = best;
      const label = `${s[0]} ${s[1]}x${s[1]} ${s[2]}→${s[3]} ${s[4]}x${s[4]} ${s[5] ? 'same' : 'valid'}`;
      console.log(
        `${label.padEnd(32)} ${name.padEnd(12)} ${nat ? tn.toFixed(2).padStart(6) : '     —'} ${td.toFixed(2).padStart(11)} ${tw.toFixed(2).padStart(10)} ${(td / tw).toFixed(2).padStart(11)}× ${nat ? (tn / tw).toFixed(2).padStart(11) + '×' : '           —'}`,
      );
    }
  }
}

main();
