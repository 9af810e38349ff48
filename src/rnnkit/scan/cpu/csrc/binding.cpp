// rnnkit fused CPU kernels: the Python binding. Checks arguments, allocates outputs and calls the
// drivers of forward.cpp / backward.cpp / step.cpp; no math here. Shape legend in common.h.
#include <torch/extension.h>

#include <vector>

#include "cells.h"
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

// -> [out (T,B,P), h_n (B,P), c_n (B,H) | None, saved (T,B,S*H) | None, cs (T,B,H) | None,
//     hraw (T,B,H) | None]; the last three only when training.
std::vector<Tensor> forward(int64_t kernel, const Tensor& xg, const Tensor& h0, const OptTensor& c0,
                            const Tensor& w_hh, const OptTensor& b_hh, const OptTensor& w_hr,
                            const OptTensor& e0, const OptTensor& lengths, bool training, int64_t threads) {
  std::vector<Tensor> res(6);
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    TORCH_CHECK(xg.dim() == 3, "xg must be (T, B, G*H), got ", xg.sizes());
    const int64_t steps = xg.size(0), B = xg.size(1), H = xg.size(2) / Cell::G;
    TORCH_CHECK(steps > 0 && B > 0 && H > 0 && xg.size(2) == Cell::G * H, "xg must be (T, B, ", Cell::G,
                "*H), got ", xg.sizes());
    check(xg, "xg", xg, {steps, B, Cell::G * H});
    const bool proj = w_hr.has_value() && w_hr->defined();
    const int64_t P = proj ? w_hr->size(0) : H;
    check(h0, "h0", xg, {B, P});
    check(w_hh, "w_hh", xg, {Cell::G * H, P});
    if (b_hh.has_value() && b_hh->defined()) check(*b_hh, "b_hh", xg, {Cell::G * H});
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
    Tensor out = at::empty({steps, B, P}, opts), hn = at::empty({B, P}, opts);
    Tensor cn = Cell::kCell ? at::empty({B, H}, opts) : Tensor();
    Tensor save = training && Cell::S ? at::empty({steps, B, Cell::S * H}, opts) : Tensor();
    Tensor cs = training && Cell::kCell ? at::empty({steps, B, H}, opts) : Tensor();
    Tensor hraw = training && proj ? at::empty({steps, B, H}, opts) : Tensor();
    dispatch_dtype(xg, [&](auto zero) {
      using T = decltype(zero);
      FwdArgs<T> a{steps, B, H, P, static_cast<int>(threads), xg.data_ptr<T>(), h0.data_ptr<T>(),
                   ptr<T>(c0), w_hh.data_ptr<T>(), ptr<T>(b_hh), ptr<T>(w_hr), ptr<T>(e0), lens,
                   out.data_ptr<T>(), hn.data_ptr<T>(), ptr<T>(cn), ptr<T>(save), ptr<T>(cs), ptr<T>(hraw)};
      py::gil_scoped_release nogil;
      scan_forward<Cell, T>(a);
    });
    res = {out, hn, cn, save, cs, hraw};
  });
  return res;
}

// -> [dxg (T,B,G*H), dhg (T,B,G*H) (dxg itself unless the cell is split), dh0 (B,P), dc0 (B,H) | None,
//     dH (T,B,P) | None (with a projection)]
std::vector<Tensor> backward(int64_t kernel, const Tensor& w_hh, const OptTensor& w_hr, const OptTensor& e0,
                             const OptTensor& lengths, const Tensor& h0, const OptTensor& c0,
                             const Tensor& out, const OptTensor& save, const OptTensor& cs,
                             const OptTensor& hraw, const Tensor& dout, const Tensor& dhn,
                             const OptTensor& dcn, int64_t threads) {
  std::vector<Tensor> res(5);
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    const int64_t steps = out.size(0), B = out.size(1), P = out.size(2), H = w_hh.size(0) / Cell::G;
    const bool proj = w_hr.has_value() && w_hr->defined();
    check(w_hh, "w_hh", out, {Cell::G * H, P});
    check(out, "out", out, {steps, B, P});
    check(h0, "h0", out, {B, P});
    check(dout, "dout", out, {steps, B, P});
    check(dhn, "dhn", out, {B, P});
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
    Tensor dxg = at::empty({steps, B, Cell::G * H}, opts);
    Tensor dhg = Cell::kSplit ? at::empty({steps, B, Cell::G * H}, opts) : dxg;
    Tensor dh0 = at::empty({B, P}, opts);
    Tensor dc0 = Cell::kCell ? at::empty({B, H}, opts) : Tensor();
    Tensor dH = proj ? at::empty({steps, B, P}, opts) : Tensor();
    dispatch_dtype(out, [&](auto zero) {
      using T = decltype(zero);
      BwdArgs<T> a{steps,           B,          H,           P,           static_cast<int>(threads),
                   w_hh.data_ptr<T>(), ptr<T>(w_hr), ptr<T>(e0), lens,      h0.data_ptr<T>(),
                   ptr<T>(c0),      out.data_ptr<T>(), ptr<T>(save), ptr<T>(cs), ptr<T>(hraw),
                   dout.data_ptr<T>(), dhn.data_ptr<T>(), ptr<T>(dcn), dxg.data_ptr<T>(), dhg.data_ptr<T>(),
                   dh0.data_ptr<T>(), ptr<T>(dc0), ptr<T>(dH)};
      py::gil_scoped_release nogil;
      scan_backward<Cell, T>(a);
    });
    res = {dxg, dhg, dh0, dc0, dH};
  });
  return res;
}

