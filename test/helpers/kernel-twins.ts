// The twin tests every fast core runs (llm.c's rule: the fast version against the reference, name for name):
// each kernel of a core against the TS reference on seeded random inputs. fp32 results may differ in summation
// order only, so values are compared as max|a−b| / (max|b| + 1e-6) ≤ 1e-4; integer outputs (pooling workspaces)
// and dropout masks must match exactly. test/native-kernels.test.ts and test/wasm-kernels.test.ts call them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ELTWISE_KINDS, type ConvGeom, type Eltwise, type Kernels, type PoolGeom } from '../../src/kernels/kernels';
import { reference as ref } from '../../src/kernels/reference';
import { Rng } from '../../src/rng';

export const TOL = 1e-4;

export function rand(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let d = 0,
    m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / (m + 1e-6);
}

export function close(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol = TOL): void {
  const e = relErr(a, b);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

export function convGeom(n: number, h: number, w: number, c: number, f: number, k: number, s: number, same: boolean): ConvGeom {
  const out = (x: number) => (same ? Math.ceil(x / s) : Math.ceil((x - k + 1) / s));
  const pad = (x: number, o: number) => (same ? Math.floor(Math.max((o - 1) * s + k - x, 0) / 2) : 0);
  const oh = out(h),
    ow = out(w);
  return { n, h, w, c, f, oh, ow, kh: k, kw: k, sh: s, sw: s, padTop: pad(h, oh), padLeft: pad(w, ow) };
}

export function poolGeom(n: number, h: number, w: number, c: number, p: number, s: number, same: boolean): PoolGeom {
  const g = convGeom(n, h, w, c, c, p, s, same);
  return { n, h, w, c, oh: g.oh, ow: g.ow, ph: p, pw: p, sh: s, sw: s, padTop: g.padTop, padLeft: g.padLeft };
}

export const convCases: Array<[string, ConvGeom]> = [
  ['5x5 same 28x28x1→32 (seed000), batch 3', convGeom(3, 28, 28, 1, 32, 5, 1, true)],
  ['5x5 same 14x14x32→64 (seed000)', convGeom(2, 14, 14, 32, 64, 5, 1, true)],
  ['3x3 valid 28→26 x1→32 (seed002), batch 1', convGeom(1, 28, 28, 1, 32, 3, 1, false)],
  ['4x4 valid 28→25 x1→32 (seed001)', convGeom(3, 28, 28, 1, 32, 4, 1, false)],
  ['3x3 valid 13x13x32→64 (seed002)', convGeom(3, 13, 13, 32, 64, 3, 1, false)],
  ['3x3 valid 5x5x64→64 (seed002)', convGeom(3, 5, 5, 64, 64, 3, 1, false)],
  ['5x5 stride 2 same 28→14 x1→16 (pads 1/2, seed003)', convGeom(3, 28, 28, 1, 16, 5, 2, true)],
  ['3x3 stride 2 same 14→7 x32→32 (pads 0/1)', convGeom(3, 14, 14, 32, 32, 3, 2, true)],
  ['3x3 stride 2 same 7→4 x64→64', convGeom(3, 7, 7, 64, 64, 3, 2, true)],
  ['3x3 stride 2 valid 28→13 (last row unused)', convGeom(2, 28, 28, 3, 8, 3, 2, false)],
  ['3x3 same on 7x7x3→5', convGeom(3, 7, 7, 3, 5, 3, 1, true)],
  ['5x5 same on 5x5x2→4, batch 1', convGeom(1, 5, 5, 2, 4, 5, 1, true)],
  ['4x4 same on 9x9x3→6 (even kernel, pads 1/2)', convGeom(2, 9, 9, 3, 6, 4, 1, true)],
  // the direct single-channel weight gradient: all kernel rows in registers, one row, or neither
  ['3x3 same 28x28x1→16 (padding rows and columns)', convGeom(2, 28, 28, 1, 16, 3, 1, true)],
  ['3x3 valid 12x12x1→64 (one kernel row at a time)', convGeom(2, 12, 12, 1, 64, 3, 1, false)],
  ['2x2 stride 2 valid 9x9x1→32', convGeom(2, 9, 9, 1, 32, 2, 2, false)],
  ['4x4 stride 2 same 11x11x1→16', convGeom(2, 11, 11, 1, 16, 4, 2, true)],
  ['5x5 valid 28x28x1→24 (8-wide vectors, the speedrun net)', convGeom(2, 28, 28, 1, 24, 5, 1, false)],
  ['3x3 same 9x9x1→24 (8-wide, one kernel row at a time)', convGeom(2, 9, 9, 1, 24, 3, 1, true)],
  ['7x7 same 10x10x1→5 (no register path)', convGeom(2, 10, 10, 1, 5, 7, 1, true)],
  // non-square kernels must not take the square whole-kernel pass
  ['2x3 valid 9x9x1→32', { ...convGeom(2, 9, 9, 1, 32, 3, 1, false), kh: 2, oh: 8 }],
  ['3x2 valid 9x9x1→32', { ...convGeom(2, 9, 9, 1, 32, 3, 1, false), kw: 2, ow: 8 }],
  // small images in a larger batch: the wasm weight gradient sums each output pixel over the batch
  ['3x3 valid 5x5x64→64, batch 12 (runs along the batch)', convGeom(12, 5, 5, 64, 64, 3, 1, false)],
  ['3x3 same 6x6x3→8, batch 13 (along the batch, padded copy)', convGeom(13, 6, 6, 3, 8, 3, 1, true)],
  ['3x3 stride 2 same 7→4 x32→16, batch 9 (along the batch, clipped taps)', convGeom(9, 7, 7, 32, 16, 3, 2, true)],
  // the wasm core's Winograd paths: tiles cut by the map's edge, a 4-wide filter panel, many blocks in every slot
  ['5x5 valid 11x11x16→20 (Winograd 2x2 tiles, ragged; dx direct)', convGeom(3, 11, 11, 16, 20, 5, 1, false)],
  ['5x5 same 13x13x16→24 (Winograd 2x2 tiles, ragged, dx too)', convGeom(2, 13, 13, 16, 24, 5, 1, true)],
  ['3x3 same 7x7x20→16, batch 5 (Winograd 4x4 tiles, ragged)', convGeom(5, 7, 7, 20, 16, 3, 1, true)],
  ['3x3 valid 11x11x16→16 (Winograd for dw only)', convGeom(3, 11, 11, 16, 16, 3, 1, false)],
  ['5x5 same 28x28x16→32, batch 9 (Winograd, 45 blocks)', convGeom(9, 28, 28, 16, 32, 5, 1, true)],
];

/** The twin tests of one core (`label` names it in messages), inside the caller's describe. */
export function kernelTwinTests(nat: Kernels, label: string): void {
  for (const [name, g] of convCases) {
    test(`conv ${name}`, () => {
      const rng = new Rng(g.h * 100 + g.c + g.kh);
      const x = rand(rng, g.n * g.h * g.w * g.c),
        w = rand(rng, g.kh * g.kw * g.c * g.f),
        b = rand(rng, g.f);
      const dy = rand(rng, g.n * g.oh * g.ow * g.f);
      for (const [bias, relu] of [
        [true, true],
        [true, false],
        [false, true],
        [false, false],
      ] as const) {
        const yr = new Float32Array(dy.length),
          yn = new Float32Array(dy.length).fill(NaN);
        ref.conv2dForward(g, x, w, bias ? b : null, yr, relu);
        nat.conv2dForward(g, x, w, bias ? b : null, yn, relu);
        close(`forward bias=${bias} relu=${relu}`, yn, yr);
      }
      const dxr = new Float32Array(x.length),
        dxn = new Float32Array(x.length).fill(NaN);
      ref.conv2dBackwardData(g, dy, w, dxr);
      nat.conv2dBackwardData(g, dy, w, dxn);
      close('backward data', dxn, dxr);
      const dwr = new Float32Array(w.length),
        dbr = new Float32Array(g.f);
      const dwn = new Float32Array(w.length).fill(NaN),
        dbn = new Float32Array(g.f).fill(NaN);
      ref.conv2dBackwardWeights(g, x, dy, dwr, dbr);
      nat.conv2dBackwardWeights(g, x, dy, dwn, dbn);
      close('backward weights', dwn, dwr);
      close('backward bias', dbn, dbr);
      dwn.fill(NaN);
      nat.conv2dBackwardWeights(g, x, dy, dwn, null);
      close('backward weights without bias', dwn, dwr);
    });
  }

  // conv (one channel, stride 1) → ReLU → 2x2/2 pool in one kernel: register paths for 3x3/4x4/5x5
  // kernels at 8, 16, 24, 32 and 64 filters, the plain path for anything else
  const pooledConvCases: Array<[string, ConvGeom]> = [
    ['5x5 valid 28x28x1→16 (the speedrun net), batch 3', convGeom(3, 28, 28, 1, 16, 5, 1, false)],
    ['3x3 valid 28x28x1→32 (seed002-cnn)', convGeom(2, 28, 28, 1, 32, 3, 1, false)],
    ['4x4 valid 28x28x1→32 (seed001-small: 25 rows, the last one unpooled)', convGeom(2, 28, 28, 1, 32, 4, 1, false)],
    ['5x5 valid 28x28x1→24 (8-wide vectors)', convGeom(2, 28, 28, 1, 24, 5, 1, false)],
    ['3x3 same 12x12x1→64', convGeom(2, 12, 12, 1, 64, 3, 1, true)],
    ['5x5 same 11x11x1→8 (pads 2/2, odd width)', convGeom(2, 11, 11, 1, 8, 5, 1, true)],
    ['3x3 same 9x9x1→5 (plain path), batch 1', convGeom(1, 9, 9, 1, 5, 3, 1, true)],
    ['2x3 valid 9x9x1→16 (non-square: plain path)', { ...convGeom(2, 9, 9, 1, 16, 3, 1, false), kh: 2, oh: 8 }],
  ];
  const pooledBy = (g: ConvGeom): PoolGeom => ({
    n: g.n,
    h: g.oh,
    w: g.ow,
    c: g.f,
    oh: Math.floor(g.oh / 2),
    ow: Math.floor(g.ow / 2),
    ph: 2,
    pw: 2,
    sh: 2,
    sw: 2,
    padTop: 0,
    padLeft: 0,
  });
  for (const [name, g] of pooledConvCases) {
    test(`conv → relu → max pool fused, ${name}`, () => {
      const p = pooledBy(g);
      const rng = new Rng(g.h * 31 + g.f + g.kh);
      const x = rand(rng, g.n * g.h * g.w),
        w = rand(rng, g.kh * g.kw * g.f),
        b = rand(rng, g.f, -0.5, 0.5);
      const out = p.n * p.oh * p.ow * p.c;
      for (const bias of [b, null]) {
        const yr = new Float32Array(out),
          wr = new Int32Array(out);
        const yn = new Float32Array(out).fill(NaN),
          wn = new Int32Array(out).fill(-1);
        ref.conv2dReluMaxPoolForward(g, p, x, w, bias, yr, wr);
        nat.conv2dReluMaxPoolForward(g, p, x, w, bias, yn, wn);
        close(`forward bias=${bias !== null}`, yn, yr);
        // summation order may flip a near-tie, so check what a winner must be: a cell of its own 2x2
        // window of the conv output that holds the maximum
        const z = new Float32Array(g.n * g.oh * g.ow * g.f);
        ref.conv2dForward(g, x, w, bias, z, true);
        for (let i = 0; i < out; i++) {
          const f = i % g.f,
            px = Math.floor(i / g.f) % p.ow,
            py = Math.floor(i / (g.f * p.ow)) % p.oh,
            n = Math.floor(i / (g.f * p.ow * p.oh));
          const at = wn[i],
            cf = at % g.f,
            cx = Math.floor(at / g.f) % g.ow,
            cy = Math.floor(at / (g.f * g.ow)) % g.oh,
            cn = Math.floor(at / (g.f * g.ow * g.oh));
          assert.ok(cn === n && cf === f && cy >> 1 === py && cx >> 1 === px, `winner ${at} of pooled ${i} is outside its window`);
          assert.ok(
            Math.abs(z[at] - yr[i]) <= TOL * (Math.abs(yr[i]) + 1),
            `winner ${at} of pooled ${i} holds ${z[at]}, the max is ${yr[i]}`,
          );
        }
        // backward from the core's forward winners: both sides then compute the same function
        const dy = rand(rng, out);
        const dwr = new Float32Array(w.length),
          dbr = new Float32Array(g.f);
        const dwn = new Float32Array(w.length).fill(NaN),
          dbn = new Float32Array(g.f).fill(NaN);
        ref.conv2dReluMaxPoolBackwardWeights(g, p, x, dy, wn, yn, dwr, dbr);
        nat.conv2dReluMaxPoolBackwardWeights(g, p, x, dy, wn, yn, dwn, dbn);
        close('backward weights', dwn, dwr);
        close('backward bias', dbn, dbr);
        dwn.fill(NaN);
        nat.conv2dReluMaxPoolBackwardWeights(g, p, x, dy, wn, yn, dwn, null);
        close('backward weights without bias', dwn, dwr);
      }
    });
  }

  for (const [name, g] of [
    ['register path', convGeom(2, 8, 8, 1, 16, 3, 1, false)],
    ['plain path', convGeom(2, 8, 8, 1, 5, 3, 1, false)],
  ] as const) {
    test(`conv → relu → max pool fused (${name}): geometry it cannot run is an error; a winner outside its window is dropped`, () => {
      const p = pooledBy(g);
      const out = p.n * p.oh * p.ow * p.c;
      const x = new Float32Array(g.n * 64),
        w = new Float32Array(9 * g.f),
        y = new Float32Array(out),
        ws = new Int32Array(out);
      assert.throws(
        () => nat.conv2dReluMaxPoolForward({ ...g, c: 2 }, p, new Float32Array(g.n * 128), new Float32Array(18 * g.f), null, y, ws),
        /one input channel and stride 1/,
      );
      assert.throws(() => nat.conv2dReluMaxPoolForward(g, { ...p, ph: 3, pw: 3 }, x, w, null, y, ws), /2x2 with stride 2/);
      assert.throws(() => nat.conv2dReluMaxPoolForward(g, { ...p, c: 3 }, x, w, null, y, ws), /does not match/);
      // cell d (row-major in the 2x2 window) of pooled element i, as a flat conv-output index
      const cell = (i: number, d: number): number => {
        const f = i % g.f,
          px = Math.floor(i / g.f) % p.ow,
          py = Math.floor(i / (g.f * p.ow)) % p.oh,
          n = Math.floor(i / (g.f * p.ow * p.oh));
        return ((n * g.oh + 2 * py + (d >> 1)) * g.ow + 2 * px + (d & 1)) * g.f + f;
      };
      // past the end, negative, a neighbour's cell, and a valid cell of its own window, in turn
      for (let i = 0; i < out; i++) ws[i] = [1 << 30, -7, cell((i + g.f) % out, 0), cell(i, (i >> 2) % 4)][i % 4];
      const rng = new Rng(5);
      const xr = rand(rng, x.length),
        dy = rand(rng, out);
      y.fill(1);
      const dw = new Float32Array(w.length),
        dwr = new Float32Array(w.length);
      nat.conv2dReluMaxPoolBackwardWeights(g, p, xr, dy, ws, y, dw, null);
      const valid = (i: number) => i % 4 === 3;
      ref.conv2dReluMaxPoolBackwardWeights(
        g,
        p,
        xr,
        dy.map((v, i) => (valid(i) ? v : 0)),
        ws.map((v, i) => (valid(i) ? v : cell(i, 0))),
        y,
        dwr,
        null,
      );
      assert.ok(dwr.some((v) => v !== 0));
      close('backward with foreign winners', dw, dwr);
    });
  }

  const poolCases: Array<[string, PoolGeom]> = [
    ['2x2 on 26x26x32 (even)', poolGeom(3, 26, 26, 32, 2, 2, false)],
    ['2x2 on 11x11x64 (odd, last row dropped)', poolGeom(3, 11, 11, 64, 2, 2, false)],
    ['2x2 on 5x5x3, batch 1', poolGeom(1, 5, 5, 3, 2, 2, false)],
    ['2x2 same on 7x7x5 (padded bottom/right)', poolGeom(2, 7, 7, 5, 2, 2, true)],
    ['3x3 stride 1 same on 6x6x4 (overlapping windows)', poolGeom(2, 6, 6, 4, 3, 1, true)],
  ];
  for (const [name, g] of poolCases) {
    for (const ties of [false, true]) {
      test(`max pool ${name}${ties ? ' with ties' : ''}`, () => {
        const rng = new Rng(g.h * 10 + g.c);
        const x = rand(rng, g.n * g.h * g.w * g.c, -2, 2);
        if (ties) for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i]);
        const out = g.n * g.oh * g.ow * g.c;
        const yr = new Float32Array(out),
          wr = new Int32Array(out);
        const yn = new Float32Array(out),
          wn = new Int32Array(out);
        ref.maxPool2dForward(g, x, yr, wr);
        nat.maxPool2dForward(g, x, yn, wn);
        assert.deepEqual(yn, yr);
        assert.deepEqual(wn, wr);
        const dy = rand(rng, out);
        const dxr = new Float32Array(x.length),
          dxn = new Float32Array(x.length).fill(NaN);
        ref.maxPool2dBackward(g, dy, wr, dxr);
        nat.maxPool2dBackward(g, dy, wn, dxn);
        assert.deepEqual(dxn, dxr);
        // after a ReLU: the fused mask must equal the pool's backward followed by the ReLU's
        const xp = x.map((v) => Math.max(v, 0));
        ref.maxPool2dForward(g, xp, yr, wr);
        nat.maxPool2dForward(g, xp, yn, wn);
        const plain = new Float32Array(x.length);
        ref.maxPool2dBackward(g, dy, wr, plain);
        const want = plain.map((v, i) => (xp[i] > 0 ? v : 0));
        for (const [k, yw, ww] of [
          [ref, yr, wr],
          [nat, yn, wn],
        ] as const) {
          const got = new Float32Array(x.length).fill(NaN);
          k.maxPool2dBackward(g, dy, ww, got, yw);
          assert.deepEqual(got, want, k.name);
        }
        if (out >= 64)
          assert.ok(
            want.some((v, i) => v === 0 && plain[i] !== 0),
            'the case exercises the mask',
          );
      });
    }
  }

  for (const [n, inF, outF] of [
    [3, 576, 64],
    [1, 64, 10],
    [64, 3136, 120],
    [5, 7, 3],
  ]) {
    test(`dense ${n}x${inF}→${outF}`, () => {
      const rng = new Rng(inF + outF);
      const x = rand(rng, n * inF),
        w = rand(rng, inF * outF),
        b = rand(rng, outF),
        dy = rand(rng, n * outF);
      for (const [bias, relu] of [
        [true, true],
        [false, false],
        [true, false],
      ] as const) {
        const yr = new Float32Array(n * outF),
          yn = new Float32Array(n * outF).fill(NaN);
        ref.denseForward(n, inF, outF, x, w, bias ? b : null, yr, relu);
        nat.denseForward(n, inF, outF, x, w, bias ? b : null, yn, relu);
        close(`forward bias=${bias} relu=${relu}`, yn, yr);
      }
      const dxr = new Float32Array(x.length),
        dxn = new Float32Array(x.length).fill(NaN);
      ref.denseBackwardData(n, inF, outF, dy, w, dxr);
      nat.denseBackwardData(n, inF, outF, dy, w, dxn);
      close('backward data', dxn, dxr);
      const dwr = new Float32Array(w.length),
        dbr = new Float32Array(outF);
      const dwn = new Float32Array(w.length).fill(NaN),
        dbn = new Float32Array(outF).fill(NaN);
      ref.denseBackwardWeights(n, inF, outF, x, dy, dwr, dbr);
      nat.denseBackwardWeights(n, inF, outF, x, dy, dwn, dbn);
      close('backward weights', dwn, dwr);
      close('backward bias', dbn, dbr);
      nat.denseBackwardWeights(n, inF, outF, x, dy, dwn, null);
      close('backward weights without bias', dwn, dwr);
    });
  }

  // few channels are read m rows at a time (m·c ≥ 128 "virtual channels") with the leftover rows on
  // their own: 8 channels on 2·12·12 + 5 rows leaves a tail, 5 channels give an odd width of 125,
  // and 7 rows of 3 channels are all tail
  for (const [rows, c] of [
    [3 * 7 * 7, 32],
    [128, 256],
    [64 * 14 * 14, 32],
    [1, 4],
    [2 * 12 * 12 + 5, 8],
    [128 * 12 * 12, 16],
    [301, 5],
    [7, 3],
  ]) {
    test(`batch norm ${rows} rows x ${c} channels: training, inference, backward`, () => {
      const rng = new Rng(rows + c);
      const x = rand(rng, rows * c, 2, 5); // off-centre, so a one-pass variance would show
      const gamma = rand(rng, c, 0.5, 1.5),
        beta = rand(rng, c),
        dy = rand(rng, rows * c);
      const mm0 = rand(rng, c),
        mv0 = rand(rng, c, 0.5, 2);
      const run = (k: Kernels) => {
        const mm = mm0.slice(),
          mv = mv0.slice();
        const y = new Float32Array(rows * c),
          sm = new Float32Array(c),
          si = new Float32Array(c);
        k.batchNormForwardTraining(rows, c, x, gamma, beta, mm, mv, 0.99, 1e-3, y, sm, si);
        const yi = new Float32Array(rows * c);
        k.batchNormForwardInference(rows, c, x, gamma, beta, mm, mv, 1e-3, yi);
        const dx = new Float32Array(rows * c),
          dg = new Float32Array(c),
          db = new Float32Array(c);
        k.batchNormBackward(rows, c, x, dy, gamma, sm, si, dx, dg, db);
        return { mm, mv, y, sm, si, yi, dx, dg, db };
      };
      const r = run(ref),
        n = run(nat);
      for (const key of Object.keys(r) as Array<keyof typeof r>) close(key, n[key], r[key]);
    });
  }

  // every kind at its default alpha, and the parameterised ones at another (leaky_relu's negative,
  // hard_sigmoid's Keras 3 slope); 300k values cross the hand loops' threading threshold
  const eltwiseCases: Array<[Eltwise, number | undefined]> = [
    ...ELTWISE_KINDS.map((k): [Eltwise, undefined] => [k, undefined]),
    ['elu', 0.5],
    ['leaky_relu', 0.01],
    ['leaky_relu', -0.3],
    ['hard_sigmoid', 1 / 6],
  ];
  for (const [kind, alpha] of eltwiseCases) {
    const what = alpha === undefined ? kind : `${kind} alpha=${alpha.toPrecision(3)}`;
    for (const len of [37, 1000, 300_001]) {
      test(`eltwise ${what} on ${len} values, forward and backward (also in place)`, () => {
        const rng = new Rng(len);
        const x = rand(rng, len, -6, 7),
          dy = rand(rng, len);
        const yr = new Float32Array(len),
          yn = new Float32Array(len).fill(NaN);
        ref.eltwiseForward(kind, x, yr, alpha);
        nat.eltwiseForward(kind, x, yn, alpha);
        close('forward', yn, yr);
        const dxr = new Float32Array(len),
          dxn = new Float32Array(len).fill(NaN);
        ref.eltwiseBackward(kind, x, yr, dy, dxr, alpha);
        nat.eltwiseBackward(kind, x, yn, dy, dxn, alpha);
        close('backward', dxn, dxr);
        const inPlace = dy.slice();
        nat.eltwiseBackward(kind, x, yn, inPlace, inPlace, alpha);
        close('backward in place', inPlace, dxr);
        const forwardInPlace = x.slice();
        nat.eltwiseForward(kind, forwardInPlace, forwardInPlace, alpha);
        close('forward in place', forwardInPlace, yr);
      });
    }
  }

  test('eltwise at extremes and kinks: every kind finite where the reference is, element by element', () => {
    const x = Float32Array.from([-80, -30, -17, -6, -2.5, -1e-3, -0, 0, 1e-3, 2.5, 3, 6, 17, 30, 80]);
    const dy = new Float32Array(x.length).fill(1);
    for (const kind of ELTWISE_KINDS) {
      const yr = new Float32Array(x.length),
        yn = new Float32Array(x.length);
      const dr = new Float32Array(x.length),
        dn = new Float32Array(x.length);
      ref.eltwiseForward(kind, x, yr);
      nat.eltwiseForward(kind, x, yn);
      ref.eltwiseBackward(kind, x, yr, dy, dr);
      nat.eltwiseBackward(kind, x, yn, dy, dn);
      for (let i = 0; i < x.length; i++) {
        for (const [what, a, b] of [
          ['y', yn[i], yr[i]],
          ['dx', dn[i], dr[i]],
        ] as const) {
          assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b) + 1e-6, `${kind} ${what} at x=${x[i]}: ${label} ${a}, reference ${b}`);
        }
      }
    }
  });

  test('eltwise relu backward takes the output as its input (a fused ReLU keeps only y)', () => {
    const rng = new Rng(8);
    const x = rand(rng, 999),
      y = new Float32Array(999),
      dy = rand(rng, 999);
    ref.eltwiseForward('relu', x, y);
    const want = new Float32Array(999);
    ref.eltwiseBackward('relu', x, y, dy, want);
    for (const k of [ref, nat]) {
      const got = new Float32Array(999);
      k.eltwiseBackward('relu', y, y, dy, got);
      assert.deepEqual(got, want, k.name);
    }
  });

  const avgPoolCases: Array<[string, PoolGeom]> = [
    ['2x2/2 on 26x26x32 (even)', poolGeom(3, 26, 26, 32, 2, 2, false)],
    ['2x2/2 on 11x11x64 (odd, last row dropped)', poolGeom(3, 11, 11, 64, 2, 2, false)],
    ['2x2/2 same on 7x7x5 (padded bottom/right)', poolGeom(2, 7, 7, 5, 2, 2, true)],
    ['3x3/2 same on 7x7x3 (pads 1/1, window larger than stride)', poolGeom(2, 7, 7, 3, 3, 2, true)],
    ['3x3/2 same on 8x8x16 (pads 0/1)', poolGeom(2, 8, 8, 16, 3, 2, true)],
    ['4x4/2 same on 9x9x4 (pads 1/2)', poolGeom(2, 9, 9, 4, 4, 2, true)],
    ['3x3/2 valid on 9x9x8 (overlapping windows)', poolGeom(2, 9, 9, 8, 3, 2, false)],
    ['3x3/1 same on 6x6x4 (every edge padded)', poolGeom(2, 6, 6, 4, 3, 1, true)],
    [
      '2x3 window, strides 1x2, valid on 6x7x3',
      { n: 2, h: 6, w: 7, c: 3, oh: 5, ow: 3, ph: 2, pw: 3, sh: 1, sw: 2, padTop: 0, padLeft: 0 },
    ],
    [
      'global 7x7x64 (window = h x w), batch 3',
      { n: 3, h: 7, w: 7, c: 64, oh: 1, ow: 1, ph: 7, pw: 7, sh: 1, sw: 1, padTop: 0, padLeft: 0 },
    ],
    ['global 5x3x10, batch 1', { n: 1, h: 5, w: 3, c: 10, oh: 1, ow: 1, ph: 5, pw: 3, sh: 5, sw: 3, padTop: 0, padLeft: 0 }],
    ['2x2/2 on 28x28x1 (one channel)', poolGeom(4, 28, 28, 1, 2, 2, false)],
  ];
  for (const [name, g] of avgPoolCases) {
    test(`avg pool ${name}`, () => {
      const rng = new Rng(g.h * 10 + g.c + g.ph);
      const x = rand(rng, g.n * g.h * g.w * g.c, -2, 2),
        dy = rand(rng, g.n * g.oh * g.ow * g.c);
      const yr = new Float32Array(dy.length),
        yn = new Float32Array(dy.length).fill(NaN);
      ref.avgPool2dForward(g, x, yr);
      nat.avgPool2dForward(g, x, yn);
      close('forward', yn, yr);
      const dxr = new Float32Array(x.length),
        dxn = new Float32Array(x.length).fill(NaN);
      ref.avgPool2dBackward(g, dy, dxr);
      nat.avgPool2dBackward(g, dy, dxn);
      close('backward', dxn, dxr);
      // the backward overwrites: a second call into a dirty dx gives the same
      nat.avgPool2dBackward(g, dy, dxn);
      close('backward into a used dx', dxn, dxr);
    });
  }

  test('avg pool counts only the cells inside the input (TF, not count_include_pad)', () => {
    // 3x3 → 2x2 with 2x2/2 'same' windows: the right and bottom ones hang over the padding
    const g = poolGeom(1, 3, 3, 1, 2, 2, true);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const k of [ref, nat]) {
      const y = new Float32Array(4);
      k.avgPool2dForward(g, x, y);
      assert.deepEqual(Array.from(y), [3, 4.5, 7.5, 9], k.name);
      const dx = new Float32Array(9).fill(NaN);
      k.avgPool2dBackward(g, Float32Array.from([4, 2, 2, 1]), dx);
      assert.deepEqual(Array.from(dx), [1, 1, 1, 1, 1, 1, 1, 1, 1], k.name);
    }
  });

  test('softmax forward and backward', () => {
    const rng = new Rng(7);
    for (const [rows, cols] of [
      [64, 10],
      [3, 10],
      [2000, 17],
    ]) {
      const x = rand(rng, rows * cols, -10, 10),
        dy = rand(rng, rows * cols);
      const yr = new Float32Array(x.length),
        yn = new Float32Array(x.length);
      ref.softmaxForward(rows, cols, x, yr);
      nat.softmaxForward(rows, cols, x, yn);
      close(`forward ${rows}x${cols}`, yn, yr);
      const dxr = new Float32Array(x.length),
        dxn = new Float32Array(x.length);
      ref.softmaxBackward(rows, cols, yr, dy, dxr);
      nat.softmaxBackward(rows, cols, yr, dy, dxn);
      close(`backward ${rows}x${cols}`, dxn, dxr);
    }
  });

  test('softmax cross-entropy: loss, clipping and fused gradient', () => {
    const rng = new Rng(11);
    for (const [rows, cols] of [
      [64, 10],
      [3000, 10],
    ]) {
      const p = new Float32Array(rows * cols);
      ref.softmaxForward(rows, cols, rand(rng, rows * cols, -8, 8), p);
      const t = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) t[r * cols + rng.int(cols)] = 1;
      p[0] = 0;
      t[0] = 1; // log(0) must be clipped to log(1e-7)
      p[cols + 1] = 1;
      t[cols + 1] = 1;
      t[2 * cols] = 0.3; // soft targets count too
      const gr = new Float32Array(p.length),
        gn = new Float32Array(p.length);
      const lr = ref.softmaxCrossEntropy(rows, cols, p, t, gr, rows);
      const ln = nat.softmaxCrossEntropy(rows, cols, p, t, gn, rows);
      assert.ok(Math.abs(ln - lr) <= TOL * Math.abs(lr), `loss ${ln} vs ${lr}`);
      close('dlogits', gn, gr);
      assert.ok(Math.abs(nat.softmaxCrossEntropy(rows, cols, p, t, null, 1) - lr) <= TOL * Math.abs(lr));
    }
  });

  const sizes = [5, 300, 300_000, 17]; // 300k crosses the cores' threading thresholds
  const arrays = (rng: Rng, lo = -1, hi = 1) => sizes.map((s) => rand(rng, s, lo, hi));
  const clone = (as: Float32Array[]) => as.map((a) => a.slice());
  const zeros = () => sizes.map((s) => new Float32Array(s));
  const closeAll = (what: string, a: Float32Array[], b: Float32Array[]) => a.forEach((x, i) => close(`${what}[${i}]`, x, b[i]));

  for (const [momentum, nesterov] of [
    [0, false],
    [0.9, false],
    [0.9, true],
  ] as const) {
    test(`sgd momentum=${momentum} nesterov=${nesterov}, 3 steps over ${sizes.length} arrays`, () => {
      const rng = new Rng(3);
      const w0 = arrays(rng);
      const wr = clone(w0),
        wn = clone(w0);
      const vr = zeros(),
        vn = zeros();
      for (let step = 0; step < 3; step++) {
        const g = arrays(rng);
        ref.sgdUpdate(wr, g, momentum ? vr : null, 0.01, momentum, nesterov);
        nat.sgdUpdate(wn, g, momentum ? vn : null, 0.01, momentum, nesterov);
      }
      closeAll('w', wn, wr);
      closeAll('velocity', vn, vr);
    });
  }

  test('rmsprop, 3 steps', () => {
    const rng = new Rng(4);
    const w0 = arrays(rng);
    const wr = clone(w0),
      wn = clone(w0);
    const sr = zeros(),
      sn = zeros();
    for (let step = 0; step < 3; step++) {
      const g = arrays(rng);
      ref.rmspropUpdate(wr, g, sr, 1e-3, 0.9, 1e-7);
      nat.rmspropUpdate(wn, g, sn, 1e-3, 0.9, 1e-7);
    }
    closeAll('w', wn, wr);
    closeAll('ms', sn, sr);
  });

  for (const [what, wd] of [
    ['adam', 0],
    ['adamw (weight decay 0.1)', 0.1],
  ] as const) {
    test(`${what}, steps 1..3`, () => {
      const rng = new Rng(5);
      const w0 = arrays(rng);
      const wr = clone(w0),
        wn = clone(w0);
      const mr = zeros(),
        vr = zeros(),
        mn = zeros(),
        vn = zeros();
      for (let t = 1; t <= 3; t++) {
        const g = arrays(rng);
        ref.adamUpdate(wr, g, mr, vr, 1e-2, 0.9, 0.999, 1e-7, t, wd);
        nat.adamUpdate(wn, g, mn, vn, 1e-2, 0.9, 0.999, 1e-7, t, wd);
      }
      closeAll('w', wn, wr);
      closeAll('m', mn, mr);
      closeAll('v', vn, vr);
    });
  }

  for (const [len, rate] of [
    [37, 0.5],
    [100_003, 0.25],
    [300_000, 0.4],
  ] as const) {
    test(`dropout ${rate} on ${len} values: same mask as the reference, forward and backward`, () => {
      const rng = new Rng(len);
      const x = rand(rng, len),
        dy = rand(rng, len);
      const seed = rng.nextUint32();
      const yr = new Float32Array(len),
        mr = new Float32Array(len),
        yn = new Float32Array(len).fill(NaN),
        mn = new Float32Array(len).fill(NaN);
      ref.dropoutForward(x, yr, mr, rate, seed);
      nat.dropoutForward(x, yn, mn, rate, seed);
      assert.deepEqual(mn, mr);
      assert.deepEqual(yn, yr);
      const kept = mr.reduce((s, m) => s + (m !== 0 ? 1 : 0), 0) / len;
      assert.ok(Math.abs(kept - (1 - rate)) < 4 * Math.sqrt((rate * (1 - rate)) / len) + 1e-9, `kept ${kept}`);
      assert.ok(mr.every((m) => m === 0 || Math.abs(m - 1 / (1 - rate)) < 1e-6));
      const other = new Float32Array(len);
      ref.dropoutForward(x, new Float32Array(len), other, rate, (seed + 1) >>> 0);
      if (len > 100) assert.notDeepEqual(other, mr);
      const dxr = new Float32Array(len),
        dxn = new Float32Array(len).fill(NaN);
      ref.dropoutBackward(dy, mr, dxr);
      nat.dropoutBackward(dy, mn, dxn);
      assert.deepEqual(dxn, dxr);
      const inPlace = dy.slice();
      nat.dropoutBackward(inPlace, mn, inPlace);
      assert.deepEqual(inPlace, dxr);
    });
  }

  test('bad arguments throw instead of overrunning buffers', () => {
    const g = convGeom(1, 5, 5, 1, 2, 3, 1, true);
    const x = new Float32Array(25),
      w = new Float32Array(18);
    assert.throws(() => nat.conv2dForward(g, x, w, null, new Float32Array(3), false), RangeError);
    assert.throws(
      () => nat.conv2dForward(g, x, new Float64Array(18) as unknown as Float32Array, null, new Float32Array(50), false),
      TypeError,
    );
    assert.throws(() => nat.denseForward(2, 3, 4, new Float32Array(5), new Float32Array(12), null, new Float32Array(8), false), RangeError);
    assert.throws(() => nat.avgPool2dForward(poolGeom(1, 4, 4, 2, 2, 2, false), new Float32Array(32), new Float32Array(7)), RangeError);
    assert.throws(
      () => nat.eltwiseBackward('gelu', new Float32Array(9), new Float32Array(8), new Float32Array(9), new Float32Array(9)),
      RangeError,
    );
    assert.throws(
      () =>
        nat.adamUpdate(
          [new Float32Array(4)],
          [new Float32Array(2)],
          [new Float32Array(4)],
          [new Float32Array(4)],
          1e-3,
          0.9,
          0.999,
          1e-7,
          1,
          0,
        ),
      RangeError,
    );
  });
}
