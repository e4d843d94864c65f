// ONNX export: onnxruntime gives the probabilities our predict gives (max |Δ| ≤ 1e-5) for every preset
// and a trained model on real MNIST test digits, for TF's 'same' geometry on odd sizes and for every
// layer and activation we export; the file's structure survives a protobufjs decode.
//
// Presets run on the default backend (the native core when built): 1,000 digits through eleven presets
// on the reference core takes minutes, so there they compare the first 100. Hand-built models are small
// and run on the reference core, where every layer and activation is defined.
import { test, describe, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { toOnnx, onnxModelType, ONNX_OPSET } from '../src/io/onnx';
import { PRESETS, getPreset } from '../src/zoo/presets';
import { Sequential } from '../src/model/sequential';
import { loadModel } from '../src/io/tfjs';
import {
  Conv2D,
  Dense,
  Flatten,
  MaxPooling2D,
  AveragePooling2D,
  GlobalAveragePooling2D,
  GlobalMaxPooling2D,
  Reshape,
  Rescaling,
  Activation,
  ReLU,
  LeakyReLU,
  ELU,
  Softmax,
  BatchNormalization,
  Dropout,
  Layer,
  ACTIVATIONS,
} from '../src/layers';
import { getKernels, reference } from '../src/kernels';
import { findIdxFile, imagesToFloat, loadSplitFiles } from '../src/data/mnist';
import { Rng } from '../src/rng';
import type { Tensor } from '../src/tensor';
import { expectDigitsError } from './helpers/datafixtures';
import { trainedModelDir } from './helpers/trained';
import { SHARED_MNIST } from './helpers/paths';

const TOLERANCE = 1e-5;

async function runOnnx(bytes: Uint8Array, x: Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
  return out.output.data as Float32Array;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Exports `model`, runs x through both, requires agreement; returns max |Δ| and the file's size. */
async function compare(model: Sequential, x: Tensor): Promise<{ diff: number; bytes: number }> {
  const ours = model.predict(x).data;
  const file = toOnnx(model);
  const theirs = await runOnnx(file, { shape: [x.shape[0], ...model.inputShape], data: x.data });
  assert.ok(ours.every(Number.isFinite), 'our outputs are finite');
  const diff = maxAbsDiff(ours, theirs);
  assert.ok(diff <= TOLERANCE, `max |Δ| ${diff} > ${TOLERANCE}`);
  return { diff, bytes: file.length };
}

function decode(bytes: Uint8Array): any {
  const type = onnxModelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array });
}

/** Fresh BatchNormalization layers have mean 0, variance 1, gamma 1, beta 0: move them so BN is really tested. */
function perturbBatchNorm(model: Sequential, seed: number): void {
  const r = new Rng(seed);
  const range: Record<string, [number, number]> = {
    gamma: [0.5, 1.5],
    beta: [-0.3, 0.3],
    moving_mean: [-0.2, 0.2],
    moving_variance: [0.3, 2],
  };
  for (const l of model.layers) {
    if (l.className !== 'BatchNormalization') continue;
    for (const w of l.weights)
      w.value.forEach((_v, i) => {
        w.value[i] = r.uniform(...range[w.name]);
      });
  }
}

function randomInput(n: number, shape: number[], seed: number): Tensor {
  const r = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape: [n, ...shape], data: Float32Array.from({ length: n * size }, () => r.uniform(-1, 1.5)) };
}

let digits: Tensor;
let labels: Uint8Array;
before(() => {
  const images = findIdxFile(SHARED_MNIST, 't10k-images-idx3-ubyte'),
    lab = findIdxFile(SHARED_MNIST, 't10k-labels-idx1-ubyte');
  assert.ok(images && lab, `MNIST test files in ${SHARED_MNIST}`);
  const { split } = loadSplitFiles(images, lab);
  digits = { shape: [1000, 28, 28, 1], data: imagesToFloat(split.images, 1000, 28, 28) };
  labels = split.labels.subarray(0, 1000);
});

