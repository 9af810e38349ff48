// rnnkit fused CPU kernels: the drivers that run a cell over a whole sequence (forward.cpp,
// backward.cpp) or advance a stack of layers by one step (step.cpp).
//
// Structure (haste's): W x for all steps is one GEMM done by the caller (xg); per step ONE small GEMM
// for U h and ONE fused pointwise pass; the backward pass is a reverse loop with a fused pointwise pass
// and one GEMM per step, the weight gradients being large GEMMs after it (done by the caller from dhg).
// Threads: ONE parallel region for the whole sequence, in one of two layouts (common.h):
//   rows  — each thread owns whole batch rows, packs all of U and runs the sequence with no barrier
//           (rows are independent through time); chosen when U stays in L2 or the rows amortise it;
//   units — each thread owns a slice of the hidden units across all G gates, packs its slice of U, and
//           per step runs its GEMM slice then its pointwise slice; one barrier per step (two with a
//           projection).
//
// Variable lengths: `lengths` (B) or null. Padding is a suffix (t >= lengths[b]): there the output is
// zero, the state is carried, and the backward pass sends no gradient. The final state is the state at
// each sequence's own last step.
//
// Shapes (legend in common.h).
#pragma once

#include <cstdint>

#include "common.h"

namespace rnnkit {

template <class T>
struct FwdArgs {
  long steps, B, H, P;
  int threads, split;       // threads to use; Split (common.h): 0 auto, 1 rows, 2 units
  const T* xg;              // (T, B, G*H)  W x + b_ih, or null when x and w_ih are given:
  const T* x;               // (T, B, I)    the layer input; W x + b_ih is then computed step by step
  const T* w_ih;            // (G*H, I)     (no (T, B, G*H) buffer: one less pass over memory)
  const T* b_ih;            // (G*H) or null
  long I;
  const T* h0;              // (B, P)
  const T* c0;              // (B, H) or null (cells without c)
  const T* w_hh;            // (G*H, P)
  const T* b_hh;            // (G*H) or null
  const T* w_hr;            // (P, H) or null (no projection)
  const T* e0;              // (H) first extra tensor or null
  const int64_t* lengths;   // (B) or null
  T* out;                   // (T, B, P)  hidden output; zero past each length
  T* hn;                    // (B, P)     final h
  T* cn;                    // (B, H)     final c, or null
  T* save;                  // (T, B, S*H) values for backward, or null (inference: nothing saved)
  T* cs;                    // (T, B, H)  c_t per step (training, cells with c), or null
  T* hraw;                  // (T, B, H)  h before the projection (training with w_hr), or null
};

template <class T>
struct BwdArgs {
  long steps, B, H, P;
  int threads, split;
  const T* w_hh;            // (G*H, P)
  const T* w_hr;            // (P, H) or null
  const T* e0;              // (H) or null
  const int64_t* lengths;   // (B) or null
  const T* h0;              // (B, P)
  const T* c0;              // (B, H) or null
  const T* out;             // (T, B, P)   forward output
  const T* save;            // (T, B, S*H)
  const T* cs;              // (T, B, H) or null
  const T* hraw;            // (T, B, H) or null
  const T* dout;            // (T, B, P)   dL/d out
  const T* dhn;             // (B, P)      dL/d h_n
  const T* dcn;             // (B, H)      dL/d c_n, or null
  T* dxg;                   // (T, B, G*H) dL/d xg
  T* dhg;                   // (T, B, G*H) dL/d (U h + b_hh); == dxg unless the cell is kSplit
  T* dh0;                   // (B, P)
  T* dc0;                   // (B, H) or null
  T* dH;                    // (T, B, P) dL/dh_t in total (for dL/dw_hr), or null without projection
};

// Weights of a layer stack packed for `scan_step` (step.cpp): per layer, per thread of the step's layout,
// the thread's columns of w_ihᵀ, U^T and w_hrᵀ in GEMM panels and its biases, threads back to back.
// Packed once (the caller caches it while the weights do not change).
struct StepPackShape {
  long L, I, H, P, G;
  int threads;  // the step's thread count (the packing depends on it)
  bool proj, bias;
  // element counts of layer l's packed w_ih, b_ih, w_hh, b_hh, w_hr for element size `elem`
  void sizes(long l, int elem, long out[5]) const;
};

template <class T>
void step_pack(const StepPackShape& s, long l, const T* w_ih, const T* b_ih, const T* w_hh, const T* b_hh,
               const T* w_hr, T* out[5]);

template <class T>
struct StepArgs {
  StepPackShape shape;
  long B;
  const T* x;               // (B, I)     input of the first layer
  const T* h;               // (L, B, P)  h_{t-1} per layer
  const T* c;               // (L, B, H)  c_{t-1} per layer, or null
  const T* const* packed;   // per layer 5 pointers: packed w_ih, b_ih, w_hh, b_hh, w_hr (step_pack)
  const T* const* e0;       // per layer (H) or null
  T* h_out;                 // (L, B, P)  h_t per layer; the output is h_out[L-1]
  T* c_out;                 // (L, B, H) or null
};

// A matrix operand: element (i, k) at p[i*ld + k], or at p[k*ld + i] when transposed.
template <class T>
struct Operand {
  const T* p;
  long ld;
  bool trans;
};

// C (M, N) = (accumulate ? C : bias (N) or 0) + A (M, K) · Bm (K, N) on up to `threads` threads: the
// input projection and the weight gradients (gemm.h, instantiated in matmul.cpp).
template <class T>
void matmul(long M, long N, long K, Operand<T> A, Operand<T> Bm, T* C, long ldc, const T* bias, bool accumulate,
            int threads);

template <class Cell, class T>
void scan_forward(const FwdArgs<T>& a);
template <class Cell, class T>
void scan_backward(const BwdArgs<T>& a);
template <class Cell, class T>
void scan_step(const StepArgs<T>& a);

// The thread layout of a scan (forward and backward use the same; see choose_layout in common.h).
template <class T>
Layout scan_layout(int threads, int split, long B, long G, long H, long P);

}  // namespace rnnkit
