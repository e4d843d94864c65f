#!/usr/bin/python3
"""The speed yardstick for `npm run bench`: PyTorch (Debian's python3-torch, oneDNN) training and
inference samples/s on the same architectures, batch sizes and thread count as digits' presets.
Prints one JSON object. Benchmark tool only: digits never imports torch.

usage: /usr/bin/python3 bench/torch_bench.py --threads 2 --steps 30 [--only seed002-cnn]
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class SamePad(nn.Module):
    """TensorFlow 'same' padding: the odd extra row/column goes at the bottom/right."""
    def __init__(self, size, k, s):
        super().__init__()
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        self.pad = (total // 2, total - total // 2, total // 2, total - total // 2)
    def forward(self, x):
        return F.pad(x, self.pad)


def conv(cin, cout, k, size, stride=1, same=False):
    layers = [SamePad(size, k, stride)] if same else []
    layers += [nn.Conv2d(cin, cout, k, stride), nn.ReLU()]
    out = -(-size // stride) if same else (size - k) // stride + 1
    return layers, out


def build(name):
    L = []
    if name == 'seed000-kaggle':
        for cin, cout, s in [(1, 32, 28), (32, 32, 28)]:
            L += conv(cin, cout, 5, s, same=True)[0]
        L += [nn.MaxPool2d(2), nn.Dropout(0.25)]
        for cin, cout in [(32, 64), (64, 64)]:
            L += conv(cin, cout, 5, 14, same=True)[0]
        L += [nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(3136, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)]
        return nn.Sequential(*L), 86
    if name == 'seed001-small':
        return nn.Sequential(nn.Conv2d(1, 32, 4), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Dropout(0.3), nn.Flatten(), nn.Linear(800, 10)), 32
    if name == 'seed002-mlp':
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)), 128
    if name == 'seed002-cnn':
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)), 64
    if name == 'seed003-bn':
        L = conv(1, 16, 5, 28, 2, True)[0] + conv(16, 32, 3, 14, 1, True)[0] + [nn.BatchNorm2d(32, 1e-3, 0.01)]
        L += conv(32, 32, 3, 14, 2, True)[0] + [nn.BatchNorm2d(32, 1e-3, 0.01), nn.Dropout(0.25)]
        L += conv(32, 64, 3, 7, 1, True)[0] + [nn.BatchNorm2d(64, 1e-3, 0.01)]
        L += conv(64, 64, 3, 7, 2, True)[0] + [nn.BatchNorm2d(64, 1e-3, 0.01), nn.Dropout(0.25), nn.Flatten()]
        L += [nn.Linear(1024, 256), nn.ReLU(), nn.BatchNorm1d(256, 1e-3, 0.01), nn.Dropout(0.4), nn.Linear(256, 10)]
        return nn.Sequential(*L), 128
    if name == 'seed004-keras':
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Flatten(), nn.Dropout(0.5), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10)), 32
    if name == 'speedrun':  # `digits speedrun`'s net (src/cli/speedrun.ts)
        return nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(8, 1e-3, 0.1),
                             nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(16, 1e-3, 0.1),
                             nn.Flatten(), nn.Linear(400, 128), nn.ReLU(), nn.Linear(128, 10)), 128
    return None, None


OPT = {'seed000-kaggle': 'rmsprop', 'seed001-small': 'sgd', 'seed002-mlp': 'rmsprop', 'seed002-cnn': 'rmsprop',
       'seed003-bn': 'adam', 'seed004-keras': 'adam', 'speedrun': 'adam'}


def bench(name, steps, batch=None):
    model, bs = build(name)
    if model is None:  # a preset of ours without a PyTorch twin here
        return None
    bs = batch or bs
    opt = {'sgd': lambda p: torch.optim.SGD(p, 0.01), 'rmsprop': lambda p: torch.optim.RMSprop(p, 1e-3, alpha=0.9, eps=1e-7),
           'adam': lambda p: torch.optim.Adam(p, 1e-3, eps=1e-7)}[OPT[name]](model.parameters())
    x = torch.rand(bs, 1, 28, 28)
    y = torch.randint(0, 10, (bs,))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y) if name != 'seed001-small' else F.mse_loss(torch.softmax(model(x), 1), F.one_hot(y, 10).float())
        loss.backward()
        opt.step()
    model.train()
    for _ in range(3):
        step()
    # the best of 5 rounds, as bench.ts does for ours: slow rounds measure the machine's neighbours
    train = 0
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        train = max(train, steps * bs / (time.perf_counter() - t))
    model.eval()
    xi = torch.rand(256, 1, 28, 28)
    with torch.no_grad():
        for _ in range(2):
            model(xi)
        n = max(steps // 3, 3)
        infer = 0
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n):
                model(xi)
            infer = max(infer, n * 256 / (time.perf_counter() - t))
    return {'batchSize': bs, 'train': train, 'infer': infer}


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--only', action='append')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = [n for n in (a.only or list(OPT)) if n in OPT]
    print(json.dumps({'torch': torch.__version__, 'threads': a.threads, 'results': {n: bench(n, a.steps) for n in names}}))
