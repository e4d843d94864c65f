#!/usr/bin/python3
"""Independent NumPy reference for Keras models (float64, TF/Keras semantics).

Used by scripts/keras_fixtures.py (expected outputs) and scripts/keras_check.py.
Only what docs/keras-formats.md describes: chains of Conv2D / Dense / pooling /
BatchNormalization / activations, in any Keras config form (Keras 2.2 list,
tf.keras 2.x dict, Keras 2.13 / Keras 3 serialized dicts, Functional chains).

API
  model = normalize(model_config)          -> {"class_name", "name", "input_shape", "layers": [...]}
  shapes, params = summarize(model)        per-layer output shapes and parameter counts
  y = forward(model, weights, x, keras_major=3)
      weights: {layer_name: [arrays in Keras' save order]} (kernel, bias / gamma, beta, mean, var)
"""
import math

import numpy as np


class UnsupportedError(ValueError):
    """The config uses something this reference (and the bridge) does not support."""


SUPPORTED = {
    "InputLayer", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "Flatten", "Reshape", "Rescaling", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU",
    "Softmax",
}

# ---------------------------------------------------------------- activations


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_fn(spec, keras_major=3):
    """spec: string ('relu'), None, or a serialized activation dict. Returns f(x)."""
    if spec is None:
        return lambda x: x
    kw = {}
    if isinstance(spec, dict):  # {"class_name": "relu"} / Keras 3 {"module": "keras.activations", ...}
        kw = dict(spec.get("config") or {}) if isinstance(spec.get("config"), dict) else {}
        spec = spec.get("class_name") or spec.get("config", {}).get("name")
    name = str(spec).lower()
    if name in ("linear", "none"):
        return lambda x: x
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name == "relu6":
        return lambda x: np.clip(x, 0.0, 6.0)
    if name == "sigmoid":
        return _sigmoid
    if name == "tanh":
        return np.tanh
    if name == "softmax":
        return lambda x: _softmax(x, -1)
    if name == "elu":
        return lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "leaky_relu":  # keras.activations.leaky_relu / tf.nn.leaky_relu: slope 0.2
        s = float(kw.get("negative_slope", kw.get("alpha", 0.2)))
        return lambda x: np.where(x >= 0, x, s * x)
    if name == "softplus":
        return _softplus
    if name == "softsign":
        return lambda x: x / (1.0 + np.abs(x))
    if name == "hard_sigmoid":
        if keras_major >= 3:  # Keras 3: relu6(x + 3) / 6
            return lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)
        return lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)  # Keras 2 / tf.keras
    if name in ("hard_silu", "hard_swish"):
        return lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if name == "exponential":
        return np.exp
    if name in ("swish", "silu"):
        return lambda x: x * _sigmoid(x)
    if name == "gelu":  # default approximate=False in tf.keras and Keras 3
        if kw.get("approximate"):
            return lambda x: 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
        return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == "mish":
        return lambda x: x * np.tanh(_softplus(x))
    raise UnsupportedError(f"unsupported activation {spec!r}")


# ---------------------------------------------------------------- config normalization


def _pair(v):
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[1]) if len(v) > 1 else int(v[0]))
    return (int(v), int(v))


def _layer_entries(model_config):
    """-> (class_name, name, [entries], functional_info or None, extra)"""
    cls = model_config.get("class_name")
    cfg = model_config.get("config")
    if cls == "Sequential":
        if isinstance(cfg, list):  # Keras <= 2.2.4: the config IS the layer list
            return cls, None, cfg, None, {}
        return cls, cfg.get("name"), cfg["layers"], None, {"build_input_shape": cfg.get("build_input_shape")}
    if cls in ("Functional", "Model"):
        return cls, cfg.get("name"), cfg["layers"], (cfg["input_layers"], cfg["output_layers"]), {}
    raise UnsupportedError(f"unsupported model class {cls!r}")


