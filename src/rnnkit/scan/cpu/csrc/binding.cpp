// rnnkit fused CPU kernels: the Python binding. Checks arguments, allocates outputs and calls the
// drivers of forward.cpp / backward.cpp / step.cpp; no math here. Shape legend in common.h.
#include <torch/extension.h>

#include <vector>

#include "cells.h"
#include "blas.h"
#include "scan.h"

namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;
using namespace rnnkit;

template <class Fn>
void dispatch_cell(int64_t kernel, Fn&& fn) {
  int64_t i = 0;
#define RNNKIT_DISPATCH(C) \
  if (kernel == i++) {     \
    fn(C{});               \
    return;                \
  }
  RNNKIT_CELLS(RNNKIT_DISPATCH)
#undef RNNKIT_DISPATCH
  TORCH_CHECK(false, "kernel must be an id from kernel_info(), got ", kernel);
}

template <class Fn>
void dispatch_dtype(const Tensor& ref, Fn&& fn) {
  if (ref.scalar_type() == at::kFloat)
    fn(float{});
  else if (ref.scalar_type() == at::kDouble)
    fn(double{});
  else
    TORCH_CHECK(false, "the cpu backend runs float32 and float64, got ", ref.scalar_type());
}

void check(const Tensor& t, const char* name, const Tensor& ref, std::vector<int64_t> shape) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU, got ", t.device());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), name, " must have dtype ", ref.scalar_type(), ", got ",
              t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), name, " must have shape ", at::IntArrayRef(shape),
              ", got ", t.sizes());
}

// A new uninitialised tensor; large ones come from the block pool (common.h), on 2 MiB pages.
Tensor empty(at::IntArrayRef shape, const at::TensorOptions& opts) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const size_t bytes = static_cast<size_t>(n) * opts.dtype().itemsize();
  if (bytes < BlockPool::kMin) return at::empty(shape, opts);
  void* p = BlockPool::instance().get(bytes);
  return at::from_blob(p, shape, [bytes](void* q) { BlockPool::instance().put(q, bytes); }, opts);
}

template <class T>
const T* ptr(const OptTensor& t) {
  return t.has_value() && t->defined() ? t->data_ptr<T>() : nullptr;
}

template <class T>
T* ptr(Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

const int64_t* lengths_ptr(const OptTensor& lengths, int64_t B, int64_t steps) {
  if (!lengths.has_value() || !lengths->defined()) return nullptr;
  const Tensor& l = *lengths;
  TORCH_CHECK(l.scalar_type() == at::kLong && l.is_contiguous() && l.device().is_cpu() && l.dim() == 1 &&
                  l.size(0) == B,
              "lengths must be a contiguous CPU int64 tensor of shape (", B, ")");
  const int64_t* p = l.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK(p[b] >= 1 && p[b] <= steps, "lengths must lie in [1, ", steps, "], got ", p[b]);
  return p;
}

py::list kernel_info() {
  py::list out;
#define RNNKIT_INFO(C)                                                                              \
  out.append(py::dict(py::arg("name") = C::kName, py::arg("G") = C::G, py::arg("S") = C::S,         \
                      py::arg("E") = C::E, py::arg("cell_state") = C::kCell, py::arg("split") = C::kSplit));
  RNNKIT_CELLS(RNNKIT_INFO)
#undef RNNKIT_INFO
  return out;
}

// The layer's input projection xg = x · w_ihᵀ + b_ih (T, B, G*H) as one large GEMM.
Tensor input_projection(const Tensor& x, const Tensor& w_ih, const OptTensor& b_ih, int64_t threads) {
  const int64_t steps = x.size(0), B = x.size(1), I = x.size(2), GH = w_ih.size(0);
  Tensor xg = empty({steps, B, GH}, x.options());
  dispatch_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    matmul<T>(steps * B, GH, I, {x.data_ptr<T>(), I, false}, {w_ih.data_ptr<T>(), I, true}, xg.data_ptr<T>(),
              GH, ptr<T>(b_ih), false, static_cast<int>(threads));
  });
  return xg;
}

