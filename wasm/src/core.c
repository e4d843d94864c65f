// Memory, the thread pool and double-precision math.
//
// Threads: JS starts workers (worker_threads in Node, Web Workers in a browser) that instantiate this
// same module on the same shared memory and call worker_main(tid), which never returns. A parallel
// loop publishes a job under a 64-bit ticket (generation << 32 | next index); every thread, the
// caller included, claims indices with compare-and-swap until none are left, so a worker that is
// late (still starting, or descheduled on a busy machine) only means the others do more. Idle
// workers spin briefly, then sleep in memory.atomic.wait64 until the ticket changes.
#include "core.h"

int32_t P[P_SIZE];

conv_geom conv_params(void) {
  const int32_t* g = P + P_CONV;
  return (conv_geom){g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12]};
}
pool_geom pool_params(void) {
  const int32_t* g = P + P_POOL;
  return (pool_geom){g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
}

EXPORT(params) int32_t* params(void) { return P; }

void* scratch(size_t bytes) {
  size_t at = ((size_t)(uint32_t)P[P_SCRATCH] + 15) & ~(size_t)15;
  size_t end = at + ((bytes + 15) & ~(size_t)15) + 64;  // 64 bytes of slack: vector loads may read past an end
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t want = (end - have + 65535) / 65536;
    size_t extra = have / 65536 / 8;  // grow by at least 1/8 so that growing batches don't grow every call
    if (__builtin_wasm_memory_grow(0, want + extra) == (size_t)-1 && __builtin_wasm_memory_grow(0, want) == (size_t)-1)
      __builtin_trap();  // out of memory: JS reports it
    __atomic_store_n(&P[P_GROWN], 1, __ATOMIC_SEQ_CST);
  }
  P[P_SCRATCH] = (int32_t)end;
  return (void*)at;
}

void* scratch_zero(size_t bytes) {
  void* p = scratch(bytes);
  __builtin_memset(p, 0, bytes);
  return p;
}

// ---- thread pool ------------------------------------------------------------------------------

#define LOCKED 0xffffffffu
static struct {
  int64_t ticket;    // generation << 32 | next index (LOCKED while a job is being set up)
  int32_t done;      // indices finished
  int32_t total;     // chunks in the job (of `grain` consecutive indices)
  int32_t n;         // indices in the job
  int32_t grain;
  int32_t sleepers;  // workers blocked in wait64 on ticket
  int32_t main_waiting;
  task_fn fn;
  void* ctx;
} pool;

int threads(void) { return P[P_THREADS] > 0 ? P[P_THREADS] : 1; }

static void run_job(uint32_t gen, int tid) {
  for (;;) {
    int64_t t = __atomic_load_n(&pool.ticket, __ATOMIC_SEQ_CST);
    if ((uint32_t)((uint64_t)t >> 32) != gen) return;
    uint32_t i = (uint32_t)t;
    int32_t total = __atomic_load_n(&pool.total, __ATOMIC_SEQ_CST);
    if (i == LOCKED || i >= (uint32_t)total) return;
    task_fn fn = __atomic_load_n(&pool.fn, __ATOMIC_SEQ_CST);
    void* ctx = __atomic_load_n(&pool.ctx, __ATOMIC_SEQ_CST);
    const int n = __atomic_load_n(&pool.n, __ATOMIC_SEQ_CST), grain = __atomic_load_n(&pool.grain, __ATOMIC_SEQ_CST);
    if (!__atomic_compare_exchange_n(&pool.ticket, &t, t + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) continue;
    const int end = imin(n, ((int)i + 1) * grain);
    for (int k = (int)i * grain; k < end; k++) fn(ctx, k, tid);
    if (__atomic_add_fetch(&pool.done, 1, __ATOMIC_SEQ_CST) == total && __atomic_load_n(&pool.main_waiting, __ATOMIC_SEQ_CST))
      __builtin_wasm_memory_atomic_notify(&pool.done, 1);
  }
}

void parallel_for(int n, task_fn fn, void* ctx) {
  if (n <= 0) return;
  if (n == 1 || threads() <= 1) {
    for (int i = 0; i < n; i++) fn(ctx, i, 0);
    return;
  }
  uint32_t gen = (uint32_t)((uint64_t)__atomic_load_n(&pool.ticket, __ATOMIC_SEQ_CST) >> 32) + 1;
  __atomic_store_n(&pool.ticket, (int64_t)((uint64_t)gen << 32 | LOCKED), __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.fn, fn, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.ctx, ctx, __ATOMIC_SEQ_CST);
  // indices are claimed a chunk at a time, about 16 chunks per thread: one claim per index cost more
  // than the work when a loop has thousands of small ones (a 2x2 pooling of 256 5x5 maps: 1,280 rows)
  const int grain = imax(1, n / (16 * threads())), chunks = ceil_div(n, grain);
  __atomic_store_n(&pool.n, n, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.grain, grain, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.total, chunks, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.done, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool.ticket, (int64_t)((uint64_t)gen << 32), __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&pool.sleepers, __ATOMIC_SEQ_CST) > 0) __builtin_wasm_memory_atomic_notify((int*)&pool.ticket, 0xffffffffu);
  run_job(gen, 0);
  const int spin = P[P_SPIN];
  for (int s = 0;; s++) {
    int32_t d = __atomic_load_n(&pool.done, __ATOMIC_SEQ_CST);
    if (d == chunks) break;
    if (s < spin || !P[P_CAN_BLOCK]) continue;
    __atomic_store_n(&pool.main_waiting, 1, __ATOMIC_SEQ_CST);
    d = __atomic_load_n(&pool.done, __ATOMIC_SEQ_CST);
    if (d != chunks) __builtin_wasm_memory_atomic_wait32(&pool.done, d, 1000000);  // 1 ms: a safety net, notify wakes us
    __atomic_store_n(&pool.main_waiting, 0, __ATOMIC_SEQ_CST);
  }
}

