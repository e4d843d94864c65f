// The one interface every compute backend implements. `reference.ts` is the readable TypeScript
// version; `native.ts` binds the oneDNN addon with the same names and signatures (llm.c style).
//
// Conventions shared by every backend (they are Keras' and TF.js', so weights save as-is):
// - activations are NHWC, row-major, in Float32Arrays; a dense input is [n, features];
// - conv kernels are HWIO [kh, kw, cin, cout]; dense kernels are [in, out];
// - outputs are written into caller-owned arrays (layers allocate once per batch size and reuse);
// - backward-weights kernels overwrite (not accumulate) dW and dB.

export interface ConvGeom {
  n: number;
  h: number;
  w: number;
  c: number; // input  [n, h, w, c]
  f: number;
  oh: number;
  ow: number; // output [n, oh, ow, f]
  kh: number;
  kw: number; // kernel [kh, kw, c, f]
  sh: number;
  sw: number; // strides
  padTop: number;
  padLeft: number; // TF 'same' pads the extra row/column at bottom/right
}

export interface PoolGeom {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  ph: number;
  pw: number; // pool size
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number; // padded cells never win the max and never count in the average
}

/**
 * Element-wise activations with Keras' definitions. Three take a parameter `alpha` (see ELTWISE_ALPHA):
 * elu(x) = x > 0 ? x : α(eˣ − 1); leaky_relu(x) = x > 0 ? x : αx; hard_sigmoid(x) = clip(αx + ½, 0, 1)
 * (Keras 2 and TF.js use α = 0.2, Keras 3 uses 1/6). The others: selu = λ·elu with Keras' λ and α;
 * relu6 = min(max(x, 0), 6); softplus = log(1 + eˣ); softsign = x / (1 + |x|); exponential = eˣ;
 * swish (Keras' silu) = x·sigmoid(x); gelu = ½x(1 + erf(x/√2)), the exact form (Keras' default
 * approximate=False); mish = x·tanh(softplus(x)). At a kink the backward takes the left derivative at
 * 0 (relu 0, leaky_relu and elu α) and 0 at both ends of relu6's and hard_sigmoid's ramps, as oneDNN does.
 */
export type Eltwise =
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'linear'
  | 'elu'
  | 'selu'
  | 'leaky_relu'
  | 'relu6'
  | 'softplus'
  | 'softsign'
  | 'hard_sigmoid'
  | 'exponential'
  | 'swish'
  | 'gelu'
  | 'mish';

export const ELTWISE_KINDS: readonly Eltwise[] = [
  'relu',
  'sigmoid',
  'tanh',
  'linear',
  'elu',
  'selu',
  'leaky_relu',
  'relu6',
  'softplus',
  'softsign',
  'hard_sigmoid',
  'exponential',
  'swish',
  'gelu',
  'mish',
];

/** The alpha a kind uses when the caller gives none (undefined or NaN); kinds not listed ignore alpha. */
export const ELTWISE_ALPHA: Partial<Record<Eltwise, number>> = { elu: 1, leaky_relu: 0.2, hard_sigmoid: 0.2 };

/** The alpha `kind` computes with: the given one when it is a number, else the kind's default (0 if none). */
export function eltwiseAlpha(kind: Eltwise, alpha?: number): number {
  return alpha !== undefined && !Number.isNaN(alpha) ? alpha : (ELTWISE_ALPHA[kind] ?? 0);
}

export interface Kernels {
  readonly name: string;

