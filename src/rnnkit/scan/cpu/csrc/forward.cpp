// rnnkit fused CPU kernels: the forward scan (training saves what backward needs; inference nothing).
// Shape legend in common.h; structure and thread layouts in scan.h.
#include <omp.h>

#include "cells.h"
#include "gemm.h"
#include "scan.h"

namespace rnnkit {

template <class T>
Layout scan_layout(int threads, int split, long B, long G, long H, long P) {
  return choose_layout(threads, static_cast<Split>(split), B, H, P, Simd<T>::W, Tile<T>::MR,
                       static_cast<long>(G * H * P * sizeof(T)), B * G * H * P);
}
template Layout scan_layout<float>(int, int, long, long, long, long);
template Layout scan_layout<double>(int, int, long, long, long, long);

// Rows [p.r0, p.r1) x units p.hs of step t. hg: this thread's U h + b_hh, row b at hg[(b - r0) * ldc].
// xl: this thread's W x_t + b_ih (same layout as hg) when computed step by step, else null (a.xg).
template <class Cell, class T, bool kSave>
static inline void pointwise_rows(const FwdArgs<T>& a, long t, const Part& p, const T* xl, const T* hg,
                                  long ldc, const T* hprev, const T* cprev, T* ccur, T* hdst) {
  constexpr int G = Cell::G, S = Cell::S;
  const long B = a.B, H = a.H;
  const Slice& hs = p.hs;
  for (long b = p.r0; b < p.r1; ++b) {
    const bool live = !a.lengths || t < a.lengths[b];
    T* h = hdst + b * H;
    T* c = Cell::kCell ? ccur + b * H : nullptr;
    const T* cp = Cell::kCell ? cprev + b * H : nullptr;
    if (!live) {
      for (long j = hs.begin; j < hs.end; ++j) h[j] = T(0);
      if (Cell::kCell)
        for (long j = hs.begin; j < hs.end; ++j) c[j] = cp[j];
      if (kSave && S) {  // saved values are an operator output: defined (zero) at padded steps too
        T* sv = a.save + (t * B + b) * S * H;
        for (int s = 0; s < S; ++s)
          for (long j = hs.begin; j < hs.end; ++j) sv[s * H + j] = T(0);
      }
      continue;
    }
    FwdRow<T> r;
    if (xl) {
      r.x = xl + (b - p.r0) * ldc - hs.begin;
      r.xs = hs.size();
    } else {
      r.x = a.xg + (t * B + b) * G * H;
      r.xs = H;
    }
    r.hg = hg + (b - p.r0) * ldc - hs.begin;
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
  constexpr int G = Cell::G;
  const long steps = a.steps, B = a.B, H = a.H, P = a.P;
  const bool proj = a.w_hr != nullptr;
  const bool keep_c = Cell::kCell && a.cs != nullptr;
  const Layout L = scan_layout<T>(a.threads, a.split, B, G, H, P);
  GroupBarriers barriers(L);
  // shared scratch: c of the last two steps when not kept per step, h before the projection
  Buffer<T> cbuf(Cell::kCell && !keep_c ? 2 * B * H : 0);
  Buffer<T> hraw_buf(proj && !a.hraw ? B * H : 0);

#pragma omp parallel num_threads(L.threads)
  {
    const Part p = part_of(L, L.threads > 1 ? omp_get_thread_num() : 0, B, H, P, proj, Simd<T>::W, Tile<T>::MR);
    SpinBarrier& barrier = barriers[p.group];
    const Slice hs = p.hs, ps = p.ps;
    const long M = p.rows(), Hs = hs.size(), N = G * Hs, ldc = Tile<T>::padded(N);
    // this thread's columns of U^T (P, G*Hs): gate g, unit j -> row g*H + j of w_hh
    auto row = [&](long n) { return (n / Hs) * H + hs.begin + n % Hs; };  // gate-major local column -> row
    StepGemm<T> ug(M, P, N, [&](long k, long n) { return a.w_hh[row(n) * P + k]; });
    if (a.b_hh) ug.set_bias([&](long n) { return a.b_hh[row(n)]; });
    Buffer<T> hg(M * ldc);
    // the input projection step by step: this thread's columns of w_ih^T (I, G*Hs)
    const bool by_step = a.w_ih != nullptr;
    const long I = by_step ? a.I : 0;
    StepGemm<T> ig(M, I, by_step ? N : 0, [&](long k, long n) { return a.w_ih[row(n) * I + k]; });
    if (by_step && a.b_ih) ig.set_bias([&](long n) { return a.b_ih[row(n)]; });
    Buffer<T> xl(by_step ? M * ldc : 0);
    // projection: this thread's columns of w_hr^T (H, Ps)
    const long Ps = ps.size(), ldp = Tile<T>::padded(Ps);
    auto w_hr_row = [&](long k, long n) { return a.w_hr[(ps.begin + n) * H + k]; };
    StepGemm<T> rg(M, proj ? H : 0, proj ? Ps : 0, w_hr_row);
    Buffer<T> pc(proj ? M * ldp : 0);
    const bool work = M > 0 && Hs > 0;

    for (long t = 0; t < steps; ++t) {
      const T* hprev = t ? a.out + (t - 1) * B * P : a.h0;  // (B, P)
      if (work) {
        ug.run(M, hprev + p.r0 * P, P, hg.data, ldc);
        if (by_step) ig.run(M, a.x + (t * B + p.r0) * I, I, xl.data, ldc);
      }
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
      const T* xs = by_step ? xl.data : nullptr;
      if (a.save)
        pointwise_rows<Cell, T, true>(a, t, p, xs, hg.data, ldc, hprev, cprev, ccur, hdst);
      else
        pointwise_rows<Cell, T, false>(a, t, p, xs, hg.data, ldc, hprev, cprev, ccur, hdst);
      barrier.wait();
      if (proj) {
        rg.run(M, hdst + p.r0 * H, H, pc.data, ldp);
        T* o = a.out + t * B * P;
        for (long b = p.r0; b < p.r1; ++b)
          for (long n = 0; n < Ps; ++n) o[b * P + ps.begin + n] = pc.data[(b - p.r0) * ldp + n];
        barrier.wait();
      }
    }
    // final state at each sequence's own last step; each thread copies what it wrote
    for (long b = p.r0; b < p.r1; ++b) {
      const long last = a.lengths ? a.lengths[b] - 1 : steps - 1;
      const T* o = a.out + (last * B + b) * P;
      for (long q = ps.begin; q < ps.end; ++q) a.hn[b * P + q] = o[q];
      if (Cell::kCell) {
        const T* c = keep_c ? a.cs + ((steps - 1) * B + b) * H : cbuf.data + (((steps - 1) & 1) * B + b) * H;
        for (long j = hs.begin; j < hs.end; ++j) a.cn[b * H + j] = c[j];
      }
    }
  }
}

#define RNNKIT_INSTANTIATE(C)                                  \
  template void scan_forward<C, float>(const FwdArgs<float>&); \
  template void scan_forward<C, double>(const FwdArgs<double>&);
RNNKIT_CELLS(RNNKIT_INSTANTIATE)
#undef RNNKIT_INSTANTIATE

}  // namespace rnnkit