def _node_inputs(node):
    """Inbound node (Keras 2 list form or Keras 3 dict form) -> list of (layer, node, tensor)."""
    if isinstance(node, list):
        return [(e[0], int(e[1]), int(e[2])) for e in node]
    if isinstance(node, dict):
        found = []

        def walk(v):
            if isinstance(v, dict):
                if v.get("class_name") == "__keras_tensor__":
                    h = v["config"]["keras_history"]
                    found.append((h[0], int(h[1]), int(h[2])))
                    return
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        walk(node.get("args", []))
        walk(node.get("kwargs", {}))
        return found
    raise UnsupportedError(f"cannot read inbound node {node!r}")


def _tensor_refs(v):
    """input_layers/output_layers: [["a",0,0]] or ["a",0,0] (or nested dicts) -> list of names."""
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        return [v[0]]
    out = []
    items = v.values() if isinstance(v, dict) else v
    for x in items:
        out.extend(_tensor_refs(x))
    return out


def normalize(model_config):
    """Any Keras model config -> {"class_name", "name", "input_shape", "layers": [{class_name, name, config}]}.

    "layers" excludes InputLayer and is in execution order. Raises UnsupportedError for non-chains.
    """
    if isinstance(model_config, list):
        model_config = {"class_name": "Sequential", "config": model_config}
    cls, name, entries, fn, extra = _layer_entries(model_config)
    recs = []
    for e in entries:
        c = e.get("config") or {}
        recs.append({"class_name": e["class_name"], "name": c.get("name") or e.get("name"), "config": c, "entry": e})
    input_shape = None
    if fn is None:
        chain = recs
    else:
        ins, outs = _tensor_refs(fn[0]), _tensor_refs(fn[1])
        if len(ins) != 1 or len(outs) != 1:
            raise UnsupportedError(f"only single-input single-output models are supported ({len(ins)} inputs, {len(outs)} outputs)")
        by_name = {r["name"]: r for r in recs}
        consumers = {}
        for r in recs:
            nodes = r["entry"].get("inbound_nodes") or []
            if r["class_name"] == "InputLayer":
                continue
            if len(nodes) != 1:
                raise UnsupportedError(f"layer {r['name']} is called {len(nodes)} times (shared layers are not supported)")
            srcs = _node_inputs(nodes[0])
            if len(srcs) != 1:
                raise UnsupportedError(f"layer {r['name']} ({r['class_name']}) has {len(srcs)} inputs: not a chain")
            consumers.setdefault(srcs[0][0], []).append(r["name"])
        chain, cur, seen = [], ins[0], set()
        while True:
            if cur not in by_name or cur in seen:
                raise UnsupportedError(f"bad graph at {cur!r}")
            seen.add(cur)
            chain.append(by_name[cur])
            if cur == outs[0]:
                break
            nxt = consumers.get(cur, [])
            if len(nxt) != 1:
                raise UnsupportedError(f"layer {cur} feeds {len(nxt)} layers: not a chain")
            cur = nxt[0]
        if len(seen) != len(recs):
            raise UnsupportedError("model has layers off the input->output chain")
    layers = []
    input_name = None
    for i, r in enumerate(chain):
        c = r["config"]
        if r["class_name"] == "InputLayer":
            if i != 0:
                raise UnsupportedError("InputLayer in the middle of the model")
            input_name = r["name"]
            bs = c.get("batch_shape", c.get("batch_input_shape"))
            if bs is None and c.get("input_shape") is not None:
                bs = [None] + list(c["input_shape"])
            input_shape = list(bs[1:])
            continue
        if i == 0 and input_shape is None:  # Keras 2.2 list form / no InputLayer: first layer carries it
            bs = c.get("batch_input_shape")
            if bs is not None:
                input_shape = list(bs[1:])
            elif c.get("input_shape") is not None:
                input_shape = list(c["input_shape"])
        if r["class_name"] not in SUPPORTED:
            raise UnsupportedError(f"unsupported layer {r['class_name']} ({r['name']})")
        layers.append({"class_name": r["class_name"], "name": r["name"], "config": c})
    if input_shape is None and extra.get("build_input_shape"):
        input_shape = list(extra["build_input_shape"][1:])
    if input_shape is None:
        raise UnsupportedError("the config does not give an input shape")
    for L in layers:
        _validate(L)
    return {"class_name": cls, "name": name, "input_shape": input_shape, "input_name": input_name,
            "layers": layers}


