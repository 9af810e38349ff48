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
  constexpr int G = Cell::G, S = Cell::S;
  const long steps = a.steps, B = a.B, H = a.H, P = a.P, GH = G * H;
  const bool proj = a.w_hr != nullptr;
  const Layout L = scan_layout<T>(a.threads, a.split, B, G, H, P);
  GroupBarriers barriers(L);
  Buffer<T> zeros(std::max(H, P), true);

#pragma omp parallel num_threads(L.threads)
  {
    const Part p = part_of(L, L.threads > 1 ? omp_get_thread_num() : 0, B, H, P, proj, Simd<T>::W, Tile<T>::MR);
    SpinBarrier& barrier = barriers[p.group];
    const Slice hs = p.hs, ps = p.ps;
    const long M = p.rows(), Hs = hs.size(), Ps = ps.size();
    // this thread's columns of U (G*H, Ps) and, with a projection, of w_hr (P, Hs)
    const long ldu = Tile<T>::padded(Ps);
    StepGemm<T> ug(M, GH, Ps, [&](long k, long n) { return a.w_hh[k * P + ps.begin + n]; });
    Buffer<T> dhs(M * ldu, true);  // dhs: dhg_{t+1} · U, zero at t = T-1
    const long ldr = Tile<T>::padded(Hs);
    auto w_hr_col = [&](long k, long n) { return a.w_hr[k * H + hs.begin + n]; };
    StepGemm<T> rg(M, proj ? P : 0, proj ? Hs : 0, w_hr_col);
    Buffer<T> dr(proj ? M * ldr : 0);
    Buffer<T> carry(M * std::max<long>(Hs, 1), true);

    for (long t = steps - 1; t >= 0; --t) {
      if (proj) {
        T* dH = a.dH + t * B * P;
        const T* dout = a.dout + t * B * P;
        for (long b = p.r0; b < p.r1; ++b) {
          const long len = a.lengths ? a.lengths[b] : steps;
          T* d = dH + b * P;
          if (t >= len) {
            for (long q = ps.begin; q < ps.end; ++q) d[q] = T(0);
            continue;
          }
          const T* inj = t == len - 1 ? a.dhn + b * P : zeros.data;
          for (long n = 0; n < Ps; ++n) {
            const long q = ps.begin + n;
            d[q] = dhs.data[(b - p.r0) * ldu + n] + dout[b * P + q] + inj[q];
          }
        }
        barrier.wait();
        rg.run(M, dH + p.r0 * P, P, dr.data, ldr);
      }
      for (long b = p.r0; b < p.r1; ++b) {
        const long len = a.lengths ? a.lengths[b] : steps;
        T* dx = a.dxg + (t * B + b) * GH;
        T* dhg = a.dhg + (t * B + b) * GH;
        if (t >= len) {
          for (int g = 0; g < G; ++g)
            for (long j = hs.begin; j < hs.end; ++j) dx[g * H + j] = dhg[g * H + j] = T(0);
          continue;
        }
        T* cr = carry.data + (b - p.r0) * Hs - hs.begin;
        if (Cell::kCell && t == len - 1)
          for (long j = hs.begin; j < hs.end; ++j) cr[j] += a.dcn[b * H + j];
        // dh = src + add + inj, all indexed by the unit j
        const T *src, *add, *inj;
        if (proj) {
          src = dr.data + (b - p.r0) * ldr - hs.begin;
          add = inj = zeros.data;
        } else {
          src = dhs.data + (b - p.r0) * ldu - hs.begin;
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
      ug.run(M, a.dhg + (t * B + p.r0) * GH, GH, dhs.data, ldu);
    }
    // gradients of the initial state: through U (+ the direct path of GRU-like cells), and of c0
    for (long b = p.r0; b < p.r1; ++b) {
      const long i = b - p.r0;
      for (long n = 0; n < Ps; ++n) {
        T d = dhs.data[i * ldu + n];
        if (!Cell::kCell && !proj) d += carry.data[i * Hs + n];
        a.dh0[b * P + ps.begin + n] = d;
      }
      if (Cell::kCell)
        for (long n = 0; n < Hs; ++n) a.dc0[b * H + hs.begin + n] = carry.data[i * Hs + n];
    }
  }
}

#define RNNKIT_INSTANTIATE(C)                                    \
  template void scan_backward<C, float>(const BwdArgs<float>&); \
  template void scan_backward<C, double>(const BwdArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