// x (T,B,I) with w_ih (G*H,I) and b_ih, or x = xg (T,B,G*H) without w_ih. `split`: the scan's thread
// layout, 0 = chosen per call, 1 = batch rows, 2 = hidden units (common.h).
// -> [out (T,B,P), h_n (B,P), c_n (B,H) | None, saved (T,B,S*H) | None, cs (T,B,H) | None,
//     hraw (T,B,H) | None]; the last three only when training.
std::vector<Tensor> forward(int64_t kernel, const Tensor& x, const OptTensor& w_ih, const OptTensor& b_ih,
                            const Tensor& h0, const OptTensor& c0, const Tensor& w_hh, const OptTensor& b_hh,
                            const OptTensor& w_hr, const OptTensor& e0, const OptTensor& lengths, bool training,
                            int64_t gemm_threads, int64_t scan_threads, int64_t split) {
  std::vector<Tensor> res(6);
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    const int64_t GH = w_hh.size(0), H = GH / Cell::G;
    TORCH_CHECK(w_hh.dim() == 2 && H > 0 && GH == Cell::G * H, "w_hh must be (", Cell::G, "*H, P), got ",
                w_hh.sizes());
    py::gil_scoped_release nogil;
    TORCH_CHECK(x.dim() == 3 && x.size(0) > 0 && x.size(1) > 0, "x must be (T, B, I), got ", x.sizes());
    const int64_t steps = x.size(0), B = x.size(1);
    // W x + b_ih: without w_ih, x is xg (T, B, G*H) already; with it, either one large GEMM into xg, or
    // (batches of >= 16 rows, where the per-step GEMM is as efficient) step by step inside the scan, which
    // saves writing and reading the (T, B, G*H) buffer
    const bool has_w_ih = w_ih.has_value() && w_ih->defined();
    const int64_t I = has_w_ih ? x.size(2) : 0;
    check(x, "x", x, {steps, B, has_w_ih ? I : GH});
    if (has_w_ih) {
      check(*w_ih, "w_ih", x, {GH, I});
      if (b_ih.has_value() && b_ih->defined()) check(*b_ih, "b_ih", x, {GH});
    }
    const bool by_step = has_w_ih && B >= 16;  // measured: 2-5% faster at B >= 16, slower at B = 1
    const Tensor xg = has_w_ih && !by_step ? input_projection(x, *w_ih, b_ih, gemm_threads) : x;
    const bool proj = w_hr.has_value() && w_hr->defined();
    const int64_t P = proj ? w_hr->size(0) : H;
    check(h0, "h0", xg, {B, P});
    check(w_hh, "w_hh", xg, {GH, P});
    if (b_hh.has_value() && b_hh->defined()) check(*b_hh, "b_hh", xg, {GH});
    if (proj) check(*w_hr, "w_hr", xg, {P, H});
    if (Cell::kCell) {
      TORCH_CHECK(c0.has_value() && c0->defined(), "c0 is required by ", Cell::kName);
      check(*c0, "c0", xg, {B, H});
    }
    if (Cell::E) {
      TORCH_CHECK(e0.has_value() && e0->defined(), "the extra tensor is required by ", Cell::kName);
      check(*e0, "extra", xg, {H});
    }
    const int64_t* lens = lengths_ptr(lengths, B, steps);
    auto opts = xg.options();
    Tensor out = empty({steps, B, P}, opts), hn = empty({B, P}, opts);
    Tensor cn = Cell::kCell ? empty({B, H}, opts) : Tensor();
    Tensor save = training && Cell::S ? empty({steps, B, Cell::S * H}, opts) : Tensor();
    Tensor cs = training && Cell::kCell ? empty({steps, B, H}, opts) : Tensor();
    Tensor hraw = training && proj ? empty({steps, B, H}, opts) : Tensor();
    dispatch_dtype(xg, [&](auto zero) {
      using T = decltype(zero);
      FwdArgs<T> a{steps, B, H, P, static_cast<int>(scan_threads), static_cast<int>(split),
                   by_step ? nullptr : xg.data_ptr<T>(), by_step ? x.data_ptr<T>() : nullptr,
                   by_step ? w_ih->data_ptr<T>() : nullptr, by_step ? ptr<T>(b_ih) : nullptr, I,
                   h0.data_ptr<T>(),
                   ptr<T>(c0), w_hh.data_ptr<T>(), ptr<T>(b_hh), ptr<T>(w_hr), ptr<T>(e0), lens,
                   out.data_ptr<T>(), hn.data_ptr<T>(), ptr<T>(cn), ptr<T>(save), ptr<T>(cs), ptr<T>(hraw)};
      scan_forward<Cell, T>(a);
    });
    res = {out, hn, cn, save, cs, hraw};
  });
  return res;
}

