// rnnkit fused CPU kernels: rnnkit's own GEMM — the small products of one time step, and (below) the
// large ones; StepGemm runs a per-step product with the GEMM chosen for it (blas.h).
//
//   C (M, N) = bias (N) + A (M, K) · Bm (K, N)
//
// M = B (batch rows), K = P or G*H, N = the columns one thread owns. Bm is packed once per call into
// panels of NR = NV*W columns (K × NR contiguous, zero-padded past N); a register-blocked micro-kernel
// keeps an MR × NR tile of C in registers while it streams one panel and MR rows of A.
#pragma once

#include <omp.h>

#include <cstring>

#include "blas.h"
#include "common.h"
#include "scan.h"

namespace rnnkit {

// One MR × NR tile: C = (accumulate ? C : bias or 0) + A · Bp over K. A is either MR rows of a row-major
// matrix (A[r*lda + k]) or, with kPackedA, a packed panel (A[k*MR + r]).
template <class T, int MR, int NV, bool kPackedA = false>
inline void micro_kernel(long K, const T* __restrict A, long lda, const T* __restrict Bp, T* __restrict C,
                         long ldc, const T* __restrict bias, bool accumulate = false) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::W;
  V acc[MR][NV];
  if (accumulate) {
    RNNKIT_UNROLL for (int r = 0; r < MR; ++r) {
      RNNKIT_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = S::load(C + r * ldc + v * W);
    }
  } else {
    RNNKIT_UNROLL for (int v = 0; v < NV; ++v) {
      const V b0 = bias ? S::load(bias + v * W) : V{};
      RNNKIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][v] = b0;
    }
  }
  for (long k = 0; k < K; ++k) {
    V b[NV];
    RNNKIT_UNROLL for (int v = 0; v < NV; ++v) {
      b[v] = S::load(Bp + (k * NV + v) * W);
#if RNNKIT_VBYTES == 32
      // Keep the panel row in registers: with all 16 AVX2 registers in use GCC otherwise folds the load
      // into every FMA, so each row reloads it and the loop is bound by the load ports (measured on Zen 3:
      // 68 -> 92 GFLOP/s per core for a 2048^3 product, 137 -> 181 on 2 cores).
      asm volatile("" : "+x"(b[v]));
#endif
    }
    RNNKIT_UNROLL for (int r = 0; r < MR; ++r) {
      const T a = kPackedA ? A[k * MR + r] : A[r * lda + k];
      RNNKIT_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] += b[v] * a;
    }
  }
  RNNKIT_UNROLL for (int r = 0; r < MR; ++r) {
    RNNKIT_UNROLL for (int v = 0; v < NV; ++v) S::store(C + r * ldc + v * W, acc[r][v]);
  }
}

// C (M, padded N) = bias + A · Bm, Bm packed by `pack_panels` (bias packed the same way, or null).
template <class T>
void gemm_packed(long M, long K, const T* A, long lda, const T* Bp, long npanels, T* C, long ldc,
                 const T* bias) {
  constexpr int MR = Tile<T>::MR, NV = Tile<T>::NV, NR = Tile<T>::NR;
  for (long p = 0; p < npanels; ++p) {
    const T* bp = Bp + p * K * NR;
    const T* bb = bias ? bias + p * NR : nullptr;
    T* cp = C + p * NR;
    long m = 0;
    for (; m + MR <= M; m += MR) micro_kernel<T, MR, NV>(K, A + m * lda, lda, bp, cp + m * ldc, ldc, bb);
    const T* a = A + m * lda;
    T* c = cp + m * ldc;
    switch (M - m) {
      case 0: break;
      case 1: micro_kernel<T, 1, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 2: micro_kernel<T, 2, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 3: micro_kernel<T, 3, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 4: micro_kernel<T, 4, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 5: micro_kernel<T, 5, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 6: micro_kernel<T, 6, NV>(K, a, lda, bp, c, ldc, bb); break;
      case 7: micro_kernel<T, 7, NV>(K, a, lda, bp, c, ldc, bb); break;
      default: break;  // MR <= 8
    }
    static_assert(MR <= 8, "extend the remainder switch");
    static_assert(MR * NV <= 28, "the tile must fit the vector registers");
  }
}

// Pack Bm (K, N) given element-wise by src(k, n) into panels of NR columns, zero-padded.
template <class T, class Src>
void pack_panels(long K, long N, Src src, T* dst) {
  constexpr int NR = Tile<T>::NR;
  const long np = Tile<T>::panels(N);
  for (long p = 0; p < np; ++p) {
    T* d = dst + p * K * NR;
    for (int c = 0; c < NR; ++c) {
      const long n = p * NR + c;
      if (n < N) {
        for (long k = 0; k < K; ++k) d[k * NR + c] = src(k, n);
      } else {
        for (long k = 0; k < K; ++k) d[k * NR + c] = T(0);
      }
    }
  }
}

