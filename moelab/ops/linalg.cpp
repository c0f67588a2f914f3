// Matrix products: argument checks and shape logic here, the batched GEMM in the backend.
// Backward beside each forward: for C = A @ B, dA = dC @ B^T and dB = A^T @ dC (each summed over
// the batch dims that were broadcast), written with these same recorded ops, so double backward works.
#include "moelab/ops/linalg.h"

#include "moelab/autograd/function.h"
#include "moelab/backends/linalg_kernels.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
using detail::backend_of;

namespace {

// Both operands defined, on one device, of one dtype that GEMM supports.
void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  detail::check_same_device({&a, &b}, op);
  MOELAB_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have one dtype, got ", a.dtype(), " ",
               a.shape(), " and ", b.dtype(), " ", b.shape());
  const DType t = a.dtype();
  MOELAB_CHECK(t == kF32 || t == kF64 || t == kI32 || t == kI64, op, ": dtype ", t,
               " is not supported (f32, f64, i32 and i64 are)", t == kBF16 || t == kF16 ? "; convert with .to(kF32)" : "");
}

void check_inner(const Tensor& a, const Tensor& b, int64_t ka, int64_t kb, const char* op) {
  MOELAB_CHECK(ka == kb, op, ": ", a.shape(), " @ ", b.shape(), ": inner sizes ", ka, " and ", kb, " differ");
}

// True when dims [0, ndim - 1) of t merge into one without a copy, so a stack of matrices sharing
// one right operand can run as a single tall GEMM.
bool leading_dims_fold(const Tensor& t) {
  int64_t expected = -1;  // the stride the next outer dim needs
  for (int d = t.dim() - 2; d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (expected != -1 && t.stride(d) != expected) return false;
    expected = t.stride(d) * t.size(d);
  }
  return true;
}

// out = a @ b for stacks whose batch dims already match (stride 0 where broadcast).
Tensor batched_gemm(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor out = make_empty(out_shape, a.dtype(), a.device());
  if (out.numel() > 0) backend_of(a).linalg().gemm(out, a, b, 1.0, 0.0);
  return out;
}

// A saved input, kept only when the gradient that reads it will be computed.
autograd::SavedVariable save_if(const Tensor& t, bool needed) {
  return needed ? autograd::SavedVariable(t, false) : autograd::SavedVariable();
}

// Records a two-operand product whose backward is (ga, gb) = backward(g, a, b); a is saved when b
// needs a gradient, b when a does.
template <class Backward>
void record_product(const char* name, const Tensor& a, const Tensor& b, Tensor& out, Backward backward) {
  if (!autograd::needs_grad({&a, &b})) return;
  // The result shares no storage with the inputs: it is not a view for in-place checks.
  out.impl()->set_is_view(false);
  autograd::record_op(name, {&a, &b}, {&out}, {save_if(a, b.requires_grad()), save_if(b, a.requires_grad())},
                      [backward](autograd::FunctionNode::Context& c, const std::vector<Tensor>& g) {
                        return backward(c, g[0], c.saved(0), c.saved(1));
                      });
}

// The non-recording forward of matmul for at least one operand of 2+ dims.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  // Vectors become 1-row / 1-column matrices; that dim is dropped again at the end.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int na = a2.dim(), nb = b2.dim();
  const int64_t m = a2.size(na - 2), k = a2.size(na - 1), n = b2.size(nb - 1);
  check_inner(a, b, k, b2.size(nb - 2), "matmul");

  // Batch dims broadcast, numpy style.
  const int nbatch = std::max(na, nb) - 2;
  Shape batch = Dims::filled(nbatch, 1);
  for (int i = 0; i < nbatch; ++i) {
    const int da = na - 2 - nbatch + i, db = nb - 2 - nbatch + i;
    const int64_t sa = da >= 0 ? a2.size(da) : 1, sb = db >= 0 ? b2.size(db) : 1;
    MOELAB_CHECK(sa == sb || sa == 1 || sb == 1, "matmul: the batch dims of ", a.shape(), " and ", b.shape(),
                 " do not broadcast (", sa, " vs ", sb, " at batch dim ", i, ")");
    batch[i] = sa == 1 ? sb : sa;
  }
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);

  Tensor out;
  if (nb == 2 && na > 2 && leading_dims_fold(a2)) {
    // [..., m, k] @ [k, n]: one [(... m), k] @ [k, n] GEMM, as for a linear layer.
    int64_t rows = 1;
    for (int d = 0; d < na - 1; ++d) rows *= a2.size(d);
    const Tensor flat = a2.view({rows, k});
    out = batched_gemm(flat, b2, {flat.size(0), n}).view(out_shape);
  } else {
    Shape sa = batch, sb = batch;
    sa.push_back(m);
    sa.push_back(k);
    sb.push_back(k);
    sb.push_back(n);
    out = batched_gemm(a2.expand(sa), b2.expand(sb), out_shape);
  }
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);
  return out;
}

