#!/usr/bin/python3
"""Generate test/fixtures/keras/: small model files laid out exactly as each Keras version writes them.

Each writer below repeats, with h5py / zipfile, the calls the named Keras source makes (see
docs/keras-formats.md for the citations), so attribute types (vlen ASCII for Python bytes, vlen UTF-8
for str, fixed-length |S for arrays of bytes, float64 (0,) for empty lists), group names, dataset
dtypes and zip members come out as Keras makes them. Weights come from a fixed NumPy seed; zip dates
are fixed, so the files are byte-identical on every run.

For every valid fixture it writes <name>.expected.json (inputs, keras_ref.py outputs, summary rows) and
checks the file with keras_check.py; every invalid fixture must be rejected by keras_check.py.

usage: /usr/bin/python3 scripts/keras_fixtures.py [--out DIR]
"""
import argparse
import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import keras_ref  # noqa: E402
from keras_check import snake  # noqa: E402

N_INPUTS = 8
ZIP_DATE = (2025, 1, 15, 12, 0, 0)  # Keras stamps model.weights.h5 with the save time; fixed here


def f32(x):
    """A float32 hyper-parameter as Keras serializes it (float(np.float32(x)))."""
    return float(np.float32(x))


def vtuple(v):
    return tuple(int(x) for x in v.split("-")[0].split(".")[:2])


def pair(v):
    return [int(v), int(v)] if not isinstance(v, (list, tuple)) else [int(v[0]), int(v[1])]


# ====================================================================== styles


class Style:
    """fam: k22 (standalone Keras 2.2.x), tf2 (tf.keras 2.x legacy), k213 (Keras 2.13 .keras),
    k3 (Keras 3 .keras / .weights.h5), k3legacy (Keras 3 legacy .h5)."""

    def __init__(self, fam, version, dtype_objects=False, weight_names="tf2", top_level=False, copy_bis=True):
        self.fam, self.version = fam, version
        self.copy_bis = copy_bis  # tf.keras copies batch_input_shape onto the first real layer
        # h5py 2.x (standalone Keras, tf.keras <= 2.4) turns a list of bytes into a fixed-length |S
        # array attribute; h5py 3.x (tf.keras >= 2.5, Keras 3) into a variable-length ASCII array.
        self.h5py2 = fam == "k22" or (fam == "tf2" and vtuple(version) < (2, 5))
        self.dtype_objects = dtype_objects  # Keras 3 layer "dtype" as a DTypePolicy dict
        self.weight_names = weight_names    # k22 | tf2 | bare (Keras 3.0-3.2) | path (Keras 3.3+)
        self.top_level = top_level          # legacy h5 has model_weights/top_level_model_weights


def init_cfg(st, kind):
    names = {"glorot_uniform": "GlorotUniform", "zeros": "Zeros", "ones": "Ones"}
    if st.fam == "k22":
        if kind == "glorot_uniform":
            return {"class_name": "VarianceScaling",
                    "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
        return {"class_name": names[kind], "config": {}}
    c = {"seed": None} if kind == "glorot_uniform" else {}
    if st.fam == "tf2":
        return {"class_name": names[kind], "config": c}
    return {"module": "keras.initializers", "class_name": names[kind], "config": c, "registered_name": None}


def dtype_cfg(st, dt):
    if st.fam in ("k3", "k3legacy") and st.dtype_objects:
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dt}, "registered_name": None}
    if st.fam in ("tf2", "k213") and dt.startswith("mixed"):
        return {"class_name": "Policy", "config": {"name": dt}}
    return dt


def layer_cfg(st, s, name, in_shape, first_bis=None):
    """Inner config dict of one layer, key order as the version's get_config() builds it."""
    cls, fam = s["cls"], st.fam
    c = {"name": name, "trainable": s.get("trainable", True)}
    if fam == "k22":
        if first_bis is not None:
            c["batch_input_shape"] = first_bis
            c["dtype"] = "float32"
    else:
        if first_bis is not None and fam in ("tf2", "k213"):
            c["batch_input_shape"] = first_bis
        c["dtype"] = dtype_cfg(st, s.get("dtype", "float32"))
    if "stray_batch_input_shape" in s:  # a later layer that still carries batch_input_shape
        c["batch_input_shape"] = s["stray_batch_input_shape"]
    act = s.get("activation", "linear")
    if cls == "Conv2D":
        ks = pair(s["kernel_size"])
        c.update(filters=s["filters"], kernel_size=ks, strides=pair(s.get("strides", 1)),
                 padding=s.get("padding", "valid"), data_format="channels_last",
                 dilation_rate=pair(s.get("dilation_rate", 1)))
        if fam != "k22":
            c["groups"] = 1
        c.update(activation=act, use_bias=s.get("use_bias", True),
                 kernel_initializer=init_cfg(st, "glorot_uniform"), bias_initializer=init_cfg(st, "zeros"),
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None)
    elif cls == "Dense":
        c.update(units=s["units"], activation=act, use_bias=s.get("use_bias", True),
                 kernel_initializer=init_cfg(st, "glorot_uniform"), bias_initializer=init_cfg(st, "zeros"),
                 kernel_regularizer=None, bias_regularizer=None)
        if fam not in ("k3", "k3legacy"):
            c["activity_regularizer"] = None
        c.update(kernel_constraint=None, bias_constraint=None)
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        ps = pair(s.get("pool_size", 2))
        c.update(pool_size=ps, padding=s.get("padding", "valid"), strides=pair(s.get("strides", ps)),
                 data_format="channels_last")
    elif cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        c["data_format"] = "channels_last"
        if fam != "k22":
            c["keepdims"] = False
    elif cls == "Flatten":
        c["data_format"] = "channels_last"
    elif cls == "Reshape":
        c["target_shape"] = list(s["target_shape"])
    elif cls == "Rescaling":
        c.update(scale=s["scale"], offset=s.get("offset", 0.0))
    elif cls == "Dropout":
        if fam in ("k3", "k3legacy"):
            c.update(rate=s["rate"], seed=None, noise_shape=None)
        else:
            c.update(rate=s["rate"], noise_shape=None, seed=None)
    elif cls == "BatchNormalization":
        axis = -1 if fam in ("k22", "k3", "k3legacy") else [len(in_shape)]
        c.update(axis=axis, momentum=0.99, epsilon=0.001, center=s.get("center", True), scale=s.get("scale", True),
                 beta_initializer=init_cfg(st, "zeros"), gamma_initializer=init_cfg(st, "ones"),
                 moving_mean_initializer=init_cfg(st, "zeros"), moving_variance_initializer=init_cfg(st, "ones"),
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None)
        if fam in ("k3", "k3legacy"):
            c["synchronized"] = False
    elif cls == "Activation":
        c["activation"] = act
    elif cls == "ReLU":
        mv = s.get("max_value")
        c.update(max_value=None if mv is None else float(mv), negative_slope=0.0, threshold=0.0)
    elif cls == "LeakyReLU":
        if fam in ("k3", "k3legacy"):
            c["negative_slope"] = s.get("negative_slope", 0.3)
        else:
            c["alpha"] = f32(s.get("alpha", 0.3))
    elif cls == "ELU":
        c["alpha"] = 1.0
    elif cls == "LSTM":
        c.update(return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 time_major=False, units=s["units"], activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer=init_cfg(st, "glorot_uniform"),
                 recurrent_initializer=init_cfg(st, "glorot_uniform"), bias_initializer=init_cfg(st, "zeros"),
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, implementation=2)
    elif cls == "Add":
        pass
    else:
        raise ValueError(cls)
    return c


def input_cfg(st, name, shape):
    if st.fam in ("k3", "k3legacy"):
        c = {"batch_shape": [None] + list(shape), "dtype": "float32", "sparse": False}
        if vtuple(st.version) >= (3, 8):  # later InputLayer.get_config adds ragged and optional
            c["ragged"] = False
        c["name"] = name
        if vtuple(st.version) >= (3, 8):
            c["optional"] = False
        return c
    return {"batch_input_shape": [None] + list(shape), "dtype": "float32", "sparse": False, "ragged": False,
            "name": name}


def entry(st, cls, cfg, build_shape=None):
    if st.fam in ("k3", "k213"):
        e = {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}
        if build_shape is not None:
            e["build_config"] = {"input_shape": [None] + list(build_shape)}
        return e
    return {"class_name": cls, "config": cfg}