// Bias of the N local columns given by src(n), zero-padded to whole panels.
template <class T, class Src>
void pack_bias(long N, Src src, T* dst) {
  const long n_pad = Tile<T>::padded(N);
  for (long n = 0; n < n_pad; ++n) dst[n] = n < N ? src(n) : T(0);
}

// One thread's per-step product with a fixed right-hand side, prepared once per call:
//   C (M, N) [ldc] = bias (N) + A (M, K) [lda] · Bm (K, N),   Bm given element-wise by src(k, n).
// Own GEMM: Bm packed into panels (above). Vendor GEMM: Bm kept as a dense (N, K) row-major copy, C
// preset to the bias, one vendor call per step. The class (kStep / kStepVec) picks between them by M.
template <class T>
class StepGemm {
 public:
  template <class Src>
  StepGemm(long M, long K, long N, Src src)
      : K_(K),
        N_(N),
        np_(Tile<T>::panels(N)),
        vendor_(use_vendor(M < Tile<T>::MR ? kStepVec : kStep) && vendor_fits({M, K, N})),
        b_(vendor_ ? N * K : np_ * K * Tile<T>::NR), bias_(Tile<T>::padded(N)) {
    if (vendor_) {
      for (long n = 0; n < N; ++n)
        for (long k = 0; k < K; ++k) b_.data[n * K + k] = src(k, n);
    } else {
      pack_panels<T>(K, N, src, b_.data);
    }
  }
  template <class Src>
  void set_bias(Src src) {
    pack_bias<T>(N_, src, bias_.data);
    has_bias_ = true;
  }
  // C = bias + A · Bm for M rows of A (row b at A[b*lda]); C's rows ldc apart (ldc >= padded(N) for own).
  void run(long M, const T* A, long lda, T* C, long ldc) const {
    if (M <= 0 || N_ <= 0) return;
    if (!vendor_) {
      gemm_packed<T>(M, K_, A, lda, b_.data, np_, C, ldc, has_bias_ ? bias_.data : nullptr);
      return;
    }
    if (K_ <= 0) {
      for (long m = 0; m < M; ++m)
        for (long n = 0; n < N_; ++n) C[m * ldc + n] = has_bias_ ? bias_.data[n] : T(0);
      return;
    }
    if (has_bias_)
      for (long m = 0; m < M; ++m) std::memcpy(C + m * ldc, bias_.data, N_ * sizeof(T));
    VendorOneThread one;
    vendor_gemm(false, true, M, N_, K_, A, lda, b_.data, K_, has_bias_ ? T(1) : T(0), C, ldc);
  }
  bool vendor() const { return vendor_; }

 private:
  long K_, N_, np_;
  bool vendor_;
  Buffer<T> b_, bias_;
  bool has_bias_ = false;
};

// ---- large products (input projection, weight gradients) ------------------------------------------

// C (M, N) = (accumulate ? C : bias) + A (M, K) · Bm (K, N), all row-major (ldc), on `threads` threads.
// BLIS-style: Bm packed per KC-block into NR panels shared by the threads, each thread packing MR-row
// panels of its own rows of A; the micro-kernel above does the work.
template <class T>
void matmul(long M, long N, long K, Operand<T> A, Operand<T> Bm, T* C, long ldc, const T* bias, bool accumulate,
            int threads) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR, NV = Tile<T>::NV;
  constexpr long KC = 1024, MC = 24 * MR;  // measured: KC 1024 > 512 > 256 by ~5% each on Zen 5
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (long i = 0; i < M; ++i)
        for (long j = 0; j < N; ++j) C[i * ldc + j] = bias ? bias[j] : T(0);
    return;
  }
  int nt = threads < 1 ? 1 : threads;
  if (M < 4L * MR * nt || 2 * M * N * K < 4000000L) nt = 1;  // too small to split
  // the vendor's GEMM: each thread one call on its rows, the library on that thread
  if (use_vendor(kLarge) && vendor_fits({M, N, K, A.ld, Bm.ld, ldc})) {
    if (!accumulate)
      for (long i = 0; i < M; ++i)
        for (long j = 0; j < N; ++j) C[i * ldc + j] = bias ? bias[j] : T(0);
#pragma omp parallel num_threads(nt)
    {
      const int tid = nt > 1 ? omp_get_thread_num() : 0;
      const long per = (M + nt - 1) / nt, m0 = std::min(M, per * tid), m1 = std::min(M, per * (tid + 1));
      if (m1 > m0) {
        VendorOneThread one;
        const T* a = A.trans ? A.p + m0 : A.p + m0 * A.ld;
        vendor_gemm(A.trans, Bm.trans, m1 - m0, N, K, a, A.ld, Bm.p, Bm.ld, T(1), C + m0 * ldc, ldc);
      }
    }
    return;
  }
  const long np = Tile<T>::panels(N), Np = np * NR;
  Buffer<T> bp(std::min(K, KC) * Np), bias_p(bias ? Np : 0);
  if (bias)
    for (long j = 0; j < Np; ++j) bias_p.data[j] = j < N ? bias[j] : T(0);
  SpinBarrier barrier(nt);