// The backward pass of `forward`, with every gradient asked for in `need` (booleans for
// [x, w_ih, b_ih, w_hh, b_hh, w_hr]; dh0 and dc0 are always computed).
// -> [dx (T,B,I) or dxg (T,B,G*H) without w_ih, dw_ih, db_ih, dh0 (B,P), dc0 (B,H), dw_hh, db_hh, dw_hr],
//    None where not asked for or not applicable.
std::vector<Tensor> backward(int64_t kernel, const Tensor& x, const OptTensor& w_ih, bool has_b_ih,
                             const Tensor& w_hh, bool has_b_hh, const OptTensor& w_hr, const OptTensor& e0,
                             const OptTensor& lengths, const Tensor& h0, const OptTensor& c0, const Tensor& out,
                             const OptTensor& save, const OptTensor& cs, const OptTensor& hraw, const Tensor& dout,
                             const Tensor& dhn, const OptTensor& dcn, std::vector<bool> need,
                             int64_t gemm_threads, int64_t scan_threads, int64_t split) {
  std::vector<Tensor> res(8);
  TORCH_CHECK(need.size() == 6, "need must hold 6 flags");
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    const int64_t steps = out.size(0), B = out.size(1), P = out.size(2), GH = w_hh.size(0), H = GH / Cell::G;
    const bool proj = w_hr.has_value() && w_hr->defined();
    const bool has_w_ih = w_ih.has_value() && w_ih->defined();
    check(w_hh, "w_hh", out, {GH, P});
    check(out, "out", out, {steps, B, P});
    check(h0, "h0", out, {B, P});
    check(dout, "dout", out, {steps, B, P});
    check(dhn, "dhn", out, {B, P});
    if (has_w_ih) {
      check(x, "x", out, {steps, B, x.size(2)});
      check(*w_ih, "w_ih", out, {GH, x.size(2)});
    }
    if (proj) {
      check(*w_hr, "w_hr", out, {P, H});
      TORCH_CHECK(hraw.has_value() && hraw->defined(), "hraw is required with a projection");
      check(*hraw, "hraw", out, {steps, B, H});
    } else {
      TORCH_CHECK(P == H, "without a projection P must equal H");
    }
    if (Cell::S) {
      TORCH_CHECK(save.has_value() && save->defined(), "saved values are required by ", Cell::kName);
      check(*save, "saved", out, {steps, B, Cell::S * H});
    }
    if (Cell::kCell) {
      TORCH_CHECK(c0.has_value() && cs.has_value() && dcn.has_value(), "c0, cs and dcn are required by ",
                  Cell::kName);
      check(*c0, "c0", out, {B, H});
      check(*cs, "cs", out, {steps, B, H});
      check(*dcn, "dcn", out, {B, H});
    }
    if (Cell::E) {
      TORCH_CHECK(e0.has_value() && e0->defined(), "the extra tensor is required by ", Cell::kName);
      check(*e0, "extra", out, {H});
    }
    const int64_t* lens = lengths_ptr(lengths, B, steps);
    auto opts = out.options();
    py::gil_scoped_release nogil;
    Tensor dxg = empty({steps, B, GH}, opts);
    Tensor dhg = Cell::kSplit ? empty({steps, B, GH}, opts) : dxg;
    Tensor dh0 = empty({B, P}, opts);
    Tensor dc0 = Cell::kCell ? empty({B, H}, opts) : Tensor();
    Tensor dH = proj ? empty({steps, B, P}, opts) : Tensor();
    Tensor dx, dw_ih, db_ih, dw_hh, db_hh, dw_hr;
    dispatch_dtype(out, [&](auto zero) {
      using T = decltype(zero);
      BwdArgs<T> a{steps,           B,          H,           P,           static_cast<int>(scan_threads),
                   static_cast<int>(split),
                   w_hh.data_ptr<T>(), ptr<T>(w_hr), ptr<T>(e0), lens,      h0.data_ptr<T>(),
                   ptr<T>(c0),      out.data_ptr<T>(), ptr<T>(save), ptr<T>(cs), ptr<T>(hraw),
                   dout.data_ptr<T>(), dhn.data_ptr<T>(), ptr<T>(dcn), dxg.data_ptr<T>(), dhg.data_ptr<T>(),
                   dh0.data_ptr<T>(), ptr<T>(dc0), ptr<T>(dH)};
      scan_backward<Cell, T>(a);
      const int nt = static_cast<int>(gemm_threads);
      const int64_t TB = steps * B;
      if (has_w_ih) {
        const int64_t I = x.size(2);
        if (need[0]) {  // dx = dxg · w_ih
          dx = empty({steps, B, I}, opts);
          matmul<T>(TB, I, GH, {dxg.data_ptr<T>(), GH, false}, {w_ih->data_ptr<T>(), I, false},
                    dx.data_ptr<T>(), I, nullptr, false, nt);
        }
        if (need[1]) {  // dw_ih = dxgᵀ · x
          dw_ih = empty({GH, I}, opts);
          matmul<T>(GH, I, TB, {dxg.data_ptr<T>(), GH, true}, {x.data_ptr<T>(), I, false},
                    dw_ih.data_ptr<T>(), I, nullptr, false, nt);
        }
        if (need[2] && has_b_ih) db_ih = dxg.sum({0, 1});
      } else if (need[0]) {
        dx = dxg;
      }
      if (need[3]) {  // dw_hh = Σ_t dhg_tᵀ h_{t-1}, h_{t-1} = out[t-1] (h0 at t = 0)
        dw_hh = empty({GH, P}, opts);
        T* dw = dw_hh.data_ptr<T>();
        const T* g = dhg.data_ptr<T>();
        matmul<T>(GH, P, B, {g, GH, true}, {h0.data_ptr<T>(), P, false}, dw, P, nullptr, false, nt);
        matmul<T>(GH, P, TB - B, {g + B * GH, GH, true}, {out.data_ptr<T>(), P, false}, dw, P, nullptr, true, nt);
      }
      if (need[4] && has_b_hh) db_hh = dhg.sum({0, 1});
      if (need[5] && proj) {  // dw_hr = Σ_t dH_tᵀ hraw_t
        dw_hr = empty({P, H}, opts);
        matmul<T>(P, H, TB, {dH.data_ptr<T>(), P, true}, {hraw->data_ptr<T>(), H, false}, dw_hr.data_ptr<T>(),
                  H, nullptr, false, nt);
      }
    });
    res = {dx, dw_ih, db_ih, dh0, dc0, dw_hh, db_hh, dw_hr};
  });
  return res;
}

