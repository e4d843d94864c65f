// Reference kernels: plain loops over NHWC / HWIO arrays, written to be read and trusted. Loop orders
// keep the innermost loop over the contiguous channel axis, which is what makes them usable (an epoch
// of an MLP in minutes), but nothing here is clever: the native backend is where speed lives.
import { eltwiseAlpha, type ConvGeom, type Eltwise, type Kernels, type PoolGeom } from './kernels';

const EPS_CLIP = 1e-7;

export const reference: Kernels = {
  name: 'reference',

  conv2dForward(g, x, w, b, y, relu) {
    const { n, h, w: W, c, f, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yo = ((b0 * oh + oy) * ow + ox) * f;
          for (let k = 0; k < f; k++) y[yo + k] = b ? b[k] : 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh + ky - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw + kx - padLeft;
              if (ix < 0 || ix >= W) continue;
              const xo = ((b0 * h + iy) * W + ix) * c;
              const wo = (ky * kw + kx) * c * f;
              for (let ci = 0; ci < c; ci++) {
                const xv = x[xo + ci];
                if (xv === 0) continue;
                const wr = wo + ci * f;
                for (let k = 0; k < f; k++) y[yo + k] += xv * w[wr + k];
              }
            }
          }
          if (relu) for (let k = 0; k < f; k++) if (y[yo + k] < 0) y[yo + k] = 0;
        }
      }
    }
  },

  conv2dBackwardData(g, dy, w, dx) {
    const { n, h, w: W, c, f, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
    dx.fill(0);
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yo = ((b0 * oh + oy) * ow + ox) * f;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh + ky - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw + kx - padLeft;
              if (ix < 0 || ix >= W) continue;
              const xo = ((b0 * h + iy) * W + ix) * c;
              const wo = (ky * kw + kx) * c * f;
              for (let ci = 0; ci < c; ci++) {
                const wr = wo + ci * f;
                let s = 0;
                for (let k = 0; k < f; k++) s += dy[yo + k] * w[wr + k];
                dx[xo + ci] += s;
              }
            }
          }
        }
      }
    }
  },

  conv2dBackwardWeights(g, x, dy, dw, db) {
    const { n, h, w: W, c, f, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
    dw.fill(0);
    if (db) db.fill(0);
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yo = ((b0 * oh + oy) * ow + ox) * f;
          if (db) for (let k = 0; k < f; k++) db[k] += dy[yo + k];
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh + ky - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw + kx - padLeft;
              if (ix < 0 || ix >= W) continue;
              const xo = ((b0 * h + iy) * W + ix) * c;
              const wo = (ky * kw + kx) * c * f;
              for (let ci = 0; ci < c; ci++) {
                const xv = x[xo + ci];
                if (xv === 0) continue;
                const wr = wo + ci * f;
                for (let k = 0; k < f; k++) dw[wr + k] += xv * dy[yo + k];
              }
            }
          }
        }
      }
    }
  },

  // The fused first layer is, by definition, the three kernels it replaces.
  conv2dReluMaxPoolForward(g, p, x, w, b, y, ws) {
    const z = new Float32Array(g.n * g.oh * g.ow * g.f);
    reference.conv2dForward(g, x, w, b, z, true);
    reference.maxPool2dForward(p, z, y, ws);
  },

  conv2dReluMaxPoolBackwardWeights(g, p, x, dy, ws, y, dw, db) {
    const dz = new Float32Array(g.n * g.oh * g.ow * g.f);
    reference.maxPool2dBackward(p, dy, ws, dz, y);
    reference.conv2dBackwardWeights(g, x, dz, dw, db);
  },

  maxPool2dForward(g, x, y, ws) {
    const { n, h, w: W, c, oh, ow, ph, pw, sh, sw, padTop, padLeft } = g;
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yo = ((b0 * oh + oy) * ow + ox) * c;
          for (let ci = 0; ci < c; ci++) {
            let best = -Infinity;
            let arg = -1;
            for (let py = 0; py < ph; py++) {
              const iy = oy * sh + py - padTop;
              if (iy < 0 || iy >= h) continue;
              for (let px = 0; px < pw; px++) {
                const ix = ox * sw + px - padLeft;
                if (ix < 0 || ix >= W) continue;
                const xi = ((b0 * h + iy) * W + ix) * c + ci;
                if (x[xi] > best || arg < 0) {
                  best = x[xi];
                  arg = xi;
                }
              }
            }
            y[yo + ci] = best;
            ws[yo + ci] = arg;
          }
        }
      }
    }
  },

  maxPool2dBackward(_g, dy, ws, dx, reluOf) {
    dx.fill(0);
    for (let i = 0; i < dy.length; i++) if (!reluOf || reluOf[i] > 0) dx[ws[i]] += dy[i];
  },

  avgPool2dForward(g, x, y) {
    forEachWindowCell(
      g,
      (o, i, count) => {
        y[o] += x[i] / count;
      },
      y,
    );
  },

  avgPool2dBackward(g, dy, dx) {
    dx.fill(0);
    forEachWindowCell(g, (o, i, count) => {
      dx[i] += dy[o] / count;
    });
  },

  denseForward(n, inF, outF, x, w, b, y, relu) {
    for (let r = 0; r < n; r++) {
      const yo = r * outF;
      for (let j = 0; j < outF; j++) y[yo + j] = b ? b[j] : 0;
      const xo = r * inF;
      for (let i = 0; i < inF; i++) {
        const xv = x[xo + i];
        if (xv === 0) continue;
        const wo = i * outF;
        for (let j = 0; j < outF; j++) y[yo + j] += xv * w[wo + j];
      }
      if (relu) for (let j = 0; j < outF; j++) if (y[yo + j] < 0) y[yo + j] = 0;
    }
  },

  denseBackwardData(n, inF, outF, dy, w, dx) {
    for (let r = 0; r < n; r++) {
      const yo = r * outF;
      for (let i = 0; i < inF; i++) {
        const wo = i * outF;
        let s = 0;
        for (let j = 0; j < outF; j++) s += dy[yo + j] * w[wo + j];
        dx[r * inF + i] = s;
      }
    }
  },

  denseBackwardWeights(n, inF, outF, x, dy, dw, db) {
    dw.fill(0);
    if (db) db.fill(0);
    for (let r = 0; r < n; r++) {
      const yo = r * outF;
      if (db) for (let j = 0; j < outF; j++) db[j] += dy[yo + j];
      for (let i = 0; i < inF; i++) {
        const xv = x[r * inF + i];
        if (xv === 0) continue;
        const wo = i * outF;
        for (let j = 0; j < outF; j++) dw[wo + j] += xv * dy[yo + j];
      }
    }
  },

  batchNormForwardTraining(rows, c, x, gamma, beta, movingMean, movingVar, momentum, eps, y, saveMean, saveInvStd) {
    const mean = new Float64Array(c);
    const sq = new Float64Array(c);
    for (let r = 0; r < rows; r++) for (let k = 0; k < c; k++) mean[k] += x[r * c + k];
    for (let k = 0; k < c; k++) mean[k] /= rows;
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < c; k++) {
        const d = x[r * c + k] - mean[k];
        sq[k] += d * d;
      }
    for (let k = 0; k < c; k++) {
      const v = sq[k] / rows;
      saveMean[k] = mean[k];
      saveInvStd[k] = 1 / Math.sqrt(v + eps);
      const unbiased = rows > 1 ? sq[k] / (rows - 1) : v;
      movingMean[k] = movingMean[k] * momentum + mean[k] * (1 - momentum);
      movingVar[k] = movingVar[k] * momentum + unbiased * (1 - momentum);
    }
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c; k++) {
        const i = r * c + k;
        y[i] = (x[i] - saveMean[k]) * saveInvStd[k] * gamma[k] + beta[k];
      }
    }
  },

  batchNormForwardInference(rows, c, x, gamma, beta, movingMean, movingVar, eps, y) {
    for (let k = 0; k < c; k++) {
      const s = gamma[k] / Math.sqrt(movingVar[k] + eps);
      const t = beta[k] - movingMean[k] * s;
      for (let r = 0; r < rows; r++) y[r * c + k] = x[r * c + k] * s + t;
    }
  },

  batchNormBackward(rows, c, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) {
    // dx = γ·σ⁻¹/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), the standard closed form
    const sdy = new Float64Array(c);
    const sdyx = new Float64Array(c);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c; k++) {
        const i = r * c + k;
        const xh = (x[i] - saveMean[k]) * saveInvStd[k];
        sdy[k] += dy[i];
        sdyx[k] += dy[i] * xh;
      }
    }
    for (let k = 0; k < c; k++) {
      dgamma[k] = sdyx[k];
      dbeta[k] = sdy[k];
    }
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c; k++) {
        const i = r * c + k;
        const xh = (x[i] - saveMean[k]) * saveInvStd[k];
        dx[i] = ((gamma[k] * saveInvStd[k]) / rows) * (rows * dy[i] - sdy[k] - xh * sdyx[k]);
      }
    }
  },

  eltwiseForward(kind, x, y, alpha) {
    const f = ELTWISE[kind].fwd,
      a = eltwiseAlpha(kind, alpha);
    for (let i = 0; i < x.length; i++) y[i] = f(x[i], a);
  },

  eltwiseBackward(kind, x, y, dy, dx, alpha) {
    const d = ELTWISE[kind].grad,
      a = eltwiseAlpha(kind, alpha);
    for (let i = 0; i < x.length; i++) dx[i] = dy[i] * d(x[i], y[i], a);
  },

  softmaxForward(rows, cols, x, y) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = -Infinity;
      for (let j = 0; j < cols; j++) if (x[o + j] > m) m = x[o + j];
      let s = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(x[o + j] - m);
        y[o + j] = e;
        s += e;
      }
      for (let j = 0; j < cols; j++) y[o + j] /= s;
    }
  },

  softmaxBackward(rows, cols, y, dy, dx) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[o + j] * y[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - s);
    }
  },

  softmaxCrossEntropy(rows, cols, p, t, dlogits, scale) {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      // Keras normalises the probabilities to sum 1 before the log; after a softmax they already do.
      for (let j = 0; j < cols; j++) {
        if (t[o + j] !== 0) loss -= t[o + j] * Math.log(Math.min(Math.max(p[o + j], EPS_CLIP), 1 - EPS_CLIP));
        if (dlogits) dlogits[o + j] = (p[o + j] - t[o + j]) / scale;
      }
    }
    return loss;
  },

  dropoutForward(x, y, mask, rate, seed) {
    const keep = 1 - rate;
    const threshold = Math.floor(keep * 16777216);
    const scale = 1 / keep;
    for (let i = 0; i < x.length; i++) {
      mask[i] = dropoutHash(seed, i) >>> 8 < threshold ? scale : 0;
      y[i] = x[i] * mask[i]; // the float32 scale, as native multiplies by
    }
  },

  dropoutBackward(dy, mask, dx) {
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * mask[i];
  },

  sgdUpdate(params, grads, velocity, lr, momentum, nesterov) {
    for (let p = 0; p < params.length; p++) {
      const w = params[p],
        g = grads[p];
      if (!velocity || momentum === 0) {
        for (let i = 0; i < w.length; i++) w[i] -= lr * g[i];
        continue;
      }
      const v = velocity[p];
      for (let i = 0; i < w.length; i++) {
        v[i] = momentum * v[i] - lr * g[i];
        w[i] += nesterov ? momentum * v[i] - lr * g[i] : v[i];
      }
    }
  },

  rmspropUpdate(params, grads, ms, lr, rho, eps) {
    for (let p = 0; p < params.length; p++) {
      const w = params[p],
        g = grads[p],
        s = ms[p];
      for (let i = 0; i < w.length; i++) {
        s[i] = rho * s[i] + (1 - rho) * g[i] * g[i];
        w[i] -= (lr * g[i]) / (Math.sqrt(s[i]) + eps);
      }
    }
  },

  adamUpdate(params, grads, m, v, lr, beta1, beta2, eps, t, weightDecay) {
    const lrT = (lr * Math.sqrt(1 - Math.pow(beta2, t))) / (1 - Math.pow(beta1, t));
    const keep = Math.fround(1 - lr * weightDecay);
    for (let p = 0; p < params.length; p++) {
      const w = params[p],
        g = grads[p],
        mp = m[p],
        vp = v[p];
      for (let i = 0; i < w.length; i++) {
        if (weightDecay) w[i] *= keep;
        mp[i] = beta1 * mp[i] + (1 - beta1) * g[i];
        vp[i] = beta2 * vp[i] + (1 - beta2) * g[i] * g[i];
        w[i] -= (lrT * mp[i]) / (Math.sqrt(vp[i]) + eps);
      }
    }
  },
};