#pragma omp parallel num_threads(nt)
  {
    const int tid = nt > 1 ? omp_get_thread_num() : 0;
    // this thread's rows: a contiguous range of whole MR panels
    const long mp = (M + MR - 1) / MR, per = (mp + nt - 1) / nt;
    const long m0 = std::min(M, per * tid * MR), m1 = std::min(M, per * (tid + 1) * MR);
    Buffer<T> ap(MC * std::min(K, KC)), tile(MR * NR);
    for (long pc = 0; pc < K; pc += KC) {
      const long kc = std::min(KC, K - pc);
      const bool acc = accumulate || pc > 0;
      // pack Bm[pc:pc+kc, :] into panels, split between the threads
      for (long q = tid; q < np; q += nt) {
        T* d = bp.data + q * kc * NR;
        const long j0 = q * NR, nn = std::min<long>(NR, N - j0);
        if (!Bm.trans) {
          for (long k = 0; k < kc; ++k) {
            const T* src = Bm.p + (pc + k) * Bm.ld + j0;
            for (long c = 0; c < nn; ++c) d[k * NR + c] = src[c];
            for (long c = nn; c < NR; ++c) d[k * NR + c] = T(0);
          }
        } else {
          for (long c = 0; c < NR; ++c) {
            if (c < nn) {
              const T* src = Bm.p + (j0 + c) * Bm.ld + pc;
              for (long k = 0; k < kc; ++k) d[k * NR + c] = src[k];
            } else {
              for (long k = 0; k < kc; ++k) d[k * NR + c] = T(0);
            }
          }
        }
      }
      barrier.wait();
      for (long ic = m0; ic < m1; ic += MC) {
        const long mc = std::min(MC, m1 - ic), mpanels = (mc + MR - 1) / MR;
        // pack A[ic:ic+mc, pc:pc+kc] into MR-row panels (k-major), zero-padded
        for (long ip = 0; ip < mpanels; ++ip) {
          T* d = ap.data + ip * kc * MR;
          const long i0 = ic + ip * MR, mm = std::min<long>(MR, ic + mc - i0);
          if (!A.trans) {
            for (long r = 0; r < MR; ++r) {
              if (r < mm) {
                const T* src = A.p + (i0 + r) * A.ld + pc;
                for (long k = 0; k < kc; ++k) d[k * MR + r] = src[k];
              } else {
                for (long k = 0; k < kc; ++k) d[k * MR + r] = T(0);
              }
            }
          } else {
            for (long k = 0; k < kc; ++k) {
              const T* src = A.p + (pc + k) * A.ld + i0;
              for (long r = 0; r < mm; ++r) d[k * MR + r] = src[r];
              for (long r = mm; r < MR; ++r) d[k * MR + r] = T(0);
            }
          }
        }
        for (long q = 0; q < np; ++q) {
          const T* b = bp.data + q * kc * NR;
          const long j0 = q * NR, nn = std::min<long>(NR, N - j0);
          const T* bb = bias ? bias_p.data + j0 : nullptr;
          for (long ip = 0; ip < mpanels; ++ip) {
            const long i0 = ic + ip * MR, mm = std::min<long>(MR, ic + mc - i0);
            const T* a = ap.data + ip * kc * MR;
            T* c = C + i0 * ldc + j0;
            if (mm == MR && nn == NR) {
              micro_kernel<T, MR, NV, true>(kc, a, 0, b, c, ldc, bb, acc);
            } else {  // edge: full tile into a buffer, then the valid part
              micro_kernel<T, MR, NV, true>(kc, a, 0, b, tile.data, NR, acc ? nullptr : bb, false);
              for (long r = 0; r < mm; ++r)
                for (long j = 0; j < nn; ++j)
                  c[r * ldc + j] = acc ? c[r * ldc + j] + tile.data[r * NR + j] : tile.data[r * NR + j];
            }
          }
        }
      }
      barrier.wait();  // every thread is done with this block of Bm before it is repacked
    }
  }
}

}  // namespace rnnkit