// C (M, N) = op(a) · op(b) with rnnkit's GEMM (benchmarks: the machine's peak).
Tensor mm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, int64_t threads) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.is_contiguous() && b.is_contiguous(), "a, b: contiguous 2-D");
  const int64_t M = trans_a ? a.size(1) : a.size(0), K = trans_a ? a.size(0) : a.size(1);
  const int64_t N = trans_b ? b.size(0) : b.size(1);
  TORCH_CHECK((trans_b ? b.size(1) : b.size(0)) == K, "inner dimensions differ");
  TORCH_CHECK(b.scalar_type() == a.scalar_type(), "a and b must have the same dtype");
  Tensor c = empty({M, N}, a.options());
  py::gil_scoped_release nogil;
  dispatch_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    matmul<T>(M, N, K, {a.data_ptr<T>(), a.size(1), trans_a}, {b.data_ptr<T>(), b.size(1), trans_b},
              c.data_ptr<T>(), N, nullptr, false, static_cast<int>(threads));
  });
  return c;
}

// weights: per layer [w_ih, b_ih, w_hh, b_hh, w_hr, extra], an empty tensor for a missing one.
StepPackShape step_shape(int64_t G, const std::vector<Tensor>& weights, int64_t threads) {
  TORCH_CHECK(!weights.empty() && weights.size() % 6 == 0, "weights must hold 6 tensors per layer");
  const int64_t L = static_cast<int64_t>(weights.size()) / 6;
  const Tensor& w_ih = weights[0];
  const Tensor& w_hh = weights[2];
  TORCH_CHECK(w_ih.dim() == 2 && w_hh.dim() == 2, "w_ih and w_hh must be 2-D");
  const int64_t H = w_hh.size(0) / G, P = w_hh.size(1), I = w_ih.size(1);
  const bool proj = weights[4].numel() > 0, bias = weights[1].numel() > 0 || weights[3].numel() > 0;
  TORCH_CHECK(proj || P == H, "without a projection P must equal H");
  for (int64_t l = 0; l < L; ++l) {
    const Tensor* w = weights.data() + 6 * l;
    check(w[0], "w_ih", w_ih, {G * H, l ? P : I});
    if (w[1].numel()) check(w[1], "b_ih", w_ih, {G * H});
    check(w[2], "w_hh", w_ih, {G * H, P});
    if (w[3].numel()) check(w[3], "b_hh", w_ih, {G * H});
    if (proj) check(w[4], "w_hr", w_ih, {P, H});
  }
  return {L, I, H, P, G, static_cast<int>(threads), proj, bias};
}

