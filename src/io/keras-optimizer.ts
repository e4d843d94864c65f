// Optimizer state across Keras files: the training config we write for Keras 2, and the slots (RMSprop's
// rms, Adam's m and v, SGD's momentum) read from a file so fine-tuning continues where Keras stopped.
import type { Sequential } from '../model/sequential';
import type { Weight } from '../layers/layer';
import type { H5File, H5Writer } from './hdf5';

/** Slots by `${layer}/${weight}/${ourSlotName}`, and the step count. */
export interface OptimizerSlots {
  iterations: number;
  slots: Map<string, Float32Array>;
}

/** Keras' names for a slot (tf.keras 2: m, v, rms; Keras 3: momentum, velocity) → ours, per optimizer. */
const SLOT_ALIASES: Record<string, Record<string, string>> = {
  Adam: { m: 'm', momentum: 'm', v: 'v', velocity: 'v' },
  AdamW: { m: 'm', momentum: 'm', v: 'v', velocity: 'v' },
  RMSprop: { rms: 'rms', velocity: 'rms' },
  SGD: { momentum: 'momentum', m: 'momentum' },
};

/** The model's trainable weights with their Keras paths, in optimizer order. */
function trainable(model: Sequential): { key: string; w: Weight }[] {
  return model.layers.flatMap((l) => l.weights.filter((w) => w.grad).map((w) => ({ key: `${l.name}/${w.name}`, w })));
}

/**
 * Matches slot variable names to our weights: tf.keras 2 writes `RMSprop/conv2d/kernel/rms:0` (or
 * `training/Adam/…`), its newer optimizers `Adam/m/conv2d/kernel:0`, Keras 3 `adam/conv2d_kernel_momentum`.
 * A name is matched when it contains the weight's path (with / or _) and exactly one known slot token.
 */
export function matchSlots(model: Sequential, named: { name: string; data: Float32Array }[]): OptimizerSlots | undefined {
  const opt = model.optimizer;
  const aliases = SLOT_ALIASES[opt?.className ?? ''];
  if (!aliases) return undefined;
  const ws = trainable(model);
  const slots = new Map<string, Float32Array>();
  let iterations = 0;
  for (const { name, data } of named) {
    const bare = name.replace(/:\d+$/, '');
    const tokens = bare.split(/[/]/);
    if (/^iter(ation)?s?$/.test(tokens[tokens.length - 1]) && data.length === 1) {
      iterations = data[0];
      continue;
    }
    // the longest matching path wins, so conv2d_1/kernel is not taken for conv2d/kernel
    const hit = ws
      .filter(({ key }) => bare.includes(key) || bare.includes(key.replace('/', '_')))
      .sort((a, b) => b.key.length - a.key.length)[0];
    if (!hit) continue;
    const rest = bare.replace(hit.key, ' ').replace(hit.key.replace('/', '_'), ' ');
    const slot = Object.keys(aliases).filter((t) => new RegExp(`(^|[/_ ])${t}($|[/_ ])`).test(rest));
    if (slot.length !== 1 || data.length !== hit.w.value.length) continue;
    slots.set(`${hit.key}/${aliases[slot[0]]}`, data);
  }
  return { iterations, slots };
}

/** tf.keras 2.x's optimizer_weights group: weight_names in order, values at those paths. */
export function readLegacyOptimizerWeights(f: H5File, model: Sequential): OptimizerSlots | undefined {
  const names = f.attr('/optimizer_weights', 'weight_names');
  if (!Array.isArray(names)) return undefined;
  const named = (names as unknown[])
    .filter((n): n is string => typeof n === 'string')
    .filter((n) => f.isDataset(`/optimizer_weights/${n}`))
    .map((n) => ({ name: n, ...f.readFloat32(`/optimizer_weights/${n}`) }));
  const byName = matchSlots(model, named);
  return byName && byName.slots.size > 0 ? byName : matchByOrder(model, named);
}

