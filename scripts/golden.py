#!/usr/bin/python3
"""Golden-value generator for the digits test suite.

What it is for
    Produces reference ("golden") forward/backward results for the three
    Keras-style MNIST CNN presets (seed001-small, seed002-cnn, seed003-bn) so
    the TypeScript implementation can be checked against an independent
    float64 implementation, and kernels.json for kernels no preset uses (every
    activation, TF average pooling; see eltwise_golden / avg_pool_golden).
    PyTorch is used here as a fixture tool only; the project itself does not
    depend on it.

    Weights and inputs are NOT stored: they are produced by closed-form
    deterministic formulas (see `init_value` and `make_input`) that the
    TypeScript test re-implements.  Everything written to JSON is in Keras/TF
    layout: activations NHWC, conv kernels HWIO [kh,kw,cin,cout], dense
    kernels [in,out], Flatten flattens NHWC.

How to run
    cd /work/main && /usr/bin/python3 scripts/golden.py [preset|kernels ...]
    (Debian's python3 with python3-torch; not the pyenv python3 on PATH.)
    Writes test/fixtures/golden/<preset>.json and kernels.json (all, or the
    ones named).

Conventions reproduced from Keras
    * padding 'same' is TensorFlow's: out = ceil(in/stride),
      pad_total = max((out-1)*stride + k - in, 0), top/left = pad_total//2,
      the extra row/column goes to the bottom/right (done with F.pad).
    * BatchNormalization: epsilon 1e-3, momentum 0.99 (torch momentum 0.01),
      training mode uses batch statistics (biased variance for normalising)
      and updates moving_variance with the unbiased batch variance.
    * Dropout is the identity in these fixtures.
    * MSE loss = mean over outputs, then over batch; categorical cross-entropy
      = mean over batch of -sum(y*log p).  (Keras clips p to [1e-7, 1-1e-7];
      the script asserts no probability is near that range so the clip is
      inactive and computing it from log_softmax(logits) is exact.)

Weight formulas (p = index in the full Keras weight list, non-trainable
included; i = row-major flat index in the Keras layout; float64):
    kernel          limit*sin(0.37*i + 1.3*p + 0.5), limit = sqrt(6/(fan_in+fan_out))
                    conv fan_in = kh*kw*cin, fan_out = kh*kw*cout; dense in/out
    bias            0.05*cos(0.91*i + p)
    gamma           1 + 0.1*sin(0.5*i + p)
    beta            0.05*cos(0.3*i + p)
    moving_mean     0.1*sin(0.7*i + p)
    moving_variance 1 + 0.5*abs(cos(0.2*i + p))
Input: x[NHWC flat i] = 0.5 + 0.5*sin(0.05*i)*cos(0.011*i), N = 5;
labels: label_k = (3k+1) % 10, one-hot.

JSON format (per preset):
    {preset, batch, loss, probs[N*10],
     weights: [{name, shape, trainable}, ...]   full ordered Keras list,
     grads:   [{name, shape, size, sum, absSum, idx, values}, ...]
              one per trainable weight, Keras layout; idx = dedup of
              floor(j*size/40), j = 0..39; values = grad at those indices,
     movingAfter?:    [{layer, mean, variance}]  (BN presets, after one
                      training forward),
     inferenceProbs?: probs in inference mode with the initial moving stats}
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

N = 5
H0 = W0 = 28
NUM_CLASSES = 10
BN_EPS = 1e-3
BN_TORCH_MOMENTUM = 0.01  # Keras momentum 0.99
GRAD_SAMPLES = 40

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "golden")

# ---------------------------------------------------------------------------
# Model definitions (Keras layer sequences)
# ('conv', filters, k, stride, padding) -- relu activation
# ('pool', 2) MaxPool2D(2), valid
# ('dense', units, activation)
# ('bn',) ('dropout', rate) ('flatten',)
# ---------------------------------------------------------------------------
PRESETS = {
    "seed001-small": dict(
        loss="mse",
        layers=[
            ("conv", 32, 4, 1, "valid"),
            ("pool", 2),
            ("conv", 32, 3, 1, "valid"),
            ("pool", 2),
            ("dropout", 0.3),
            ("flatten",),
            ("dense", 10, "softmax"),
        ],
    ),
    "seed002-cnn": dict(
        loss="cce",
        layers=[
            ("conv", 32, 3, 1, "valid"),
            ("pool", 2),
            ("conv", 64, 3, 1, "valid"),
            ("pool", 2),
            ("conv", 64, 3, 1, "valid"),
            ("flatten",),
            ("dense", 64, "relu"),
            ("dense", 10, "softmax"),
        ],
    ),
    "seed003-bn": dict(
        loss="cce",
        layers=[
            ("conv", 16, 5, 2, "same"),
            ("conv", 32, 3, 1, "same"),
            ("bn",),
            ("conv", 32, 3, 2, "same"),
            ("bn",),
            ("dropout", 0.25),
            ("conv", 64, 3, 1, "same"),
            ("bn",),
            ("conv", 64, 3, 2, "same"),
            ("bn",),
            ("dropout", 0.25),
            ("flatten",),
            ("dense", 256, "relu"),
            ("bn",),
            ("dropout", 0.4),
            ("dense", 10, "softmax"),
        ],
    ),
}


def tf_same_pads(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    before = total // 2
    return out, before, total - before


def conv_out(size, k, stride, padding):
    if padding == "same":
        return tf_same_pads(size, k, stride)[0]
    return (size - k) // stride + 1


# ---------------------------------------------------------------------------
# Layer/weight bookkeeping
# ---------------------------------------------------------------------------
def build_spec(layers):
    """Return (layer list with Keras names and shapes, ordered weight list)."""
    counters = {}

    def kname(base):
        c = counters.get(base, 0)
        counters[base] = c + 1
        return base if c == 0 else f"{base}_{c}"

    shape = (H0, W0, 1)  # NHWC without N, or (F,) after flatten
    spec, weights = [], []
    for layer in layers:
        kind = layer[0]
        entry = {"kind": kind, "in": shape}
        if kind == "conv":
            _, filters, k, stride, padding = layer
            h, w, cin = shape
            name = kname("conv2d")
            entry.update(name=name, filters=filters, k=k, stride=stride, padding=padding)
            weights.append(dict(name=f"{name}/kernel", shape=[k, k, cin, filters], trainable=True,
                                role="kernel", fan=(k * k * cin, k * k * filters)))
            weights.append(dict(name=f"{name}/bias", shape=[filters], trainable=True, role="bias"))
            shape = (conv_out(h, k, stride, padding), conv_out(w, k, stride, padding), filters)
        elif kind == "pool":
            h, w, c = shape
            entry.update(name=kname("max_pooling2d"), size=layer[1])
            shape = (h // layer[1], w // layer[1], c)
        elif kind == "dropout":
            entry.update(name=kname("dropout"))
        elif kind == "flatten":
            entry.update(name=kname("flatten"))
            shape = (math.prod(shape),)
        elif kind == "dense":
            _, units, act = layer
            (fin,) = shape
            name = kname("dense")
            entry.update(name=name, units=units, act=act)
            weights.append(dict(name=f"{name}/kernel", shape=[fin, units], trainable=True,
                                role="kernel", fan=(fin, units)))
            weights.append(dict(name=f"{name}/bias", shape=[units], trainable=True, role="bias"))
            shape = (units,)
        elif kind == "bn":
            c = shape[-1]
            name = kname("batch_normalization")
            entry.update(name=name)
            for role, tr in (("gamma", True), ("beta", True), ("moving_mean", False), ("moving_variance", False)):
                weights.append(dict(name=f"{name}/{role}", shape=[c], trainable=tr, role=role))
        else:
            raise ValueError(kind)
        entry["out"] = shape
        spec.append(entry)
    return spec, weights


def init_value(w, p):
    """Keras-layout float64 tensor for weight `w` at list position `p`."""
    size = math.prod(w["shape"])
    i = torch.arange(size, dtype=torch.float64)
    role = w["role"]
    if role == "kernel":
        fan_in, fan_out = w["fan"]
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        v = limit * torch.sin(0.37 * i + 1.3 * p + 0.5)
    elif role == "bias":
        v = 0.05 * torch.cos(0.91 * i + p)
    elif role == "gamma":
        v = 1 + 0.1 * torch.sin(0.5 * i + p)
    elif role == "beta":
        v = 0.05 * torch.cos(0.3 * i + p)
    elif role == "moving_mean":
        v = 0.1 * torch.sin(0.7 * i + p)
    elif role == "moving_variance":
        v = 1 + 0.5 * torch.abs(torch.cos(0.2 * i + p))
    else:
        raise ValueError(role)
    return v.reshape(w["shape"])


# Keras <-> torch layout conversions -----------------------------------------
def keras_to_torch(w, t):
    if w["role"] == "kernel":
        if len(w["shape"]) == 4:  # HWIO -> OIHW
            return t.permute(3, 2, 0, 1).contiguous()
        return t.t().contiguous()  # [in,out] -> [out,in]
    return t.clone()


def torch_to_keras(w, t):
    if w["role"] == "kernel":
        if len(w["shape"]) == 4:  # OIHW -> HWIO
            return t.permute(2, 3, 1, 0).contiguous()
        return t.t().contiguous()  # [out,in] -> [in,out]
    return t.clone()


def make_input():
    i = torch.arange(N * H0 * W0 * 1, dtype=torch.float64)
    x_nhwc = (0.5 + 0.5 * torch.sin(0.05 * i) * torch.cos(0.011 * i)).reshape(N, H0, W0, 1)
    labels = [(3 * k + 1) % NUM_CLASSES for k in range(N)]
    y = torch.zeros(N, NUM_CLASSES)
    for k, l in enumerate(labels):
        y[k, l] = 1.0
    return x_nhwc, y, labels


# ---------------------------------------------------------------------------
# Forward pass (torch layouts internally, NCHW activations)
# ---------------------------------------------------------------------------
def forward(spec, tparams, x_nhwc, training, record=None):
    """tparams: name -> torch-layout tensor.  Moving stats are NOT mutated;
    returns (logits, probs, new_moving dict name->tensor)."""
    x = x_nhwc.permute(0, 3, 1, 2)  # NHWC -> NCHW
    new_moving = {}
    for L in spec:
        kind = L["kind"]
        name = L.get("name")
        if kind == "conv":
            k, s = L["k"], L["stride"]
            if L["padding"] == "same":
                _, pt, pb = tf_same_pads(x.shape[2], k, s)
                _, pl, pr = tf_same_pads(x.shape[3], k, s)
                x = F.pad(x, (pl, pr, pt, pb))
            x = F.conv2d(x, tparams[f"{name}/kernel"], tparams[f"{name}/bias"], stride=s)
            x = F.relu(x)
        elif kind == "pool":
            x = F.max_pool2d(x, L["size"])
        elif kind == "dropout":
            pass  # identity in fixtures
        elif kind == "flatten":
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten
        elif kind == "dense":
            x = F.linear(x, tparams[f"{name}/kernel"], tparams[f"{name}/bias"])
            if L["act"] == "relu":
                x = F.relu(x)
            elif L["act"] == "softmax":
                logits = x
                x = F.softmax(x, dim=1)
            else:
                raise ValueError(L["act"])
        elif kind == "bn":
            rm = tparams[f"{name}/moving_mean"].clone()
            rv = tparams[f"{name}/moving_variance"].clone()
            x = F.batch_norm(x, rm, rv, tparams[f"{name}/gamma"], tparams[f"{name}/beta"],
                             training=training, momentum=BN_TORCH_MOMENTUM, eps=BN_EPS)
            new_moving[name] = (rm, rv)
        if record is not None:
            record.append((name, x.permute(0, 2, 3, 1) if x.dim() == 4 else x))
    return logits, x, new_moving


def loss_fn(kind, logits, probs, y):
    if kind == "mse":
        return ((probs - y) ** 2).mean(dim=1).mean()
    if kind == "cce":
        return -(y * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    raise ValueError(kind)


# ---------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------
def check_roundtrip(weights, kparams):
    for w in weights:
        t = kparams[w["name"]]
        back = torch_to_keras(w, keras_to_torch(w, t))
        assert back.shape == t.shape and torch.equal(back, t), f"layout round-trip failed for {w['name']}"
        if w["role"] == "kernel" and len(w["shape"]) == 4:
            kh, kw, ci, co = w["shape"]
            tt = keras_to_torch(w, t)
            # element (h, w, i, o) of the Keras kernel is (o, i, h, w) in torch
            for (a, b, c, d) in [(0, 0, 0, 0), (kh - 1, 0, ci - 1, co // 2), (kh // 2, kw - 1, 0, co - 1)]:
                flat = ((a * kw + b) * ci + c) * co + d
                assert tt[d, c, a, b] == t.reshape(-1)[flat]
                assert t.reshape(-1)[flat] == init_value(w, weights.index(w)).reshape(-1)[flat]


def check_layouts_naive(spec, kparams, x_nhwc, record):
    """Recompute the first conv layer and the final dense layer with explicit
    Keras-layout arithmetic and compare with the torch activations."""
    acts = dict(record)
    first = next(L for L in spec if L["kind"] == "conv")
    K = kparams[f"{first['name']}/kernel"]
    B = kparams[f"{first['name']}/bias"]
    k, s = first["k"], first["stride"]
    if first["padding"] == "same":
        _, pt, _ = tf_same_pads(H0, k, s)
        _, pl, _ = tf_same_pads(W0, k, s)
    else:
        pt = pl = 0
    out = acts[first["name"]]  # NHWC, after relu
    oh_n, ow_n, co_n = out.shape[1:]
    positions = [(0, 0, 0, 0), (N - 1, oh_n - 1, ow_n - 1, co_n - 1), (2, oh_n // 2, 1, co_n // 3),
                 (1, oh_n - 1, 0, 5)]
    for n, oh, ow, co in positions:
        acc = B[co].item()
        for a in range(k):
            for b in range(k):
                ih, iw = oh * s + a - pt, ow * s + b - pl
                if 0 <= ih < H0 and 0 <= iw < W0:
                    acc += x_nhwc[n, ih, iw, 0].item() * K[a, b, 0, co].item()
        ref = max(acc, 0.0)
        got = out[n, oh, ow, co].item()
        assert abs(ref - got) < 1e-12, f"naive conv mismatch at {(n, oh, ow, co)}: {ref} vs {got}"
    # final dense: logits = prev @ W[in,out] + b, prev being the NHWC-flattened chain
    last = [L for L in spec if L["kind"] == "dense"][-1]
    idx = spec.index(last)
    prev = record[idx - 1][1]
    Wk = kparams[f"{last['name']}/kernel"]
    bk = kparams[f"{last['name']}/bias"]
    logits = prev.detach() @ Wk + bk
    probs = torch.softmax(logits, dim=1)
    assert torch.allclose(probs, acts[last["name"]].detach(), rtol=0, atol=1e-14), "dense layout mismatch"
    # flatten must be NHWC order
    fl = next(L for L in spec if L["kind"] == "flatten")
    fi = spec.index(fl)
    before = record[fi - 1][1].detach()
    assert torch.equal(record[fi][1].detach(), before.reshape(N, -1)), "flatten is not NHWC order"


def check_finite_difference(spec, weights, kparams, x_nhwc, y, loss_kind, kgrads):
    """Central difference on Keras-layout weights vs converted torch gradient."""
    kern = [w for w in weights if w["role"] == "kernel"]
    targets = [kern[0], kern[-1]]
    gamma = [w for w in weights if w["role"] == "gamma"]
    if gamma:
        targets.append(gamma[0])
    h = 1e-6
    worst = 0.0
    for w in targets:
        size = math.prod(w["shape"])
        for i in (size // 7, (size * 3) // 5 + 1):
            vals = []
            for sign in (+1, -1):
                kp = {n: t.clone() for n, t in kparams.items()}
                kp[w["name"]].view(-1)[i] += sign * h
                tp = {ww["name"]: keras_to_torch(ww, kp[ww["name"]]) for ww in weights}
                with torch.no_grad():
                    lg, pr, _ = forward(spec, tp, x_nhwc, training=True)
                    vals.append(loss_fn(loss_kind, lg, pr, y).item())
            fd = (vals[0] - vals[1]) / (2 * h)
            g = kgrads[w["name"]].reshape(-1)[i].item()
            err = abs(fd - g) / max(abs(g), abs(fd), 1e-8)
            worst = max(worst, err)
            assert err < 1e-5 or abs(fd - g) < 1e-10, \
                f"finite difference mismatch {w['name']}[{i}]: fd={fd!r} grad={g!r}"
    return worst


# ---------------------------------------------------------------------------
def run_preset(preset):
    cfg = PRESETS[preset]
    spec, weights = build_spec(cfg["layers"])
    kparams = {w["name"]: init_value(w, p) for p, w in enumerate(weights)}
    check_roundtrip(weights, kparams)

    x_nhwc, y, _ = make_input()
    tparams = {}
    for w in weights:
        t = keras_to_torch(w, kparams[w["name"]])
        if w["trainable"]:
            t.requires_grad_(True)
        tparams[w["name"]] = t

    has_bn = any(L["kind"] == "bn" for L in spec)
    result = {"preset": preset, "batch": N}

    inference_probs = None
    if has_bn:
        with torch.no_grad():
            _, pr_inf, mv = forward(spec, tparams, x_nhwc, training=False)
        for name, (rm, rv) in mv.items():  # eval mode must not touch moving stats
            assert torch.equal(rm, tparams[f"{name}/moving_mean"])
            assert torch.equal(rv, tparams[f"{name}/moving_variance"])
        inference_probs = pr_inf

    record = []
    logits, probs, moving = forward(spec, tparams, x_nhwc, training=True, record=record)
    p_min, p_max = probs.min().item(), probs.max().item()
    assert 1e-6 < p_min and p_max < 1 - 1e-6, "Keras epsilon clip would be active"
    loss = loss_fn(cfg["loss"], logits, probs, y)
    loss.backward()

    kgrads = {w["name"]: torch_to_keras(w, tparams[w["name"]].grad.detach())
              for w in weights if w["trainable"]}
    for w in weights:
        if w["trainable"]:
            assert list(kgrads[w["name"]].shape) == w["shape"]

    check_layouts_naive(spec, kparams, x_nhwc, record)
    worst = check_finite_difference(spec, weights, kparams, x_nhwc, y, cfg["loss"], kgrads)

    # manual check of the BN moving-stat update for the first BN layer
    if has_bn:
        bi = next(i for i, L in enumerate(spec) if L["kind"] == "bn")
        inp = record[bi - 1][1].detach()
        red = inp.reshape(-1, inp.shape[-1])
        m = red.mean(0)
        v = red.var(0, unbiased=True)
        name = spec[bi]["name"]
        exp_m = 0.99 * kparams[f"{name}/moving_mean"] + 0.01 * m
        exp_v = 0.99 * kparams[f"{name}/moving_variance"] + 0.01 * v
        assert torch.allclose(moving[name][0], exp_m, rtol=0, atol=1e-14)
        assert torch.allclose(moving[name][1], exp_v, rtol=0, atol=1e-14)

    result["loss"] = loss.item()
    result["probs"] = probs.detach().reshape(-1).tolist()
    result["weights"] = [{"name": w["name"], "shape": w["shape"], "trainable": w["trainable"]} for w in weights]
    grads = []
    for w in weights:
        if not w["trainable"]:
            continue
        g = kgrads[w["name"]].reshape(-1)
        size = g.numel()
        idx = []
        for j in range(GRAD_SAMPLES):
            v = (j * size) // GRAD_SAMPLES
            if v not in idx:
                idx.append(v)
        grads.append({
            "name": w["name"],
            "shape": w["shape"],
            "size": size,
            "sum": g.sum().item(),
            "absSum": g.abs().sum().item(),
            "idx": idx,
            "values": [g[k].item() for k in idx],
        })
    result["grads"] = grads
    if has_bn:
        result["movingAfter"] = [
            {"layer": L["name"], "mean": moving[L["name"]][0].tolist(), "variance": moving[L["name"]][1].tolist()}
            for L in spec if L["kind"] == "bn"
        ]
        result["inferenceProbs"] = inference_probs.reshape(-1).tolist()
    return result, worst


def to_json(result):
    """Compact but diffable JSON: one top-level key per line, one list entry
    per line for weights/grads/movingAfter.  Floats are written with repr
    (shortest round-trip float64) by the json module."""
    def c(v):
        return json.dumps(v, separators=(",", ":"), allow_nan=False)

    lines = []
    for key, val in result.items():
        if key in ("weights", "grads", "movingAfter"):
            inner = ",\n".join("  " + c(e) for e in val)
            lines.append(f"{c(key)}:[\n{inner}\n ]")
        else:
            lines.append(f"{c(key)}:{c(val)}")
    text = "{\n " + ",\n ".join(lines) + "\n}\n"
    assert json.loads(text) == result
    return text


# ---------------------------------------------------------------------------
# Kernel goldens (kernels.json): the activations and average pooling on their
# own, for kernels no preset uses.  Inputs are formulas again, rounded to
# float32 first (what the kernels see), then computed in float64:
#   eltwise x_i = 7.5*sin(0.7*i + 0.3), i < 97; "grad" is f'(x) (upstream 1)
#   pool    x[NHWC flat i] = sin(0.37*i + 0.1), dy[i] = cos(0.23*i)
# Average pooling is TF's: the mean over the window cells inside the input,
# TF 'same' padding (extra at the bottom/right) done as sum-pool / count-pool
# over zero-padded data and ones, which torch's symmetric padding cannot
# express; symmetric cases are cross-checked against count_include_pad=False.

ELTWISE = [
    # (kind, alpha or None, float64 torch function of x)
    ("relu", None, F.relu),
    ("sigmoid", None, torch.sigmoid),
    ("tanh", None, torch.tanh),
    ("linear", None, lambda x: x * 1),
    ("elu", None, lambda x: F.elu(x, 1.0)),
    ("elu", 0.5, lambda x: F.elu(x, 0.5)),
    ("selu", None, F.selu),
    ("leaky_relu", None, lambda x: F.leaky_relu(x, 0.2)),
    ("leaky_relu", -0.3, lambda x: F.leaky_relu(x, -0.3)),
    ("relu6", None, F.relu6),
    ("softplus", None, lambda x: F.softplus(x, beta=1, threshold=1000)),
    ("softsign", None, F.softsign),
    ("hard_sigmoid", None, lambda x: torch.clamp(0.2 * x + 0.5, 0, 1)),
    ("hard_sigmoid", 1 / 6, F.hardsigmoid),  # torch's is Keras 3's: relu6(x + 3) / 6
    ("exponential", None, torch.exp),
    ("swish", None, F.silu),
    ("gelu", None, lambda x: F.gelu(x)),  # approximate='none': the erf form
    ("mish", None, F.mish),
]

# (name, n, h, w, c, (ph, pw), (sh, sw), padding)
AVG_POOLS = [
    ("same 2x2/2 on 5x5x2", 2, 5, 5, 2, (2, 2), (2, 2), "same"),
    ("same 3x3/2 on 7x7x3", 2, 7, 7, 3, (3, 3), (2, 2), "same"),
    ("same 4x4/2 on 9x9x2", 1, 9, 9, 2, (4, 4), (2, 2), "same"),
    ("same 3x3/1 on 6x5x2", 2, 6, 5, 2, (3, 3), (1, 1), "same"),
    ("valid 3x3/2 on 9x8x4", 2, 9, 8, 4, (3, 3), (2, 2), "valid"),
    ("same 2x3, strides 1x2, on 5x6x3", 2, 5, 6, 3, (2, 3), (1, 2), "same"),
    ("global 7x7x5", 3, 7, 7, 5, (7, 7), (1, 1), "valid"),
]


def f32(values):
    return torch.tensor(values, dtype=torch.float32).to(torch.float64)


def eltwise_golden():
    out = []
    x0 = f32([7.5 * math.sin(0.7 * i + 0.3) for i in range(97)])
    for kind, alpha, fn in ELTWISE:
        x = x0.clone().requires_grad_(True)
        y = fn(x)
        (g,) = torch.autograd.grad(y.sum(), x)
        out.append({"kind": kind, "alpha": alpha, "y": y.tolist(), "grad": g.tolist()})
    return out


def avg_pool_tf(x_nchw, k, s, padding):
    h, w = x_nchw.shape[2:]
    _, pt, pb = tf_same_pads(h, k[0], s[0]) if padding == "same" else (0, 0, 0)
    _, pl, pr = tf_same_pads(w, k[1], s[1]) if padding == "same" else (0, 0, 0)
    pad = (pl, pr, pt, pb)
    total = F.avg_pool2d(F.pad(x_nchw, pad), k, s, divisor_override=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(x_nchw[:1, :1]), pad), k, s, divisor_override=1)
    if pt == pb and pl == pr:
        ref = F.avg_pool2d(x_nchw, k, s, padding=(pt, pl), count_include_pad=False)
        assert torch.allclose(total / count, ref, rtol=1e-12, atol=1e-12), "TF average pooling disagrees with torch's"
    return total / count, (pt, pl)


def avg_pool_golden():
    out = []
    for name, n, h, w, c, k, s, padding in AVG_POOLS:
        x = f32([math.sin(0.37 * i + 0.1) for i in range(n * h * w * c)]).reshape(n, h, w, c)
        x = x.permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        y, (pt, pl) = avg_pool_tf(x, k, s, padding)
        dy = f32([math.cos(0.23 * i) for i in range(y.numel())]).reshape(n, y.shape[2], y.shape[3], c).permute(0, 3, 1, 2)
        (dx,) = torch.autograd.grad(y, x, dy)
        nhwc = lambda t: t.permute(0, 2, 3, 1).reshape(-1).tolist()
        out.append({"name": name, "geom": {"n": n, "h": h, "w": w, "c": c, "oh": y.shape[2], "ow": y.shape[3],
                                           "ph": k[0], "pw": k[1], "sh": s[0], "sw": s[1], "padTop": pt, "padLeft": pl},
                    "y": nhwc(y), "dx": nhwc(dx)})
    return out


def kernels_json():
    c = lambda v: json.dumps(v, separators=(",", ":"), allow_nan=False)
    result = {"eltwise": eltwise_golden(), "avgPool": avg_pool_golden()}
    text = "{\n" + ",\n".join(f" {c(k)}:[\n" + ",\n".join("  " + c(e) for e in v) + "\n ]" for k, v in result.items()) + "\n}\n"
    assert json.loads(text) == result
    return text


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    only = sys.argv[1:]  # e.g. `golden.py kernels`: just those fixtures
    for preset in PRESETS:
        if only and preset not in only:
            continue
        result, worst = run_preset(preset)
        path = os.path.join(OUT_DIR, f"{preset}.json")
        with open(path, "w") as f:
            f.write(to_json(result))
        print(f"{preset}: loss={result['loss']!r}  fd-worst-rel-err={worst:.2e}  "
              f"-> {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
    if not only or "kernels" in only:
        path = os.path.join(OUT_DIR, "kernels.json")
        with open(path, "w") as f:
            f.write(kernels_json())
        print(f"kernels: {len(ELTWISE)} activations, {len(AVG_POOLS)} average poolings "
              f"-> {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