def inbound(st, prev, shape):
    if st.fam in ("k3", "k3legacy"):
        return [{"args": [{"class_name": "__keras_tensor__",
                           "config": {"shape": [None] + list(shape), "dtype": "float32",
                                      "keras_history": [prev, 0, 0]}}], "kwargs": {}}]
    return [[[prev, 0, 0, {}]]]


# ====================================================================== models


class Built:
    pass


def build(st, specs, input_shape, kind="Sequential", model_name=None, input_name=None, compile_config=None,
          model_dtype="float32"):
    """-> Built with .config (model config dict), .model (keras_ref normalized), .layer_names
    (model.layers order, for legacy layer_names), .names."""
    counters, names = {}, []
    for s in specs:
        base = snake(s["cls"])
        k = counters.get(base, 0)
        counters[base] = k + 1
        auto = f"{base}_{k + 1}" if st.fam == "k22" else (base if k == 0 else f"{base}_{k}")
        names.append(s.get("name", auto))
    # per-layer input shapes, from keras_ref's shape rules
    shapes, shape = [], list(input_shape)
    for s, n in zip(specs, names):
        shapes.append(shape)
        tmp = {"class_name": s["cls"], "name": n, "config": layer_cfg(Style("k3", "3"), s, n, shape)}
        if s["cls"] in ("LSTM", "Add"):
            shape = [s.get("units", shape[-1])]
            continue
        shape, _, _ = keras_ref.layer_output(tmp, shape)
    b = Built()
    b.names = names
    if kind == "Sequential":
        if st.fam == "k22":
            ents = [entry(st, s["cls"], layer_cfg(st, s, n, sh, first_bis=[None] + list(input_shape) if i == 0 else None))
                    for i, (s, n, sh) in enumerate(zip(specs, names, shapes))]
            b.config = {"class_name": "Sequential", "config": ents}
        else:
            iname = input_name or (f"{names[0]}_input" if st.fam in ("tf2", "k213") else "input_layer")
            ents = [entry(st, "InputLayer", input_cfg(st, iname, input_shape))]
            for i, (s, n, sh) in enumerate(zip(specs, names, shapes)):
                first = [None] + list(input_shape) if (i == 0 and st.fam in ("tf2", "k213") and st.copy_bis) else None
                ents.append(entry(st, s["cls"], layer_cfg(st, s, n, sh, first_bis=first), build_shape=sh))
            inner = {"name": model_name or "sequential"}
            if st.fam in ("k3", "k3legacy"):
                inner.update(trainable=True, dtype=dtype_cfg(st, model_dtype))
            inner["layers"] = ents
            if st.fam in ("k3", "k3legacy"):
                inner["build_input_shape"] = [None] + list(input_shape)
            b.config = _wrap_model(st, "Sequential", inner, input_shape, compile_config)
        b.layer_names = list(names)
    else:
        iname = input_name or ("input_1" if st.fam in ("tf2", "k213") else "input_layer")
        ie = entry(st, "InputLayer", input_cfg(st, iname, input_shape))
        ie["name"] = iname
        ie["inbound_nodes"] = []
        ents, prev = [ie], iname
        for s, n, sh in zip(specs, names, shapes):
            e = entry(st, s["cls"], layer_cfg(st, s, n, sh), build_shape=sh)
            e["name"] = n
            e["inbound_nodes"] = inbound(st, prev, sh)
            ents.append(e)
            prev = n
        inner = {"name": model_name or ("model" if st.fam in ("tf2", "k213") else "functional")}
        if st.fam in ("k3", "k3legacy"):
            inner["trainable"] = True
        inner.update(layers=ents, input_layers=[[iname, 0, 0]], output_layers=[[names[-1], 0, 0]])
        b.config = _wrap_model(st, "Functional", inner, input_shape, compile_config)
        b.layer_names = [iname] + list(names)
    b.kind = kind
    try:
        b.model = keras_ref.normalize(b.config)
    except keras_ref.UnsupportedError:
        b.model = None
    return b


def _wrap_model(st, cls, inner, input_shape, compile_config):
    if st.fam in ("tf2", "k3legacy"):
        return {"class_name": cls, "config": inner}
    if st.fam == "k213":
        out = {"module": "keras", "class_name": cls, "config": inner, "registered_name": None}
        if cls == "Functional":
            out.update(module="keras.src.engine.functional", registered_name="Functional")
        out["build_config"] = {"input_shape": [None] + list(input_shape)}
    else:
        if cls == "Functional":
            out = {"module": "keras.src.models.functional", "class_name": "Functional", "config": inner,
                   "registered_name": "Functional", "build_config": {"input_shape": None}}
        else:
            out = {"module": "keras", "class_name": cls, "config": inner, "registered_name": None,
                   "build_config": {"input_shape": [None] + list(input_shape)}}
    if compile_config is not None:
        out["compile_config"] = compile_config
    return out


def make_weights(b, rng, dtypes=None):
    """{layer_name: [arrays]} with plausible trained-looking values (Keras save order)."""
    out = {}
    shape = list(b.model["input_shape"])
    for L in b.model["layers"]:
        ws = keras_ref.expected_weight_shapes(L, shape)
        arrs = []
        if L["class_name"] == "BatchNormalization":
            c = L["config"]
            if c.get("scale", True):
                arrs.append(rng.uniform(0.6, 1.4, ws[0]))
            if c.get("center", True):
                arrs.append(rng.normal(0, 0.1, ws[0]))
            arrs.append(rng.normal(0, 0.2, ws[0]))
            arrs.append(rng.uniform(0.3, 1.5, ws[0]))
        else:
            for i, s in enumerate(ws):
                if i == 0:
                    fan_in = int(np.prod(s[:-1]))
                    arrs.append(rng.normal(0, np.sqrt(2.0 / fan_in), s))
                else:
                    arrs.append(rng.normal(0, 0.05, s))
        dt = (dtypes or {}).get(L["name"], "float32")
        if arrs:
            out[L["name"]] = [a.astype(np.float32 if dt == "bfloat16" else dt) for a in arrs]
            if dt == "bfloat16":  # round to bfloat16 (round-to-nearest-even) but keep float32 carrier
                out[L["name"]] = [bf16_round(a) for a in out[L["name"]]]
        shape, _, _ = keras_ref.layer_output(L, shape)
    return out