// -> per layer [w_ih, b_ih, w_hh, b_hh, w_hr] packed for `step` with `threads` threads.
std::vector<Tensor> pack_for_step(int64_t kernel, const std::vector<Tensor>& weights, int64_t threads) {
  std::vector<Tensor> res;
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    const StepPackShape s = step_shape(Cell::G, weights, threads);
    auto opts = weights[0].options();
    for (int64_t l = 0; l < s.L; ++l) {
      long sizes[5];
      s.sizes(l, static_cast<int>(weights[0].element_size()), sizes);
      Tensor parts[5];
      for (int k = 0; k < 5; ++k) parts[k] = empty({sizes[k]}, opts);
      dispatch_dtype(weights[0], [&](auto zero) {
        using T = decltype(zero);
        const Tensor* w = weights.data() + 6 * l;
        auto p = [&](const Tensor& t) { return t.numel() ? t.data_ptr<T>() : nullptr; };
        T* out[5];
        for (int k = 0; k < 5; ++k) out[k] = parts[k].data_ptr<T>();
        step_pack<T>(s, l, p(w[0]), p(w[1]), p(w[2]), p(w[3]), p(w[4]), out);
      });
      for (auto& t : parts) res.push_back(t);
    }
  });
  return res;
}

// One step of every layer with weights packed by `step_pack` (same weights and threads).
// -> [h_out (L,B,P), c_out (L,B,H) | None]
std::vector<Tensor> step(int64_t kernel, const Tensor& x, const Tensor& h, const OptTensor& c,
                         const std::vector<Tensor>& weights, const std::vector<Tensor>& packed, int64_t threads) {
  std::vector<Tensor> res(2);
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    const StepPackShape s = step_shape(Cell::G, weights, threads);
    const int64_t L = s.L, H = s.H, P = s.P;
    TORCH_CHECK(x.dim() == 2, "x must be (B, I), got ", x.sizes());
    const int64_t B = x.size(0);
    check(x, "x", weights[0], {B, s.I});
    check(h, "h", x, {L, B, P});
    if (Cell::kCell) {
      TORCH_CHECK(c.has_value() && c->defined(), "c is required by ", Cell::kName);
      check(*c, "c", x, {L, B, H});
    }
    TORCH_CHECK(static_cast<int64_t>(packed.size()) == 5 * L, "packed must hold 5 tensors per layer");
    for (int64_t l = 0; l < L; ++l) {
      long sizes[5];
      s.sizes(l, static_cast<int>(x.element_size()), sizes);
      for (int k = 0; k < 5; ++k)
        TORCH_CHECK(packed[5 * l + k].numel() == sizes[k] && packed[5 * l + k].scalar_type() == x.scalar_type() &&
                        packed[5 * l + k].is_contiguous(),
                    "packed weights do not match these weights and threads (pack them with step_pack)");
      if (Cell::E) check(weights[6 * l + 5], "extra", x, {H});
    }
    auto opts = x.options();
    Tensor h_out = empty({L, B, P}, opts);
    Tensor c_out = Cell::kCell ? empty({L, B, H}, opts) : Tensor();
    dispatch_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      std::vector<const T*> pk(5 * L), e0(L);
      for (int64_t k = 0; k < 5 * L; ++k) pk[k] = packed[k].numel() ? packed[k].data_ptr<T>() : nullptr;
      for (int64_t l = 0; l < L; ++l) e0[l] = Cell::E ? weights[6 * l + 5].data_ptr<T>() : nullptr;
      StepArgs<T> a{s,     B, x.data_ptr<T>(), h.data_ptr<T>(), ptr<T>(c), pk.data(), e0.data(),
                    h_out.data_ptr<T>(), ptr<T>(c_out)};
      scan_step<Cell, T>(a);
    });
    res = {h_out, c_out};
  });
  return res;
}

