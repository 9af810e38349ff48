// rnnkit fused CPU kernels: shared definitions (SIMD types, vectorisable math); threads.h and memory.h
// hold the barrier, thread layouts and buffers.
//
// Shape legend (used in every file of this directory):
//   T  time steps              B  batch                 I  input size of a layer
//   H  hidden size             P  recurrent output size (proj_size, or H without a projection)
//   G  row blocks of the cell's weights (LSTM 4, GRU 3, Elman 1)
//   S  per-unit values a cell saves per step for its backward pass, stored (T, B, S*H)
//   W  SIMD width in elements (16 floats / 8 doubles with AVX-512)
//
// All tensors are dense, row-major, time-major: xg (T, B, G*H), out (T, B, P), states (B, P) / (B, H).
// No header here includes torch: the kernels work on raw pointers, the binding (binding.cpp) checks
// arguments, allocates and calls in.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#define RNNKIT_VBYTES 64
#elif defined(__AVX__)
#define RNNKIT_VBYTES 32
#else
#define RNNKIT_VBYTES 16
#endif

// `#pragma omp simd` spelled so that it also works inside macro bodies.
#define RNNKIT_SIMD _Pragma("omp simd")
#define RNNKIT_UNROLL _Pragma("GCC unroll 16")

namespace rnnkit {

// A SIMD register of T (GCC/Clang vector extension: compiles to AVX-512, AVX2 or SSE as available).
template <class T>
struct Simd {
  typedef T V __attribute__((vector_size(RNNKIT_VBYTES)));
  static constexpr int W = RNNKIT_VBYTES / sizeof(T);
  static inline V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static inline void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
};

// The register tile of rnnkit's GEMM (gemm.h) per element type: MR rows × NV vectors (MR*NV accumulators
// of the 32 (AVX-512) or 16 vector registers).
template <class T>
struct Tile {
#if RNNKIT_VBYTES == 64
  static constexpr int MR = 8, NV = 2;  // measured best on Zen 5 for M = 16..128 (8x3 close, 6x4 -10-25%)
#else
  static constexpr int MR = 4, NV = 3;
#endif
  static constexpr int W = Simd<T>::W;
  static constexpr int NR = NV * W;
  static long panels(long N) { return (N + NR - 1) / NR; }
  static long padded(long N) { return panels(N) * NR; }
};

// ---- math: branch-free so that `omp simd` loops calling it vectorise ---------------------------------

// exp(x) for float, Cephes' minimax polynomial on [-ln2/2, ln2/2] with range reduction x = n ln2 + r
// (max rel. error ~2 ulp); inputs are clamped to the finite range.
inline float exp_(float x) {
  x = x < -87.33f ? -87.33f : x;  // clamp (no fmin/fmax: their NaN rules block vectorisation)
  x = x > 88.37f ? 88.37f : x;
  const float n = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n through the exponent bits; n in [-126, 127] after the clamp
  const float scale = __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
  return p * scale;
}
inline double exp_(double x) { return std::exp(x); }

// tanh(x) for float: odd/even rational minimax approximation on [-7.9, 7.9] (Eigen's float tanh),
// exact to a few ulp; |x| < 4e-4 returns x.
inline float tanh_(float x) {
  float c = x < -7.90531110763549805f ? -7.90531110763549805f : x;
  c = c > 7.90531110763549805f ? 7.90531110763549805f : c;
  const float x2 = c * c;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * c;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float y = p / q;
  return (x < 0.0004f && x > -0.0004f) ? x : y;
}
inline double tanh_(double x) { return std::tanh(x); }

template <class T>
inline T sigmoid_(T x) {
  return T(1) / (T(1) + exp_(-x));
}

}  // namespace rnnkit

#include "memory.h"
#include "threads.h"
