// rnnkit fused CPU kernels: the pointwise step of each cell, as a small functor.
//
// A functor states its shape (G row blocks, S saved values per unit, E extra (H,) tensors, whether it
// has a cell state c, whether U h enters apart from W x — the GRU's r ⊙ (U_n h + b_hn)) and gives
//   forward<T, kSave>(FwdRow, j)           one unit j of one batch row: gates, new state, saved values
//   backward<T>(BwdRow, j, dh, carry)      its gradient: dL/dxg and dL/dhg of unit j; `carry` is the
//                                          gradient the cell passes to step t-1 besides U (dL/dc_{t-1}
//                                          for LSTM-like cells, dL/dh_{t-1} through z for GRU-like ones)
// The drivers (forward.cpp, backward.cpp, step.cpp) call them inside `omp simd` loops over j, so they
// must be branch-free. A new cell = one functor here + one entry in RNNKIT_CELLS.
//
// Shapes per batch row (legend in common.h): xg (G*H), hg thread-local (G*Hs), saved (S*H), states (H).
#pragma once

#include "common.h"

namespace rnnkit {

template <class T>
struct FwdRow {
  const T* x;       // W x + b_ih: gate g, unit j at x[g*xs + j]
  const T* hg;      // U h + b_hh: gate g, unit j at hg[g*hs + j]
  long xs, hs, H;   // gate strides of x and hg; H = stride of the saved values
  const T* h_prev;  // (H) previous hidden state (cells that read it: P == H)
  const T* c_prev;  // (H) previous cell state, or null
  T* c;             // (H) new cell state, or null
  T* h;             // (H) new hidden state (before any projection)
  T* save;          // (S*H) saved values: value s of unit j at save[s*H + j]; null when not training
  const T* e0;      // first extra tensor (H), or null
  T xg(int g, long j) const { return x[g * xs + j]; }
  T pre(int g, long j) const { return x[g * xs + j] + hg[g * hs + j]; }
};

template <class T>
struct BwdRow {
  const T* save;    // (S*H) what forward saved
  const T* c;       // (H) c_t, or null
  const T* c_prev;  // (H) c_{t-1}, or null
  const T* h;       // (H) h_t (Elman cells: their activation)
  const T* h_prev;  // (H) h_{t-1}
  const T* e0;      // first extra tensor (H), or null
  T* dx;            // (G*H) dL/d(W x + b_ih)
  T* dh;            // (G*H) dL/d(U h + b_hh); the same memory as dx unless kSplit
  long H;
  T s(int k, long j) const { return save[k * H + j]; }
};

// h_t = tanh(W x + b_ih + U h + b_hh)
struct RnnTanh {
  static constexpr const char* kName = "rnn_tanh";
  static constexpr int G = 1, S = 0, E = 0;
  static constexpr bool kCell = false, kSplit = false;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    r.h[j] = tanh_(r.pre(0, j));
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    const T h = r.h[j];
    r.dx[j] = dh * (T(1) - h * h);
  }
};

// h_t = relu(W x + b_ih + U h + b_hh)
struct RnnRelu {
  static constexpr const char* kName = "rnn_relu";
  static constexpr int G = 1, S = 0, E = 0;
  static constexpr bool kCell = false, kSplit = false;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    const T p = r.pre(0, j);
    r.h[j] = p > T(0) ? p : T(0);
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    r.dx[j] = r.h[j] > T(0) ? dh : T(0);
  }
};

// rows [i, f, a, o]: c_t = f⊙c_{t-1} + i⊙a, h_t = o⊙tanh(c_t); saves i, f, a, o
struct Lstm {
  static constexpr const char* kName = "lstm";
  static constexpr int G = 4, S = 4, E = 0;
  static constexpr bool kCell = true, kSplit = false;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    const T i = sigmoid_(r.pre(0, j)), f = sigmoid_(r.pre(1, j));
    const T a = tanh_(r.pre(2, j)), o = sigmoid_(r.pre(3, j));
    const T c = f * r.c_prev[j] + i * a;
    r.c[j] = c;
    r.h[j] = o * tanh_(c);
    if (kSave) {
      r.save[j] = i;
      r.save[r.H + j] = f;
      r.save[2 * r.H + j] = a;
      r.save[3 * r.H + j] = o;
    }
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    const T i = r.s(0, j), f = r.s(1, j), a = r.s(2, j), o = r.s(3, j);
    const T tc = tanh_(r.c[j]);
    const T dc = carry + dh * o * (T(1) - tc * tc);
    carry = dc * f;
    r.dx[j] = dc * a * i * (T(1) - i);
    r.dx[r.H + j] = dc * r.c_prev[j] * f * (T(1) - f);
    r.dx[2 * r.H + j] = dc * i * (T(1) - a * a);
    r.dx[3 * r.H + j] = dh * tc * o * (T(1) - o);
  }
};

