// Augmentation: Keras ImageDataGenerator geometry (shift, rotation, zoom about the centre, nearest
// fill), identity for zero ranges, and determinism from the generator fit() hands the hook.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ImageDataGenerator, IDENTITY, elasticField, recipeAugmentation, type Transform } from '../src/train/augment';
import { Rng } from '../src/rng';
import { UsageError } from '../src/errors';
import { Sequential, Dense, Flatten } from '../src/index';

function image(h: number, w: number, on: [number, number][]): Float32Array {
  const x = new Float32Array(h * w);
  for (const [r, c] of on) x[r * w + c] = 1;
  return x;
}
function brightest(x: Float32Array, w: number): [number, number] {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return [Math.floor(best / w), best % w];
}
function apply(t: Partial<Transform>, src: Float32Array, h: number, w: number, gen = new ImageDataGenerator()): Float32Array {
  const dst = new Float32Array(src.length);
  gen.applyTransform(src, dst, h, w, 1, { ...IDENTITY, ...t });
  return dst;
}

/** Keras' apply_affine_transform written out literally: M = R·S·Sh·Z, offset to the centre, scipy order-1 sampling with mode 'nearest'. */
function kerasReference(src: Float32Array, h: number, w: number, t: Transform): Float32Array {
  const th = (t.theta * Math.PI) / 180;
  const R = [
    [Math.cos(th), -Math.sin(th), 0],
    [Math.sin(th), Math.cos(th), 0],
    [0, 0, 1],
  ];
  const S = [
    [1, 0, t.tx],
    [0, 1, t.ty],
    [0, 0, 1],
  ];
  const Z = [
    [t.zx, 0, 0],
    [0, t.zy, 0],
    [0, 0, 1],
  ];
  const sh = ((t.shear ?? 0) * Math.PI) / 180;
  const Sh = [
    [1, -Math.sin(sh), 0],
    [0, Math.cos(sh), 0],
    [0, 0, 1],
  ];
  const mul = (a: number[][], b: number[][]) => a.map((row) => b[0].map((_v, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
  const ox = h / 2 - 0.5,
    oy = w / 2 - 0.5;
  const M = mul(
    mul(
      [
        [1, 0, ox],
        [0, 1, oy],
        [0, 0, 1],
      ],
      mul(mul(mul(R, S), Sh), Z),
    ),
    [
      [1, 0, -ox],
      [0, 1, -oy],
      [0, 0, 1],
    ],
  );
  const at = (r: number, c: number) => src[Math.min(h - 1, Math.max(0, r)) * w + Math.min(w - 1, Math.max(0, c))];
  const out = new Float32Array(h * w);
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      const ir = M[0][0] * r + M[0][1] * c + M[0][2],
        ic = M[1][0] * r + M[1][1] * c + M[1][2];
      const r0 = Math.floor(ir),
        c0 = Math.floor(ic),
        fr = ir - r0,
        fc = ic - c0;
      out[r * w + c] =
        (1 - fr) * (1 - fc) * at(r0, c0) + (1 - fr) * fc * at(r0, c0 + 1) + fr * (1 - fc) * at(r0 + 1, c0) + fr * fc * at(r0 + 1, c0 + 1);
    }
  return out;
}

describe('augmentation geometry (Keras apply_affine_transform)', () => {
  test('zero ranges are the identity, bit for bit, and draw the same stream', () => {
    const rng = new Rng(1);
    const x = new Float32Array(3 * 784).map(() => rng.next());
    const copy = x.slice();
    const gen = new ImageDataGenerator();
    assert.ok(gen.isIdentity);
    gen.augmenter([28, 28, 1])(x, 3, new Rng(5));
    assert.deepEqual(x, copy);
    // an identity transform through the sampling code is exact too (integer coordinates, weights 1 and 0)
    assert.deepEqual(apply({}, copy.subarray(0, 784), 28, 28, new ImageDataGenerator({ rotationRange: 10 })), copy.subarray(0, 784));
  });

  test('a height shift of +3 samples 3 rows further down: the content moves up 3 rows', () => {
    const src = image(28, 28, [[14, 10]]);
    assert.deepEqual(brightest(apply({ tx: 3 }, src, 28, 28), 28), [11, 10]);
    assert.deepEqual(brightest(apply({ ty: -2 }, src, 28, 28), 28), [14, 12]);
  });

  test('a fractional shift spreads the pixel bilinearly', () => {
    const out = apply({ ty: 0.25 }, image(5, 5, [[2, 2]]), 5, 5);
    assert.ok(Math.abs(out[2 * 5 + 2] - 0.75) < 1e-6);
    assert.ok(Math.abs(out[2 * 5 + 1] - 0.25) < 1e-6);
  });

  test('+90° turns the content clockwise on screen about the centre', () => {
    // 5x5, centre (2, 2): right of centre goes below it, below goes left
    assert.deepEqual(brightest(apply({ theta: 90 }, image(5, 5, [[2, 4]]), 5, 5), 5), [4, 2]);
    assert.deepEqual(brightest(apply({ theta: 90 }, image(5, 5, [[4, 2]]), 5, 5), 5), [2, 0]);
    // about the centre of an even-sized image too: 28x28 turns about (13.5, 13.5)
    assert.deepEqual(brightest(apply({ theta: 180 }, image(28, 28, [[3, 5]]), 28, 28), 28), [24, 22]);
  });

  test('zoom 2 samples twice as far from the centre: the digit shrinks towards it', () => {
    const out = apply({ zx: 2, zy: 2 }, image(9, 9, [[4, 8]]), 9, 9);
    assert.deepEqual(brightest(out, 9), [4, 6]);
    assert.ok(Math.abs(out[4 * 9 + 6] - 1) < 1e-6);
  });

  test("fill mode 'nearest' repeats the edge; 'constant' fills with cval", () => {
    const src = new Float32Array(25);
    for (let r = 0; r < 5; r++) src[r * 5 + 4] = 1; // right column lit
    const nearest = apply({ ty: 2 }, src, 5, 5);
    for (let r = 0; r < 5; r++) assert.deepEqual([nearest[r * 5 + 2], nearest[r * 5 + 3], nearest[r * 5 + 4]], [1, 1, 1]);
    const constant = apply({ ty: 2 }, src, 5, 5, new ImageDataGenerator({ fillMode: 'constant', cval: 0.5 }));
    for (let r = 0; r < 5; r++) assert.deepEqual([constant[r * 5 + 2], constant[r * 5 + 3], constant[r * 5 + 4]], [1, 0.5, 0.5]);
  });

  test('matches a literal transcription of Keras (matrix product, centre offset, scipy order 1, nearest mode)', () => {
    const rng = new Rng(3);
    const src = new Float32Array(784).map(() => rng.next());
    const gen = new ImageDataGenerator({
      rotationRange: 20,
      zoomRange: 0.2,
      widthShiftRange: 0.15,
      heightShiftRange: 0.15,
      shearRange: 15,
    });
    for (let i = 0; i < 20; i++) {
      const t = gen.randomTransform(rng, 28, 28);
      const ours = apply(t, src, 28, 28, gen),
        ref = kerasReference(src, 28, 28, t);
      for (let p = 0; p < 784; p++)
        assert.ok(Math.abs(ours[p] - ref[p]) < 1e-5, `transform ${JSON.stringify(t)}, pixel ${p}: ${ours[p]} vs ${ref[p]}`);
    }
  });

  test("'nearest' interpolation picks the closest source pixel", () => {
    const out = apply({ ty: 0.4 }, image(5, 5, [[2, 2]]), 5, 5, new ImageDataGenerator({ interpolation: 'nearest' }));
    assert.deepEqual(Array.from(out), Array.from(image(5, 5, [[2, 2]])));
  });
});

describe('augmentation randomness', () => {
  test('draws stay in Keras ranges: angle ±r, shift ±f·size, zoom [1-z, 1+z] per axis', () => {
    const gen = recipeAugmentation({ rotation: 10, zoom: 0.1, shift: 0.1 });
    const rng = new Rng(9);
    let zxMin = 2,
      zxMax = 0,
      zDiffer = 0;
    for (let i = 0; i < 2000; i++) {
      const t = gen.randomTransform(rng, 28, 28);
      assert.ok(Math.abs(t.theta) <= 10 && Math.abs(t.tx) <= 2.8 && Math.abs(t.ty) <= 2.8);
      assert.ok(t.zx >= 0.9 && t.zx <= 1.1 && t.zy >= 0.9 && t.zy <= 1.1);
      zxMin = Math.min(zxMin, t.zx);
      zxMax = Math.max(zxMax, t.zx);
      if (t.zx !== t.zy) zDiffer++;
    }
    assert.ok(zxMin < 0.91 && zxMax > 1.09, 'the whole zoom range is used');
    assert.equal(zDiffer, 2000, 'row and column zoom are drawn separately, as Keras does');
  });

  test('the same seed gives the same batch; another seed a different one', () => {
    const rng = new Rng(4);
    const x = new Float32Array(8 * 784).map(() => rng.next());
    const hook = recipeAugmentation({ rotation: 10, zoom: 0.1, shift: 0.1 }).augmenter([28, 28, 1]);
    const a = x.slice(),
      b = x.slice(),
      c = x.slice();
    hook(a, 8, new Rng(42));
    hook(b, 8, new Rng(42));
    hook(c, 8, new Rng(43));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.notDeepEqual(a, x);
  });

  test('fit() with the hook is reproducible from its seed', () => {
    const rng = new Rng(6);
    const n = 64;
    const x = new Float32Array(n * 784).map(() => rng.next());
    const y = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) y[i * 10 + (i % 10)] = 1;
    const run = (seed: number) => {
      const m = new Sequential({
        seed: 1,
        layers: [new Flatten({ inputShape: [28, 28, 1] }), new Dense({ units: 10, activation: 'softmax' })],
      });
      m.compile({ optimizer: 'sgd', loss: 'categorical_crossentropy' });
      m.fit(
        { shape: [n, 28, 28, 1], data: x.slice() },
        { shape: [n, 10], data: y },
        {
          epochs: 2,
          batchSize: 16,
          seed,
          verbose: 0,
          augment: recipeAugmentation({ rotation: 10, zoom: 0.1, shift: 0.1 }).augmenter([28, 28, 1]),
        },
      );
      return m.getWeights();
    };
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
  });

  test('bad options are usage errors', () => {
    assert.throws(() => new ImageDataGenerator({ rotationRange: -1 }), UsageError);
    assert.throws(() => new ImageDataGenerator({ zoomRange: [1.2, 0.8] }), UsageError);
    assert.throws(() => new ImageDataGenerator().augmenter([28]), UsageError);
    assert.throws(() => new ImageDataGenerator({ elastic: { alpha: -1, spacing: 6 } }), /elastic\.alpha/);
    assert.throws(() => new ImageDataGenerator({ elastic: { alpha: 2, spacing: 0.5 } }), /elastic\.spacing/);
  });
});

describe('elastic distortion', () => {
  test("the field is each pixel's bilinear mix of the control points, which keep their draws in ±alpha", () => {
    const h = 13,
      w = 13,
      spacing = 6,
      alpha = 2;
    const field = elasticField(new Rng(8), h, w, alpha, spacing);
    // the same draws, in the documented order: a 3x3 grid of row offsets, then of column offsets
    const rng = new Rng(8),
      grid = Array.from({ length: 18 }, () => rng.uniform(-alpha, alpha));
    for (let a = 0; a < 2; a++) {
      for (let gr = 0; gr < 3; gr++)
        for (let gc = 0; gc < 3; gc++) {
          assert.ok(Math.abs(field[a * h * w + gr * spacing * w + gc * spacing] - grid[a * 9 + gr * 3 + gc]) < 1e-6);
        }
      // half-way between two control points along a row: their mean
      assert.ok(Math.abs(field[a * h * w + 3] - (grid[a * 9] + grid[a * 9 + 1]) / 2) < 1e-6);
      // bilinear: no pixel leaves the range, and neighbours differ by at most 2·alpha/spacing
      for (let r = 0; r < h; r++)
        for (let c = 0; c < w; c++) {
          const v = field[a * h * w + r * w + c];
          assert.ok(Math.abs(v) <= alpha);
          if (c > 0) assert.ok(Math.abs(v - field[a * h * w + r * w + c - 1]) <= (2 * alpha) / spacing + 1e-6);
        }
    }
  });

  test('a constant field moves the image exactly as the same affine shift does', () => {
    const rng = new Rng(12);
    const src = new Float32Array(100).map(() => rng.next());
    const field = new Float32Array(200);
    field.fill(1.25, 0, 100);
    field.fill(-0.5, 100);
    assert.deepEqual(apply({ field }, src, 10, 10), apply({ tx: 1.25, ty: -0.5 }, src, 10, 10));
  });

  test('elastic draws come after the five affine ones, so the affine part is unchanged', () => {
    const plain = new ImageDataGenerator({ rotationRange: 8, zoomRange: 0.08, widthShiftRange: 0.08, heightShiftRange: 0.08 });
    const elastic = new ImageDataGenerator({
      rotationRange: 8,
      zoomRange: 0.08,
      widthShiftRange: 0.08,
      heightShiftRange: 0.08,
      elastic: { alpha: 2, spacing: 6 },
    });
    const a = plain.randomTransform(new Rng(3), 28, 28),
      b = elastic.randomTransform(new Rng(3), 28, 28);
    assert.deepEqual({ ...b, field: undefined }, { ...a, field: undefined });
    assert.equal(b.field?.length, 2 * 784);
    assert.ok(!elastic.isIdentity && new ImageDataGenerator({ elastic: { alpha: 0, spacing: 6 } }).isIdentity);
    // it moves ink: a batch through the hook differs from the affine-only one from the same seed
    const noise = new Rng(4),
      x = new Float32Array(4 * 784).map(() => noise.next());
    const p = x.slice(),
      e = x.slice();
    plain.augmenter([28, 28, 1])(p, 4, new Rng(5));
    elastic.augmenter([28, 28, 1])(e, 4, new Rng(5));
    assert.notDeepEqual(p, e);
  });
});

describe('the ink step (strokes, contrast, blur, noise)', () => {
  /** A 3-pixel-wide vertical bar on a 14x14 image. */
  const bar = () => {
    const x = new Float32Array(196);
    for (let r = 2; r < 12; r++) for (let c = 6; c < 9; c++) x[r * 14 + c] = 1;
    return x;
  };
  const mass = (x: Float32Array) => x.reduce((a, b) => a + b, 0);
  const run = (ink: ConstructorParameters<typeof ImageDataGenerator>[0], seed = 1) => {
    const x = bar();
    new ImageDataGenerator(ink).augmenter([14, 14, 1])(x, 1, new Rng(seed));
    return x;
  };

  test('a full dilation widens a stroke by a pixel a side, a full erosion thins it to its core', () => {
    const thick = run({ ink: { stroke: [1, 1] } }),
      thin = run({ ink: { stroke: [-1, -1] } });
    assert.deepEqual(
      Array.from({ length: 14 }, (_v, c) => thick[7 * 14 + c]),
      [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    );
    assert.deepEqual(
      Array.from({ length: 14 }, (_v, c) => thin[7 * 14 + c]),
      [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    );
    const half = run({ ink: { stroke: [0.5, 0.5] } });
    assert.equal(half[7 * 14 + 5], 0.5, 'a partial blend is a partial pixel');
  });

  test('contrast scales the ink; blur keeps its mass away from the edges; noise stays in [0, 1]', () => {
    const faint = run({ ink: { contrast: [0.5, 0.5] } });
    assert.ok(Math.abs(mass(faint) - mass(bar()) / 2) < 1e-5);
    const blurred = run({ ink: { blur: 1 } });
    assert.ok(Math.abs(mass(blurred) - mass(bar())) < 0.02 * mass(bar()), `${mass(blurred)} vs ${mass(bar())}`);
    assert.ok(blurred[7 * 14 + 7] < 1 && blurred[7 * 14 + 4] > 0, 'spread sideways');
    const noisy = run({ ink: { noise: 0.3 } });
    assert.ok(noisy.every((v) => v >= 0 && v <= 1));
    assert.ok(noisy.some((v, i) => v !== bar()[i]));
  });

  test('deterministic from the seed, and bad ranges are usage errors', () => {
    const opts = {
      shearRange: 10,
      ink: { stroke: [-1, 1] as [number, number], contrast: [0.6, 1] as [number, number], blur: 1, noise: 0.05 },
    };
    assert.deepEqual(run(opts, 7), run(opts, 7));
    assert.notDeepEqual(run(opts, 7), run(opts, 8));
    assert.throws(() => new ImageDataGenerator({ ink: { stroke: [1, -1] } }), UsageError);
    assert.throws(() => new ImageDataGenerator({ ink: { contrast: [0, 2] } }), UsageError);
    assert.throws(() => new ImageDataGenerator({ shearRange: -1 }), UsageError);
  });

  test("shear and the ink step draw after Keras' five, so recipes without them keep their streams", () => {
    const plain = new ImageDataGenerator({ rotationRange: 10, zoomRange: 0.1 });
    const more = new ImageDataGenerator({ rotationRange: 10, zoomRange: 0.1, shearRange: 10 });
    const a = plain.randomTransform(new Rng(5), 28, 28),
      b = more.randomTransform(new Rng(5), 28, 28);
    assert.deepEqual([a.theta, a.tx, a.ty, a.zx, a.zy], [b.theta, b.tx, b.ty, b.zx, b.zy]);
    assert.ok(b.shear !== undefined && Math.abs(b.shear) <= 10 && a.shear === undefined);
  });
});
