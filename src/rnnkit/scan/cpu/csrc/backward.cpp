// rnnkit fused CPU kernels: the backward scan, a reverse loop over time.
//
// Per step t (thread-local slices, see scan.h):
//   dh_t   = dout_t + [t == len-1] dh_n + dhg_{t+1} · U         (the last term from the previous iteration)
//   [proj]   dH_t = dh_t (shared), then d hraw_t = dH_t · w_hr    (one more barrier)
//   pointwise backward of the cell -> dxg_t, dhg_t, carry to t-1
//   barrier; dhg_t · U for this thread's columns of dh_{t-1}
// The weight gradients (dhg^T · h_{t-1}, Σ dhg, dH^T · hraw) are large GEMMs the caller does afterwards.
// Shape legend in common.h.
#include <omp.h>

#include "cells.h"
#include "gemm.h"
#include "scan.h"

namespace rnnkit {

template <class Cell, class T>
void scan_backward(const BwdArgs<T>& a) {
  constexpr int G = Cell::G, S = Cell::S, NR = Tile<T>::NR;
  const long steps = a.steps, B = a.B, H = a.H, P = a.P, GH = G * H;
  const bool proj = a.w_hr != nullptr;
  const int nt = choose_threads(a.threads, H, P, Simd<T>::W);
  SpinBarrier barrier(nt);
  Buffer<T> zeros(std::max(H, P));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const Slice hs = slice_of(H, nt, tid, Simd<T>::W);
    const Slice ps = proj ? slice_of(P, nt, tid, Simd<T>::W) : hs;
    const long Hs = hs.size(), Ps = ps.size();
    // this thread's columns of U (G*H, Ps) and, with a projection, of w_hr (P, Hs)
    const long npu = Tile<T>::panels(Ps), ldu = Tile<T>::padded(Ps);
    Buffer<T> up(npu * GH * NR), dhs(B * ldu);  // dhs: dhg_{t+1} · U, zero at t = T-1
    pack_panels<T>(GH, Ps, [&](long k, long n) { return a.w_hh[k * P + ps.begin + n]; }, up.data);
    const long npr = proj ? Tile<T>::panels(Hs) : 0, ldr = Tile<T>::padded(Hs);
    Buffer<T> rp(proj ? npr * P * NR : 0), dr(proj ? B * ldr : 0);
    if (proj) pack_panels<T>(P, Hs, [&](long k, long n) { return a.w_hr[k * H + hs.begin + n]; }, rp.data);
    Buffer<T> carry(B * std::max<long>(Hs, 1));

    for (long t = steps - 1; t >= 0; --t) {
      if (proj) {
        T* dH = a.dH + t * B * P;
        const T* dout = a.dout + t * B * P;
        for (long b = 0; b < B; ++b) {
          const long len = a.lengths ? a.lengths[b] : steps;
          T* d = dH + b * P;
          if (t >= len) {
            for (long p = ps.begin; p < ps.end; ++p) d[p] = T(0);
            continue;
          }
          const T* inj = t == len - 1 ? a.dhn + b * P : zeros.data;
          for (long n = 0; n < Ps; ++n) {
            const long p = ps.begin + n;
            d[p] = dhs.data[b * ldu + n] + dout[b * P + p] + inj[p];
          }
        }
        barrier.wait();
        if (Hs > 0) gemm_packed<T>(B, P, dH, P, rp.data, npr, dr.data, ldr, nullptr);
      }
      for (long b = 0; b < B; ++b) {
        const long len = a.lengths ? a.lengths[b] : steps;
        T* dx = a.dxg + (t * B + b) * GH;
        T* dhg = a.dhg + (t * B + b) * GH;
        if (t >= len) {
          for (int g = 0; g < G; ++g)
            for (long j = hs.begin; j < hs.end; ++j) dx[g * H + j] = dhg[g * H + j] = T(0);
          continue;
        }
        T* cr = carry.data + b * Hs - hs.begin;
        if (Cell::kCell && t == len - 1)
          for (long j = hs.begin; j < hs.end; ++j) cr[j] += a.dcn[b * H + j];
        // dh = src + add + inj, all indexed by the unit j
        const T *src, *add, *inj;
        if (proj) {
          src = dr.data + b * ldr - hs.begin;
          add = inj = zeros.data;
        } else {
          src = dhs.data + b * ldu - hs.begin;
          add = a.dout + (t * B + b) * P;
          inj = t == len - 1 ? a.dhn + b * P : zeros.data;
        }
        BwdRow<T> r;
        r.save = S ? a.save + (t * B + b) * S * H : nullptr;
        r.c = Cell::kCell ? a.cs + (t * B + b) * H : nullptr;
        r.c_prev = Cell::kCell ? (t ? a.cs + ((t - 1) * B + b) * H : a.c0 + b * H) : nullptr;
        r.h = a.out + (t * B + b) * P;
        r.h_prev = t ? a.out + ((t - 1) * B + b) * P : a.h0 + b * P;
        r.e0 = a.e0;
        r.dx = dx;
        r.dh = dhg;
        r.H = H;
        RNNKIT_SIMD for (long j = hs.begin; j < hs.end; ++j) {
          T c = cr[j];
          Cell::template backward<T>(r, j, src[j] + add[j] + inj[j], c);
          cr[j] = c;
        }
      }
      barrier.wait();
      if (Ps > 0) gemm_packed<T>(B, GH, a.dhg + t * B * GH, GH, up.data, npu, dhs.data, ldu, nullptr);
    }
    // gradients of the initial state: through U (+ the direct path of GRU-like cells), and of c0
    for (long b = 0; b < B; ++b) {
      for (long n = 0; n < Ps; ++n) {
        const long p = ps.begin + n;
        T d = dhs.data[b * ldu + n];
        if (!Cell::kCell && !proj) d += carry.data[b * Hs + n];
        a.dh0[b * P + p] = d;
      }
      if (Cell::kCell)
        for (long n = 0; n < Hs; ++n) a.dc0[b * H + hs.begin + n] = carry.data[b * Hs + n];
    }
  }
}

#define RNNKIT_INSTANTIATE(C)                                    \
  template void scan_backward<C, float>(const BwdArgs<float>&); \
  template void scan_backward<C, double>(const BwdArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
