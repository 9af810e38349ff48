// rnnkit fused CPU kernels: the forward scan (training saves what backward needs; inference nothing).
// Shape legend in common.h; structure in scan.h.
#include <omp.h>

#include "cells.h"
#include "gemm.h"
#include "scan.h"

namespace rnnkit {

int choose_threads(int requested, long H, long P, int W) {
  const int n = requested < 1 ? 1 : requested;
  return std::min(useful_threads(H, n, W), useful_threads(P, n, W));
}

template <class Cell, class T, bool kSave>
static inline void pointwise_rows(const FwdArgs<T>& a, long t, const Slice& hs, const T* hg, long ldc,
                                  const T* hprev, const T* cprev, T* ccur, T* hdst, long ldh) {
  constexpr int G = Cell::G, S = Cell::S;
  const long B = a.B, H = a.H;
  for (long b = 0; b < B; ++b) {
    const bool live = !a.lengths || t < a.lengths[b];
    T* h = hdst + b * ldh;
    T* c = Cell::kCell ? ccur + b * H : nullptr;
    const T* cp = Cell::kCell ? cprev + b * H : nullptr;
    if (!live) {
      for (long j = hs.begin; j < hs.end; ++j) h[j] = T(0);
      if (Cell::kCell)
        for (long j = hs.begin; j < hs.end; ++j) c[j] = cp[j];
      continue;
    }
    FwdRow<T> r;
    r.x = a.xg + (t * B + b) * G * H;
    r.hg = hg + b * ldc - hs.begin;
    r.xs = H;
    r.hs = hs.size();
    r.H = H;
    r.h_prev = hprev + b * a.P;
    r.c_prev = cp;
    r.c = c;
    r.h = h;
    r.save = kSave ? a.save + (t * B + b) * S * H : nullptr;
    r.e0 = a.e0;
    RNNKIT_SIMD for (long j = hs.begin; j < hs.end; ++j) Cell::template forward<T, kSave>(r, j);
  }
}

template <class Cell, class T>
void scan_forward(const FwdArgs<T>& a) {
  constexpr int G = Cell::G, NR = Tile<T>::NR;
  const long steps = a.steps, B = a.B, H = a.H, P = a.P;
  const bool proj = a.w_hr != nullptr;
  const bool keep_c = Cell::kCell && a.cs != nullptr;
  const int nt = choose_threads(a.threads, H, P, Simd<T>::W);
  SpinBarrier barrier(nt);
  // shared scratch: c of the last two steps when not kept per step, h before the projection
  Buffer<T> cbuf(Cell::kCell && !keep_c ? 2 * B * H : 0);
  Buffer<T> hraw_buf(proj && !a.hraw ? B * H : 0);

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const Slice hs = slice_of(H, nt, tid, Simd<T>::W);
    const Slice ps = proj ? slice_of(P, nt, tid, Simd<T>::W) : hs;
    const long Hs = hs.size(), N = G * Hs, np = Tile<T>::panels(N), ldc = Tile<T>::padded(N);
    // this thread's columns of U^T (P, G*Hs): gate g, unit j -> row g*H + j of w_hh
    Buffer<T> up(np * P * NR), bias(ldc), hg(B * ldc);
    pack_panels<T>(P, N, [&](long k, long n) { return a.w_hh[((n / Hs) * H + hs.begin + n % Hs) * P + k]; },
                   up.data);
    if (a.b_hh) pack_bias<T>(N, [&](long n) { return a.b_hh[(n / Hs) * H + hs.begin + n % Hs]; }, bias.data);
    // projection: this thread's columns of w_hr^T (H, Ps)
    const long Ps = ps.size(), npp = proj ? Tile<T>::panels(Ps) : 0, ldp = Tile<T>::padded(Ps);
    Buffer<T> rp(proj ? npp * H * NR : 0), pc(proj ? B * ldp : 0);
    if (proj) pack_panels<T>(H, Ps, [&](long k, long n) { return a.w_hr[(ps.begin + n) * H + k]; }, rp.data);

    for (long t = 0; t < steps; ++t) {
      const T* hprev = t ? a.out + (t - 1) * B * P : a.h0;  // (B, P)
      if (Hs > 0) gemm_packed<T>(B, P, hprev, P, up.data, np, hg.data, ldc, a.b_hh ? bias.data : nullptr);
      const T* cprev = nullptr;
      T* ccur = nullptr;
      if (Cell::kCell) {
        if (keep_c) {
          cprev = t ? a.cs + (t - 1) * B * H : a.c0;
          ccur = a.cs + t * B * H;
        } else {
          cprev = t ? cbuf.data + ((t - 1) & 1) * B * H : a.c0;
          ccur = cbuf.data + (t & 1) * B * H;
        }
      }
      T* hdst = proj ? (a.hraw ? a.hraw + t * B * H : hraw_buf.data) : a.out + t * B * P;  // (B, H)
      if (a.save)
        pointwise_rows<Cell, T, true>(a, t, hs, hg.data, ldc, hprev, cprev, ccur, hdst, H);
      else
        pointwise_rows<Cell, T, false>(a, t, hs, hg.data, ldc, hprev, cprev, ccur, hdst, H);
      barrier.wait();
      if (proj) {
        if (Ps > 0) gemm_packed<T>(B, H, hdst, H, rp.data, npp, pc.data, ldp, nullptr);
        T* o = a.out + t * B * P;
        for (long b = 0; b < B; ++b)
          for (long n = 0; n < Ps; ++n) o[b * P + ps.begin + n] = pc.data[b * ldp + n];
        barrier.wait();
      }
    }
    // final state at each sequence's own last step; each thread copies what it wrote
    for (long b = 0; b < B; ++b) {
      const long last = a.lengths ? a.lengths[b] - 1 : steps - 1;
      const T* o = a.out + (last * B + b) * P;
      for (long p = ps.begin; p < ps.end; ++p) a.hn[b * P + p] = o[p];
      if (Cell::kCell) {
        const T* c = keep_c ? a.cs + ((steps - 1) * B + b) * H : cbuf.data + (((steps - 1) & 1) * B + b) * H;
        for (long j = hs.begin; j < hs.end; ++j) a.cn[b * H + j] = c[j];
      }
    }
  }
}

#define RNNKIT_INSTANTIATE(C)                              \
  template void scan_forward<C, float>(const FwdArgs<float>&); \
  template void scan_forward<C, double>(const FwdArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
