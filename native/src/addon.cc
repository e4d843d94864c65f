// N-API glue: checks every argument (a wrong length would otherwise be a buffer overrun in C++, where
// the TS reference would only read undefined), takes typed-array data pointers without copying, and
// calls kernels.h. Geometries arrive packed in an Int32Array by src/kernels/native.ts.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels.h"

namespace {

using namespace digits;

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}

  [[noreturn]] void fail(const std::string& msg, bool range = false) const {
    std::string m = std::string("digits native ") + fn_ + ": " + msg;
    if (range) throw Napi::RangeError::New(info_.Env(), m);
    throw Napi::TypeError::New(info_.Env(), m);
  }

  template <class T, napi_typedarray_type Type>
  T* typed(size_t i, const char* name, int64_t need, bool nullable, int64_t* len = nullptr) const {
    Napi::Value v = info_[i];
    if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Type)
      fail(std::string(name) + (Type == napi_float32_array ? " must be a Float32Array" : " must be an Int32Array"));
    auto a = v.As<Napi::TypedArrayOf<T>>();
    const int64_t n = static_cast<int64_t>(a.ElementLength());
    if (n < need) fail(std::string(name) + " has " + std::to_string(n) + " elements, needs " + std::to_string(need), true);
    if (len) *len = n;
    return a.Data();
  }
  float* f32(size_t i, const char* name, int64_t need, int64_t* len = nullptr) const {
    return typed<float, napi_float32_array>(i, name, need, false, len);
  }
  float* f32OrNull(size_t i, const char* name, int64_t need) const {
    return typed<float, napi_float32_array>(i, name, need, true);
  }
  int32_t* i32(size_t i, const char* name, int64_t need) const {
    return typed<int32_t, napi_int32_array>(i, name, need, false);
  }

  double num(size_t i, const char* name) const {
    if (!info_[i].IsNumber()) fail(std::string(name) + " must be a number");
    return info_[i].As<Napi::Number>().DoubleValue();
  }
  int64_t count(size_t i, const char* name) const {
    double d = num(i, name);
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 2147483647.0)
      fail(std::string(name) + " must be a non-negative integer", true);
    return static_cast<int64_t>(d);
  }
  bool flag(size_t i) const { return info_[i].ToBoolean().Value(); }

  // Packed geometry: every field an int32; sizes, kernel and strides must be positive, pads not negative.
  const int32_t* geometry(size_t i, size_t fields, size_t firstPad) const {
    const int32_t* g = i32(i, "geometry", static_cast<int64_t>(fields));
    for (size_t k = 0; k < fields; k++)
      if (g[k] < (k < firstPad ? 1 : 0)) fail("geometry field " + std::to_string(k) + " is out of range", true);
    return g;
  }
  ConvGeom conv(size_t i) const {
    const int32_t* g = geometry(i, 13, 11);
    return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12]};
  }
  PoolGeom pool(size_t i) const {
    const int32_t* g = geometry(i, 12, 10);
    return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
  }

  // A JS array of Float32Arrays; `lens` receives their lengths when `need` is null, else each entry
  // must be at least need[k] long. Vectors are caller-owned statics so steady-state calls don't allocate.
  void list(size_t i, const char* name, std::vector<float*>& out, std::vector<int64_t>& lens, bool setLens) const {
    if (!info_[i].IsArray()) fail(std::string(name) + " must be an array of Float32Arrays");
    auto arr = info_[i].As<Napi::Array>();
    const uint32_t n = arr.Length();
    if (!setLens && n != lens.size()) fail(std::string(name) + " must have as many arrays as params", true);
    out.resize(n);
    if (setLens) lens.resize(n);
    for (uint32_t k = 0; k < n; k++) {
      Napi::Value v = arr.Get(k);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        fail(std::string(name) + "[" + std::to_string(k) + "] must be a Float32Array");
      auto a = v.As<Napi::Float32Array>();
      const int64_t len = static_cast<int64_t>(a.ElementLength());
      if (setLens) lens[k] = len;
      else if (len < lens[k]) fail(std::string(name) + "[" + std::to_string(k) + "] is shorter than params[" + std::to_string(k) + "]", true);
      out[k] = a.Data();
    }
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dForward");
  ConvGeom g = a.conv(0);
  float* x = a.f32(1, "x", g.n * g.h * g.w * g.c);
  float* w = a.f32(2, "w", g.kh * g.kw * g.c * g.f);
  float* b = a.f32OrNull(3, "b", g.f);
  float* y = a.f32(4, "y", g.n * g.oh * g.ow * g.f);
  conv2dForward(g, x, w, b, y, a.flag(5));
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardData");
  ConvGeom g = a.conv(0);
  float* dy = a.f32(1, "dy", g.n * g.oh * g.ow * g.f);
  float* w = a.f32(2, "w", g.kh * g.kw * g.c * g.f);
  float* dx = a.f32(3, "dx", g.n * g.h * g.w * g.c);
  conv2dBackwardData(g, dy, w, dx);
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardWeights");
  ConvGeom g = a.conv(0);
  float* x = a.f32(1, "x", g.n * g.h * g.w * g.c);
  float* dy = a.f32(2, "dy", g.n * g.oh * g.ow * g.f);
  float* dw = a.f32(3, "dw", g.kh * g.kw * g.c * g.f);
  float* db = a.f32OrNull(4, "db", g.f);
  conv2dBackwardWeights(g, x, dy, dw, db);
  return info.Env().Undefined();
}

Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dForward");
  PoolGeom g = a.pool(0);
  float* x = a.f32(1, "x", g.n * g.h * g.w * g.c);
  float* y = a.f32(2, "y", g.n * g.oh * g.ow * g.c);
  int32_t* ws = a.i32(3, "workspace", g.n * g.oh * g.ow * g.c);
  maxPool2dForward(g, x, y, ws);
  return info.Env().Undefined();
}

Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dBackward");
  PoolGeom g = a.pool(0);
  float* dy = a.f32(1, "dy", g.n * g.oh * g.ow * g.c);
  int32_t* ws = a.i32(2, "workspace", g.n * g.oh * g.ow * g.c);
  int64_t dxLen = 0;
  float* dx = a.f32(3, "dx", g.n * g.h * g.w * g.c, &dxLen);
  const float* reluOf = a.f32OrNull(4, "reluOf", g.n * g.oh * g.ow * g.c);
  maxPool2dBackward(g, dy, ws, dx, dxLen, reluOf);
  return info.Env().Undefined();
}

Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dForward");
  PoolGeom g = a.pool(0);
  float* x = a.f32(1, "x", g.n * g.h * g.w * g.c);
  float* y = a.f32(2, "y", g.n * g.oh * g.ow * g.c);
  avgPool2dForward(g, x, y);
  return info.Env().Undefined();
}

Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dBackward");
  PoolGeom g = a.pool(0);
  float* dy = a.f32(1, "dy", g.n * g.oh * g.ow * g.c);
  float* dx = a.f32(2, "dx", g.n * g.h * g.w * g.c);
  avgPool2dBackward(g, dy, dx);
  return info.Env().Undefined();
}

