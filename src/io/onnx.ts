// ONNX export of a Sequential: a ModelProto (IR 8, opset 13) that onnxruntime and friends run with the
// same predictions as ours. No node:fs here: the browser page may export too.
//
// Layout: our tensors are NHWC, ONNX's Conv and pools are NCHW only. The graph transposes to NCHW at
// the first layer that needs it and back to NHWC before Flatten/Reshape/Dense, so Flatten's order and
// the Dense kernels stay Keras' and need no permuting.
import { Root, type Type } from 'protobufjs/light';
import { ONNX_SCHEMA } from './onnx-schema';
import { padGeometry, type Layer, type Weight } from '../layers/layer';
import { eltwiseAlpha, type Eltwise } from '../kernels/kernels';
import type { Sequential } from '../model/sequential';
import { DigitsError } from '../errors';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;

let modelType: Type | undefined;
/** protobufjs' onnx.ModelProto, for encoding here and decoding in tests or tools. */
export function onnxModelType(): Type {
  return (modelType ??= Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto'));
}

const FLOAT = 1,
  INT64 = 7; // TensorProto.DataType
const ATTR_FLOAT = 1,
  ATTR_INT = 2,
  ATTR_INTS = 7; // AttributeProto.AttributeType
const FLOAT_ATTRS = new Set(['alpha', 'beta', 'gamma', 'epsilon']);
// Keras' (and our kernels') selu constants; ONNX's defaults are these rounded to float32 anyway
const SELU_ALPHA = 1.6732632423543772,
  SELU_SCALE = 1.0507009873554805;

type Attrs = Record<string, number | number[]>;
interface Windowed {
  poolSize?: [number, number];
  strides: [number, number];
  padding: 'valid' | 'same';
}
interface Activating {
  activation: string;
  alpha?: number;
  axis?: number;
}

/** The value flowing between layers: its name, Keras' per-sample shape, and whether ONNX holds it as NCHW. */
interface Value {
  name: string;
  shape: number[];
  nchw: boolean;
}

class GraphBuilder {
  readonly nodes: { name: string; op_type: string; input: string[]; output: string[]; attribute: object[] }[] = [];
  readonly initializers: object[] = [];
  private names = new Set<string>(['input']);

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Adds a node whose single output is named after the node; returns that name. */
  op(scope: string, opType: string, inputs: string[], attrs: Attrs = {}): string {
    const name = this.unique(`${scope}/${opType}`);
    const attribute = Object.entries(attrs).map(([k, v]) =>
      Array.isArray(v)
        ? { name: k, type: ATTR_INTS, ints: v }
        : FLOAT_ATTRS.has(k)
          ? { name: k, type: ATTR_FLOAT, f: v }
          : { name: k, type: ATTR_INT, i: v },
    );
    this.nodes.push({ name, op_type: opType, input: inputs, output: [name], attribute });
    return name;
  }

  // raw_data is little-endian by the spec, whatever the host is
  floats(name: string, dims: number[], values: ArrayLike<number>): string {
    const v = new DataView(new ArrayBuffer(values.length * 4));
    for (let i = 0; i < values.length; i++) v.setFloat32(i * 4, values[i], true);
    return this.tensor(name, dims, FLOAT, v);
  }

  int64s(name: string, values: number[]): string {
    const v = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((x, i) => v.setBigInt64(i * 8, BigInt(x), true));
    return this.tensor(name, [values.length], INT64, v);
  }

  /** A float32 scalar shared by every node that needs this value. */
  scalar(x: number): string {
    const name = `const/${x}`;
    return this.names.has(name) ? name : this.floats(name, [], [x]);
  }

  private tensor(base: string, dims: number[], dataType: number, data: DataView): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, data_type: dataType, raw_data: new Uint8Array(data.buffer) });
    return name;
  }
}

/**
 * ModelProto bytes of a Sequential (built here if it is not yet): input `input` [batch, ...inputShape],
 * taking exactly what predict takes, and output `output` [batch, ...outputShape], what predict returns.
 */
export function toOnnx(model: Sequential, opts: { producerVersion?: string } = {}): Uint8Array {
  model.build();
  const g = new GraphBuilder();
  let x: Value = { name: 'input', shape: model.inputShape, nchw: false };
  // the graph takes what predict takes, so a raw-pixel model's ×255 comes along
  if (model.inputScale !== 1) x = { ...x, name: g.op('input', 'Mul', [x.name, g.scalar(model.inputScale)]) };
  for (const layer of model.layers) x = exportLayer(g, layer, x);
  x = toNhwc(g, 'output', x);
  if (x.name === 'input') x = { ...x, name: g.op('output', 'Identity', [x.name]) };
  g.nodes.find((n) => n.output[0] === x.name)!.output = ['output'];

  const valueInfo = (name: string, shape: number[]) => ({
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: [{ dim_param: 'batch' }, ...shape.map((d) => ({ dim_value: d }))] } } },
  });
  const type = onnxModelType();
  const proto = type.fromObject({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'digits',
    producer_version: opts.producerVersion,
    doc_string: `digits Sequential '${model.name}': ${model.layers.length} layers, ${model.countParams()} parameters`,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('input', model.inputShape)],
      output: [valueInfo('output', model.outputShape)],
    },
  });
  return type.encode(proto).finish();
}