  /** y = conv(x, w) + b, then ReLU when `relu` (fused post-op). b may be null (useBias false). */
  conv2dForward(g: ConvGeom, x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, relu: boolean): void;
  /** dx = conv_transpose(dy, w). */
  conv2dBackwardData(g: ConvGeom, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  /** dw = corr(x, dy); db = sum of dy over n, oh, ow. */
  conv2dBackwardWeights(g: ConvGeom, x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null): void;

  /**
   * The first layer of every seed CNN in one pass: y = maxPool(relu(conv(x, w) + b)) for a
   * single-channel input, a stride-1 conv and 2x2 pooling at stride 2 ('valid'), `p` being that
   * pooling of the conv's output (Conv2D.poolFusable says when). The conv's [n, oh, ow, f] output, the
   * model's largest activation, is never stored; `workspace` is maxPool2dForward's, indexing it.
   */
  conv2dReluMaxPoolForward(
    g: ConvGeom,
    p: PoolGeom,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    y: Float32Array,
    workspace: Int32Array,
  ): void;
  /**
   * That conv's dw and db from dy, the gradient w.r.t. the pooled y: maxPool2dBackward(…, reluOf = y)
   * followed by conv2dBackwardWeights, without the conv-sized gradient in between.
   */
  conv2dReluMaxPoolBackwardWeights(
    g: ConvGeom,
    p: PoolGeom,
    x: Float32Array,
    dy: Float32Array,
    workspace: Int32Array,
    y: Float32Array,
    dw: Float32Array,
    db: Float32Array | null,
  ): void;

  /** y = max over each window; `workspace` records the flat input index of each winner (for backward). */
  maxPool2dForward(g: PoolGeom, x: Float32Array, y: Float32Array, workspace: Int32Array): void;
  /**
   * dx = 0, then dx[workspace[i]] += dy[i]. With `reluOf` (the forward's output y), only winners with
   * y[i] > 0 pass: the backward of a ReLU that fed the pool, in the same pass (a non-winner's ReLU
   * gradient is multiplied by a zero anyway).
   */
  maxPool2dBackward(g: PoolGeom, dy: Float32Array, workspace: Int32Array, dx: Float32Array, reluOf?: Float32Array | null): void;

  /**
   * Keras AveragePooling2D (and, with a window of the whole h × w, GlobalAveragePooling2D): the mean of
   * the window's cells that lie inside the input. Padded cells are not counted (TF's rule, ONNX
   * AveragePool count_include_pad=0), so a 'same' window at the bottom/right edge averages fewer cells.
   */
  avgPool2dForward(g: PoolGeom, x: Float32Array, y: Float32Array): void;
  /** Overwrites dx: each dy spread evenly over the input cells its window averaged (dy / count each). */
  avgPool2dBackward(g: PoolGeom, dy: Float32Array, dx: Float32Array): void;

  /** y[n, out] = x[n, in] · w[in, out] + b, then ReLU when `relu`. */
  denseForward(
    n: number,
    inF: number,
    outF: number,
    x: Float32Array,
    w: Float32Array,
    b: Float32Array | null,
    y: Float32Array,
    relu: boolean,
  ): void;
  /** dx[n, in] = dy[n, out] · wᵀ. */
  denseBackwardData(n: number, inF: number, outF: number, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  /** dw[in, out] = xᵀ · dy; db = column sums of dy. */
  denseBackwardWeights(
    n: number,
    inF: number,
    outF: number,
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
    db: Float32Array | null,
  ): void;

  /**
   * Batch norm over `rows` rows of `c` channels (rows = n·h·w for NHWC). Training: normalise with the
   * batch mean and biased variance, save mean and 1/sqrt(var+eps) for backward, and update the moving
   * statistics Keras-style: moving = moving·momentum + batch·(1−momentum), with the unbiased batch
   * variance (as TF's fused kernel and PyTorch do).
   */
  batchNormForwardTraining(
    rows: number,
    c: number,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    movingMean: Float32Array,
    movingVar: Float32Array,
    momentum: number,
    eps: number,
    y: Float32Array,
    saveMean: Float32Array,
    saveInvStd: Float32Array,
  ): void;
  batchNormForwardInference(
    rows: number,
    c: number,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    movingMean: Float32Array,
    movingVar: Float32Array,
    eps: number,
    y: Float32Array,
  ): void;
  batchNormBackward(
    rows: number,
    c: number,
    x: Float32Array,
    dy: Float32Array,
    gamma: Float32Array,
    saveMean: Float32Array,
    saveInvStd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
  ): void;

  /** y = f(x) (y may alias x); alpha as in eltwiseAlpha. */
  eltwiseForward(kind: Eltwise, x: Float32Array, y: Float32Array, alpha?: number): void;
  /**
   * dx = dy · f'(x), given the forward's input x and output y: a backend computes from whichever is
   * cheaper (sigmoid, tanh and exponential from y, most others from x), so both must be the forward's.
   * For relu, x may be y itself (a fused ReLU keeps only its output). dx may alias dy.
   */
  eltwiseBackward(kind: Eltwise, x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, alpha?: number): void;

  /** Row-wise softmax of x[rows, cols]. */
  softmaxForward(rows: number, cols: number, x: Float32Array, y: Float32Array): void;
  /** dx = y ⊙ (dy − rowsum(dy ⊙ y)). */
  softmaxBackward(rows: number, cols: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /**
   * Categorical cross-entropy on probabilities p[rows, cols] (clipped to [1e-7, 1−1e-7] like Keras)
   * against one-hot/soft targets t. Returns the summed (not averaged) loss. When `dlogits` is given,
   * writes the gradient w.r.t. the logits of a preceding softmax, already divided by `scale`
   * ((p − t)/scale: softmax and cross-entropy fused, as every framework does).
   */
  softmaxCrossEntropy(rows: number, cols: number, p: Float32Array, t: Float32Array, dlogits: Float32Array | null, scale: number): number;

  /**
   * Inverted dropout: mask[i] = 1/(1−rate) when element i is kept, else 0; y = x · mask. Element i is
   * kept when (h >>> 8) < floor((1−rate)·2^24), h = dropoutHash(seed, i) (see reference.ts), so every
   * backend draws the same mask from the same seed.
   */
  dropoutForward(x: Float32Array, y: Float32Array, mask: Float32Array, rate: number, seed: number): void;
  /** dx = dy · mask (dx may alias dy). */
  dropoutBackward(dy: Float32Array, mask: Float32Array, dx: Float32Array): void;

  /** Keras SGD: v = m·v − lr·g; w += v (nesterov: w += m·v − lr·g). Without momentum, w −= lr·g. */
  sgdUpdate(
    params: Float32Array[],
    grads: Float32Array[],
    velocity: Float32Array[] | null,
    lr: number,
    momentum: number,
    nesterov: boolean,
  ): void;
  /** Keras RMSprop: ms = ρ·ms + (1−ρ)·g²; w −= lr·g/(√ms + ε). */
  rmspropUpdate(params: Float32Array[], grads: Float32Array[], ms: Float32Array[], lr: number, rho: number, eps: number): void;
  /**
   * Keras Adam at step t (1-based): lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); m, v moments; w −= lr_t·m/(√v + ε).
   * weightDecay > 0 makes it Keras' (and PyTorch's) AdamW: w −= lr·wd·w first, decoupled from m and v.
   */
  adamUpdate(
    params: Float32Array[],
    grads: Float32Array[],
    m: Float32Array[],
    v: Float32Array[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    t: number,
    weightDecay: number,
  ): void;
}