// The pair must be what Conv2D.poolFusable admits: a single-channel stride-1 conv whose output the
// pool halves with 2x2 windows at stride 2 ('valid').
void checkPooledConv(const Args& a, const ConvGeom& g, const PoolGeom& p) {
  if (g.c != 1 || g.sh != 1 || g.sw != 1) a.fail("the convolution must have one input channel and stride 1", true);
  if (p.n != g.n || p.h != g.oh || p.w != g.ow || p.c != g.f) a.fail("the pooling geometry does not match the convolution's output", true);
  if (p.ph != 2 || p.pw != 2 || p.sh != 2 || p.sw != 2 || p.padTop != 0 || p.padLeft != 0 || p.oh != g.oh / 2 || p.ow != g.ow / 2)
    a.fail("the pooling must be 2x2 with stride 2, 'valid'", true);
  if (g.n * g.oh * g.ow * g.f > 2147483647) a.fail("the convolution output is too large for int32 indices", true);
}

Napi::Value Conv2dReluMaxPoolForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dReluMaxPoolForward");
  ConvGeom g = a.conv(0);
  PoolGeom p = a.pool(1);
  checkPooledConv(a, g, p);
  float* x = a.f32(2, "x", g.n * g.h * g.w);
  float* w = a.f32(3, "w", g.kh * g.kw * g.f);
  float* b = a.f32OrNull(4, "b", g.f);
  float* y = a.f32(5, "y", p.n * p.oh * p.ow * p.c);
  int32_t* ws = a.i32(6, "workspace", p.n * p.oh * p.ow * p.c);
  conv2dReluMaxPoolForward(g, p, x, w, b, y, ws);
  return info.Env().Undefined();
}

