// rnnkit fused CPU kernels: one time step of a stack of layers (generation), in one call.
//
// Per layer l (thread-local slices of the hidden units, as in the scan):
//   xg = W_ih x + b_ih, hg = U h_{t-1} + b_hh      unpacked row dot products (one pass over the weights)
//   pointwise step -> h_t (and c_t); barrier      (with a projection: h_t = w_hr · h_raw; one more barrier)
// and h_t of layer l is the input x of layer l+1. Shape legend in common.h.
#include <omp.h>

#include "cells.h"
#include "gemm.h"
#include "scan.h"

namespace rnnkit {

template <class Cell, class T>
void scan_step(const StepArgs<T>& a) {
  constexpr int G = Cell::G;
  const long L = a.L, B = a.B, I = a.I, H = a.H, P = a.P;
  const bool proj = a.w_hr[0] != nullptr;
  const int nt = std::min(useful_threads(H, std::max(a.threads, 1), Simd<T>::W),
                          useful_threads(P, std::max(a.threads, 1), Simd<T>::W));
  SpinBarrier barrier(nt);
  Buffer<T> hraw(proj ? B * H : 0);

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const Slice hs = slice_of(H, nt, tid, Simd<T>::W);
    const Slice ps = proj ? slice_of(P, nt, tid, Simd<T>::W) : hs;
    const long Hs = hs.size(), N = G * Hs;
    Buffer<T> xg(B * N), hg(B * N);
    auto row = [&](long n) { return (n / Hs) * H + hs.begin + n % Hs; };
    for (long l = 0; l < L; ++l) {
      const T* x = l ? a.h_out + (l - 1) * B * P : a.x;  // (B, K)
      const long K = l ? P : I;
      const T* h = a.h + l * B * P;  // (B, P)
      if (Hs > 0) {
        rowdot<T>(B, K, x, K, a.w_ih[l], a.b_ih[l], N, row, xg.data, N);
        rowdot<T>(B, P, h, P, a.w_hh[l], a.b_hh[l], N, row, hg.data, N);
      }
      T* hdst = proj ? hraw.data : a.h_out + l * B * P;  // (B, H)
      for (long b = 0; b < B; ++b) {
        FwdRow<T> r;
        r.x = xg.data + b * N - hs.begin;
        r.hg = hg.data + b * N - hs.begin;
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
      if (proj) {
        if (ps.size() > 0)
          rowdot<T>(B, H, hraw.data, H, a.w_hr[l], static_cast<const T*>(nullptr), ps.size(),
                    [&](long n) { return ps.begin + n; }, a.h_out + l * B * P + ps.begin, P);
        barrier.wait();
      }
    }
  }
}

#define RNNKIT_INSTANTIATE(C)                                 \
  template void scan_step<C, float>(const StepArgs<float>&); \
  template void scan_step<C, double>(const StepArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