def bf16_round(a):
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def bf16_bits(a):
    return (np.asarray(a, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")


def weight_var_names(b, layer_name):
    L = next(x for x in b.model["layers"] if x["name"] == layer_name)
    c = L["config"]
    if L["class_name"] == "BatchNormalization":
        return ([n for n, on in (("gamma", c.get("scale", True)), ("beta", c.get("center", True))) if on]
                + ["moving_mean", "moving_variance"])
    return ["kernel", "bias"][:len(b.weights[layer_name])]


def trainable_vars(b):
    """[(layer_name, var_name, array)] in model.trainable_variables order."""
    out = []
    for L in b.model["layers"]:
        if L["name"] not in b.weights:
            continue
        vn = weight_var_names(b, L["name"])
        for n, a in zip(vn, b.weights[L["name"]]):
            if n not in ("moving_mean", "moving_variance"):
                out.append((L["name"], n, a))
    return out


# ====================================================================== optimizers


def slot_values(rng, a, kind):
    if kind in ("v", "rms", "velocity"):
        return np.abs(rng.normal(0, 1e-4, a.shape)).astype(a.dtype)
    return rng.normal(0, 1e-3, a.shape).astype(a.dtype)


def optimizer_weights(b, st, opt, rng, iterations=1875, var_path=None):
    """[(name, array)] in the optimizer's variables order for the family."""
    tv = trainable_vars(b)
    if st.fam == "k22":  # Keras 2.2.x Adam: iterations, ms, vs, vhats (zeros(1) unless amsgrad)
        assert opt == "Adam"
        out = [("Adam/iterations:0", np.array(iterations, dtype=np.int64))]
        k = 0
        for kind in ("m", "v"):
            for _, _, a in tv:
                out.append((f"training/Adam/Variable{'' if k == 0 else '_' + str(k)}:0", slot_values(rng, a, kind)))
                k += 1
        for _ in tv:
            out.append((f"training/Adam/Variable_{k}:0", np.zeros((1,), np.float32)))
            k += 1
        return out
    if st.fam == "tf2" and vtuple(st.version) < (2, 11):  # OptimizerV2: iter, then each slot over all variables
        slots = {"Adam": ["m", "v"], "RMSprop": ["rms"], "SGD": ["momentum"]}[opt]
        out = [(f"{opt}/iter:0", np.array(iterations, dtype=np.int64))]
        for sl in slots:
            for ln, vn, a in tv:
                out.append((f"{opt}/{ln}/{vn}/{sl}:0", slot_values(rng, a, sl)))
        return out
    if st.fam in ("tf2", "k213"):  # tf.keras >= 2.11 optimizer: iteration, then per variable m, v
        slots = {"Adam": ["m", "v"], "RMSprop": ["velocity"], "SGD": ["m"]}[opt]
        out = [("iteration:0", np.array(iterations, dtype=np.int64))]
        for ln, vn, a in tv:
            for sl in slots:
                out.append((f"{opt}/{sl}/{ln}/{vn}:0", slot_values(rng, a, sl)))
        return out
    # Keras 3: iteration, learning_rate, then slots (Adam interleaved per variable)
    lo = K3_OPT_NAMES[opt]
    out = [("iteration", np.array(iterations, dtype=np.int64)), ("learning_rate", np.array(0.001, np.float32))]
    if opt == "Adam":
        for ln, vn, a in tv:
            for sl in ("momentum", "velocity"):
                out.append((f"{ln}_{vn}_{sl}", slot_values(rng, a, sl)))
    elif opt == "SGD":
        pass  # momentum=0: no slots
    else:
        raise ValueError(opt)
    if st.weight_names == "path":
        prefix = (var_path + "_") if var_path else ""
        out = [(f"{lo}/{n}" if n in ("iteration", "learning_rate") else f"{lo}/{prefix}{n}", a) for n, a in out]
    return out


K3_OPT_NAMES = {"Adam": "adam", "SGD": "SGD", "RMSprop": "rmsprop"}  # default `name` of each Keras 3 optimizer


def k3_opt_config(opt, version):
    c = {"name": K3_OPT_NAMES[opt], "learning_rate": f32(0.001), "weight_decay": None, "clipnorm": None,
         "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
         "ema_overwrite_frequency": None}
    if version >= "3.1":
        c["loss_scale_factor"] = None
    if version >= "3.3":
        c["gradient_accumulation_steps"] = None
    if opt == "Adam":
        c.update(beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
    elif opt == "SGD":
        c.update(momentum=0.0, nesterov=False)
    return c


def k3_compile_config(opt, version, loss="categorical_crossentropy"):
    return {"optimizer": {"module": "keras.optimizers", "class_name": opt, "config": k3_opt_config(opt, version),
                          "registered_name": None},
            "loss": loss, "loss_weights": None, "metrics": ["accuracy"], "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


# ====================================================================== writers


def save_attributes(group, name, data, h5py2=False):
    """hdf5_format.save_attributes_to_hdf5_group (identical in every Keras since 2.1).
    h5py2: emulate h5py 2.x, which stored `attrs[name] = [b'..', ...]` as a fixed-length array."""
    limit = 64512
    data_npy = np.asarray(data)
    num_chunks = 1
    chunked = np.array_split(data_npy, num_chunks)
    while any(x.nbytes > limit for x in chunked):
        num_chunks += 1
        chunked = np.array_split(data_npy, num_chunks)
    if num_chunks > 1:
        for i, chunk in enumerate(chunked):
            group.attrs["%s%d" % (name, i)] = chunk
    else:
        group.attrs[name] = np.asarray(data) if (h5py2 and len(data)) else data


def _dataset(g, name, val):
    d = g.create_dataset(name, val.shape, dtype=val.dtype)
    if not val.shape:
        d[()] = val
    else:
        d[:] = val


def legacy_weight_name(st, b, layer, var):
    if st.weight_names == "k22" or st.weight_names == "tf2":
        return f"{layer}/{var}:0"
    if st.weight_names == "bare":
        return var
    if b.kind == "Sequential":
        return f"{b.config['config']['name']}/{layer}/{var}"
    return f"{layer}/{var}"


def write_legacy_h5(path, st, b, training_config=None, opt_weights=None):
    """model.save('x.h5'): keras/engine/saving.py (2.2), hdf5_format.save_model_to_hdf5 (tf.keras),
    keras/src/legacy/saving/legacy_h5_format.py (Keras 3)."""
    f = h5py.File(path, "w")
    per_layer = {}
    for ln in b.layer_names:
        ws = b.weights.get(ln, [])
        per_layer[ln] = [(legacy_weight_name(st, b, ln, vn), a) for vn, a in
                         zip(weight_var_names(b, ln) if ws else [], ws)]
    if st.fam == "k22":  # H5Dict: bytes everywhere, groups in model.layers order
        f.attrs["keras_version"] = st.version.encode("utf8")
        f.attrs["backend"] = "tensorflow".encode("utf8")
        f.attrs["model_config"] = json.dumps(b.config).encode("utf-8")
        mw = f.create_group("model_weights")
        save_attributes(mw, "layer_names", [n.encode("utf8") for n in b.layer_names], st.h5py2)
        mw.attrs["backend"] = "tensorflow".encode("utf8")
        mw.attrs["keras_version"] = st.version.encode("utf8")
        for ln in b.layer_names:
            g = mw.create_group(ln)
            names = [wn.encode("utf8") for wn, _ in per_layer[ln]]
            save_attributes(g, "weight_names", names, st.h5py2)
            for wn, a in per_layer[ln]:
                _dataset(g, wn, a)
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
            if opt_weights:
                og = f.create_group("optimizer_weights")
                save_attributes(og, "weight_names", [n.encode("utf8") for n, _ in opt_weights], st.h5py2)
                for n, a in opt_weights:
                    _dataset(og, n, a)
        f.close()
        return
    meta = {"keras_version": st.version, "backend": "tensorflow", "model_config": b.config}
    if training_config is not None:
        meta["training_config"] = training_config
    for k, v in meta.items():
        f.attrs[k] = json.dumps(v).encode("utf8") if isinstance(v, (dict, list, tuple)) else v
    mw = f.create_group("model_weights")
    save_attributes(mw, "layer_names", [n.encode("utf8") for n in b.layer_names], st.h5py2)
    mw.attrs["backend"] = "tensorflow".encode("utf8")
    mw.attrs["keras_version"] = st.version.encode("utf8")
    for ln in sorted(b.layer_names):
        g = mw.create_group(ln)
        save_attributes(g, "weight_names", [wn.encode("utf8") for wn, _ in per_layer[ln]], st.h5py2)
        for wn, a in per_layer[ln]:
            _dataset(g, wn, a)
    if st.top_level:
        g = mw.create_group("top_level_model_weights")
        save_attributes(g, "weight_names", [])
    if opt_weights:
        og = f.create_group("optimizer_weights")
        save_attributes(og, "weight_names", [n.encode("utf8") for n, _ in opt_weights], st.h5py2)
        for n, a in opt_weights:
            _dataset(og, n, a)
    f.flush()
    f.close()


def write_save_weights_h5(path, st, b):
    """tf.keras Model.save_weights('x.h5'): hdf5_format.save_weights_to_hdf5_group on the file root."""
    f = h5py.File(path, "w")
    save_attributes(f, "layer_names", [n.encode("utf8") for n in b.layer_names], st.h5py2)
    f.attrs["backend"] = "tensorflow".encode("utf8")
    f.attrs["keras_version"] = st.version.encode("utf8")
    for ln in sorted(b.layer_names):
        g = f.create_group(ln)
        ws = b.weights.get(ln, [])
        items = [(f"{ln}/{vn}:0", a) for vn, a in zip(weight_var_names(b, ln) if ws else [], ws)]
        save_attributes(g, "weight_names", [wn.encode("utf8") for wn, _ in items], st.h5py2)
        for wn, a in items:
            _dataset(g, wn, a)
    if st.top_level:
        g = f.create_group("top_level_model_weights")
        save_attributes(g, "weight_names", [])
    f.close()


def saving_lib_groups(b, mode, opt_vals=None, metrics=None, sep="/", names_attr=False, dtypes=None,
                      only_weighted=False):
    """The (path, [arrays], attrs) list saving_lib's _save_state visits, in visit order.
    mode: 'k3' (Keras 3: 'layers' container first) | 'k213' (Keras 2.13: `_layer_checkpoint_dependencies`)."""
    groups = [("", [], {"name": b.config["config"]["name"]} if names_attr else {})]
    layers = [(ln, b.weights.get(ln, [])) for ln in b.layer_names]
    if mode == "k213":
        # Functional._layer_checkpoint_dependencies: layer_with_weights-i then layer-j for each weighted layer
        seq, wi = [], 0
        for ln, ws in layers:
            if ws:
                seq.append((ln, ws))
            seq.append((ln, ws))
        used, seen = {}, set()
        cls_of = {x["name"]: x["class_name"] for x in b.model["layers"]}
        for ln, ws in seq:
            n = snake(cls_of.get(ln, "InputLayer"))
            if n in used:
                used[n] += 1
                n = f"{n}_{used[n]}"
            else:
                used[n] = 0
            if ln in seen:  # already saved: _save_state returns before creating a group
                continue
            seen.add(ln)
            groups.append((f"_layer_checkpoint_dependencies{sep}{n}", ws, {}))
        for mname, vals in (metrics or []):
            groups.append((f"metrics{sep}{mname}", vals, {}))
    else:
        used = {}
        cls_of = {x["name"]: x["class_name"] for x in b.model["layers"]}
        for ln, ws in layers:
            n = snake(cls_of.get(ln, "InputLayer"))
            if n in used:
                used[n] += 1
                n = f"{n}_{used[n]}"
            else:
                used[n] = 0
            dt = (dtypes or {}).get(ln)
            if ws or not only_weighted:
                groups.append((f"layers{sep}{n}", [(a, dt) for a in ws], {"name": ln} if names_attr else {}))
    if opt_vals is not None:
        groups.append(("optimizer", [a for _, a in opt_vals], {"name": opt_vals.name} if names_attr else {}))
    return groups


class OptVals(list):
    name = "adam"


def write_saving_lib_h5(target, groups):
    """H5IOStore.make(path) + H5Entry.__setitem__ for each visited saveable."""
    f = h5py.File(target, mode="w")
    for path, vals, attrs in groups:
        g = f.create_group("vars") if not path else f.create_group(path).create_group("vars")
        for k, v in attrs.items():
            g.attrs[k] = v
        for i, v in enumerate(vals):
            a, dt = v if isinstance(v, tuple) else (v, None)
            if dt == "bfloat16":
                ds = g.create_dataset(str(i), data=bf16_bits(a).view("V2"))
                ds.attrs["dtype"] = "bfloat16"
            else:
                g[str(i)] = a.astype(dt) if dt else a
    f.close()


def write_keras_zip(path, config, metadata, h5_bytes, compression=zipfile.ZIP_STORED, members=None):
    """saving_lib._save_model_to_fileobj: metadata.json, config.json via zf.open(name, 'w') (dated
    1980-01-01 by zipfile), then model.weights.h5 via zf.writestr(name, bytes) (dated now, mode 0600)."""
    with open(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=compression) as zf:
            order = members or ["metadata.json", "config.json", "model.weights.h5"]
            for m in order:
                if m == "metadata.json":
                    with zf.open("metadata.json", "w") as f:
                        f.write(json.dumps(metadata).encode())
                elif m == "config.json":
                    with zf.open("config.json", "w") as f:
                        f.write(json.dumps(config).encode())
                elif m == "model.weights.h5":
                    zi = zipfile.ZipInfo("model.weights.h5", date_time=ZIP_DATE)
                    zi.compress_type = zf.compression
                    zi.external_attr = 0o600 << 16
                    zf.writestr(zi, h5_bytes)


def h5_bytes(groups):
    bio = io.BytesIO()
    write_saving_lib_h5(bio, groups)
    return bio.getvalue()


# ====================================================================== fixtures

CNN = [
    dict(cls="Conv2D", filters=4, kernel_size=3, activation="relu"),
    dict(cls="MaxPooling2D", pool_size=2),
    dict(cls="Conv2D", filters=8, kernel_size=3, activation="relu"),
    dict(cls="MaxPooling2D", pool_size=2),
    dict(cls="Flatten"),
    dict(cls="Dense", units=10, activation="softmax"),
]


def inputs_for(shape, seed, raw255=False):
    """MNIST-like inputs: about 75% zeros (background), the rest in quarters (0.25 ... 1.0), so the
    JSON stays short; raw 0-255 integers for models that start with Rescaling(1/255)."""
    rng = np.random.default_rng(seed)
    size = (N_INPUTS,) + tuple(shape)
    ink = rng.uniform(size=size) < 0.25
    if raw255:
        return np.where(ink, rng.integers(1, 256, size=size), 0).astype(np.float64)
    return np.where(ink, rng.integers(1, 5, size=size) / 4.0, 0.0)


def compact(a):
    """Nested lists with integral values written as ints (0, 1, 255)."""
    if isinstance(a, list):
        return [compact(x) for x in a]
    return int(a) if float(a).is_integer() else a


FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


@fixture
def k22_sequential(out):
    """Keras 2.2.4 model.save: Sequential config as a *list*, bytes (vlen ASCII) root attributes,
    conv2d_1-style names, groups in model.layers order, Adam with Keras 2.2 weights (iterations, m, v, vhat)."""
    st = Style("k22", "2.2.4", weight_names="k22")
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, activation="relu"),
             dict(cls="BatchNormalization"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Dropout", rate=0.25),
             dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, activation="relu"),
             dict(cls="Flatten"),
             dict(cls="Dense", units=8, activation="hard_sigmoid"),
             dict(cls="LeakyReLU", alpha=0.3),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(22)
    b.weights = make_weights(b, rng)
    tc = {"optimizer_config": {"class_name": "Adam", "config": {
        "lr": f32(0.001), "beta_1": f32(0.9), "beta_2": f32(0.999), "decay": 0.0, "epsilon": 1e-07,
        "amsgrad": False}}, "loss": "categorical_crossentropy", "metrics": ["accuracy"],
        "weighted_metrics": None, "sample_weight_mode": None, "loss_weights": None}
    p = os.path.join(out, "keras2.2-sequential.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "Adam", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2,
                emulates="standalone Keras 2.2.4 `model.save('x.h5')`",
                source="keras-team/keras keras/engine/saving.py (_serialize_model, H5Dict)")


@fixture
def tf24_sequential(out):
    """tf.keras 2.4 (like seed003): InputLayer + batch_input_shape copied on the first layer, a stray
    batch_input_shape on a later layer, 5x5/2 'same' conv on 28, RMSprop optimizer_weights."""
    st = Style("tf2", "2.4.0")
    specs = [dict(cls="Conv2D", filters=4, kernel_size=5, strides=2, padding="same", activation="relu"),
             dict(cls="BatchNormalization"),
             dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
             dict(cls="Dropout", rate=0.4),
             dict(cls="Flatten"),
             dict(cls="Dense", units=8, activation="relu", stray_batch_input_shape=[None, 999]),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(24)
    b.weights = make_weights(b, rng)
    tc = {"loss": "categorical_crossentropy",
          "metrics": [[{"class_name": "MeanMetricWrapper",
                        "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
          "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "RMSprop", "config": {
              "name": "RMSprop", "learning_rate": f32(0.001), "decay": 0.0, "rho": f32(0.9), "momentum": 0.0,
              "epsilon": 1e-07, "centered": False}}}
    p = os.path.join(out, "tf2.4-sequential-rmsprop.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "RMSprop", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2,
                emulates="tf.keras 2.4 `model.save('x.h5')` (same layout as shared/keras/seed003-model.h5)",
                source="tensorflow/tensorflow tensorflow/python/keras/saving/hdf5_format.py")


@fixture
def tf212_functional(out):
    """tf.keras 2.12 Functional chain: 28x28 input without channel axis + Reshape, valid stride-2 conv and
    pool on odd sizes, AveragePooling2D same, linear Dense + Activation, top_level_model_weights, Adam
    (tf.keras >= 2.11 optimizer: iteration then m, v per variable)."""
    st = Style("tf2", "2.12.0", top_level=True)
    specs = [dict(cls="Reshape", target_shape=[28, 28, 1]),
             dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, activation="tanh"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Conv2D", filters=8, kernel_size=3, padding="same", activation="sigmoid"),
             dict(cls="AveragePooling2D", pool_size=2, padding="same"),
             dict(cls="AveragePooling2D", pool_size=2),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10),
             dict(cls="Activation", activation="softmax")]
    b = build(st, specs, [28, 28], kind="Functional")
    rng = np.random.default_rng(212)
    b.weights = make_weights(b, rng)
    tc = {"loss": "categorical_crossentropy",
          "metrics": [[{"class_name": "MeanMetricWrapper",
                        "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
          "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "Adam", "config": {
              "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
              "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
              "is_legacy_optimizer": False, "learning_rate": f32(0.001), "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-07, "amsgrad": False}}}
    p = os.path.join(out, "tf2.12-functional.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "Adam", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2,
                emulates="tf.keras 2.12 `model.save('x.h5')`, Functional",
                source="keras-team/keras keras/saving/legacy/hdf5_format.py (2.11-2.12), "
                       "keras-team/tf-keras tf_keras/saving/legacy/hdf5_format.py")


@fixture
def tf211_keras_name(out):
    """tf.keras 2.11 `model.save('x.keras')`: is_hdf5_filepath() counts '.keras' as HDF5, so this is a
    legacy HDF5 file under a .keras name. Flat 784 input, Dense first, BatchNormalization after Dense."""
    st = Style("tf2", "2.11.0", top_level=True)
    specs = [dict(cls="Dense", units=4, activation="relu"),
             dict(cls="BatchNormalization"),
             dict(cls="Dense", units=6, activation="selu"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [784])
    rng = np.random.default_rng(211)
    b.weights = make_weights(b, rng)
    tc = {"loss": "sparse_categorical_crossentropy",
          "metrics": [[{"class_name": "MeanMetricWrapper",
                        "config": {"name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]],
          "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "SGD", "config": {
              "name": "SGD", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
              "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
              "is_legacy_optimizer": False, "learning_rate": f32(0.01), "momentum": 0.0, "nesterov": False}}}
    p = os.path.join(out, "tf2.11-hdf5-named.keras")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "SGD", rng))
    return dict(file=p, b=b, fmt="h5-model-keras-name", version=st.version, keras_major=2,
                emulates="tf.keras <= 2.11 `model.save('x.keras')` (HDF5 content, .keras name)",
                source="keras-team/keras keras/saving/saving_utils.py is_hdf5_filepath (2.11) + legacy/hdf5_format.py")


@fixture
def k213_sequential(out):
    """Keras 2.13 `.keras` v1: zip of metadata.json/config.json/model.weights.h5 with weights under
    `_layer_checkpoint_dependencies/<snake>` (duplicated container entries skip numbers: conv2d, conv2d_2),
    model-level `vars`, `metrics/*/vars`, `optimizer/vars` (iteration, then m, v per variable)."""
    st = Style("k213", "2.13.1")
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
             dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, activation="relu"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10, activation="softmax")]
    cc = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {
        "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
        "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
        "is_legacy_optimizer": False, "learning_rate": f32(0.001), "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": False}, "registered_name": None},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"], "loss_weights": None,
        "weighted_metrics": None, "run_eagerly": None, "steps_per_execution": None, "jit_compile": None}
    b = build(st, specs, [28, 28, 1], compile_config=cc)
    rng = np.random.default_rng(213)
    b.weights = make_weights(b, rng)
    ov = OptVals(optimizer_weights(b, st, "Adam", rng))
    metrics = [("mean", [np.array(4.2e4, np.float32), np.array(6.0e4, np.float32)]),
               ("mean_metric_wrapper", [np.array(5.6e4, np.float32), np.array(6.0e4, np.float32)])]
    groups = saving_lib_groups(b, "k213", opt_vals=ov, metrics=metrics)
    meta = {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}
    p = os.path.join(out, "keras2.13-sequential.keras")
    write_keras_zip(p, b.config, meta, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip-v1", version=st.version, keras_major=2,
                emulates="Keras 2.13 (tf.keras) `model.save('x.keras')` (saving_lib v1)",
                source="keras-team/keras keras/saving/saving_lib.py (2.13) as read by Keras 3's "
                       "`_layer_checkpoint_dependencies` fallback; keras-team/tf-keras tf_keras/saving/saving_lib.py")


@fixture
def k31_legacy(out):
    """Keras 3.1 legacy h5: weight_names are bare variable names ('kernel'), dtype strings, Rescaling(1/255)
    first with raw 0-255 inputs, GlobalAveragePooling2D, SGD optimizer_weights (iteration, learning_rate)."""
    st = Style("k3legacy", "3.1.1", weight_names="bare", top_level=True)
    specs = [dict(cls="Rescaling", scale=1.0 / 255),
             dict(cls="Conv2D", filters=4, kernel_size=3, activation="tanh"),
             dict(cls="Conv2D", filters=6, kernel_size=3, strides=2, activation="hard_sigmoid"),
             dict(cls="GlobalAveragePooling2D"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(31)
    b.weights = make_weights(b, rng)
    tcfg = k3_compile_config("SGD", st.version)
    tc = {k: v for k, v in tcfg.items() if k != "optimizer"}
    tc["optimizer_config"] = {"class_name": "SGD", "config": k3_opt_config("SGD", st.version)}
    p = os.path.join(out, "keras3.1-legacy.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "SGD", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=3, raw255=True,
                emulates="Keras 3.1 `model.save('x.h5')` (legacy_h5_format, bare weight names)",
                source="keras-team/keras keras/src/legacy/saving/legacy_h5_format.py (w.name before 3.3)")


@fixture
def k33_legacy_sequential(out):
    """Keras 3.3 legacy h5, Sequential: weight_names are variable paths ('sequential/conv2d/kernel');
    BatchNormalization with scale=False and with center=False; elu/selu; Adam optimizer_weights."""
    st = Style("k3legacy", "3.3.3", weight_names="path", top_level=True)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, padding="same", activation="elu"),
             dict(cls="BatchNormalization", scale=False),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Conv2D", filters=6, kernel_size=3, activation="selu"),
             dict(cls="BatchNormalization", center=False),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(33)
    b.weights = make_weights(b, rng)
    tcfg = k3_compile_config("Adam", st.version)
    tc = {k: v for k, v in tcfg.items() if k != "optimizer"}
    tc["optimizer_config"] = {"class_name": "Adam", "config": k3_opt_config("Adam", st.version)}
    p = os.path.join(out, "keras3.3-legacy-sequential.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "Adam", rng, var_path="sequential"))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=3,
                emulates="Keras 3.3 `model.save('x.h5')`, Sequential (weight names are variable paths)",
                source="keras-team/keras keras/src/legacy/saving/legacy_h5_format.py (str(w.path))")


@fixture
def k38_legacy_functional(out):
    """Keras 3.8 legacy h5, Functional: 'conv2d/kernel' names, InputLayer in layer_names, DTypePolicy
    objects, Keras 3 `__keras_tensor__` inbound nodes, leaky_relu/swish/gelu activations."""
    st = Style("k3legacy", "3.8.0", dtype_objects=True, weight_names="path", top_level=True)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, activation="leaky_relu"),
             dict(cls="AveragePooling2D", pool_size=2),
             dict(cls="Conv2D", filters=6, kernel_size=3, activation="swish"),
             dict(cls="GlobalMaxPooling2D"),
             dict(cls="Dense", units=12, activation="gelu"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1], kind="Functional")
    rng = np.random.default_rng(38)
    b.weights = make_weights(b, rng)
    tcfg = k3_compile_config("Adam", st.version)
    tc = {k: v for k, v in tcfg.items() if k != "optimizer"}
    tc["optimizer_config"] = {"class_name": "Adam", "config": k3_opt_config("Adam", st.version)}
    p = os.path.join(out, "keras3.8-legacy-functional.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "Adam", rng, var_path=None))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=3,
                emulates="Keras 3.8 `model.save('x.h5')`, Functional",
                source="keras-team/keras keras/src/legacy/saving/legacy_h5_format.py, models/functional.py get_config")


@fixture
def k38_sequential_keras(out):
    """Keras 3.8 `.keras` (stored zip): empty `vars` groups for every visited saveable (model root,
    weightless layers), DTypePolicy objects, Adam optimizer/vars (iteration, learning_rate, m/v per var)."""
    st = Style("k3", "3.8.0", dtype_objects=True)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, activation="relu"),
             dict(cls="BatchNormalization"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Conv2D", filters=8, kernel_size=3, strides=2, activation="relu"),
             dict(cls="Dropout", rate=0.3),
             dict(cls="GlobalMaxPooling2D"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1], compile_config=k3_compile_config("Adam", st.version))
    rng = np.random.default_rng(38)
    b.weights = make_weights(b, rng)
    ov = OptVals(optimizer_weights(b, st, "Adam", rng))
    groups = saving_lib_groups(b, "k3", opt_vals=ov)
    p = os.path.join(out, "keras3.8-sequential.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.8 `model.save('x.keras')`, Sequential, compiled with Adam",
                source="keras-team/keras keras/src/saving/saving_lib.py (H5IOStore/H5Entry before 3.10)")


@fixture
def k34_functional_deflated(out):
    """Keras 3.4 `.keras` Functional whose zip members are DEFLATED (an archive rewritten by a zip tool;
    Keras itself writes ZIP_STORED). Flat 784 input, gelu/swish Dense, BatchNormalization after Dense,
    InputLayer in `layers/input_layer`."""
    st = Style("k3", "3.4.1")  # float policies still serialized as plain strings (keras#19752)
    specs = [dict(cls="Dense", units=4, activation="gelu"),
             dict(cls="BatchNormalization"),
             dict(cls="Dense", units=6, activation="swish"),
             dict(cls="Dropout", rate=0.2),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [784], kind="Functional")
    rng = np.random.default_rng(34)
    b.weights = make_weights(b, rng)
    groups = saving_lib_groups(b, "k3")
    p = os.path.join(out, "keras3.4-functional-deflated.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"},
                    h5_bytes(groups), compression=zipfile.ZIP_DEFLATED)
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.4 `.keras` Functional, re-zipped with deflate",
                source="keras-team/keras keras/src/saving/saving_lib.py, models/functional.py get_config")


@fixture
def k30_windows(out):
    """Keras 3.0 saved on Windows: file_utils.join (os.path.join) without .replace('\\\\', '/') gives HDF5
    groups named 'layers\\\\conv2d' (one group whose name contains a backslash)."""
    st = Style("k3", "3.0.5")
    b = build(st, CNN, [28, 28, 1])
    rng = np.random.default_rng(30)
    b.weights = make_weights(b, rng)
    groups = saving_lib_groups(b, "k3", sep="\\")
    p = os.path.join(out, "keras3.0-windows-backslash.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.0.x `.keras` written on Windows (backslash group names)",
                source="keras-team/keras keras/src/saving/saving_lib.py (_save_state inner_path join)")


@fixture
def k311_renamed(out):
    """Keras 3.11 `.keras` whose layer names do not follow class numbering ('conv2d_1' stored under
    layers/conv2d, 'conv2d_2' under layers/conv2d_1), LeakyReLU and ReLU(max_value=6) layers, `vars`
    groups carrying attrs['name'] (saving_lib make(path, metadata={'name': ...}))."""
    st = Style("k3", "3.11.3", dtype_objects=True)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, name="conv2d_1"),
             dict(cls="LeakyReLU", negative_slope=0.1),
             dict(cls="MaxPooling2D", pool_size=2, padding="same"),
             dict(cls="Conv2D", filters=6, kernel_size=3, strides=2, name="conv2d_2"),
             dict(cls="ReLU", max_value=6),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10, activation="softmax", name="dense_7")]
    b = build(st, specs, [28, 28, 1], model_name="sequential_3")
    rng = np.random.default_rng(311)
    b.weights = make_weights(b, rng)
    groups = saving_lib_groups(b, "k3", names_attr=True)
    p = os.path.join(out, "keras3.11-renamed-layers.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.11 `.keras`, layer names unrelated to the class-numbered weight groups",
                source="keras-team/keras keras/src/saving/saving_lib.py (_save_container_state, H5IOStore.make metadata)")