Napi::Value Conv2dReluMaxPoolBackwardWeights(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dReluMaxPoolBackwardWeights");
  ConvGeom g = a.conv(0);
  PoolGeom p = a.pool(1);
  checkPooledConv(a, g, p);
  const int64_t pooled = p.n * p.oh * p.ow * p.c;
  float* x = a.f32(2, "x", g.n * g.h * g.w);
  float* dy = a.f32(3, "dy", pooled);
  int32_t* ws = a.i32(4, "workspace", pooled);
  float* y = a.f32(5, "y", pooled);
  float* dw = a.f32(6, "dw", g.kh * g.kw * g.f);
  float* db = a.f32OrNull(7, "db", g.f);
  conv2dReluMaxPoolBackwardWeights(g, p, x, dy, ws, y, dw, db);
  return info.Env().Undefined();
}

Napi::Value DenseForward(const Napi::CallbackInfo& info) {
  Args a(info, "denseForward");
  int64_t n = a.count(0, "n"), in = a.count(1, "inF"), out = a.count(2, "outF");
  if (n == 0 || in == 0 || out == 0) a.fail("n, inF and outF must be positive", true);
  float* x = a.f32(3, "x", n * in);
  float* w = a.f32(4, "w", in * out);
  float* b = a.f32OrNull(5, "b", out);
  float* y = a.f32(6, "y", n * out);
  denseForward(n, in, out, x, w, b, y, a.flag(7));
  return info.Env().Undefined();
}

Napi::Value DenseBackwardData(const Napi::CallbackInfo& info) {
  Args a(info, "denseBackwardData");
  int64_t n = a.count(0, "n"), in = a.count(1, "inF"), out = a.count(2, "outF");
  if (n == 0 || in == 0 || out == 0) a.fail("n, inF and outF must be positive", true);
  float* dy = a.f32(3, "dy", n * out);
  float* w = a.f32(4, "w", in * out);
  float* dx = a.f32(5, "dx", n * in);
  denseBackwardData(n, in, out, dy, w, dx);
  return info.Env().Undefined();
}

Napi::Value DenseBackwardWeights(const Napi::CallbackInfo& info) {
  Args a(info, "denseBackwardWeights");
  int64_t n = a.count(0, "n"), in = a.count(1, "inF"), out = a.count(2, "outF");
  if (n == 0 || in == 0 || out == 0) a.fail("n, inF and outF must be positive", true);
  float* x = a.f32(3, "x", n * in);
  float* dy = a.f32(4, "dy", n * out);
  float* dw = a.f32(5, "dw", in * out);
  float* db = a.f32OrNull(6, "db", out);
  denseBackwardWeights(n, in, out, x, dy, dw, db);
  return info.Env().Undefined();
}

Napi::Value BatchNormForwardTraining(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForwardTraining");
  int64_t rows = a.count(0, "rows"), c = a.count(1, "c");
  if (rows == 0 || c == 0) a.fail("rows and c must be positive", true);
  float* x = a.f32(2, "x", rows * c);
  float* gamma = a.f32(3, "gamma", c);
  float* beta = a.f32(4, "beta", c);
  float* mm = a.f32(5, "movingMean", c);
  float* mv = a.f32(6, "movingVar", c);
  double momentum = a.num(7, "momentum"), eps = a.num(8, "eps");
  float* y = a.f32(9, "y", rows * c);
  float* sm = a.f32(10, "saveMean", c);
  float* si = a.f32(11, "saveInvStd", c);
  batchNormForwardTraining(rows, c, x, gamma, beta, mm, mv, momentum, eps, y, sm, si);
  return info.Env().Undefined();
}

Napi::Value BatchNormForwardInference(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForwardInference");
  int64_t rows = a.count(0, "rows"), c = a.count(1, "c");
  if (rows == 0 || c == 0) a.fail("rows and c must be positive", true);
  float* x = a.f32(2, "x", rows * c);
  float* gamma = a.f32(3, "gamma", c);
  float* beta = a.f32(4, "beta", c);
  float* mm = a.f32(5, "movingMean", c);
  float* mv = a.f32(6, "movingVar", c);
  double eps = a.num(7, "eps");
  float* y = a.f32(8, "y", rows * c);
  batchNormForwardInference(rows, c, x, gamma, beta, mm, mv, eps, y);
  return info.Env().Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormBackward");
  int64_t rows = a.count(0, "rows"), c = a.count(1, "c");
  if (rows == 0 || c == 0) a.fail("rows and c must be positive", true);
  float* x = a.f32(2, "x", rows * c);
  float* dy = a.f32(3, "dy", rows * c);
  float* gamma = a.f32(4, "gamma", c);
  float* sm = a.f32(5, "saveMean", c);
  float* si = a.f32(6, "saveInvStd", c);
  float* dx = a.f32(7, "dx", rows * c);
  float* dg = a.f32(8, "dgamma", c);
  float* db = a.f32(9, "dbeta", c);
  batchNormBackward(rows, c, x, dy, gamma, sm, si, dx, dg, db);
  return info.Env().Undefined();
}