// rows [r, z, n]: n = tanh(xn + r⊙hn), h_t = (1−z)⊙n + z⊙h_{t-1}; saves r, z, n, hn = U_n h + b_hn
struct Gru {
  static constexpr const char* kName = "gru";
  static constexpr int G = 3, S = 4, E = 0;
  static constexpr bool kCell = false, kSplit = true;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    const T rr = sigmoid_(r.pre(0, j)), z = sigmoid_(r.pre(1, j));
    const T hn = r.hg[2 * r.hs + j];
    const T n = tanh_(r.xg(2, j) + rr * hn);
    r.h[j] = n + z * (r.h_prev[j] - n);
    if (kSave) {
      r.save[j] = rr;
      r.save[r.H + j] = z;
      r.save[2 * r.H + j] = n;
      r.save[3 * r.H + j] = hn;
    }
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    const T rr = r.s(0, j), z = r.s(1, j), n = r.s(2, j), hn = r.s(3, j);
    dh += carry;
    carry = dh * z;
    const T dn = dh * (T(1) - z) * (T(1) - n * n);
    const T dr = dn * hn * rr * (T(1) - rr);
    const T dz = dh * (r.h_prev[j] - n) * z * (T(1) - z);
    r.dx[j] = dr;
    r.dx[r.H + j] = dz;
    r.dx[2 * r.H + j] = dn;
    r.dh[j] = dr;
    r.dh[r.H + j] = dz;
    r.dh[2 * r.H + j] = dn * rr;
  }
};

// rows [f, r, u, o], forget_bias b_f: f = σ(f̂+b_f), r = σ(r̂−b_f), g = 2rf + (1−2r)f²,
// c_t = g⊙c_{t-1} + (1−g)⊙tanh(û), h_t = σ(ô)⊙tanh(c_t); saves f, r, tanh(û), σ(ô)
struct UrLstm {
  static constexpr const char* kName = "urlstm";
  static constexpr int G = 4, S = 4, E = 1;
  static constexpr bool kCell = true, kSplit = false;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    const T bf = r.e0[j];
    const T f = sigmoid_(r.pre(0, j) + bf), rr = sigmoid_(r.pre(1, j) - bf);
    const T u = tanh_(r.pre(2, j)), o = sigmoid_(r.pre(3, j));
    const T g = T(2) * rr * f + (T(1) - T(2) * rr) * f * f;
    const T c = u + g * (r.c_prev[j] - u);
    r.c[j] = c;
    r.h[j] = o * tanh_(c);
    if (kSave) {
      r.save[j] = f;
      r.save[r.H + j] = rr;
      r.save[2 * r.H + j] = u;
      r.save[3 * r.H + j] = o;
    }
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    const T f = r.s(0, j), rr = r.s(1, j), u = r.s(2, j), o = r.s(3, j);
    const T g = T(2) * rr * f + (T(1) - T(2) * rr) * f * f;
    const T tc = tanh_(r.c[j]);
    const T dc = carry + dh * o * (T(1) - tc * tc);
    carry = dc * g;
    const T dg = dc * (r.c_prev[j] - u);
    r.dx[j] = dg * T(2) * (rr + (T(1) - T(2) * rr) * f) * f * (T(1) - f);
    r.dx[r.H + j] = dg * T(2) * f * (T(1) - f) * rr * (T(1) - rr);
    r.dx[2 * r.H + j] = dc * (T(1) - g) * (T(1) - u * u);
    r.dx[3 * r.H + j] = dh * tc * o * (T(1) - o);
  }
};

// rows [r, f, ρ, n], forget_bias b_F: f = σ(·+b_F), ρ = σ(·−b_F), g = 2ρf + (1−2ρ)f²,
// n = tanh(xn + r⊙hn), h_t = g⊙h_{t-1} + (1−g)⊙n; saves r, f, ρ, n, hn
struct UrGru {
  static constexpr const char* kName = "urgru";
  static constexpr int G = 4, S = 5, E = 1;
  static constexpr bool kCell = false, kSplit = true;
  template <class T, bool kSave>
  static inline void forward(const FwdRow<T>& r, long j) {
    const T bf = r.e0[j];
    const T rr = sigmoid_(r.pre(0, j)), f = sigmoid_(r.pre(1, j) + bf), p = sigmoid_(r.pre(2, j) - bf);
    const T hn = r.hg[3 * r.hs + j];
    const T n = tanh_(r.xg(3, j) + rr * hn);
    const T g = T(2) * p * f + (T(1) - T(2) * p) * f * f;
    r.h[j] = n + g * (r.h_prev[j] - n);
    if (kSave) {
      r.save[j] = rr;
      r.save[r.H + j] = f;
      r.save[2 * r.H + j] = p;
      r.save[3 * r.H + j] = n;
      r.save[4 * r.H + j] = hn;
    }
  }
  template <class T>
  static inline void backward(const BwdRow<T>& r, long j, T dh, T& carry) {
    const T rr = r.s(0, j), f = r.s(1, j), p = r.s(2, j), n = r.s(3, j), hn = r.s(4, j);
    const T g = T(2) * p * f + (T(1) - T(2) * p) * f * f;
    dh += carry;
    carry = dh * g;
    const T dg = dh * (r.h_prev[j] - n);
    const T dn = dh * (T(1) - g) * (T(1) - n * n);
    const T dr = dn * hn * rr * (T(1) - rr);
    const T df = dg * T(2) * (p + (T(1) - T(2) * p) * f) * f * (T(1) - f);
    const T dp = dg * T(2) * f * (T(1) - f) * p * (T(1) - p);
    r.dx[j] = dr;
    r.dx[r.H + j] = df;
    r.dx[2 * r.H + j] = dp;
    r.dx[3 * r.H + j] = dn;
    r.dh[j] = dr;
    r.dh[r.H + j] = df;
    r.dh[2 * r.H + j] = dp;
    r.dh[3 * r.H + j] = dn * rr;
  }
};

// Every cell with a fused kernel, in the order of `kernel_info()` (its index is the kernel id).
#define RNNKIT_CELLS(X) X(RnnTanh) X(RnnRelu) X(Lstm) X(Gru) X(UrLstm) X(UrGru)

}  // namespace rnnkit