describe('presets on real MNIST test digits', () => {
  const count = getKernels().name === 'reference' ? 100 : 1000;
  for (const preset of PRESETS) {
    test(preset.name, async (t) => {
      const model = preset.build(undefined, undefined, 5).build();
      perturbBatchNorm(model, 9);
      const x = { shape: [count, 28, 28, 1], data: digits.data.subarray(0, count * 784) };
      const { diff, bytes } = await compare(model, x);
      t.diagnostic(`max |Δprob| ${diff.toExponential(2)} over ${count} digits (${getKernels().name} backend), ${bytes} bytes`);
    });
  }

  test('a trained seed002-cnn', async (t) => {
    const { model } = loadModel(trainedModelDir());
    const theirs = await runOnnx(toOnnx(model), digits);
    const d = maxAbsDiff(model.predict(digits).data, theirs);
    assert.ok(d <= TOLERANCE, `max |Δprob| ${d}`);
    let correct = 0;
    for (let i = 0; i < 1000; i++) {
      const row = theirs.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    assert.ok(correct >= 900, `onnxruntime's accuracy ${correct / 10}%`);
    t.diagnostic(`max |Δprob| ${d.toExponential(2)} over 1000 digits, accuracy ${correct / 10}%`);
  });
});

describe('file structure', () => {
  test('header, input/output, node list, initializers, and a byte-exact protobufjs round trip', async () => {
    const model = getPreset('seed002-cnn').build(undefined, undefined, 1).build();
    model.name = 'cnn-under-test';
    const bytes = toOnnx(model, { producerVersion: '9.9.9' });
    const type = onnxModelType();
    assert.equal(type.verify(type.decode(bytes)), null);
    assert.deepEqual(type.encode(type.decode(bytes)).finish(), bytes);
    const m = decode(bytes);
    assert.equal(m.ir_version, 8);
    assert.deepEqual(m.opset_import, [{ domain: '', version: ONNX_OPSET }]);
    assert.ok(ONNX_OPSET >= 13);
    assert.equal(m.producer_name, 'digits');
    assert.equal(m.producer_version, '9.9.9');
    assert.match(m.doc_string, /cnn-under-test/);
    const dims = (v: any) => v.type.tensor_type.shape.dim.map((d: any) => d.dim_param ?? d.dim_value);
    assert.deepEqual(
      m.graph.input.map((v: any) => [v.name, v.type.tensor_type.elem_type, dims(v)]),
      [['input', 1, ['batch', 28, 28, 1]]],
    );
    assert.deepEqual(
      m.graph.output.map((v: any) => [v.name, v.type.tensor_type.elem_type, dims(v)]),
      [['output', 1, ['batch', 10]]],
    );
    assert.deepEqual(
      m.graph.node.map((n: any) => n.op_type),
      [
        'Transpose',
        'Conv',
        'Relu',
        'MaxPool',
        'Conv',
        'Relu',
        'MaxPool',
        'Conv',
        'Relu',
        'Transpose',
        'Flatten',
        'Gemm',
        'Relu',
        'Gemm',
        'Softmax',
      ],
    );
    assert.equal(m.graph.node.at(-1).output[0], 'output');

    // the conv kernel went HWIO → OIHW; the dense kernel is stored as it is
    const init = new Map<string, any>(m.graph.initializer.map((t: any) => [t.name, t]));
    const floats = (name: string) => new Float32Array(Uint8Array.from(init.get(name).raw_data).buffer);
    const conv = model.layers[2],
      dense = model.layers[6];
    const [kh, kw, cin, cout] = conv.weights[0].shape;
    assert.deepEqual(init.get(`${conv.name}/kernel`).dims, [cout, cin, kh, kw]);
    const oihw = floats(`${conv.name}/kernel`);
    for (const [h, w, i, o] of [
      [0, 0, 0, 0],
      [2, 1, 17, 40],
      [1, 2, 31, 63],
    ]) {
      assert.equal(oihw[((o * cin + i) * kh + h) * kw + w], conv.weights[0].value[((h * kw + w) * cin + i) * cout + o]);
    }
    assert.deepEqual(floats(`${dense.name}/kernel`), dense.weights[0].value);
    assert.deepEqual(floats(`${dense.name}/bias`), dense.weights[1].value);

    const session = await ort.InferenceSession.create(bytes);
    assert.deepEqual([session.inputNames, session.outputNames], [['input'], ['output']]);
  });

  test('flat inputs keep their shape: [784] and [28, 28]', async () => {
    for (const shape of [[784], [28, 28]]) {
      const model = getPreset('seed002-mlp').build(shape, 10, 2).build();
      const m = decode(toOnnx(model));
      assert.deepEqual(
        m.graph.input[0].type.tensor_type.shape.dim.map((d: any) => d.dim_param ?? d.dim_value),
        ['batch', ...shape],
      );
      assert.ok(!m.graph.node.some((n: any) => n.op_type === 'Transpose'));
      await compare(model, { shape: [50, ...shape], data: digits.data.subarray(0, 50 * 784) });
    }
  });

  test("a raw-pixel model's input scale is part of the graph", async () => {
    const model = getPreset('seed001-small').build(undefined, undefined, 3).build();
    model.inputScale = 255;
    assert.equal(decode(toOnnx(model)).graph.node[0].op_type, 'Mul');
    await compare(model, { shape: [100, 28, 28, 1], data: digits.data.subarray(0, 100 * 784) });
  });

  test('the exporter and what it imports stay free of node:fs (the browser bundle uses it)', () => {
    const seen = new Set<string>(),
      bare = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
        if (spec.startsWith('.')) walk(require.resolve(path.resolve(path.dirname(file), spec)));
        else bare.add(spec);
      }
    };
    walk(require.resolve('../src/io/onnx'));
    assert.deepEqual(
      [...bare].filter((s) => /^(node:)?(fs|path|os|child_process)$/.test(s)),
      [],
    );
  });

  test('a layer it does not know is refused by name', () => {
    class Mystery extends Layer {
      readonly className = 'Mystery';
      computeOutputShape(s: number[]) {
        return s;
      }
      forward(x: Float32Array) {
        return x;
      }
      backward(dy: Float32Array) {
        return dy;
      }
      getConfig() {
        return {};
      }
    }
    const model = new Sequential({
      kernels: reference,
      layers: [new Flatten({ inputShape: [4, 4, 1] }), new Mystery({ name: 'odd' }), new Dense({ units: 3 })],
    });
    expectDigitsError(() => toOnnx(model), /^odd: Mystery cannot be exported to ONNX$/);
  });
});