Act actOf(const Args& a, size_t i) {
  int64_t k = a.count(i, "kind");
  if (k >= kActCount) a.fail("unknown eltwise kind", true);
  return static_cast<Act>(k);
}

Napi::Value EltwiseForward(const Napi::CallbackInfo& info) {
  Args a(info, "eltwiseForward");
  Act kind = actOf(a, 0);
  int64_t len = 0;
  float* x = a.f32(1, "x", 0, &len);
  float* y = a.f32(2, "y", len);
  eltwiseForward(kind, x, y, len, static_cast<float>(a.num(3, "alpha")));
  return info.Env().Undefined();
}

Napi::Value EltwiseBackward(const Napi::CallbackInfo& info) {
  Args a(info, "eltwiseBackward");
  Act kind = actOf(a, 0);
  int64_t len = 0;
  float* x = a.f32(1, "x", 0, &len);
  float* y = a.f32(2, "y", len);
  float* dy = a.f32(3, "dy", len);
  float* dx = a.f32(4, "dx", len);
  eltwiseBackward(kind, x, y, dy, dx, len, static_cast<float>(a.num(5, "alpha")));
  return info.Env().Undefined();
}

Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxForward");
  int64_t rows = a.count(0, "rows"), cols = a.count(1, "cols");
  float* x = a.f32(2, "x", rows * cols);
  float* y = a.f32(3, "y", rows * cols);
  softmaxForward(rows, cols, x, y);
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward");
  int64_t rows = a.count(0, "rows"), cols = a.count(1, "cols");
  float* y = a.f32(2, "y", rows * cols);
  float* dy = a.f32(3, "dy", rows * cols);
  float* dx = a.f32(4, "dx", rows * cols);
  softmaxBackward(rows, cols, y, dy, dx);
  return info.Env().Undefined();
}

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxCrossEntropy");
  int64_t rows = a.count(0, "rows"), cols = a.count(1, "cols");
  float* p = a.f32(2, "p", rows * cols);
  float* t = a.f32(3, "t", rows * cols);
  float* dl = a.f32OrNull(4, "dlogits", rows * cols);
  double scale = a.num(5, "scale");
  return Napi::Number::New(info.Env(), softmaxCrossEntropy(rows, cols, p, t, dl, scale));
}

// Pointer lists reused across optimizer calls.
thread_local std::vector<float*> W, G, S1, S2;
thread_local std::vector<int64_t> LEN;

Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "sgdUpdate");
  a.list(0, "params", W, LEN, true);
  a.list(1, "grads", G, LEN, false);
  const bool hasV = !(info[2].IsNull() || info[2].IsUndefined());
  if (hasV) a.list(2, "velocity", S1, LEN, false);
  double lr = a.num(3, "lr"), momentum = a.num(4, "momentum");
  sgdUpdate(W.size(), W.data(), G.data(), hasV ? S1.data() : nullptr, LEN.data(), lr, momentum, a.flag(5));
  return info.Env().Undefined();
}

