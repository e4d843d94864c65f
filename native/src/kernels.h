// The compute entry points behind the N-API glue, on raw pointers. Layouts and semantics are those of
// src/kernels/kernels.ts (NHWC activations, HWIO conv weights, [in, out] dense weights).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace digits {

struct ConvGeom {
  int64_t n, h, w, c, f, oh, ow, kh, kw, sh, sw, padTop, padLeft;
};

struct PoolGeom {
  int64_t n, h, w, c, oh, ow, ph, pw, sh, sw, padTop, padLeft;
};

// The numbering is ELTWISE_KINDS' order in src/kernels/kernels.ts (native.ts passes the index).
enum class Act {
  relu, sigmoid, tanh, linear, elu, selu, leaky_relu, relu6, softplus, softsign, hard_sigmoid, exponential, swish,
  gelu, mish,
};
constexpr int kActCount = 15;

void conv2dForward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, bool relu);
void conv2dBackwardData(const ConvGeom& g, const float* dy, const float* w, float* dx);
void conv2dBackwardWeights(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db);
void conv2dBackwardWeightsOneChannel(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db);
// conv (c = 1, stride 1) → ReLU → 2x2/2 valid max-pool in one pass each way (conv1ch.cc); ws as in
// maxPool2dForward, indexing the conv output that is never stored.
void conv2dReluMaxPoolForward(const ConvGeom& g, const PoolGeom& p, const float* x, const float* w,
                                   const float* b, float* y, int32_t* ws);
void conv2dReluMaxPoolBackwardWeights(const ConvGeom& g, const PoolGeom& p, const float* x, const float* dy,
                                           const int32_t* ws, const float* y, float* dw, float* db);

void maxPool2dForward(const PoolGeom& g, const float* x, float* y, int32_t* ws);
// reluOf, when given, is the forward's output: a winner whose value is not > 0 passes no gradient,
// which is the backward of a ReLU feeding the pool, done in the same pass.
void maxPool2dBackward(const PoolGeom& g, const float* dy, const int32_t* ws, float* dx, int64_t dxLen,
                     const float* reluOf);

// Average pooling over the window cells inside the input (padding not counted); the backward
// overwrites dx.
void avgPool2dForward(const PoolGeom& g, const float* x, float* y);
void avgPool2dBackward(const PoolGeom& g, const float* dy, float* dx);

void denseForward(int64_t n, int64_t in, int64_t out, const float* x, const float* w, const float* b, float* y,
                  bool relu);
void denseBackwardData(int64_t n, int64_t in, int64_t out, const float* dy, const float* w, float* dx);
void denseBackwardWeights(int64_t n, int64_t in, int64_t out, const float* x, const float* dy, float* dw,
                          float* db);

void batchNormForwardTraining(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                       float* movingMean, float* movingVar, double momentum, double eps, float* y,
                       float* saveMean, float* saveInvStd);
void batchNormForwardInference(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta,
                        const float* movingMean, const float* movingVar, double eps, float* y);
void batchNormBackward(int64_t rows, int64_t c, const float* x, const float* dy, const float* gamma,
                       const float* saveMean, const float* saveInvStd, float* dx, float* dgamma, float* dbeta);

// alpha: elu's, leaky_relu's or hard_sigmoid's parameter, already defaulted; the others ignore it.
// The backward reads x or y, whichever its kind needs; dx may alias dy.
void eltwiseForward(Act kind, const float* x, float* y, int64_t len, float alpha);
void eltwiseBackward(Act kind, const float* x, const float* y, const float* dy, float* dx, int64_t len, float alpha);

void softmaxForward(int64_t rows, int64_t cols, const float* x, float* y);
void softmaxBackward(int64_t rows, int64_t cols, const float* y, const float* dy, float* dx);
double softmaxCrossEntropy(int64_t rows, int64_t cols, const float* p, const float* t, float* dlogits,
                           double scale);

// Optimizers take parallel lists of `count` arrays; len[i] is the length of array i in every list.
void sgdUpdate(size_t count, float* const* w, const float* const* g, float* const* v, const int64_t* len,
               double lr, double momentum, bool nesterov);
void rmspropUpdate(size_t count, float* const* w, const float* const* g, float* const* ms, const int64_t* len,
                   double lr, double rho, double eps);
void adamUpdate(size_t count, float* const* w, const float* const* g, float* const* m, float* const* v,
                const int64_t* len, double lr, double beta1, double beta2, double eps, double t, double weightDecay);

// Runtime facts for nativeInfo() and the thread knob.
std::string cpuIsa();
std::string onednnVersion();
int maxThreads();
void setThreads(int n);
// bf16 compute for conv and dense (f32 results and master weights); false when this CPU lacks native bf16.
bool setPrecision(bool bf16);
bool hasBf16();

void dropoutForward(const float* x, float* y, float* mask, int64_t len, double rate, uint32_t seed);
void dropoutBackward(const float* dy, const float* mask, float* dx, int64_t len);

}  // namespace digits
