// rnnkit fused CPU kernels: the vendor GEMM (the BLAS library torch links) and which GEMM — rnnkit's
// own (gemm.h) or the vendor's — runs each class of product. Shape legend in common.h.
#pragma once

#include <atomic>
#include <initializer_list>
#include <limits>
#include <type_traits>

// The vendor BLAS that torch links (MKL on x86, OpenBLAS elsewhere) through its Fortran interface, taken
// weakly: when torch's library does not export it the pointers are null and only rnnkit's GEMM runs.
// MKL_Set_Num_Threads_Local keeps MKL on the calling thread inside rnnkit's parallel regions.
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*) __attribute__((weak));
int MKL_Set_Num_Threads_Local(int) __attribute__((weak));
}

namespace rnnkit {

// ---- which GEMM runs each class of product ---------------------------------------------------------
// rnnkit's own (below) or the vendor's, per class: kStepVec — the per-step products of one or a few rows
// (generation, B < MR), kStep — the per-step products of a scan, kLarge — the input projection and the
// weight gradients. Chosen by a measurement made once per machine (scan/cpu/gemm.py), set through the
// binding; the vendor GEMM is used only where it is available and was checked against rnnkit's.
enum GemmClass { kStepVec = 0, kStep = 1, kLarge = 2, kGemmClasses = 3 };

inline std::atomic<int>* gemm_modes() {
  static std::atomic<int> modes[kGemmClasses] = {0, 0, 0};  // 0 own, 1 vendor
  return modes;
}

// Vendor GEMM calls made so far in this process (tests prove with it that the vendor path ran).
inline std::atomic<long>& vendor_calls() {
  static std::atomic<long> n{0};
  return n;
}

inline bool vendor_available() { return sgemm_ != nullptr && dgemm_ != nullptr; }

inline bool use_vendor(GemmClass c) {
  return vendor_available() && gemm_modes()[c].load(std::memory_order_relaxed) == 1;
}

// Row-major C (M, N) = op(A) (M, K) · op(Bm) (K, N) + beta C through the vendor's column-major GEMM
// (C^T = op(Bm)^T op(A)^T). ta / tb: A / Bm given transposed (element (i, k) at p[k*ld + i]). Every size
// and leading dimension must fit an int (vendor_fits).
template <class T>
inline void vendor_gemm(bool ta, bool tb, long M, long N, long K, const T* A, long lda, const T* Bm, long ldb,
                        T beta, T* C, long ldc) {
  const char opb = tb ? 'T' : 'N', opa = ta ? 'T' : 'N';
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
  const T one = 1;
  vendor_calls().fetch_add(1, std::memory_order_relaxed);
  if constexpr (std::is_same_v<T, float>)
    sgemm_(&opb, &opa, &m, &n, &k, &one, Bm, &la, A, &lb, &beta, C, &lc);
  else
    dgemm_(&opb, &opa, &m, &n, &k, &one, Bm, &la, A, &lb, &beta, C, &lc);
}

// Whether sizes and leading dimensions fit the vendor's (LP64) int arguments.
inline bool vendor_fits(std::initializer_list<long> sizes) {
  for (long v : sizes)
    if (v > std::numeric_limits<int>::max()) return false;
  return true;
}

// Keeps the vendor library on the calling thread for the lifetime of the object (MKL; a no-op elsewhere).
struct VendorOneThread {
  int previous = 0;
  VendorOneThread() {
    if (MKL_Set_Num_Threads_Local) previous = MKL_Set_Num_Threads_Local(1);
  }
  ~VendorOneThread() {
    if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(previous);
  }
};

}  // namespace rnnkit