/**
 * Slots by position, for files whose variable names say nothing (Keras 2.2: `training/Adam/Variable_3:0`):
 * the step count first, then either each slot over all weights (tf.keras ≤ 2.10, Keras 2.2) or each
 * weight's slots in turn (the newer optimizers); the layout whose every shape fits is taken.
 */
function matchByOrder(model: Sequential, vars: { shape: number[]; data: Float32Array }[]): OptimizerSlots | undefined {
  const names = model.optimizer?.slotNames() ?? [];
  const ws = trainable(model);
  if (vars.length === 0 || vars[0].data.length !== 1 || names.length === 0) return undefined;
  const rest = vars.slice(1);
  const layouts = [(s: number, i: number) => s * ws.length + i, (s: number, i: number) => i * names.length + s];
  for (const at of layouts) {
    const fits = names.every((_n, s) => ws.every(({ w }, i) => rest[at(s, i)]?.shape.join() === w.shape.join()));
    if (!fits) continue;
    const slots = new Map<string, Float32Array>();
    names.forEach((n, s) => ws.forEach(({ key }, i) => slots.set(`${key}/${n}`, rest[at(s, i)].data)));
    return { iterations: vars[0].data[0], slots };
  }
  return undefined;
}

/**
 * Gives the compiled model's optimizer the file's slots when every trainable weight has every slot the
 * optimizer keeps; returns what happened, for the command to say.
 */
export function applyOptimizerSlots(model: Sequential, s: OptimizerSlots | undefined): string {
  const opt = model.optimizer;
  if (!opt) return 'the model is not compiled';
  if (!s) return `no ${opt.className} state in the file; the optimizer starts fresh`;
  const names = opt.slotNames();
  const ws = trainable(model);
  const missing = ws.flatMap(({ key }) => names.filter((n) => !s.slots.has(`${key}/${n}`)).map((n) => `${key}/${n}`));
  if (missing.length > 0)
    return `the file's ${opt.className} state lacks ${missing.length} of ${ws.length * names.length} slots (${missing[0]}, …); the optimizer starts fresh`;
  opt.setState({ iterations: s.iterations, slots: names.map((n) => ws.map(({ key }) => Float32Array.from(s.slots.get(`${key}/${n}`)!))) });
  return `${opt.className} state restored (${names.join(', ')} for ${ws.length} weights, step ${s.iterations})`;
}

/** The training_config tf.keras 2.x writes, which its load_model and Keras 3's legacy loader compile from. */
export function keras2TrainingConfig(model: Sequential): Record<string, unknown> {
  const opt = model.optimizer;
  const c = opt.getConfig() as Record<string, unknown>;
  const loss =
    model.fromLogits || model.labelSmoothing > 0
      ? {
          class_name: model.loss === 'sparse_categorical_crossentropy' ? 'SparseCategoricalCrossentropy' : 'CategoricalCrossentropy',
          config: {
            reduction: 'auto',
            name: model.loss,
            from_logits: model.fromLogits,
            ...(model.loss !== 'sparse_categorical_crossentropy' && { label_smoothing: model.labelSmoothing, axis: -1 }),
          },
        }
      : model.loss;
  const extra: Record<string, Record<string, unknown>> = {
    RMSprop: { momentum: 0, centered: false },
    Adam: { amsgrad: false },
    AdamW: { amsgrad: false },
  };
  return {
    loss,
    metrics: model.metrics,
    weighted_metrics: null,
    loss_weights: null,
    optimizer_config: { class_name: opt.className, config: { name: opt.className, ...c, ...extra[opt.className] } },
  };
}