EXPORT(worker_main) void worker_main(int tid) {
  uint32_t seen = (uint32_t)((uint64_t)__atomic_load_n(&pool.ticket, __ATOMIC_SEQ_CST) >> 32);
  for (;;) {
    const int spin = P[P_SPIN];
    for (int s = 0;; s++) {
      int64_t t = __atomic_load_n(&pool.ticket, __ATOMIC_SEQ_CST);
      uint32_t gen = (uint32_t)((uint64_t)t >> 32);
      if (gen != seen && (uint32_t)t != LOCKED) {
        seen = gen;
        if (tid < threads()) run_job(gen, tid);
        s = 0;
        continue;
      }
      if (s < spin) continue;
      __atomic_add_fetch(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
      __builtin_wasm_memory_atomic_wait64(&pool.ticket, t, -1);
      __atomic_sub_fetch(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
      s = 0;
    }
  }
}

// ---- double-precision math ---------------------------------------------------------------------
// Accurate to a few ulps of a double, far below the float32 the kernels store.

static inline uint64_t bits(double x) { union { double d; uint64_t u; } v = {x}; return v.u; }
static inline double from_bits(uint64_t u) { union { uint64_t u; double d; } v = {u}; return v.d; }
static const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;

static inline double pow2i(int k) { return from_bits((uint64_t)(k + 1023) << 52); }  // -1022 <= k <= 1023

double d_exp(double x) {
  if (x != x) return x;
  if (x > 709.782712893384) return __builtin_inf();
  if (x < -745.1332191019412) return 0;
  double k = __builtin_nearbyint(x * 1.44269504088896338700);
  double r = (x - k * LN2_HI) - k * LN2_LO;  // |r| <= 0.35
  double p = 1 + r * (1 + r * (1 / 2. + r * (1 / 6. + r * (1 / 24. + r * (1 / 120. + r * (1 / 720. + r * (1 / 5040.
    + r * (1 / 40320. + r * (1 / 362880. + r * (1 / 3628800. + r * (1 / 39916800. + r * (1 / 479001600. + r / 6227020800.))))))))))));
  int ki = (int)k;
  if (ki > 1023) return p * pow2i(ki - 1) * 2;
  if (ki < -1022) return p * pow2i(ki + 200) * 0x1p-200;
  return p * pow2i(ki);
}

double d_expm1(double x) {
  double a = x < 0 ? -x : x;
  if (a < 0.5) {
    return x * (1 + x * (1 / 2. + x * (1 / 6. + x * (1 / 24. + x * (1 / 120. + x * (1 / 720. + x * (1 / 5040. + x * (1 / 40320.
      + x * (1 / 362880. + x * (1 / 3628800. + x * (1 / 39916800. + x * (1 / 479001600. + x / 6227020800.))))))))))));
  }
  return d_exp(x) - 1;
}

double d_log(double x) {
  if (x != x || x < 0) return __builtin_nan("");
  if (x == 0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  uint64_t u = bits(x);
  int e = (int)(u >> 52) - 1023;
  if ((u >> 52) == 0) {  // subnormal
    u = bits(x * 0x1p54);
    e = (int)(u >> 52) - 1023 - 54;
  }
  double m = from_bits((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
  if (m > 1.4142135623730951) { m *= 0.5; e++; }
  double f = m - 1, s = f / (2 + f), s2 = s * s;
  double t = s2 * (1 / 3. + s2 * (1 / 5. + s2 * (1 / 7. + s2 * (1 / 9. + s2 * (1 / 11. + s2 * (1 / 13. + s2 * (1 / 15.
    + s2 * (1 / 17. + s2 * (1 / 19. + s2 * (1 / 21. + s2 / 23.))))))))));
  return e * LN2_HI + ((f - s * (f - 2 * t)) + e * LN2_LO);  // log(m) = 2s + 2st = f - s(f - 2t)
}

double d_log1p(double x) {
  if (x == __builtin_inf()) return x;
  double a = x < 0 ? -x : x;
  if (a < 1e-4) return x * (1 + x * (-1 / 2. + x * (1 / 3. - x / 4.)));
  double w = 1 + x;
  return d_log(w) - ((w - 1) - x) / w;
}

double d_tanh(double x) {
  double a = x < 0 ? -x : x;
  if (a > 22) return x < 0 ? -1 : 1;
  double e = d_expm1(2 * a), t = e / (e + 2);
  return x < 0 ? -t : t;
}

/** erfc with relative error < 1.2e-7 (Numerical Recipes' erfcc), the reference core's formula. */
double d_erfc(double x) {
  double z = x < 0 ? -x : x, t = 1 / (1 + 0.5 * z);
  double r = t * d_exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}