// Which GEMM runs each product class (gemm.h): modes[c] = 0 rnnkit's own, 1 the vendor's.
void set_gemm(std::vector<int64_t> modes) {
  TORCH_CHECK(modes.size() == kGemmClasses, "modes must hold ", int(kGemmClasses),
              " entries (step_vec, step, large)");
  for (int c = 0; c < kGemmClasses; ++c) {
    TORCH_CHECK(modes[c] == 0 || modes[c] == 1, "a GEMM mode is 0 (own) or 1 (vendor), got ", modes[c]);
    TORCH_CHECK(modes[c] == 0 || vendor_available(), "the vendor GEMM is not available in this torch build");
    gemm_modes()[c].store(static_cast<int>(modes[c]));
  }
}

py::dict gemm_info() {
  py::list modes;
  for (int c = 0; c < kGemmClasses; ++c) modes.append(gemm_modes()[c].load());
  return py::dict(py::arg("vendor_available") = vendor_available(), py::arg("modes") = modes,
                  py::arg("mr") = Tile<float>::MR, py::arg("nr") = Tile<float>::NR,
                  py::arg("vector_bytes") = RNNKIT_VBYTES,
                  py::arg("vendor_calls") = vendor_calls().load());
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnkit fused CPU kernels (forward/backward scans and a single step for any registered cell)";
  m.def("kernel_info", &kernel_info, "the cells with a fused kernel: name, G, S, E, cell_state, split");
  m.def("forward", &forward, "forward scan over a whole sequence");
  m.def("backward", &backward, "backward scan over a whole sequence");
  m.def("step_pack", &pack_for_step, "pack a layer stack's weights for step");
  m.def("step", &step, "one time step of a stack of layers");
  m.def("mm", &mm, "matrix product with the GEMM chosen for large products");
  m.def("set_gemm", &set_gemm, "choose the GEMM per product class: [step_vec, step, large], 0 own, 1 vendor");
  m.def("gemm_info", &gemm_info, "vendor GEMM availability, the current modes and the register tile");
}