/** Keras 3's optimizer config keys that every 3.x accepts (later ones reject nothing; 3.0 rejects unknown keys). */
export function keras3CompileConfig(model: Sequential): Record<string, unknown> {
  const opt = model.optimizer;
  const c = opt.getConfig() as Record<string, unknown>;
  const extra: Record<string, Record<string, unknown>> = {
    RMSprop: { momentum: 0, centered: false },
    Adam: { amsgrad: false },
    AdamW: { amsgrad: false },
  };
  const loss =
    model.fromLogits || model.labelSmoothing > 0
      ? {
          module: 'keras.losses',
          class_name: model.loss === 'sparse_categorical_crossentropy' ? 'SparseCategoricalCrossentropy' : 'CategoricalCrossentropy',
          config: {
            name: model.loss,
            reduction: 'sum_over_batch_size',
            from_logits: model.fromLogits,
            ...(model.loss !== 'sparse_categorical_crossentropy' && { label_smoothing: model.labelSmoothing, axis: -1 }),
          },
          registered_name: null,
        }
      : model.loss;
  return {
    optimizer: {
      module: 'keras.optimizers',
      class_name: opt.className,
      config: { name: opt.className === 'SGD' ? 'SGD' : opt.className.toLowerCase(), ...c, ...extra[opt.className] },
      registered_name: null,
    },
    loss,
    loss_weights: null,
    metrics: model.metrics,
    weighted_metrics: null,
    run_eagerly: false,
    steps_per_execution: 1,
    jit_compile: false,
  };
}

/** The optimizers whose Keras 3 variables are ours: iteration, learning rate, per-variable slots. */
const KERAS3_OPTIMIZERS = new Set(['Adam', 'AdamW', 'RMSprop', 'SGD']);

/**
 * Keras 3's optimizer/vars/<i>: iteration, learning_rate, then each trainable variable's slots in turn
 * (Adam: momentum and velocity of the first kernel, then of its bias, …). Unnamed, so matched by order
 * and checked by shape.
 */
export function readKeras3OptimizerVars(f: H5File, model: Sequential, _kerasVersion: string): OptimizerSlots | undefined {
  const group = ['/optimizer/vars', '/optimizer\\vars'].find((g) => f.isGroup(g));
  if (!group || !KERAS3_OPTIMIZERS.has(model.optimizer?.className ?? '')) return undefined;
  const slotNames = model.optimizer.slotNames();
  const n = f.keys(group).filter((k) => /^\d+$/.test(k)).length;
  const vars = Array.from({ length: n }, (_v, i) => f.readFloat32(`${group}/${i}`));
  const ws = trainable(model);
  // scalars first: the step count, and the learning rate unless it is a schedule
  const scalars = vars.findIndex((v) => v.shape.length > 0 || v.data.length !== 1);
  const head = scalars < 0 ? vars.length : scalars;
  const rest = vars.slice(head);
  if (head < 1 || rest.length !== ws.length * slotNames.length) return undefined;
  const slots = new Map<string, Float32Array>();
  for (let i = 0; i < ws.length; i++) {
    for (let s = 0; s < slotNames.length; s++) {
      const v = rest[i * slotNames.length + s];
      if (v.shape.join() !== ws[i].w.shape.join()) return undefined;
      slots.set(`${ws[i].key}/${slotNames[s]}`, v.data);
    }
  }
  return { iterations: vars[0].data[0], slots };
}

/**
 * The optimizer's variables in the order Keras 3's build() makes them (§3.4 of docs/keras-formats.md):
 * iteration, learning_rate, then per trainable variable its slots (Adam: momentum, velocity). Our
 * optimizers keep at most one slot kind besides Adam's pair, so per-variable and per-slot orders agree.
 */
export function writeKeras3OptimizerVars(w: H5Writer, model: Sequential): void {
  const opt = model.optimizer;
  if (!KERAS3_OPTIMIZERS.has(opt.className)) return;
  const { iterations, slots } = opt.getState();
  const names = opt.slotNames();
  const ws = trainable(model);
  w.group('/optimizer/vars');
  w.dataset('/optimizer/vars/0', new BigInt64Array([BigInt(iterations)]), []);
  w.dataset('/optimizer/vars/1', new Float32Array([opt.learningRate]), []);
  let k = 2;
  ws.forEach(({ w: weight }, i) => {
    // before the first step our slots do not exist yet; Keras' are zeros then
    names.forEach((_n, j) => w.dataset(`/optimizer/vars/${k++}`, slots[j]?.[i] ?? new Float32Array(weight.value.length), weight.shape));
  });
}