@fixture
def k3_mixed_float16(out):
    """Keras 3.9 `.keras` with a DTypePolicy('mixed_float16') object on the model and its layers
    (variables stay float32), 28x28 input without channel axis and Flatten first."""
    st = Style("k3", "3.9.2", dtype_objects=True)
    specs = [dict(cls="Flatten", dtype="mixed_float16"),
             dict(cls="Dense", units=4, activation="relu", dtype="mixed_float16"),
             dict(cls="Dropout", rate=0.5, dtype="mixed_float16"),
             dict(cls="Dense", units=10, activation="softmax", dtype="float32")]
    b = build(st, specs, [28, 28], model_dtype="mixed_float16")
    rng = np.random.default_rng(39)
    b.weights = make_weights(b, rng)
    groups = saving_lib_groups(b, "k3")
    p = os.path.join(out, "keras3.9-mixed-float16.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.9 `.keras`, mixed_float16 DTypePolicy objects (float32 variables)",
                source="keras-team/keras keras/src/dtype_policies, saving/saving_lib.py")


@fixture
def k3_half_precision(out):
    """Keras 3.6 `.keras` with per-layer dtype policies: Conv2D 'bfloat16' (stored as a 2-byte HDF5
    OPAQUE dataset with attrs['dtype'] = 'bfloat16'), Dense 'float16' (IEEE half datasets)."""
    st = Style("k3", "3.6.0", dtype_objects=True)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, activation="relu", dtype="bfloat16"),
             dict(cls="MaxPooling2D", pool_size=2, dtype="bfloat16"),
             dict(cls="Flatten", dtype="float16"),
             dict(cls="Dense", units=10, activation="softmax", dtype="float16")]
    b = build(st, specs, [28, 28, 1])
    dts = {"conv2d": "bfloat16", "dense": "float16"}
    rng = np.random.default_rng(36)
    b.weights = make_weights(b, rng, dtypes=dts)
    groups = saving_lib_groups(b, "k3", dtypes=dts)
    p = os.path.join(out, "keras3.6-bfloat16-float16.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3,
                emulates="Keras 3.6 `.keras` with bfloat16 and float16 variables",
                source="keras-team/keras keras/src/saving/saving_lib.py (H5Entry.__setitem__ bfloat16 branch)")