/** A 32-bit integer hash of (seed, i) (murmur3's finaliser): dropout's counter-based random stream. */
export function dropoutHash(seed: number, i: number): number {
  let z = (seed ^ Math.imul(i, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Calls cell(o, i, count) for every output o and every input cell i inside o's window, count being
 * how many such cells the window has; `zero`, when given, is cleared per output first.
 */
function forEachWindowCell(g: PoolGeom, cell: (o: number, i: number, count: number) => void, zero?: Float32Array): void {
  const { n, h, w: W, c, oh, ow, ph, pw, sh, sw, padTop, padLeft } = g;
  for (let b0 = 0; b0 < n; b0++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(oy * sh - padTop, 0),
        y1 = Math.min(oy * sh - padTop + ph, h);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = Math.max(ox * sw - padLeft, 0),
          x1 = Math.min(ox * sw - padLeft + pw, W);
        const count = Math.max(y1 - y0, 0) * Math.max(x1 - x0, 0);
        const yo = ((b0 * oh + oy) * ow + ox) * c;
        if (zero) zero.fill(0, yo, yo + c);
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const xo = ((b0 * h + iy) * W + ix) * c;
            for (let ci = 0; ci < c; ci++) cell(yo + ci, xo + ci, count);
          }
        }
      }
    }
  }
}

