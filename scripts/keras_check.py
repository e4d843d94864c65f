#!/usr/bin/python3
"""Load a Keras file the way Keras' own loaders do, without Keras.

usage: keras_check.py FILE [--inputs inputs.json] [--config model.json] [--require native|all|keras3|tf.keras]

FILE: a `.keras` zip (Keras 3 / Keras 2.13 saving_lib), a legacy `.h5` (`model.save`, any Keras 2.x /
tf.keras / Keras 3), a `.keras`-named legacy HDF5 (tf.keras <= 2.11), a Keras 3 `x.weights.h5`, or a
Keras 2 `save_weights('x.h5')` file. Weights-only files need the architecture: --config FILE (a model
config JSON in any form), default `<file without .weights.h5/.h5>.model.json`.

Each loader is emulated separately (see docs/keras-formats.md for the code paths):
  keras3    keras.saving.load_model / Model.load_weights of Keras 3.x (saving_lib walk, legacy_h5_format)
  tf.keras  tf.keras 2.x load_model / load_weights (hdf5_format.load_weights_from_hdf5_group)
--require native (default) needs the loader of the Keras that wrote the file (keras_version) to accept it
without errors or warnings; `all` needs every loader that applies, on every version and platform (notes
marked "compat:" -- a root `vars` group missing, backslash group names, DTypePolicy objects, keys newer
than Keras 3.0 -- then fail too); or name one loader. Use `--require all` to test a writer.

Prints one line `keras_check: <file>: <error>` and exits 1 on a rejection or a warning; otherwise prints
JSON {"ok": true, "format", "keras_version", "loaders": {...}, "layers": [...], "total_params",
"trainable_params", "notes": [...], "outputs": [...] (with --inputs: a JSON list of inputs, or an object
with an "inputs" key)}.
"""
import argparse
import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_ref  # noqa: E402


class Reject(Exception):
    pass


# ------------------------------------------------------------------ shared helpers

def snake(name):
    """keras.src.utils.naming.to_snake_case (same in tf.keras generic_utils)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def attr_str(v):
    return v.decode("utf8") if hasattr(v, "decode") else str(v)


def load_attributes(group, name):
    """hdf5_format.load_attributes_from_hdf5_group: whole attribute or name0, name1, ... chunks."""
    if name in group.attrs:
        return [attr_str(n) for n in group.attrs[name]]
    data, i = [], 0
    while f"{name}{i}" in group.attrs:
        data.extend(attr_str(n) for n in group.attrs[f"{name}{i}"])
        i += 1
    return data


def attr_kind(obj, name):
    """'vlen-ascii' | 'vlen-utf8' | 'fixed' | 'float64-empty' | other, for documentation / notes."""
    a = obj.attrs.get_id(name)
    t = a.get_type()
    if isinstance(t, h5py.h5t.TypeStringID):
        if t.is_variable_str():
            return "vlen-utf8" if t.get_cset() == h5py.h5t.CSET_UTF8 else "vlen-ascii"
        return "fixed"
    if a.shape == (0,):
        return "float64-empty"
    return str(a.dtype)


def read_array(ds):
    """h5py dataset -> float64 numpy, honouring Keras 3's bfloat16 convention (opaque + attr dtype)."""
    t = ds.id.get_type()
    if isinstance(t, h5py.h5t.TypeOpaqueID):
        if attr_str(ds.attrs.get("dtype", b"")) != "bfloat16" or t.get_size() != 2:
            raise Reject(f"dataset {ds.name} is an opaque HDF5 type without attrs['dtype'] == 'bfloat16'")
        raw = np.frombuffer(ds[()].tobytes(), dtype="<u2").reshape(ds.shape)
        return (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    a = np.asarray(ds[()])
    if a.dtype.kind not in "fiu":
        raise Reject(f"dataset {ds.name} has non-numeric dtype {a.dtype}")
    return a.astype(np.float64)


def check_finite(name, arr):
    if not np.all(np.isfinite(arr)):
        raise Reject(f"weights of {name} contain NaN or Inf")


# ------------------------------------------------------------------ per-loader config checks

BASE3 = {"name", "trainable", "dtype", "autocast", "activity_regularizer", "input_dim", "input_shape"}
KEYS3 = {
    "InputLayer": {"shape", "batch_size", "dtype", "sparse", "batch_shape", "input_tensor", "name",
                   "batch_input_shape", "input_shape", "ragged", "optional"},
    "Conv2D": {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
               "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha"},
    "Dense": {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
              "bias_regularizer", "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha",
              "quantization_config"},
    "MaxPooling2D": {"pool_size", "strides", "padding", "data_format"},
    "AveragePooling2D": {"pool_size", "strides", "padding", "data_format"},
    "GlobalAveragePooling2D": {"data_format", "keepdims"},
    "GlobalMaxPooling2D": {"data_format", "keepdims"},
    "Flatten": {"data_format"},
    "Reshape": {"target_shape"},
    "Rescaling": {"scale", "offset"},
    "Dropout": {"rate", "noise_shape", "seed"},
    "SpatialDropout2D": {"rate", "seed", "data_format"},
    "GaussianNoise": {"stddev", "seed"},
    "GaussianDropout": {"rate", "seed"},
    "BatchNormalization": {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                           "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint",
                           "synchronized", "renorm", "renorm_clipping", "renorm_momentum"},
    "Activation": {"activation"},
    "ReLU": {"max_value", "negative_slope", "threshold"},
    "LeakyReLU": {"negative_slope", "alpha"},
    "ELU": {"alpha"},
    "Softmax": {"axis"},
}
# keys added after Keras 3.0 (a file using them needs at least that version)
LATER3 = {"lora_rank": "3.1", "lora_alpha": "3.6", "quantization_config": "3.12",
          "optional": "3.8", "renorm": "3.?", "renorm_clipping": "3.?", "renorm_momentum": "3.?"}
BASE2 = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape", "batch_size",
         "weights", "activity_regularizer", "autocast"}