@fixture
def tf29_float64(out):
    """tf.keras 2.9 model.save with float64 layers (datasets stored as float64), 5x5 stride-4 valid conv,
    softplus/softsign/relu6 activations, no top_level_model_weights (before 2.11), OptimizerV2 Adam."""
    st = Style("tf2", "2.9.1")
    specs = [dict(cls="Conv2D", filters=2, kernel_size=5, strides=4, activation="softplus", dtype="float64"),
             dict(cls="Flatten", dtype="float64"),
             dict(cls="Dense", units=8, activation="softsign", dtype="float64"),
             dict(cls="Dense", units=8, activation="relu6", dtype="float64"),
             dict(cls="Dense", units=10, activation="softmax", dtype="float64")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(29)
    b.weights = make_weights(b, rng, dtypes={n: "float64" for n in b.names})
    tc = {"loss": "categorical_crossentropy",
          "metrics": [[{"class_name": "MeanMetricWrapper",
                        "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
          "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "Adam", "config": {
              "name": "Adam", "learning_rate": f32(0.001), "decay": 0.0, "beta_1": f32(0.9), "beta_2": f32(0.999),
              "epsilon": 1e-07, "amsgrad": False}}}
    p = os.path.join(out, "tf2.9-float64.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "Adam", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2,
                emulates="tf.keras 2.9 `model.save('x.h5')` of a float64 model, Adam (OptimizerV2 layout)",
                source="keras-team/keras keras/saving/hdf5_format.py (2.6-2.10)")


@fixture
def tf_chunked(out):
    """tf.keras 2.12 with layer names so long that `layer_names` exceeds 64512 bytes and is split
    into `layer_names0`, `layer_names1` (save_attributes_to_hdf5_group)."""
    st = Style("tf2", "2.12.0", top_level=True)
    long = "flatten_" + "x" * 16200  # |S16208 x 4 names = 64832 bytes > 64512: two chunks
    specs = [dict(cls="Flatten", name=long),
             dict(cls="Dense", units=4, activation="relu"),
             dict(cls="Dropout", rate=0.1),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28], input_name="flatten_input")
    rng = np.random.default_rng(2120)
    b.weights = make_weights(b, rng)
    tc = {"loss": "categorical_crossentropy", "metrics": None, "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "SGD", "config": {
              "name": "SGD", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
              "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
              "is_legacy_optimizer": False, "learning_rate": f32(0.01), "momentum": 0.0, "nesterov": False}}}
    p = os.path.join(out, "tf2.12-chunked-layer-names.h5")
    write_legacy_h5(p, st, b, tc, optimizer_weights(b, st, "SGD", rng))
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2,
                emulates="tf.keras `model.save('x.h5')` whose layer_names attribute is chunked",
                source="keras-team/keras keras/saving/legacy/hdf5_format.py save_attributes_to_hdf5_group")