const SELU_SCALE = 1.0507009873554805,
  SELU_ALPHA = 1.6732632423543772;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** log(1 + eˣ) without overflow for large x or loss of precision for very negative x. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
/** Standard normal CDF Φ(x) = erfc(−x/√2)/2: erfc keeps its relative accuracy in the far left tail. */
const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);

/**
 * erfc with relative error < 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit, erfcc), finer
 * than float32, the precision the kernels store.
 */
function erfc(x: number): number {
  const z = Math.abs(x),
    t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Each kind's f(x) and f'(x), the derivative given both x and y = f(x) (whichever reads simpler). */
const ELTWISE: Record<Eltwise, { fwd: (x: number, a: number) => number; grad: (x: number, y: number, a: number) => number }> = {
  relu: { fwd: (x) => (x > 0 ? x : 0), grad: (x) => (x > 0 ? 1 : 0) },
  sigmoid: { fwd: sigmoid, grad: (_x, y) => y * (1 - y) },
  tanh: { fwd: Math.tanh, grad: (_x, y) => 1 - y * y },
  linear: { fwd: (x) => x, grad: () => 1 },
  elu: { fwd: (x, a) => (x > 0 ? x : a * Math.expm1(x)), grad: (x, _y, a) => (x > 0 ? 1 : a * Math.exp(x)) },
  selu: {
    fwd: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)),
    grad: (x) => SELU_SCALE * (x > 0 ? 1 : SELU_ALPHA * Math.exp(x)),
  },
  leaky_relu: { fwd: (x, a) => (x > 0 ? x : a * x), grad: (x, _y, a) => (x > 0 ? 1 : a) },
  relu6: { fwd: (x) => Math.min(Math.max(x, 0), 6), grad: (x) => (x > 0 && x < 6 ? 1 : 0) },
  softplus: { fwd: softplus, grad: sigmoid },
  softsign: { fwd: (x) => x / (1 + Math.abs(x)), grad: (x) => 1 / (1 + Math.abs(x)) ** 2 },
  hard_sigmoid: {
    fwd: (x, a) => Math.min(Math.max(a * x + 0.5, 0), 1),
    grad: (x, _y, a) => {
      const v = a * x + 0.5;
      return v > 0 && v < 1 ? a : 0;
    },
  },
  exponential: { fwd: Math.exp, grad: (_x, y) => y },
  swish: {
    fwd: (x) => x * sigmoid(x),
    grad: (x) => {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    },
  },
  gelu: { fwd: (x) => x * normalCdf(x), grad: (x) => normalCdf(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI) },
  mish: {
    fwd: (x) => x * Math.tanh(softplus(x)),
    grad: (x) => {
      const t = Math.tanh(softplus(x));
      return t + x * (1 - t * t) * sigmoid(x);
    },
  },
};

export type { ConvGeom, PoolGeom };