KEYS2_EXTRA = {  # tf.keras 2.x differences from the Keras 3 lists above
    "InputLayer": {"input_shape", "batch_size", "dtype", "input_tensor", "sparse", "name", "ragged",
                   "type_spec", "batch_input_shape"},
    "LeakyReLU": {"alpha"},
}
OPTIMIZERS = {"adam", "rmsprop", "sgd", "adamw", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion"}


def check_layer_keys(loader, cls, cfg, legacy, notes, warns):
    c = dict(cfg)
    if loader == "keras2":
        return
    if loader == "keras3":
        if legacy:  # legacy_h5_format / saving_utils.model_from_config renames batch_input_shape
            if "batch_input_shape" in c:
                c.pop("batch_input_shape")
                if cls != "InputLayer":
                    warns.append(f"{cfg.get('name')}: legacy batch_input_shape becomes input_shape -> "
                                 "UserWarning 'Do not pass an `input_shape`/`input_dim` argument to a layer'")
        if cls == "LeakyReLU" and "alpha" in c:
            warns.append(f"{cfg.get('name')}: LeakyReLU 'alpha' -> UserWarning 'Argument `alpha` is deprecated'")
        allowed = KEYS3[cls] | (set() if cls == "InputLayer" else BASE3)
        bad = sorted(set(c) - allowed)
        if bad:
            raise Reject(f"keras3: Unrecognized keyword arguments passed to {cls}: {bad}")
        for k in c:
            if k in LATER3 and cls != "InputLayer":  # InputLayer.__init__ swallows unknown kwargs
                notes.append(f"compat: keras3: {cls}.{k} needs Keras >= {LATER3[k]}")
        d = c.get("dtype")
        if isinstance(d, dict):
            notes.append(f"compat: keras3: {cfg.get('name')} dtype given as a {d.get('class_name')} object "
                         "(early Keras 3 releases only read dtype strings)")
    else:
        if cls in KEYS2_EXTRA:  # InputLayer, LeakyReLU: tf.keras's own argument lists
            allowed = set(KEYS2_EXTRA[cls])
        else:
            allowed = KEYS3[cls] - {"lora_rank", "lora_alpha", "quantization_config", "synchronized"}
        allowed |= BASE2 if cls != "InputLayer" else set()
        bad = sorted(set(c) - allowed)
        if bad:
            raise Reject(f"tf.keras: Unrecognized keyword arguments for {cls}: {bad}")
        d = c.get("dtype")
        if isinstance(d, dict) and d.get("class_name") not in ("Policy", "PolicyV1"):
            raise Reject(f"tf.keras: {cls} dtype {d.get('class_name')} object is a Keras 3 DTypePolicy")
        if "module" in cfg:
            raise Reject("tf.keras: Keras 3 serialized layer config in a legacy file")


def walk_layer_entries(model_config):
    """All (class_name, config, entry) pairs of a model config in any form."""
    cfg = model_config.get("config")
    entries = cfg if isinstance(cfg, list) else cfg.get("layers", [])
    return [(e["class_name"], e.get("config") or {}, e) for e in entries]


# ------------------------------------------------------------------ legacy HDF5 (model.save('x.h5'))

def model_layers_with_weights(model):
    shapes = keras_ref.weight_shapes(model)
    return [(L, shapes[L["name"]]) for L in model["layers"] if L["name"] in shapes]


def load_weights_hdf5_group(f, model, loader, notes):
    """hdf5_format.load_weights_from_hdf5_group (order based). -> {layer_name: [arrays]}"""
    if "layer_names" not in f.attrs and "layer_names0" not in f.attrs:
        raise Reject(f"{loader}: no layer_names attribute in {f.name}")
    for a in ("layer_names", "layer_names0"):
        if a in f.attrs and attr_kind(f, a) not in ("fixed", "vlen-ascii", "vlen-utf8", "float64-empty"):
            raise Reject(f"{loader}: {a} has type {attr_kind(f, a)}")
    layer_names = load_attributes(f, "layer_names")
    filtered = []
    for name in layer_names:
        if name not in f:
            raise Reject(f"{loader}: layer group {name!r} listed in layer_names is missing")
        if load_attributes(f[name], "weight_names"):
            filtered.append(name)
    expected = model_layers_with_weights(model)
    if len(filtered) != len(expected):
        raise Reject(f"{loader}: Layer count mismatch when loading weights from file. Model expected "
                     f"{len(expected)} layers, found {len(filtered)} saved layers.")
    out = {}
    for k, (name, (L, shapes)) in enumerate(zip(filtered, expected)):
        g = f[name]
        wnames = load_attributes(g, "weight_names")
        vals = []
        for wn in wnames:
            if wn not in g:
                raise Reject(f"{loader}: weight {wn!r} listed in {g.name} weight_names is missing")
            vals.append(read_array(g[wn]))
        if len(vals) != len(shapes):
            raise Reject(f"{loader}: Weight count mismatch for layer #{k} (named {L['name']} in the current "
                         f"model, {name} in the save file). Layer expects {len(shapes)} weight(s). "
                         f"Received {len(vals)} saved weight(s)")
        for i, (v, s) in enumerate(zip(vals, shapes)):
            if tuple(v.shape) != tuple(s):
                if loader == "tf.keras" and i == 0 and L["class_name"] == "Conv2D" and v.ndim == 4 and \
                        tuple(np.transpose(v, (3, 2, 0, 1)).shape) == tuple(s):
                    notes.append(f"tf.keras: {name} kernel transposed (3,2,0,1) by preprocess_weights_for_loading")
                    v = np.transpose(v, (3, 2, 0, 1))
                    vals[i] = v
                    continue
                raise Reject(f"{loader}: Shape mismatch in layer #{k} (named {L['name']}) for weight {wnames[i]}. "
                             f"Weight expects shape {tuple(s)}. Received saved weight with shape {tuple(v.shape)}")
            check_finite(L["name"], v)
        out[L["name"]] = vals
    if "top_level_model_weights" in f:
        n = len(load_attributes(f["top_level_model_weights"], "weight_names"))
        if n != 0:
            raise Reject(f"{loader}: Weight count mismatch for top-level weights: model expects 0, file has {n}")
    return out


def optimizer_layout(loader, opt_cls, opt_cfg, trainable_shapes, keras_version):
    """Expected optimizer variable shapes, in order, for the loader that rebuilds the optimizer."""
    n = opt_cls.lower()
    if loader == "keras2":  # standalone Keras 2.2.x: weights = [iterations] + slots (Adam adds vhats)
        if n == "adam":
            return [()] + trainable_shapes * 2 + ([(1,)] * len(trainable_shapes) if not opt_cfg.get("amsgrad")
                                                  else trainable_shapes)
        if n == "sgd":
            return [()] + trainable_shapes
        return None
    if loader == "keras3":
        lr = opt_cfg.get("learning_rate", 0.001)
        head = [()] + ([()] if not isinstance(lr, dict) else [])  # iteration, learning_rate
        if n == "adam" or n == "adamw" or n == "adamax" or n == "nadam":
            slots = [s for s in trainable_shapes for _ in (0, 1)]  # momentum_i, velocity_i interleaved
            if opt_cfg.get("amsgrad"):
                slots += trainable_shapes
            return head + slots
        if n == "rmsprop":
            k = 1 + (1 if opt_cfg.get("momentum", 0) else 0) + (1 if opt_cfg.get("centered") else 0)
            return head + trainable_shapes * k
        if n == "sgd":
            return head + (trainable_shapes if opt_cfg.get("momentum", 0) else [])
        return None
    v = tuple(int(x) for x in re.findall(r"\d+", keras_version)[:2]) if keras_version else (2, 0)
    if v >= (2, 11) and not opt_cfg.get("is_legacy_optimizer", False):  # tf.keras new optimizer
        if n in ("adam", "adamw"):
            return [()] + [s for s in trainable_shapes for _ in (0, 1)] + (trainable_shapes if opt_cfg.get("amsgrad") else [])
        if n == "rmsprop":
            return [()] + [s for s in trainable_shapes for _ in range(1 + (1 if opt_cfg.get("momentum", 0) else 0)
                                                                      + (1 if opt_cfg.get("centered") else 0))]
        if n == "sgd":  # tf.keras >= 2.11 SGD.build adds the "m" slot whatever the momentum
            return [()] + trainable_shapes
        return None
    # OptimizerV2 (tf.keras <= 2.10): iterations, then one slot name at a time over all variables
    if n == "adam":
        return [()] + trainable_shapes * (3 if opt_cfg.get("amsgrad") else 2)
    if n == "rmsprop":
        return [()] + trainable_shapes * (1 + (1 if opt_cfg.get("momentum", 0) else 0) + (1 if opt_cfg.get("centered") else 0))
    if n == "sgd":
        return [()] + (trainable_shapes if opt_cfg.get("momentum", 0) else [])
    return None


def trainable_shapes_of(model):
    out = []
    for L, shapes in model_layers_with_weights(model):
        c = L["config"]
        if c.get("trainable", True) is False:
            continue
        if L["class_name"] == "BatchNormalization":
            out += shapes[:-2]
        else:
            out += shapes
    return out


def check_training_config(f, loader, model, keras_version, notes, warns):
    tc = f.attrs.get("training_config")
    if tc is None:
        warns.append(f"{loader}: 'No training configuration found in the save file, so the model was *not* compiled'")
        return None
    tc = json.loads(attr_str(tc))
    oc = tc.get("optimizer_config") or {}
    cls, cfg = oc.get("class_name", ""), dict(oc.get("config") or {})
    if cls.lower() not in OPTIMIZERS:
        raise Reject(f"{loader}: unknown optimizer {cls!r}")
    if loader == "keras3":
        if "lr" in cfg:
            raise Reject(f"keras3: optimizer Argument(s) not recognized: {{'lr': ...}} (Keras <= 2.2 key)")
        if cfg.get("decay") is not None:
            warns.append("keras3: optimizer config has 'decay' -> UserWarning 'Argument `decay` is no longer supported'")
        extra = set(cfg) - {"name", "learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
                            "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                            "gradient_accumulation_steps", "beta_1", "beta_2", "epsilon", "amsgrad", "rho",
                            "momentum", "centered", "nesterov", "decay"}
        if extra:
            raise Reject(f"keras3: optimizer Argument(s) not recognized: {sorted(extra)}")
    elif loader == "tf.keras":
        if "lr" in cfg:
            warns.append("tf.keras: optimizer 'lr' -> 'The `lr` argument is deprecated, use `learning_rate` instead.'")
    if "optimizer_weights" in f:
        g = f["optimizer_weights"]
        names = load_attributes(g, "weight_names")
        for wn in names:
            if wn not in g:
                raise Reject(f"{loader}: optimizer weight {wn!r} is missing")
        have = [tuple(g[wn].shape) for wn in names]
        want = optimizer_layout(loader, cls, cfg, trainable_shapes_of(model), keras_version)
        if want is None:
            notes.append(f"{loader}: optimizer {cls} state layout not modelled; not checked")
        else:
            want = [tuple(s) for s in want]
            if loader == "keras3":  # BaseOptimizer.set_weights: zip(), shape check only on the pairs
                bad = any(w != h for w, h in zip(want, have))
                if not bad and len(want) != len(have):
                    notes.append(f"keras3: optimizer_weights has {len(have)} values for {len(want)} variables "
                                 "(set_weights zips them; the rest keep their initial values)")
            else:
                bad = want != have
            if bad:
                warns.append(f"{loader}: 'Error in loading the saved optimizer state. As a result, your model is "
                             f"starting with a freshly initialized optimizer.' (file has {len(have)} variables "
                             f"{have[:3]}..., {cls} expects {len(want)})")
    return tc


def check_legacy_model(f, loader, notes, warns):
    if "model_config" not in f.attrs:
        raise Reject(f"{loader}: No model config found in the file")
    kind = attr_kind(f, "model_config")
    if kind == "vlen-utf8":
        notes.append("model_config is a vlen UTF-8 str: tf.keras <= 2.3 (h5py 2, `.decode` on str) fails")
    mc = json.loads(attr_str(f.attrs["model_config"]))
    if loader == "keras3" and isinstance(mc.get("config"), list):
        raise Reject("keras3: Sequential config is a list (Keras <= 2.2.4): saving_utils.model_from_config "
                     "calls config['config'].pop(...) on it (TypeError)")
    legacy = True
    for cls, cfg, e in walk_layer_entries(mc):
        if cls not in KEYS3:
            raise Reject(f"{loader}: unsupported layer {cls}")
        check_layer_keys(loader, cls, cfg, legacy, notes, warns)
    model = keras_ref.normalize(mc)
    kv = attr_str(f.attrs.get("keras_version", b""))
    if "model_weights" not in f:
        raise Reject(f"{loader}: no model_weights group")
    weights = load_weights_hdf5_group(f["model_weights"], model, loader, notes)
    check_training_config(f, loader, model, kv, notes, warns)
    return model, weights


def check_weights_only_h5(f, loader, model, notes):
    """Model.load_weights('x.h5') on a Keras 2 save_weights file (or a full model file)."""
    if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
        f = f["model_weights"]
    return load_weights_hdf5_group(f, model, loader, notes)


# ------------------------------------------------------------------ saving_lib (.keras / .weights.h5)

def saveable_paths(model, mode="keras3"):
    """The (path, layer) pairs saving_lib visits for model.layers.

    keras3 / tf.keras >= 2.14: container `layers` = model.layers (Sequential: without its InputLayer;
    Functional: with it), each named snake_case(class) + _k per class in order.
    tf.keras 2.13: container `_layer_checkpoint_dependencies` (an OrderedDict that lists every layer with
    weights twice: 'layer_with_weights-i' then 'layer-j'); the second visit of a layer still takes a
    number but saves nothing, so names skip (conv2d, conv2d_2, ...)."""
    layers = list(model["layers"])
    if model["class_name"] in ("Functional", "Model"):
        layers = [{"class_name": "InputLayer", "name": model.get("input_name") or "(input)", "config": {}}] + layers
    shapes = keras_ref.weight_shapes(model)
    seq = []
    for L in layers:
        if mode == "tf.keras-2.13" and shapes.get(L["name"]):
            seq.append(L)
        seq.append(L)
    root = "_layer_checkpoint_dependencies" if mode == "tf.keras-2.13" else "layers"
    out, used, seen = [], {}, set()
    for L in seq:
        n = snake(L["class_name"])
        if n in used:
            used[n] += 1
            n = f"{n}_{used[n]}"
        else:
            used[n] = 0
        if id(L) in seen:
            continue
        seen.add(id(L))
        out.append((f"{root}/{n}", L))
    return out


def h5_get(h5, path, windows_ok, fallback_213=True):
    """H5IOStore.get(path) -> the `vars` group or None (with Keras 3's 2.13 fallback)."""
    if not path:
        return h5["vars"] if "vars" in h5 else None
    for p in [path] + ([path.replace("/", "\\")] if windows_ok else []):
        if p in h5 and isinstance(h5[p], h5py.Group) and "vars" in h5[p]:
            return h5[p]["vars"]
    if fallback_213 and "_layer_checkpoint_dependencies" in h5:
        p = path.replace("layers", "_layer_checkpoint_dependencies")
        for q in [p] + ([p.replace("/", "\\")] if windows_ok else []):
            if q in h5 and "vars" in h5[q]:
                return h5[q]["vars"]
    return None


def load_saving_lib_weights(h5, model, notes, warns, compile_config=None, mode="keras3"):
    """saving_lib._load_state for a model: model `vars`, each layer's `vars`, `optimizer/vars`."""
    tag = "keras3" if mode == "keras3" else "tf.keras"
    out = {}
    shapes = keras_ref.weight_shapes(model)
    if "vars" not in h5:
        if mode == "keras3":
            notes.append("compat: no root `vars` group: Keras 3.0-3.9 (H5Entry: h5_file['vars']) fail with "
                         "KeyError; 3.10+ accept")
        else:
            raise Reject("tf.keras: no root `vars` group (H5IOStore.get('') -> h5_file['vars'] KeyError)")
    elif len(h5["vars"]) != 0:
        raise Reject(f"{tag}: model-level `vars` has {len(h5['vars'])} variables, the model has none")
    backslash = [k for k in h5.keys() if "\\" in k]
    if backslash:
        notes.append(f"compat: groups named with backslashes ({backslash[0]!r}...): written on Windows; only a "
                     "loader running on Windows (os.path.join) finds them")
    for path, L in saveable_paths(model, mode):
        want = shapes.get(L["name"], [])
        g = h5_get(h5, path, windows_ok=bool(backslash), fallback_213=(mode == "keras3"))
        keys = sorted(g.keys(), key=lambda k: (len(k), k)) if g is not None else []
        if len(keys) != len(want):
            raise Reject(f"{tag}: Layer '{L['name']}' expected {len(want)} variables, but received {len(keys)} "
                         f"variables during loading (looked at {path}/vars)")
        if keys != [str(i) for i in range(len(keys))]:
            raise Reject(f"{tag}: {path}/vars keys {keys} are not 0..{len(keys) - 1}")
        vals = []
        for i, s in enumerate(want):
            v = read_array(g[str(i)])
            if tuple(v.shape) != tuple(s):
                raise Reject(f"{tag}: {path}/vars/{i}: shape {tuple(v.shape)} does not match the layer's "
                             f"variable shape {tuple(s)} ({L['name']})")
            check_finite(L["name"], v)
            vals.append(v)
        if want:
            out[L["name"]] = vals
    if compile_config:
        oc = compile_config.get("optimizer")
        if isinstance(oc, str):
            oc = {"class_name": oc, "config": {}}
        if oc:
            cls = oc.get("class_name", "")
            if cls.lower() not in OPTIMIZERS:
                raise Reject(f"{tag}: unknown optimizer {cls!r}")
            layout_loader = "keras3" if mode == "keras3" else "tf.keras"
            want = optimizer_layout(layout_loader, cls, oc.get("config") or {}, trainable_shapes_of(model),
                                    "3" if mode == "keras3" else "2.13")
            g = h5_get(h5, "optimizer", windows_ok=bool(backslash), fallback_213=False)
            have = [tuple(g[k].shape) for k in sorted(g.keys(), key=lambda k: (len(k), k))] if g is not None else []
            name = (oc.get("config") or {}).get("name", cls)
            if want is None:
                notes.append(f"optimizer {cls} layout not modelled")
            elif len(have) != len(want):
                warns.append(f"{tag}: \"Skipping variable loading for optimizer '{name}', because it has "
                             f"{len(want)} variables whereas the saved optimizer has {len(have)} variables.\"")
            elif have != [tuple(s) for s in want]:
                raise Reject(f"{tag}: optimizer variable shapes {have} do not match {want}")
    elif "optimizer" in h5:
        notes.append("optimizer variables present but compile_config is null: ignored by the loader")
    return out


def check_keras3_config(cfg, loader, notes, warns):
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise Reject(f"{loader}: config.json is not a serialized model")
    model = keras_ref.normalize(json.loads(json.dumps(cfg)))  # graph shape first (chains only)
    for cls, c, e in walk_layer_entries(cfg):
        if cls not in KEYS3:
            raise Reject(f"{loader}: unsupported layer {cls}")
        check_layer_keys(loader, cls, c, legacy="module" not in e, notes=notes, warns=warns)
    return model


def check_zip(path, notes):
    """-> (model, weights, keras_version, loaders)"""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if "config.json" not in names:
            raise Reject("keras3: \"There is no item named 'config.json' in the archive\"")
        for info in zf.infolist():
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise Reject(f"zip member {info.filename} uses compression {info.compress_type}")
            if info.compress_type == zipfile.ZIP_DEFLATED:
                notes.append(f"{info.filename} is deflated (Keras writes ZIP_STORED; zipfile reads both)")
        cfg = json.loads(zf.read("config.json"))
        meta = {}
        if "metadata.json" in names:
            meta = json.loads(zf.read("metadata.json"))
        else:
            notes.append("no metadata.json (saving_lib.load_model does not read it)")
        if "model.weights.h5" not in names:
            if "model.weights.npz" in names:
                raise Reject("model.weights.npz (npz weights) not supported by this checker")
            raise Reject("keras3: Expected a model.weights.h5 or model.weights.npz file.")
        if len(names) > 3:
            notes.append(f"{len(names)} members: the loader extracts assets/ (DiskIOStore)")
        weights_bytes = zf.read("model.weights.h5")
    kv = meta.get("keras_version")
    if not path.endswith(".keras"):
        raise Reject("saving_lib only loads files whose name ends in .keras")
    loaders, result = {}, None
    modes = ["keras3"]
    if kv and kv.startswith("2."):
        modes = ["tf.keras-2.13" if kv.startswith("2.13") else "tf.keras-2.14"] + modes
    for mode in modes:
        tag = "keras3" if mode == "keras3" else "tf.keras"
        w = []
        try:
            model = check_keras3_config(json.loads(json.dumps(cfg)), "keras3" if mode == "keras3" else "tf.keras-zip",
                                        notes, w)
            h5 = h5py.File(io.BytesIO(weights_bytes), "r")
            weights = load_saving_lib_weights(h5, model, notes, w, compile_config=cfg.get("compile_config"),
                                              mode="keras3" if mode == "keras3" else
                                              ("tf.keras-2.13" if mode == "tf.keras-2.13" else "tf.keras-2.14"))
            loaders[tag] = "warning: " + w[0] if w else "ok"
            if result is None:
                result = (model, weights)
        except (Reject, keras_ref.UnsupportedError, KeyError, ValueError) as e:
            loaders[tag] = "error: " + str(e)
            if isinstance(e, keras_ref.UnsupportedError):
                raise
    return result, kv, loaders


# ------------------------------------------------------------------ driver

def architecture_for(path, given):
    cand = given
    if cand is None:
        base = path[:-len(".weights.h5")] if path.endswith(".weights.h5") else os.path.splitext(path)[0]
        cand = base + ".model.json"
    if not os.path.exists(cand):
        raise Reject(f"weights-only file: give the architecture with --config (looked for {cand})")
    with open(cand) as fh:
        return json.load(fh)


def family_of(kv):
    """keras_version -> the loader of the Keras that wrote it."""
    kv = kv or ""
    if re.match(r"^3\.", kv):
        return "keras3"
    if re.match(r"^2\.[0-3]\.\d+$", kv):  # standalone multi-backend Keras (tf.keras says 2.x.y-tf)
        return "keras2"
    if re.match(r"^1\.", kv):
        return "keras2"
    return "tf.keras"


def check(path, config_path=None, require="native"):
    notes, loaders, result, kv = [], {}, None, None
    if not os.path.isfile(path):
        raise Reject("no such file")
    if zipfile.is_zipfile(path):
        res, kv, loaders = check_zip(path, notes)
        fmt = "keras-zip-v1" if kv and kv.startswith("2.") else "keras-zip"
        native = "tf.keras" if fmt == "keras-zip-v1" else "keras3"
        if res is not None:
            result = (res[0], res[1], kv or "3")
    else:
        if not h5py.is_hdf5(path):
            raise Reject("neither a zip (.keras) nor an HDF5 file")
        f = h5py.File(path, "r")
        kv = attr_str(f.attrs.get("keras_version", b"")) or None
        if "model_config" in f.attrs:
            fmt = "h5-model"
            native = family_of(kv)
            applicable = ["tf.keras", "keras3"] + (["keras2"] if native == "keras2" else [])
            if path.endswith(".keras"):
                fmt = "h5-model-keras-name"
                loaders["keras3"] = ("error: keras3 load_model: a .keras name that is not a zip -> "
                                     "'File not found ... Please ensure the file is an accessible `.keras` zip file.'")
                applicable.remove("keras3")
            elif not path.endswith((".h5", ".hdf5")):
                notes.append("Keras 3 load_model needs a .h5/.hdf5 name for HDF5 files")
            for ld in applicable:
                w = []
                try:
                    m, wts = check_legacy_model(f, ld, notes, w)
                    loaders[ld] = "warning: " + w[0] if w else "ok"
                    if result is None or ld == native:
                        result = (m, wts, kv)
                except keras_ref.UnsupportedError:
                    raise
                except (Reject, KeyError, ValueError, TypeError) as e:
                    loaders[ld] = "error: " + str(e)
        elif "vars" in f or "layers" in f or "_layer_checkpoint_dependencies" in f:
            fmt = "weights-h5-saving-lib"
            native = "keras3"
            if not path.endswith(".weights.h5"):
                raise Reject("keras3: save_weights/load_weights need the .weights.h5 suffix for this layout")
            model = keras_ref.normalize(architecture_for(path, config_path))
            w = []
            weights = load_saving_lib_weights(f, model, notes, w)
            loaders["keras3"] = "warning: " + w[0] if w else "ok"
            result = (model, weights, kv or "3")
        elif "layer_names" in f.attrs or "layer_names0" in f.attrs:
            fmt = "h5-weights"
            native = family_of(kv)
            model = keras_ref.normalize(architecture_for(path, config_path))
            for ld in ("tf.keras", "keras3"):
                try:
                    wts = check_weights_only_h5(f, ld, model, notes)
                    loaders[ld] = "ok"
                    result = (model, wts, kv)
                except Reject as e:
                    loaders[ld] = "error: " + str(e)
            if path.endswith(".weights.h5"):
                loaders["keras3"] = "error: keras3 treats *.weights.h5 as the saving_lib layout (no `vars` here)"
        else:
            raise Reject("HDF5 file with neither model_config, layer_names nor vars: not a Keras file")
    if native not in loaders:
        native = next(iter(loaders))
    need = [native] if require == "native" else (list(loaders) if require == "all" else [require])
    for ld in need:
        v = loaders.get(ld, "error: loader not applicable to this file")
        if v != "ok":
            msg = v.split(": ", 1)[1] if ": " in v else v
            raise Reject(msg if msg.startswith(ld + ":") else f"{ld}: {msg}")
    if result is None:
        raise Reject("no loader accepted the file")
    compat = sorted(n for n in set(notes) if n.startswith("compat: "))
    if require == "all" and compat:
        raise Reject(compat[0][len("compat: "):] + " (--require all: every Keras version must load the file)")
    model, weights, kv = result
    rows, total, trainable = keras_ref.summarize(model)
    out = {"ok": True, "format": fmt, "keras_version": kv, "native_loader": native, "loaders": loaders,
           "input_shape": model["input_shape"], "layers": rows, "total_params": total,
           "trainable_params": trainable, "notes": sorted(set(notes))}
    major = 3 if family_of(kv) == "keras3" or (fmt.startswith("keras-zip") and not (kv or "").startswith("2.")) else 2
    return out, model, weights, major


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--inputs")
    ap.add_argument("--config")
    ap.add_argument("--require", default="native", choices=["native", "all", "keras3", "tf.keras"])
    a = ap.parse_args(argv)
    try:
        out, model, weights, major = check(a.file, a.config, a.require)
        if a.inputs:
            with open(a.inputs) as fh:
                data = json.load(fh)
            x = np.asarray(data["inputs"] if isinstance(data, dict) else data, dtype=np.float64)
            out["outputs"] = keras_ref.forward(model, weights, x, major).tolist()
    except (Reject, keras_ref.UnsupportedError) as e:
        print(f"keras_check: {a.file}: {e}")
        return 1
    except (OSError, KeyError, ValueError, json.JSONDecodeError, zipfile.BadZipFile) as e:
        print(f"keras_check: {a.file}: {type(e).__name__}: {e}")
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
