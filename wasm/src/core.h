// Shared definitions of the WebAssembly core (no libc: clang --target=wasm32 -msimd128 -matomics).
// Pointers are byte offsets into the one shared WebAssembly.Memory; src/kernels/wasm.ts stages the
// caller's Float32Arrays there, writes geometries into the parameter block P and calls the exports.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))
typedef v128_t v4;

// Parameter block (int32 slots), read by kernels and written by JS before each call.
enum {
  P_CONV = 0,      // 13 slots: n h w c f oh ow kh kw sh sw padTop padLeft
  P_POOL = 16,     // 12 slots: n h w c oh ow ph pw sh sw padTop padLeft
  P_SCRATCH = 40,  // first free byte: kernels allocate scratch from here upwards
  P_GROWN = 41,    // set to 1 when a kernel grew the memory (JS then refreshes its views)
  P_THREADS = 42,  // threads taking part in parallel loops (main thread included)
  P_CAN_BLOCK = 43,  // whether the calling (main) thread may block in memory.atomic.wait (not in a browser's main thread)
  P_SPIN = 44,     // spin iterations before blocking
  P_DIRECT = 45,   // 1: convolutions take the direct kernels only, never Winograd (benches, A/B checks)
  P_SIZE = 64
};
extern int32_t P[P_SIZE];

typedef struct {
  int n, h, w, c, f, oh, ow, kh, kw, sh, sw, pt, pl;
} conv_geom;
typedef struct {
  int n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl;
} pool_geom;
conv_geom conv_params(void);
pool_geom pool_params(void);

/** Scratch memory for this call (16-byte aligned, uninitialised), from P[P_SCRATCH] up; grows the memory. */
void* scratch(size_t bytes);
void* scratch_zero(size_t bytes);

/** Runs fn(ctx, i, tid) for i in [0, n) on the pool's threads; returns when all are done. */
typedef void (*task_fn)(void* ctx, int i, int tid);
void parallel_for(int n, task_fn fn, void* ctx);
int threads(void);

// double-precision elementary functions (the reference core computes in JS doubles)
double d_exp(double x);
double d_expm1(double x);
double d_log(double x);
double d_log1p(double x);
double d_tanh(double x);
double d_erfc(double x);
INLINE double d_sqrt(double x) { return __builtin_sqrt(x); }
INLINE float f_sqrt(float x) { return __builtin_sqrtf(x); }

INLINE int imin(int a, int b) { return a < b ? a : b; }
INLINE int imax(int a, int b) { return a > b ? a : b; }
INLINE int ceil_div(int a, int b) { return (a + b - 1) / b; }