// The gradients of matmul(a, b) for g of the output's shape (a or b may be 1-D, not both).
std::vector<Tensor> matmul_backward(const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& a,
                                    const Tensor& b, const Shape& a_shape, const Shape& b_shape) {
  const bool a_vec = a_shape.size() == 1, b_vec = b_shape.size() == 1;
  // Work on the matrix forms: vectors as 1-row / 1-column matrices, g with those dims back.
  Tensor g2 = a_vec ? g.unsqueeze(-2) : g;
  if (b_vec) g2 = g2.unsqueeze(-1);
  std::vector<Tensor> r(2);
  if (c.needs_input_grad(0)) {
    const Tensor b2 = b_vec ? b.unsqueeze(1) : b;
    Shape a2_shape = a_shape;
    if (a_vec) a2_shape.insert(0, 1);
    r[0] = sum_to(matmul(g2, b2.transpose(-1, -2)), a2_shape).reshape(a_shape);
  }
  if (c.needs_input_grad(1)) {
    const Tensor a2 = a_vec ? a.unsqueeze(0) : a;
    Shape b2_shape = b_shape;
    if (b_vec) b2_shape.push_back(1);
    if (b2_shape.size() == 2 && a2.dim() > 2) {
      // A stack against one matrix (a linear layer): one GEMM over the flattened rows.
      const int64_t k = a2.size(-1), n = g2.size(-1);
      r[1] = mm(a2.reshape({-1, k}).t(), g2.reshape({-1, n})).reshape(b_shape);
    } else {
      r[1] = sum_to(matmul(a2.transpose(-1, -2), g2), b2_shape).reshape(b_shape);
    }
  }
  return r;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "matmul");
  MOELAB_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got shapes ", a.shape(),
               " and ", b.shape());
  if (a.dim() == 1 && b.dim() == 1) return dot(a, b);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = matmul_nd(a, b);
  }
  const Shape sa = a.shape(), sb = b.shape();
  record_product("matmul", a, b, out,
                 [sa, sb](const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x, const Tensor& y) {
                   return matmul_backward(c, g, x, y, sa, sb);
                 });
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "mm");
  MOELAB_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D matrices, got shapes ", a.shape(), " and ",
               b.shape());
  check_inner(a, b, a.size(1), b.size(0), "mm");
  Tensor out = batched_gemm(a, b, {a.size(0), b.size(1)});
  record_product("mm", a, b, out, [](const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x,
                                     const Tensor& y) {
    std::vector<Tensor> r(2);
    if (c.needs_input_grad(0)) r[0] = mm(g, y.t());
    if (c.needs_input_grad(1)) r[1] = mm(x.t(), g);
    return r;
  });
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "bmm");
  MOELAB_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got shapes ", a.shape(), " and ",
               b.shape());
  MOELAB_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: ", a.shape(), " and ", b.shape(),
               " (bmm does not broadcast; use matmul)");
  check_inner(a, b, a.size(2), b.size(1), "bmm");
  Tensor out = batched_gemm(a, b, {a.size(0), a.size(1), b.size(2)});
  record_product("bmm", a, b, out, [](const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x,
                                      const Tensor& y) {
    std::vector<Tensor> r(2);
    if (c.needs_input_grad(0)) r[0] = bmm(g, y.transpose(1, 2));
    if (c.needs_input_grad(1)) r[1] = bmm(x.transpose(1, 2), g);
    return r;
  });
  return out;
}

Tensor mv(const Tensor& a, const Tensor& v) {
  check_operands(a, v, "mv");
  MOELAB_CHECK(a.dim() == 2 && v.dim() == 1, "mv: expected a 2-D matrix and a 1-D vector, got shapes ", a.shape(),
               " and ", v.shape());
  check_inner(a, v, a.size(1), v.size(0), "mv");
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = batched_gemm(a, v.unsqueeze(1), {a.size(0), 1}).view({a.size(0)});
  }
  record_product("mv", a, v, out, [](const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x,
                                     const Tensor& y) {
    std::vector<Tensor> r(2);
    if (c.needs_input_grad(0)) r[0] = outer(g, y);
    if (c.needs_input_grad(1)) r[1] = mv(x.t(), g);
    return r;
  });
  return out;
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "dot");
  MOELAB_CHECK(a.dim() == 1 && b.dim() == 1, "dot: expected two 1-D tensors, got shapes ", a.shape(), " and ",
               b.shape());
  MOELAB_CHECK(a.size(0) == b.size(0), "dot: sizes differ: ", a.shape(), " and ", b.shape());
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = batched_gemm(a.unsqueeze(0), b.unsqueeze(1), {1, 1}).view(Shape{});
  }
  record_product("dot", a, b, out, [](const autograd::FunctionNode::Context& c, const Tensor& g, const Tensor& x,
                                      const Tensor& y) {
    std::vector<Tensor> r(2);
    if (c.needs_input_grad(0)) r[0] = g * y;
    if (c.needs_input_grad(1)) r[1] = g * x;
    return r;
  });
  return out;
}

Tensor outer(const Tensor& a, const Tensor& b) {
  detail::check_same_device({&a, &b}, "outer");
  MOELAB_CHECK(a.dim() == 1 && b.dim() == 1, "outer: expected two 1-D tensors, got shapes ", a.shape(), " and ",
               b.shape());
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

}  // namespace moelab