describe('TF padding geometry', () => {
  test("5x5 stride-2 'same' on 28 pads 1 before, 2 after; valid convs and pools drop the remainder", async () => {
    const model = new Sequential({
      seed: 4,
      kernels: reference,
      layers: [
        new Conv2D({ filters: 4, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
        new Conv2D({ filters: 6, kernelSize: 3, strides: 2, activation: 'relu' }), // 14 → 6
        new MaxPooling2D({ poolSize: 3, strides: 2 }), // 6 → 2
        new Flatten(),
        new Dense({ units: 10, activation: 'softmax' }),
      ],
    }).build();
    const conv = decode(toOnnx(model)).graph.node.find((n: any) => n.op_type === 'Conv');
    assert.deepEqual(conv.attribute.find((a: any) => a.name === 'pads').ints, [1, 1, 2, 2]);
    await compare(model, { shape: [200, 28, 28, 1], data: digits.data.subarray(0, 200 * 784) });
  });

  test("stride-2 'same' convs and 'same' max pooling on odd, non-square sizes", async () => {
    const model = new Sequential({
      seed: 6,
      kernels: reference,
      layers: [
        new Conv2D({ filters: 6, kernelSize: [4, 5], strides: 2, padding: 'same', activation: 'relu', inputShape: [15, 13, 2] }), // [8, 7]
        new MaxPooling2D({ poolSize: 3, strides: 2, padding: 'same' }), // [4, 4]
        new Conv2D({ filters: 8, kernelSize: 3, strides: [2, 1], padding: 'same', activation: 'tanh' }), // [2, 4]
        new MaxPooling2D({ poolSize: 2, strides: 1, padding: 'same' }), // [2, 4]
        new Dropout({ rate: 0.5 }),
        new Flatten(),
        new Dense({ units: 10, activation: 'softmax' }),
      ],
    }).build();
    assert.deepEqual(model.layers.map((l) => l.outputShape.slice(0, 2)).slice(0, 4), [
      [8, 7],
      [4, 4],
      [2, 4],
      [2, 4],
    ]);
    await compare(model, randomInput(64, [15, 13, 2], 1));
  });
});

describe('layers and activations', () => {
  const x = randomInput(64, [9, 7, 3], 2);

  for (const act of ACTIVATIONS) {
    test(`${act}: fused in Conv2D and Dense, and as an Activation layer`, async () => {
      const fused = new Sequential({
        seed: 8,
        kernels: reference,
        layers: [
          new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: act, inputShape: [9, 7, 3] }),
          new Flatten(),
          new Dense({ units: 12, activation: act }),
          new Dense({ units: 10, activation: 'softmax' }),
        ],
      }).build();
      await compare(fused, x);
      const layer = new Sequential({
        seed: 8,
        kernels: reference,
        layers: [
          new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [9, 7, 3] }),
          new Activation({ activation: act }),
          new Flatten(),
          new Dense({ units: 10, activation: 'softmax' }),
        ],
      }).build();
      await compare(layer, x);
    });
  }

  test('each activation over [-10, 10], saturations and tails included, within float32 rounding', async () => {
    const grid = Float32Array.from({ length: 2001 }, (_v, i) => (i - 1000) / 100);
    const variants: [string, number?][] = [
      ...ACTIVATIONS.map((a): [string] => [a]),
      ['elu', 0.5],
      ['leaky_relu', 0.01],
      ['hard_sigmoid', 1 / 6],
    ];
    for (const [act, alpha] of variants) {
      const layer = new Activation({ activation: act, inputShape: [grid.length] });
      if (alpha !== undefined) layer.alpha = alpha;
      const model = new Sequential({ kernels: reference, layers: [layer] }).build();
      const ours = model.predict({ shape: [1, grid.length], data: grid }).data;
      const theirs = await runOnnx(toOnnx(model), { shape: [1, grid.length], data: grid });
      ours.forEach((y, i) =>
        assert.ok(Math.abs(y - theirs[i]) <= 2e-6 * Math.max(1, Math.abs(y)), `${act}(${grid[i]}): ${y} here, ${theirs[i]} in onnxruntime`),
      );
    }
  });

  test('alpha set on elu, leaky_relu and hard_sigmoid is exported', async () => {
    for (const act of ['elu', 'leaky_relu', 'hard_sigmoid'].filter((a) => (ACTIVATIONS as readonly string[]).includes(a))) {
      const conv = new Conv2D({ filters: 4, kernelSize: 3, activation: act, inputShape: [9, 7, 3] });
      conv.alpha = act === 'hard_sigmoid' ? 1 / 6 : 0.37;
      const model = new Sequential({
        seed: 3,
        kernels: reference,
        layers: [conv, new Flatten(), new Dense({ units: 10, activation: 'softmax' })],
      }).build();
      const attr = decode(toOnnx(model)).graph.node[2].attribute.find((a: any) => a.name === 'alpha');
      assert.ok(Math.abs(attr.f - conv.alpha) < 1e-7, act);
      await compare(model, x);
    }
  });

  test('softmax over the channels of an NCHW value, and batch norm after a conv and after a dense', async () => {
    const model = new Sequential({
      seed: 9,
      kernels: reference,
      layers: [
        new Conv2D({ filters: 5, kernelSize: 3, activation: 'linear', inputShape: [9, 7, 3] }),
        new BatchNormalization(),
        new Activation({ activation: 'softmax' }),
        new Flatten(),
        new Dense({ units: 16, activation: 'relu' }),
        new BatchNormalization(),
        new Dense({ units: 10, activation: 'softmax' }),
      ],
    }).build();
    perturbBatchNorm(model, 4);
    await compare(model, x);
  });

  test('Rescaling and batch norm ahead of any conv: per channel on NHWC, over the last axis of [28, 28]', async () => {
    const nhwc = new Sequential({
      seed: 12,
      kernels: reference,
      layers: [
        new Rescaling({ scale: [2, 1, 0.5], offset: [0.1, 0, -0.1], inputShape: [9, 7, 3] }),
        new BatchNormalization(),
        new Softmax(),
        new Flatten(),
        new Dense({ units: 10, activation: 'softmax' }),
      ],
    }).build();
    perturbBatchNorm(nhwc, 7);
    await compare(nhwc, x);
    const rows = new Sequential({
      seed: 12,
      kernels: reference,
      layers: [new BatchNormalization({ inputShape: [28, 28] }), new Flatten(), new Dense({ units: 10, activation: 'softmax' })],
    }).build();
    perturbBatchNorm(rows, 8);
    await compare(rows, { shape: [100, 28, 28], data: digits.data.subarray(0, 100 * 784) });
  });

  const cases: [string, () => Layer[]][] = [
    [
      "AveragePooling2D, 'same' and 'valid'",
      () => [new AveragePooling2D({ poolSize: 3, strides: 2, padding: 'same' }), new AveragePooling2D({ poolSize: 2, strides: 1 })],
    ],
    ['GlobalAveragePooling2D', () => [new GlobalAveragePooling2D()]],
    ['GlobalMaxPooling2D', () => [new GlobalMaxPooling2D()]],
    [
      'GlobalAveragePooling2D with keepdims, then a conv',
      () => [new GlobalAveragePooling2D({ keepdims: true }), new Conv2D({ filters: 3, kernelSize: 1 })],
    ],
    [
      'Reshape, then a conv on the new shape',
      () => [new Reshape({ targetShape: [7, -1, 4] }), new Conv2D({ filters: 3, kernelSize: 2, activation: 'relu' })],
    ],
    [
      'Rescaling, scalar and per channel',
      () => [new Rescaling({ scale: 0.5, offset: -0.25 }), new Rescaling({ scale: [1, 2, 0.5, -1], offset: [0, 0.1, 0.2, 0.3] })],
    ],
    ['ReLU, LeakyReLU, ELU, Softmax layers', () => [new LeakyReLU({ alpha: 0.15 }), new ELU({ alpha: 0.7 }), new ReLU(), new Softmax()]],
    ['ReLU as relu6 and as a leaky relu', () => [new ReLU({ maxValue: 6 }), new ReLU({ negativeSlope: 0.05 })]],
    [
      'BatchNormalization without center, without scale, without both',
      () => [
        new BatchNormalization({ center: false }),
        new BatchNormalization({ scale: false }),
        new BatchNormalization({ center: false, scale: false }),
      ],
    ],
  ];
  for (const [name, layers] of cases) {
    test(name, async () => {
      const model = new Sequential({
        seed: 11,
        kernels: reference,
        layers: [
          new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'linear', inputShape: [9, 7, 3] }),
          ...layers(),
          new Flatten(),
          new Dense({ units: 10, activation: 'softmax' }),
        ],
      }).build();
      perturbBatchNorm(model, 6);
      await compare(model, x);
    });
  }
});