@fixture
def k3_weights_only(out):
    """Keras 3.7 `model.save_weights('x.weights.h5')` of an uncompiled model (architecture beside it in
    keras3.7-cnn.model.json, the model's config.json form)."""
    st = Style("k3", "3.7.0", dtype_objects=True)
    b = build(st, CNN, [28, 28, 1])
    rng = np.random.default_rng(37)
    b.weights = make_weights(b, rng)
    p = os.path.join(out, "keras3.7-cnn.weights.h5")
    write_saving_lib_h5(p, saving_lib_groups(b, "k3"))
    with open(os.path.join(out, "keras3.7-cnn.model.json"), "w") as fh:
        json.dump(b.config, fh)
    return dict(file=p, b=b, fmt="weights-h5-saving-lib", version=st.version, keras_major=3,
                emulates="Keras 3 `model.save_weights('x.weights.h5')`",
                source="keras-team/keras keras/src/saving/saving_lib.py save_weights_only")


@fixture
def tf_save_weights(out):
    """tf.keras 2.12 `model.save_weights('x.h5')`: layer_names/backend/keras_version on the root,
    top_level_model_weights; architecture beside it in tf2.12-mlp-weights.model.json."""
    st = Style("tf2", "2.12.0", top_level=True)
    specs = [dict(cls="Flatten"),
             dict(cls="Dense", units=4, activation="relu"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(1212)
    b.weights = make_weights(b, rng)
    p = os.path.join(out, "tf2.12-mlp-weights.h5")
    write_save_weights_h5(p, st, b)
    with open(os.path.join(out, "tf2.12-mlp-weights.model.json"), "w") as fh:
        json.dump(b.config, fh)
    return dict(file=p, b=b, fmt="h5-weights", version=st.version, keras_major=2,
                emulates="tf.keras 2.12 `model.save_weights('x.h5')`",
                source="keras-team/keras keras/saving/legacy/hdf5_format.py save_weights_to_hdf5_group")


@fixture
def recipe_keras3_minimal(out):
    """The minimal Keras 3 `.keras` of docs/keras-formats.md section 6: dtype strings, InputLayer
    {batch_shape, dtype, sparse, name}, no compile_config, root `vars` plus `vars` groups only for layers
    with weights. Must be accepted by every Keras 3 loader (checked with --require all)."""
    st = Style("k3", "3.0.0")
    specs = [dict(cls="Conv2D", filters=4, kernel_size=5, strides=2, padding="same", activation="relu"),
             dict(cls="BatchNormalization"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Dropout", rate=0.25),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(600)
    b.weights = make_weights(b, rng)
    groups = saving_lib_groups(b, "k3", only_weighted=True)
    p = os.path.join(out, "recipe-keras3-minimal.keras")
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return dict(file=p, b=b, fmt="keras-zip", version=st.version, keras_major=3, require="all",
                emulates="writer target: minimal Keras 3 `.keras`",
                source="docs/keras-formats.md section 6 (from keras/src/saving/saving_lib.py)")


@fixture
def recipe_portable_h5(out):
    """The legacy `.h5` of docs/keras-formats.md section 6 that tf.keras 2.x and Keras 3 both load
    without warnings: tf.keras-style config with batch_input_shape only on the InputLayer, a
    training_config whose optimizer config has no decay/lr/jit_compile, no optimizer_weights."""
    st = Style("tf2", "2.15.0", top_level=True, copy_bis=False)
    specs = [dict(cls="Conv2D", filters=4, kernel_size=3, activation="relu"),
             dict(cls="MaxPooling2D", pool_size=2),
             dict(cls="Conv2D", filters=4, kernel_size=3, strides=2, activation="relu"),
             dict(cls="Flatten"),
             dict(cls="Dense", units=10, activation="softmax")]
    b = build(st, specs, [28, 28, 1])
    rng = np.random.default_rng(601)
    b.weights = make_weights(b, rng)
    tc = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": None,
          "loss_weights": None,
          "optimizer_config": {"class_name": "Adam", "config": {
              "name": "Adam", "learning_rate": f32(0.001), "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
              "amsgrad": False}}}
    p = os.path.join(out, "recipe-portable.h5")
    write_legacy_h5(p, st, b, tc, None)
    return dict(file=p, b=b, fmt="h5-model", version=st.version, keras_major=2, require="all",
                emulates="writer target: legacy `.h5` for tf.keras 2.x and Keras 3",
                source="docs/keras-formats.md section 6 (from hdf5_format.py / legacy_h5_format.py)")


# ---------------------------------------------------------------------- invalid fixtures

INVALID = []
TINY = [dict(cls="Conv2D", filters=2, kernel_size=3, activation="relu"), dict(cls="Flatten"),
        dict(cls="Dense", units=3, activation="softmax")]  # on 8x8x1: small invalid files


def invalid(fn):
    INVALID.append(fn)
    return fn


def _k3_zip(out, name, b, groups, st):
    p = os.path.join(out, name)
    write_keras_zip(p, b.config, {"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}, h5_bytes(groups))
    return p


@invalid
def bad_add_branches(out):
    st = Style("k3", "3.8.0", dtype_objects=True)
    b = build(st, [dict(cls="Dense", units=4)], [8], kind="Functional")
    cfg = b.config["config"]
    d1 = json.loads(json.dumps(cfg["layers"][1]))
    d2 = json.loads(json.dumps(d1))
    d2["name"] = d2["config"]["name"] = "dense_1"
    add = entry(st, "Add", layer_cfg(st, dict(cls="Add"), "add", [4]), build_shape=[4])
    add["build_config"] = {"input_shape": [[None, 4], [None, 4]]}
    add["name"] = "add"
    kt = lambda n: {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                                 "keras_history": [n, 0, 0]}}
    add["inbound_nodes"] = [{"args": [[kt("dense"), kt("dense_1")]], "kwargs": {}}]
    cfg["layers"] = [cfg["layers"][0], d1, d2, add]
    cfg["output_layers"] = [["add", 0, 0]]
    rng = np.random.default_rng(1)
    w = [rng.normal(0, 0.3, (8, 4)).astype(np.float32), np.zeros(4, np.float32)]
    groups = [("", [], {}), ("layers/input_layer", [], {}), ("layers/dense", w, {}), ("layers/dense_1", w, {}),
              ("layers/add", [], {})]
    return _k3_zip(out, "invalid-functional-add.keras", b, groups, st), "not a chain"


@invalid
def bad_lstm(out):
    st = Style("tf2", "2.12.0", top_level=True)
    b = build(st, [dict(cls="LSTM", units=4), dict(cls="Dense", units=10, activation="softmax")], [28, 28])
    p = os.path.join(out, "invalid-lstm.h5")
    rng = np.random.default_rng(2)
    b.model = {"layers": []}
    f = h5py.File(p, "w")
    for k, v in {"keras_version": "2.12.0", "backend": "tensorflow", "model_config": b.config}.items():
        f.attrs[k] = json.dumps(v).encode("utf8") if isinstance(v, dict) else v
    mw = f.create_group("model_weights")
    save_attributes(mw, "layer_names", [n.encode() for n in b.layer_names])
    for ln, shapes in (("lstm", [(28, 16), (4, 16), (16,)]), ("dense", [(4, 10), (10,)])):
        g = mw.create_group(ln)
        names = [f"{ln}/{v}:0" for v in (["lstm_cell/kernel", "lstm_cell/recurrent_kernel", "lstm_cell/bias"]
                                           if ln == "lstm" else ["kernel", "bias"])]
        save_attributes(g, "weight_names", [n.encode() for n in names])
        for n, s in zip(names, shapes):
            _dataset(g, n, rng.normal(0, 0.1, s).astype(np.float32))
    f.close()
    return p, "unsupported layer LSTM"


@invalid
def bad_dilation(out):
    st = Style("k3", "3.8.0", dtype_objects=True)
    b = build(st, [dict(cls="Conv2D", filters=4, kernel_size=3, strides=4, dilation_rate=2), dict(cls="Flatten"),
                   dict(cls="Dense", units=10)], [28, 28, 1])
    rng = np.random.default_rng(3)
    # Keras: effective kernel 5, (28 - 5) // 4 + 1 = 6 -> 6 * 6 * 4 = 144 inputs to the Dense
    ws = {"conv2d": [rng.normal(0, .1, (3, 3, 1, 4)).astype(np.float32), np.zeros(4, np.float32)],
          "dense": [rng.normal(0, .1, (144, 10)).astype(np.float32), np.zeros(10, np.float32)]}
    groups = [("", [], {}), ("layers/conv2d", ws["conv2d"], {}), ("layers/flatten", [], {}),
              ("layers/dense", ws["dense"], {})]
    return _k3_zip(out, "invalid-conv-dilation.keras", b, groups, st), "dilation_rate"


@invalid
def bad_missing_weights(out):
    st = Style("k3", "3.8.0", dtype_objects=True)
    b = build(st, TINY, [8, 8, 1])
    p = os.path.join(out, "invalid-no-weights-member.keras")
    with open(p, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        with zf.open("metadata.json", "w") as f:
            f.write(json.dumps({"keras_version": st.version, "date_saved": "2025-01-15@12:00:00"}).encode())
        with zf.open("config.json", "w") as f:
            f.write(json.dumps(b.config).encode())
    return p, "Expected a model.weights.h5"


@invalid
def bad_shape(out):
    st = Style("tf2", "2.12.0", top_level=True)
    b = build(st, [dict(cls="Flatten"), dict(cls="Dense", units=3, activation="softmax")], [8, 8, 1])
    rng = np.random.default_rng(4)
    b.weights = {"dense": [rng.normal(0, .1, (60, 3)).astype(np.float32), np.zeros(3, np.float32)]}
    p = os.path.join(out, "invalid-shape-mismatch.h5")
    tc = {"loss": "categorical_crossentropy", "metrics": None, "weighted_metrics": None, "loss_weights": None,
          "optimizer_config": {"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.01,
                                                               "momentum": 0.0, "nesterov": False}}}
    write_legacy_h5(p, st, b, tc)
    return p, "Shape mismatch"


@invalid
def bad_nan(out):
    st = Style("k3", "3.8.0", dtype_objects=True)
    b = build(st, TINY, [8, 8, 1])
    b.weights = make_weights(b, np.random.default_rng(5))
    b.weights["dense"][0][3, 2] = np.nan
    return _k3_zip(out, "invalid-nan-weights.keras", b, saving_lib_groups(b, "k3"), st), "NaN"


@invalid
def bad_count(out):
    st = Style("k3", "3.8.0", dtype_objects=True)
    b = build(st, TINY, [8, 8, 1])
    b.weights = make_weights(b, np.random.default_rng(6))
    b.weights["conv2d"] = b.weights["conv2d"][:1]
    return _k3_zip(out, "invalid-missing-bias.keras", b, saving_lib_groups(b, "k3"), st), "expected 2 variables"


# ====================================================================== driver

README_HEAD = """# Keras file fixtures

Generated by `scripts/keras_fixtures.py` (fixed seeds; byte-identical on every run) to reproduce, with
h5py and zipfile, the exact on-disk layout each Keras version writes. Formats and citations:
`docs/keras-formats.md`. Every valid fixture has `<file>.expected.json`:
`{format, keras_version, input_shape, inputs_seed, inputs (N=8), outputs (scripts/keras_ref.py, float64),
layers [[name, class, output_shape, params]] as model.summary() lists them, total_params, trainable_params}`
and passes `scripts/keras_check.py <file> --inputs <file>.expected.json` with its native loader.
Weights-only files have their architecture in `<name>.model.json`.

Outputs are the float64 forward pass of the weights as stored (float16/bfloat16 weights are widened,
activations are not rounded), so a float32 implementation should match to ~1e-5.

To test a writer: `/usr/bin/python3 scripts/keras_check.py out.keras --require all --inputs in.json`
(`--require all` fails unless every loader that applies to the file accepts it without warnings; the
`recipe-*` fixtures are such files). Regenerate with `/usr/bin/python3 scripts/keras_fixtures.py`.

Loaders column: `keras_check.py`'s verdict per emulated loader (`ok`, `warning` = the loader would
load it but log a warning, `error` = the loader would refuse it); the file's own Keras must say `ok`.

| file | emulates / covers | loaders | follows |
| --- | --- | --- | --- |
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "keras"))
    a = ap.parse_args()
    out = a.out
    os.makedirs(os.path.join(out, "invalid"), exist_ok=True)
    check = os.path.join(HERE, "keras_check.py")
    rows, failures = [], []
    for fn in FIXTURES:
        r = fn(out)
        b = r["b"]
        seed = sum(map(ord, os.path.basename(r["file"])))  # stable per file name
        x = inputs_for(b.model["input_shape"], seed, r.get("raw255", False))
        y = keras_ref.forward(b.model, b.weights, x, r["keras_major"])
        summ, total, trainable = keras_ref.summarize(b.model)
        exp = {"format": r["fmt"], "keras_version": r["version"], "input_shape": b.model["input_shape"],
               "inputs_seed": seed, "inputs": compact(x.tolist()), "outputs": y.tolist(), "layers": summ,
               "total_params": total, "trainable_params": trainable}
        ej = r["file"] + ".expected.json"
        with open(ej, "w") as fh:
            json.dump(exp, fh, separators=(",", ":"))
        res = subprocess.run([sys.executable, check, r["file"], "--inputs", ej, "--require", r.get("require", "native")],
                             capture_output=True, text=True)
        ok = res.returncode == 0
        got = {}
        if ok:
            got = json.loads(res.stdout)
            if not np.allclose(np.array(got["outputs"]), y, rtol=0, atol=1e-12) or got["layers"] != summ \
                    or got["total_params"] != total:
                ok = False
                res = type("R", (), {"stdout": "outputs/summary differ from keras_ref"})()
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(r['file']):42s} {os.path.getsize(r['file']):7d} B  "
              f"{r['fmt']:22s} {r['version']}")
        if not ok:
            failures.append(f"{r['file']}: {res.stdout.strip()}")
        doc = " ".join((fn.__doc__ or "").split())
        verdicts = "; ".join(f"{k}: {v.split(':')[0]}" for k, v in got.get("loaders", {}).items())
        rows.append(f"| `{os.path.basename(r['file'])}` | {r['emulates']}. {doc} | {verdicts} | {r['source']} |")
    inv_rows, inv_expect = [], {}
    for fn in INVALID:
        p, want = fn(os.path.join(out, "invalid"))
        inv_expect[os.path.basename(p)] = want
        res = subprocess.run([sys.executable, check, p], capture_output=True, text=True)
        ok = res.returncode == 1 and want.lower() in res.stdout.lower()
        print(f"{'ok  ' if ok else 'FAIL'} invalid/{os.path.basename(p):34s} rejected: {res.stdout.strip()[:110]}")
        if not ok:
            failures.append(f"{p}: expected rejection mentioning {want!r}, got rc={res.returncode} {res.stdout.strip()[:300]}")
        inv_rows.append(f"| `invalid/{os.path.basename(p)}` | must be rejected; the error mentions \"{want}\" |")
    with open(os.path.join(out, "invalid", "expected-errors.json"), "w") as fh:
        json.dump(inv_expect, fh, indent=1)
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write(README_HEAD + "\n".join(rows) + "\n\n## Invalid files (`invalid/`)\n\n| file | expectation |\n"
                 "| --- | --- |\n" + "\n".join(inv_rows) + "\n")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    print(f"fixtures: {total} bytes in {out}")
    if failures:
        print("\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
