// rnnkit fused CPU kernels: one time step of a stack of layers (generation), in one call.
//
// Per layer l (each thread owns a slice of the hidden units across all gates, as in the scan):
//   xg = W_ih x + b_ih, hg = U h_{t-1} + b_hh     two small GEMMs on weights packed once (step_pack)
//   pointwise step -> h_t (and c_t); barrier      (with a projection: h_t = w_hr · h_raw; one more barrier)
// and h_t of layer l is the input x of layer l+1. The step always runs rnnkit's own GEMM: its weights are
// packed once for many calls (the vendor choice of blas.h applies to scans). Shape legend in common.h.
#include <omp.h>

#include "cells.h"
#include "gemm.h"
#include "scan.h"

namespace rnnkit {

namespace {

int step_threads(const StepPackShape& s, int W) {
  const int n = std::max(s.threads, 1);
  return std::min(useful_threads(s.H, n, W), useful_threads(s.P, n, W));
}

// Panel elements of thread t for layer l: [w_ih, b_ih, w_hh, b_hh, w_hr].
template <class T>
void thread_sizes(const StepPackShape& s, long l, int nt, int t, long out[5]) {
  constexpr int W = Simd<T>::W, NR = Tile<T>::NR;
  const Slice hs = slice_of(s.H, nt, t, W), ps = s.proj ? slice_of(s.P, nt, t, W) : hs;
  const long N = s.G * hs.size(), K = l ? s.P : s.I;
  out[0] = Tile<T>::panels(N) * K * NR;
  out[1] = s.bias ? Tile<T>::padded(N) : 0;
  out[2] = Tile<T>::panels(N) * s.P * NR;
  out[3] = out[1];
  out[4] = s.proj ? Tile<T>::panels(ps.size()) * s.H * NR : 0;
}

// Offsets of thread t's parts within layer l's packed arrays.
template <class T>
void thread_offsets(const StepPackShape& s, long l, int nt, int t, long off[5]) {
  for (int k = 0; k < 5; ++k) off[k] = 0;
  for (int u = 0; u < t; ++u) {
    long sz[5];
    thread_sizes<T>(s, l, nt, u, sz);
    for (int k = 0; k < 5; ++k) off[k] += sz[k];
  }
}

}  // namespace

void StepPackShape::sizes(long l, int elem, long out[5]) const {
  for (int k = 0; k < 5; ++k) out[k] = 0;
  const int W = RNNKIT_VBYTES / elem;
  const int nt = step_threads(*this, W);
  for (int t = 0; t < nt; ++t) {
    long sz[5];
    if (elem == 4)
      thread_sizes<float>(*this, l, nt, t, sz);
    else
      thread_sizes<double>(*this, l, nt, t, sz);
    for (int k = 0; k < 5; ++k) out[k] += sz[k];
  }
}

template <class T>
void step_pack(const StepPackShape& s, long l, const T* w_ih, const T* b_ih, const T* w_hh, const T* b_hh,
               const T* w_hr, T* out[5]) {
  constexpr int W = Simd<T>::W;
  const int nt = step_threads(s, W);
  const long H = s.H, P = s.P, K = l ? P : s.I;
  for (int t = 0; t < nt; ++t) {
    const Slice hs = slice_of(H, nt, t, W), ps = s.proj ? slice_of(P, nt, t, W) : hs;
    const long Hs = hs.size(), N = s.G * Hs;
    long off[5];
    thread_offsets<T>(s, l, nt, t, off);
    auto row = [&](long n) { return (n / Hs) * H + hs.begin + n % Hs; };  // gate-major local column
    pack_panels<T>(K, N, [&](long k, long n) { return w_ih[row(n) * K + k]; }, out[0] + off[0]);
    pack_panels<T>(P, N, [&](long k, long n) { return w_hh[row(n) * P + k]; }, out[2] + off[2]);
    if (s.bias) {
      pack_bias<T>(N, [&](long n) { return b_ih ? b_ih[row(n)] : T(0); }, out[1] + off[1]);
      pack_bias<T>(N, [&](long n) { return b_hh ? b_hh[row(n)] : T(0); }, out[3] + off[3]);
    }
    if (s.proj)
      pack_panels<T>(H, ps.size(), [&](long k, long n) { return w_hr[(ps.begin + n) * H + k]; }, out[4] + off[4]);
  }
}

template <class Cell, class T>
void scan_step(const StepArgs<T>& a) {
  constexpr int W = Simd<T>::W;
  const StepPackShape& s = a.shape;
  const long L = s.L, B = a.B, I = s.I, H = s.H, P = s.P;
  const int nt = step_threads(s, W);
  SpinBarrier barrier(nt);
  Buffer<T> hraw(s.proj ? B * H : 0);

#pragma omp parallel num_threads(nt)
  {
    const int tid = nt > 1 ? omp_get_thread_num() : 0;
    const Slice hs = slice_of(H, nt, tid, W), ps = s.proj ? slice_of(P, nt, tid, W) : hs;
    const long Hs = hs.size(), N = Cell::G * Hs, np = Tile<T>::panels(N), ldc = Tile<T>::padded(N);
    const long Ps = ps.size(), npp = Tile<T>::panels(Ps), ldp = Tile<T>::padded(Ps);
    Buffer<T> xg(B * ldc), hg(B * ldc), pc(s.proj ? B * ldp : 0);
    for (long l = 0; l < L; ++l) {
      long off[5];
      thread_offsets<T>(s, l, nt, tid, off);
      const T* const* pk = a.packed + 5 * l;
      const T* x = l ? a.h_out + (l - 1) * B * P : a.x;  // (B, K)
      const long K = l ? P : I;
      const T* h = a.h + l * B * P;  // (B, P)
      if (Hs > 0) {
        gemm_packed<T>(B, K, x, K, pk[0] + off[0], np, xg.data, ldc, s.bias ? pk[1] + off[1] : nullptr);
        gemm_packed<T>(B, P, h, P, pk[2] + off[2], np, hg.data, ldc, s.bias ? pk[3] + off[3] : nullptr);
      }
      T* hdst = s.proj ? hraw.data : a.h_out + l * B * P;  // (B, H)
      for (long b = 0; b < B; ++b) {
        FwdRow<T> r;
        r.x = xg.data + b * ldc - hs.begin;
        r.hg = hg.data + b * ldc - hs.begin;
        r.xs = r.hs = Hs;
        r.H = H;
        r.h_prev = h + b * P;
        r.c_prev = Cell::kCell ? a.c + (l * B + b) * H : nullptr;
        r.c = Cell::kCell ? a.c_out + (l * B + b) * H : nullptr;
        r.h = hdst + b * H;
        r.save = nullptr;
        r.e0 = a.e0[l];
        RNNKIT_SIMD for (long j = hs.begin; j < hs.end; ++j) Cell::template forward<T, false>(r, j);
      }
      barrier.wait();
      if (s.proj) {
        if (Ps > 0) {
          gemm_packed<T>(B, H, hraw.data, H, pk[4] + off[4], npp, pc.data, ldp, nullptr);
          T* o = a.h_out + l * B * P;
          for (long b = 0; b < B; ++b)
            for (long n = 0; n < Ps; ++n) o[b * P + ps.begin + n] = pc.data[b * ldp + n];
        }
        barrier.wait();
      }
    }
  }
}

template void step_pack<float>(const StepPackShape&, long, const float*, const float*, const float*,
                               const float*, const float*, float* [5]);
template void step_pack<double>(const StepPackShape&, long, const double*, const double*, const double*,
                                const double*, const double*, double* [5]);

#define RNNKIT_INSTANTIATE(C)                                 \
  template void scan_step<C, float>(const StepArgs<float>&); \
  template void scan_step<C, double>(const StepArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