function toNchw(g: GraphBuilder, scope: string, x: Value): Value {
  if (x.nchw || x.shape.length !== 3) return x;
  return { ...x, name: g.op(scope, 'Transpose', [x.name], { perm: [0, 3, 1, 2] }), nchw: true };
}

function toNhwc(g: GraphBuilder, scope: string, x: Value): Value {
  if (!x.nchw) return x;
  return { ...x, name: g.op(scope, 'Transpose', [x.name], { perm: [0, 2, 3, 1] }), nchw: false };
}

function weightOf(layer: Layer, name: string): Weight | undefined {
  return layer.weights.find((w) => w.name === name);
}

/** ONNX pads [top, left, bottom, right]: TF's 'same' puts the odd pixel at the bottom/right. */
function pads(layer: Layer, kernel: [number, number], strides: [number, number], padding: 'valid' | 'same'): number[] {
  const before: number[] = [],
    after: number[] = [];
  for (const d of [0, 1]) {
    const size = layer.inputShape[d],
      out = layer.outputShape[d];
    const total = padding === 'same' ? Math.max((out - 1) * strides[d] + kernel[d] - size, 0) : 0;
    before.push(padGeometry(size, kernel[d], strides[d], padding).before);
    after.push(total - before[d]);
  }
  return [...before, ...after];
}

/** A per-channel (or scalar) constant broadcasting against x's last Keras axis, whatever x's layout. */
function channelConst(g: GraphBuilder, name: string, x: Value, v: number | ArrayLike<number>): string {
  if (typeof v === 'number') return g.floats(name, [], [v]);
  return g.floats(name, x.nchw ? [v.length, 1, 1] : [v.length], v);
}

function exportLayer(g: GraphBuilder, layer: Layer, x: Value): Value {
  const s = layer.name;
  const next = (name: string, v: Value = x): Value => ({ name, shape: layer.outputShape, nchw: v.nchw });
  switch (layer.className) {
    case 'Conv2D': {
      const l = layer as Layer & Windowed & Activating;
      x = toNchw(g, s, x);
      const kernel = weightOf(layer, 'kernel')!,
        bias = weightOf(layer, 'bias');
      const [kh, kw, cin, cout] = kernel.shape;
      const oihw = new Float32Array(kernel.value.length);
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++)
          for (let i = 0; i < cin; i++)
            for (let o = 0; o < cout; o++) {
              oihw[((o * cin + i) * kh + h) * kw + w] = kernel.value[((h * kw + w) * cin + i) * cout + o];
            }
      const inputs = [x.name, g.floats(`${s}/kernel`, [cout, cin, kh, kw], oihw)];
      if (bias) inputs.push(g.floats(`${s}/bias`, [cout], bias.value));
      const y = g.op(s, 'Conv', inputs, {
        kernel_shape: [kh, kw],
        strides: l.strides,
        pads: pads(layer, [kh, kw], l.strides, l.padding),
        dilations: [1, 1],
        group: 1,
      });
      return activate(g, s, next(y, x), l.activation, l.alpha);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const l = layer as Layer & Windowed;
      x = toNchw(g, s, x);
      const k = l.poolSize!;
      const attrs: Attrs = { kernel_shape: k, strides: l.strides, pads: pads(layer, k, l.strides, l.padding) };
      // TF averages only the cells inside the input
      if (layer.className === 'AveragePooling2D') attrs.count_include_pad = 0;
      return next(g.op(s, layer.className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], attrs), x);
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      x = toNchw(g, s, x);
      const y = g.op(s, layer.className === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.name]);
      // keepdims leaves [N, C, 1, 1], which is NCHW of Keras' [1, 1, C]
      if (layer.outputShape.length === 3) return next(y, x);
      return { name: g.op(s, 'Flatten', [y], { axis: 1 }), shape: layer.outputShape, nchw: false };
    }
    case 'Flatten':
      x = toNhwc(g, s, x);
      return next(g.op(s, 'Flatten', [x.name], { axis: 1 }), x);
    case 'Reshape':
      x = toNhwc(g, s, x);
      // 0 keeps the batch dimension; outputShape has Keras' -1 already resolved
      return next(g.op(s, 'Reshape', [x.name, g.int64s(`${s}/shape`, [0, ...layer.outputShape])]), x);
    case 'Dense': {
      const l = layer as Layer & Activating;
      x = toNhwc(g, s, x);
      const kernel = weightOf(layer, 'kernel')!,
        bias = weightOf(layer, 'bias');
      const inputs = [x.name, g.floats(`${s}/kernel`, kernel.shape, kernel.value)];
      if (bias) inputs.push(g.floats(`${s}/bias`, bias.shape, bias.value));
      return activate(g, s, next(g.op(s, 'Gemm', inputs), x), l.activation, l.alpha);
    }
    case 'BatchNormalization':
      return batchNorm(g, layer, x);
    case 'Rescaling': {
      const l = layer as unknown as { scale: number | number[]; offset?: number | number[] };
      let y = g.op(s, 'Mul', [x.name, channelConst(g, `${s}/scale`, x, l.scale)]);
      if (l.offset !== undefined && l.offset !== 0) y = g.op(s, 'Add', [y, channelConst(g, `${s}/offset`, x, l.offset)]);
      return next(y);
    }
    case 'Dropout':
      return next(x.name);
    case 'Activation':
    case 'ReLU':
    case 'LeakyReLU':
    case 'ELU':
    case 'Softmax': {
      const l = layer as Layer & Activating;
      return activate(g, s, x, l.activation, l.alpha, l.axis);
    }
    default:
      throw new DigitsError(`${layer.name}: ${layer.className} cannot be exported to ONNX`);
  }
}