Napi::Value RmspropUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "rmspropUpdate");
  a.list(0, "params", W, LEN, true);
  a.list(1, "grads", G, LEN, false);
  a.list(2, "ms", S1, LEN, false);
  rmspropUpdate(W.size(), W.data(), G.data(), S1.data(), LEN.data(), a.num(3, "lr"), a.num(4, "rho"),
                a.num(5, "eps"));
  return info.Env().Undefined();
}

Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "adamUpdate");
  a.list(0, "params", W, LEN, true);
  a.list(1, "grads", G, LEN, false);
  a.list(2, "m", S1, LEN, false);
  a.list(3, "v", S2, LEN, false);
  adamUpdate(W.size(), W.data(), G.data(), S1.data(), S2.data(), LEN.data(), a.num(4, "lr"), a.num(5, "beta1"),
             a.num(6, "beta2"), a.num(7, "eps"), a.num(8, "t"), a.num(9, "weightDecay"));
  return info.Env().Undefined();
}

Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Args a(info, "dropoutForward");
  int64_t len = 0;
  float* x = a.f32(0, "x", 0, &len);
  float* y = a.f32(1, "y", len);
  float* mask = a.f32(2, "mask", len);
  double rate = a.num(3, "rate"), seed = a.num(4, "seed");
  if (!(rate >= 0 && rate < 1)) a.fail("rate must be in [0, 1)", true);
  if (!(seed >= 0 && seed <= 4294967295.0) || seed != std::floor(seed)) a.fail("seed must be a uint32", true);
  dropoutForward(x, y, mask, len, rate, static_cast<uint32_t>(seed));
  return info.Env().Undefined();
}

Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  Args a(info, "dropoutBackward");
  int64_t len = 0;
  float* dy = a.f32(0, "dy", 0, &len);
  float* mask = a.f32(1, "mask", len);
  float* dx = a.f32(2, "dx", len);
  dropoutBackward(dy, mask, dx, len);
  return info.Env().Undefined();
}

Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  Args a(info, "setPrecision");
  if (!info[0].IsString()) a.fail("precision must be 'fp32' or 'bf16'");
  const std::string p = info[0].As<Napi::String>().Utf8Value();
  if (p != "fp32" && p != "bf16") a.fail("precision must be 'fp32' or 'bf16'", true);
  return Napi::Boolean::New(info.Env(), setPrecision(p == "bf16"));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", cpuIsa());
  o.Set("threads", maxThreads());
  o.Set("onednn", onednnVersion());
  o.Set("bf16", hasBf16());
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads");
  int64_t n = a.count(0, "n");
  if (n < 1) a.fail("n must be at least 1", true);
  setThreads(static_cast<int>(n));
  return info.Env().Undefined();
}

// oneDNN reports failures as dnnl::error (a std::exception); surface them as JS errors, not aborts.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("digits native: ") + e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Function fn) { exports.Set(name, fn); };
  add("conv2dForward", Napi::Function::New<guarded<Conv2dForward>>(env));
  add("conv2dBackwardData", Napi::Function::New<guarded<Conv2dBackwardData>>(env));
  add("conv2dBackwardWeights", Napi::Function::New<guarded<Conv2dBackwardWeights>>(env));
  add("conv2dReluMaxPoolForward", Napi::Function::New<guarded<Conv2dReluMaxPoolForward>>(env));
  add("conv2dReluMaxPoolBackwardWeights", Napi::Function::New<guarded<Conv2dReluMaxPoolBackwardWeights>>(env));
  add("maxPool2dForward", Napi::Function::New<guarded<MaxPool2dForward>>(env));
  add("maxPool2dBackward", Napi::Function::New<guarded<MaxPool2dBackward>>(env));
  add("avgPool2dForward", Napi::Function::New<guarded<AvgPool2dForward>>(env));
  add("avgPool2dBackward", Napi::Function::New<guarded<AvgPool2dBackward>>(env));
  add("denseForward", Napi::Function::New<guarded<DenseForward>>(env));
  add("denseBackwardData", Napi::Function::New<guarded<DenseBackwardData>>(env));
  add("denseBackwardWeights", Napi::Function::New<guarded<DenseBackwardWeights>>(env));
  add("batchNormForwardTraining", Napi::Function::New<guarded<BatchNormForwardTraining>>(env));
  add("batchNormForwardInference", Napi::Function::New<guarded<BatchNormForwardInference>>(env));
  add("batchNormBackward", Napi::Function::New<guarded<BatchNormBackward>>(env));
  add("eltwiseForward", Napi::Function::New<guarded<EltwiseForward>>(env));
  add("eltwiseBackward", Napi::Function::New<guarded<EltwiseBackward>>(env));
  add("softmaxForward", Napi::Function::New<guarded<SoftmaxForward>>(env));
  add("softmaxBackward", Napi::Function::New<guarded<SoftmaxBackward>>(env));
  add("softmaxCrossEntropy", Napi::Function::New<guarded<SoftmaxCrossEntropy>>(env));
  add("sgdUpdate", Napi::Function::New<guarded<SgdUpdate>>(env));
  add("rmspropUpdate", Napi::Function::New<guarded<RmspropUpdate>>(env));
  add("adamUpdate", Napi::Function::New<guarded<AdamUpdate>>(env));
  add("dropoutForward", Napi::Function::New<guarded<DropoutForward>>(env));
  add("dropoutBackward", Napi::Function::New<guarded<DropoutBackward>>(env));
  add("setPrecision", Napi::Function::New<guarded<SetPrecision>>(env));
  add("info", Napi::Function::New<guarded<Info>>(env));
  add("setThreads", Napi::Function::New<guarded<SetThreads>>(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(digits_native, Init)