// weights: per layer [w_ih, b_ih, w_hh, b_hh, w_hr, extra], an empty tensor for a missing one.
// -> [h_out (L,B,P), c_out (L,B,H) | None]
std::vector<Tensor> step(int64_t kernel, const Tensor& x, const Tensor& h, const OptTensor& c,
                         const std::vector<Tensor>& weights, int64_t threads) {
  std::vector<Tensor> res(2);
  dispatch_cell(kernel, [&](auto cell) {
    using Cell = decltype(cell);
    TORCH_CHECK(x.dim() == 2 && h.dim() == 3, "x must be (B, I) and h (L, B, P)");
    const int64_t L = h.size(0), B = x.size(0), I = x.size(1), P = h.size(2);
    TORCH_CHECK(static_cast<int64_t>(weights.size()) == 6 * L, "weights must hold 6 tensors per layer");
    const int64_t H = weights[2].size(0) / Cell::G;
    const bool proj = weights[4].numel() > 0;
    TORCH_CHECK(proj || P == H, "without a projection P must equal H");
    check(x, "x", x, {B, I});
    check(h, "h", x, {L, B, P});
    if (Cell::kCell) {
      TORCH_CHECK(c.has_value() && c->defined(), "c is required by ", Cell::kName);
      check(*c, "c", x, {L, B, H});
    }
    for (int64_t l = 0; l < L; ++l) {
      const Tensor* w = weights.data() + 6 * l;
      check(w[0], "w_ih", x, {Cell::G * H, l ? P : I});
      if (w[1].numel()) check(w[1], "b_ih", x, {Cell::G * H});
      check(w[2], "w_hh", x, {Cell::G * H, P});
      if (w[3].numel()) check(w[3], "b_hh", x, {Cell::G * H});
      if (proj) check(w[4], "w_hr", x, {P, H});
      if (Cell::E) check(w[5], "extra", x, {H});
    }
    auto opts = x.options();
    Tensor h_out = at::empty({L, B, P}, opts);
    Tensor c_out = Cell::kCell ? at::empty({L, B, H}, opts) : Tensor();
    dispatch_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      std::vector<const T*> p(6 * L);
      for (int64_t k = 0; k < 6 * L; ++k) p[k] = weights[k].numel() ? weights[k].data_ptr<T>() : nullptr;
      std::vector<const T*> w_ih(L), b_ih(L), w_hh(L), b_hh(L), w_hr(L), e0(L);
      for (int64_t l = 0; l < L; ++l) {
        w_ih[l] = p[6 * l];
        b_ih[l] = p[6 * l + 1];
        w_hh[l] = p[6 * l + 2];
        b_hh[l] = p[6 * l + 3];
        w_hr[l] = p[6 * l + 4];
        e0[l] = p[6 * l + 5];
      }
      StepArgs<T> a{L,           B,           I,           H,           P,
                    static_cast<int>(threads), x.data_ptr<T>(), h.data_ptr<T>(), ptr<T>(c), w_ih.data(),
                    b_ih.data(), w_hh.data(), b_hh.data(), w_hr.data(), e0.data(),
                    h_out.data_ptr<T>(), ptr<T>(c_out)};
      scan_step<Cell, T>(a);
    });
    res = {h_out, c_out};
  });
  return res;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnkit fused CPU kernels (forward/backward scans and a single step for any registered cell)";
  m.def("kernel_info", &kernel_info, "the cells with a fused kernel: name, G, S, E, cell_state, split");
  m.def("forward", &forward, "forward scan over a whole sequence");
  m.def("backward", &backward, "backward scan over a whole sequence");
  m.def("step", &step, "one time step of a stack of layers");
}