function batchNorm(g: GraphBuilder, layer: Layer, x: Value): Value {
  const s = layer.name;
  const l = layer as Layer & { epsilon: number };
  const mean = weightOf(layer, 'moving_mean')!.value,
    variance = weightOf(layer, 'moving_variance')!.value;
  const c = mean.length;
  // center=false / scale=false layers have no beta / gamma: they act as 0 / 1
  const gamma = weightOf(layer, 'gamma')?.value ?? new Float32Array(c).fill(1);
  const beta = weightOf(layer, 'beta')?.value ?? new Float32Array(c);
  if (x.shape.length === 3) x = toNchw(g, s, x);
  if (x.nchw || x.shape.length === 1) {
    const inputs = [
      x.name,
      g.floats(`${s}/gamma`, [c], gamma),
      g.floats(`${s}/beta`, [c], beta),
      g.floats(`${s}/moving_mean`, [c], mean),
      g.floats(`${s}/moving_variance`, [c], variance),
    ];
    return { ...x, name: g.op(s, 'BatchNormalization', inputs, { epsilon: l.epsilon }) };
  }
  // rows of a non-image input ([N, H, W], normalised over W): ONNX's BatchNormalization wants channels
  // at axis 1, so fold the statistics into y = x·scale + shift over the last axis
  const scale = new Float32Array(c),
    shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = gamma[i] / Math.sqrt(variance[i] + l.epsilon);
    shift[i] = beta[i] - mean[i] * scale[i];
  }
  const y = g.op(s, 'Mul', [x.name, channelConst(g, `${s}/scale`, x, scale)]);
  return { ...x, name: g.op(s, 'Add', [y, channelConst(g, `${s}/shift`, x, shift)]) };
}

/** Appends activation `act` (Keras' name) to x; softmax runs over Keras' axis (default the last). */
function activate(g: GraphBuilder, s: string, x: Value, act: string, alpha?: number, axis = -1): Value {
  // an unset alpha (NaN) computes with the kernels' default, so the export must use the same
  const a = eltwiseAlpha(act as Eltwise, alpha);
  const v = x.name;
  const unary = (op: string, input = v) => g.op(s, op, [input]);
  let y: string;
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      y = unary('Relu');
      break;
    case 'sigmoid':
      y = unary('Sigmoid');
      break;
    case 'tanh':
      y = unary('Tanh');
      break;
    case 'softplus':
      y = unary('Softplus');
      break;
    case 'softsign':
      y = unary('Softsign');
      break;
    case 'exponential':
      y = unary('Exp');
      break;
    case 'elu':
      y = g.op(s, 'Elu', [v], { alpha: a });
      break;
    case 'leaky_relu':
      y = g.op(s, 'LeakyRelu', [v], { alpha: a });
      break;
    case 'selu':
      y = g.op(s, 'Selu', [v], { alpha: SELU_ALPHA, gamma: SELU_SCALE });
      break;
    case 'hard_sigmoid':
      y = g.op(s, 'HardSigmoid', [v], { alpha: a, beta: 0.5 });
      break;
    case 'relu6':
      y = g.op(s, 'Clip', [v, g.scalar(0), g.scalar(6)]);
      break;
    case 'swish':
      y = g.op(s, 'Mul', [v, unary('Sigmoid')]);
      break;
    case 'mish':
      y = g.op(s, 'Mul', [v, unary('Tanh', unary('Softplus'))]);
      break;
    case 'gelu': {
      // the exact form, ½·x·(1 + erf(x/√2)), as Keras' default approximate=False
      const erf = unary('Erf', g.op(s, 'Div', [v, g.scalar(Math.SQRT2)]));
      y = g.op(s, 'Mul', [g.op(s, 'Mul', [v, g.scalar(0.5)]), g.op(s, 'Add', [erf, g.scalar(1)])]);
      break;
    }
    case 'softmax': {
      const rank = x.shape.length + 1;
      const k = axis < 0 ? axis + rank : axis;
      // Keras' axis counts NHWC; on an NCHW value H, W, C sit at 2, 3, 1
      y = g.op(s, 'Softmax', [v], { axis: x.nchw ? [0, 2, 3, 1][k] : k });
      break;
    }
    default:
      throw new DigitsError(`${s}: activation '${act}' cannot be exported to ONNX`);
  }
  return { ...x, name: y };
}