def _validate(L):
    c, cls = L["config"], L["class_name"]
    if c.get("data_format") not in (None, "channels_last"):
        raise UnsupportedError(f"{L['name']}: data_format {c['data_format']} (only channels_last)")
    if cls == "Conv2D":
        if _pair(c.get("dilation_rate", 1)) != (1, 1):
            raise UnsupportedError(f"{L['name']}: dilation_rate {c['dilation_rate']}")
        if int(c.get("groups", 1)) != 1:
            raise UnsupportedError(f"{L['name']}: groups {c['groups']}")
    if cls in ("Conv2D", "MaxPooling2D", "AveragePooling2D") and str(c.get("padding", "valid")).lower() not in ("valid", "same"):
        raise UnsupportedError(f"{L['name']}: padding {c['padding']}")
    if cls in ("Conv2D", "Dense", "Activation"):
        activation_fn(c.get("activation"))  # raises if unknown


# ---------------------------------------------------------------- shapes and parameters


def _conv_out(n, k, s, pad):
    if n is None:
        return None
    return -(-n // s) if pad == "same" else (n - k) // s + 1


def _bn_axis(c, rank):
    ax = c.get("axis", -1)
    if isinstance(ax, list):
        if len(ax) != 1:
            raise UnsupportedError("BatchNormalization over several axes")
        ax = ax[0]
    ax = int(ax)
    return ax if ax >= 0 else rank + ax  # rank counts the batch axis


def layer_output(L, shape):
    """shape: per-sample shape list -> (out_shape, params, trainable_params)"""
    c, cls = L["config"], L["class_name"]
    if cls == "Conv2D":
        if len(shape) != 3:
            raise UnsupportedError(f"{L['name']}: Conv2D needs a (H, W, C) input, got {shape}")
        kh, kw = _pair(c["kernel_size"])
        sh, sw = _pair(c.get("strides", 1))
        pad = str(c.get("padding", "valid")).lower()
        oh, ow = _conv_out(shape[0], kh, sh, pad), _conv_out(shape[1], kw, sw, pad)
        if oh is not None and (oh < 1 or ow < 1):
            raise UnsupportedError(f"{L['name']}: output would be empty")
        f = int(c["filters"])
        p = kh * kw * shape[2] * f + (f if c.get("use_bias", True) else 0)
        return [oh, ow, f], p, p
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        if len(shape) != 3:
            raise UnsupportedError(f"{L['name']}: pooling needs (H, W, C), got {shape}")
        ph, pw = _pair(c.get("pool_size", 2))
        st = c.get("strides") or [ph, pw]
        sh, sw = _pair(st)
        pad = str(c.get("padding", "valid")).lower()
        return [_conv_out(shape[0], ph, sh, pad), _conv_out(shape[1], pw, sw, pad), shape[2]], 0, 0
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        if c.get("keepdims"):
            return [1, 1, shape[2]], 0, 0
        return [shape[2]], 0, 0
    if cls == "Flatten":
        return [int(np.prod(shape))], 0, 0
    if cls == "Reshape":
        tgt = list(c["target_shape"])
        total = int(np.prod(shape))
        if -1 in tgt:
            known = int(np.prod([d for d in tgt if d != -1]))
            tgt = [total // known if d == -1 else d for d in tgt]
        if int(np.prod(tgt)) != total:
            raise UnsupportedError(f"{L['name']}: cannot reshape {shape} to {c['target_shape']}")
        return tgt, 0, 0
    if cls == "Dense":
        u = int(c["units"])
        p = shape[-1] * u + (u if c.get("use_bias", True) else 0)
        return shape[:-1] + [u], p, p
    if cls == "BatchNormalization":
        ax = _bn_axis(c, len(shape) + 1)
        ch = shape[ax - 1]
        n_tr = (ch if c.get("scale", True) else 0) + (ch if c.get("center", True) else 0)
        return list(shape), n_tr + 2 * ch, n_tr
    return list(shape), 0, 0  # elementwise layers


def summarize(model):
    """-> (rows [[name, class_name, output_shape_with_batch, params]], total, trainable)

    Like model.summary(): Functional models list their InputLayer, Sequential models do not."""
    shape = list(model["input_shape"])
    rows, total, trainable = [], 0, 0
    if model["class_name"] in ("Functional", "Model"):
        rows.append([model.get("input_name") or "input", "InputLayer", [None] + shape, 0])
    for L in model["layers"]:
        shape, p, t = layer_output(L, shape)
        rows.append([L["name"], L["class_name"], [None] + shape, p])
        total += p
        trainable += t
    return rows, total, trainable


def expected_weight_shapes(L, in_shape):
    """Shapes of the layer's variables in Keras' save order (trainable first, then non-trainable)."""
    c, cls = L["config"], L["class_name"]
    if cls == "Conv2D":
        kh, kw = _pair(c["kernel_size"])
        f = int(c["filters"])
        return [(kh, kw, in_shape[2], f)] + ([(f,)] if c.get("use_bias", True) else [])
    if cls == "Dense":
        u = int(c["units"])
        return [(in_shape[-1], u)] + ([(u,)] if c.get("use_bias", True) else [])
    if cls == "BatchNormalization":
        ch = in_shape[_bn_axis(c, len(in_shape) + 1) - 1]
        return [(ch,)] * ((1 if c.get("scale", True) else 0) + (1 if c.get("center", True) else 0) + 2)
    return []


def weight_shapes(model):
    """{layer_name: [shapes]} for layers that have weights, in model order."""
    shape = list(model["input_shape"])
    out = {}
    for L in model["layers"]:
        ws = expected_weight_shapes(L, shape)
        if ws:
            out[L["name"]] = ws
        shape, _, _ = layer_output(L, shape)
    return out


# ---------------------------------------------------------------- forward pass


def _pad_same(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _windows(x, kh, kw, sh, sw, pad, fill):
    """x (N,H,W,C) -> patches (N,OH,OW,kh,kw,C) plus a validity mask (OH,OW,kh,kw)."""
    n, h, w, ch = x.shape
    if pad == "same":
        pt, pb = _pad_same(h, kh, sh)
        pl, pr = _pad_same(w, kw, sw)
    else:
        pt = pb = pl = pr = 0
    xp = np.full((n, h + pt + pb, w + pl + pr, ch), fill, dtype=np.float64)
    xp[:, pt:pt + h, pl:pl + w, :] = x
    valid = np.zeros((h + pt + pb, w + pl + pr))
    valid[pt:pt + h, pl:pl + w] = 1.0
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    pat = np.empty((n, oh, ow, kh, kw, ch))
    msk = np.empty((oh, ow, kh, kw))
    for i in range(kh):
        for j in range(kw):
            pat[:, :, :, i, j, :] = xp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :]
            msk[:, :, i, j] = valid[i:i + sh * oh:sh, j:j + sw * ow:sw]
    return pat, msk


def layer_forward(L, x, ws, keras_major=3):
    c, cls = L["config"], L["class_name"]
    ws = [np.asarray(w, dtype=np.float64) for w in ws]
    if cls == "Conv2D":
        kh, kw = _pair(c["kernel_size"])
        sh, sw = _pair(c.get("strides", 1))
        pat, _ = _windows(x, kh, kw, sh, sw, str(c.get("padding", "valid")).lower(), 0.0)
        y = np.tensordot(pat, ws[0], axes=([3, 4, 5], [0, 1, 2]))
        if c.get("use_bias", True):
            y = y + ws[1]
        return activation_fn(c.get("activation"), keras_major)(y)
    if cls == "Dense":
        y = x @ ws[0]
        if c.get("use_bias", True):
            y = y + ws[1]
        return activation_fn(c.get("activation"), keras_major)(y)
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        ph, pw = _pair(c.get("pool_size", 2))
        sh, sw = _pair(c.get("strides") or [ph, pw])
        pad = str(c.get("padding", "valid")).lower()
        if cls == "MaxPooling2D":
            pat, _ = _windows(x, ph, pw, sh, sw, pad, -np.inf)
            return pat.max(axis=(3, 4))
        pat, msk = _windows(x, ph, pw, sh, sw, pad, 0.0)  # padded cells excluded from the mean (TF)
        return pat.sum(axis=(3, 4)) / msk.sum(axis=(2, 3))[None, :, :, None]
    if cls == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2), keepdims=bool(c.get("keepdims")))
    if cls == "GlobalMaxPooling2D":
        return x.max(axis=(1, 2), keepdims=bool(c.get("keepdims")))
    if cls == "Flatten":
        return x.reshape(x.shape[0], -1)  # NHWC row-major order
    if cls == "Reshape":
        return x.reshape((x.shape[0],) + tuple(c["target_shape"]))
    if cls == "Rescaling":
        return x * float(c.get("scale", 1.0)) + float(c.get("offset", 0.0))
    if cls in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
        return x
    if cls == "BatchNormalization":
        ax = _bn_axis(c, x.ndim)
        k = 0
        gamma = beta = None
        if c.get("scale", True):
            gamma, k = ws[k], k + 1
        if c.get("center", True):
            beta, k = ws[k], k + 1
        mean, var = ws[k], ws[k + 1]
        shp = [1] * x.ndim
        shp[ax] = -1
        y = (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + float(c.get("epsilon", 1e-3)))
        if gamma is not None:
            y = y * gamma.reshape(shp)
        if beta is not None:
            y = y + beta.reshape(shp)
        return y
    if cls == "Activation":
        return activation_fn(c.get("activation"), keras_major)(x)
    if cls == "ReLU":  # backend.relu / keras.activations.ReLU.static_call, Keras 2 and 3 alike
        mv = c.get("max_value")
        slope = float(c.get("negative_slope", 0.0) or 0.0)
        th = float(c.get("threshold", 0.0) or 0.0)
        y = x * (x > th) if th != 0 else np.maximum(x, 0.0)
        if mv is not None:
            y = np.clip(y, 0.0, float(mv))
        return y - slope * np.maximum(th - x, 0.0) if slope else y
    if cls == "LeakyReLU":
        # Keras 3: negative_slope (default 0.3); Keras 2: alpha (default 0.3)
        s = float(c.get("negative_slope", c.get("alpha", 0.3)))
        return np.where(x >= 0, x, s * x)
    if cls == "ELU":
        a = float(c.get("alpha", 1.0))
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    if cls == "Softmax":
        ax = c.get("axis", -1)
        return _softmax(x, ax[0] if isinstance(ax, list) else int(ax))
    raise UnsupportedError(f"unsupported layer {cls}")


def forward(model, weights, x, keras_major=3):
    x = np.asarray(x, dtype=np.float64)
    if list(x.shape[1:]) != list(model["input_shape"]):
        raise ValueError(f"input shape {list(x.shape[1:])} != model input {model['input_shape']}")
    for L in model["layers"]:
        x = layer_forward(L, x, weights.get(L["name"], []), keras_major)
    return x
