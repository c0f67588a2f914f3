// einsum: parse the equation into integer labels, take diagonals for repeated labels, then contract
// operands pairwise. Each pair becomes one batched matmul:
//   A -> [batch..., (A-only dims), (contracted dims)],  B -> [batch..., (contracted dims), (B-only dims)]
// after summing out any label that is used by neither the other operand nor anything later. The
// permutes are views, and the reshapes are views too when the grouped dims are laid out together, so
// "bhqd,bhkd->bhqk" reaches BLAS as a transposed operand without a copy.
#include <algorithm>
#include <array>
#include <string>

#include "moelab/autograd/function.h"
#include "moelab/ops/elementwise.h"
#include "moelab/ops/factory.h"
#include "moelab/ops/linalg.h"
#include "moelab/ops/op_helpers.h"
#include "moelab/ops/reduce.h"

namespace moelab {
namespace {

// Labels: 'A'-'Z' are 0-25 and 'a'-'z' 26-51 (so sorting ids sorts by ASCII, as PyTorch orders the
// implicit output); ellipsis dims are 52 + their position among the (right-aligned) ellipsis dims.
constexpr int kLetters = 52;
constexpr int kNumLabels = kLetters + kMaxDims;

int label_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

std::string label_name(int l) {
  if (l < 26) return std::string(1, static_cast<char>('A' + l));
  if (l < kLetters) return std::string(1, static_cast<char>('a' + l - 26));
  return "...";
}

// One side of "->", one operand's subscripts: letters and an optional ellipsis.
struct Subscripts {
  std::vector<int> before, after;  // labels before and after the ellipsis (all in `before` if none)
  bool ellipsis = false;
};

Subscripts parse_term(std::string_view term, std::string_view eq) {
  Subscripts s;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      MOELAB_CHECK(term.substr(i, 3) == "..." && !s.ellipsis, "einsum: invalid ellipsis in \"", eq,
                   "\" (use \"...\" at most once per operand)");
      s.ellipsis = true;
      i += 2;
      continue;
    }
    const int l = label_of(term[i]);
    MOELAB_CHECK(l >= 0, "einsum: invalid subscript '", term[i], "' in \"", eq,
                 "\" (subscripts are letters a-z, A-Z and \"...\")");
    (s.ellipsis ? s.after : s.before).push_back(l);
  }
  return s;
}

// The diagonal of t over dims d0 < d1 (of one size) as dim d0, dim d1 removed: a strided view.
// Recorded with the backward g -> g.unsqueeze(d1) * I, I the identity over dims d0 and d1, which is
// itself differentiable in g.
Tensor take_diagonal(const Tensor& t, int d0, int d1) {
  Shape shape = t.shape();
  Strides strides = t.strides();
  strides[d0] += strides[d1];
  shape.erase(d1);
  strides.erase(d1);
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = t.as_strided(shape, strides, t.offset());
  }
  if (autograd::needs_grad({&t})) {
    const int64_t n = t.size(d0);
    const int nd = t.dim();
    autograd::record_op("einsum_diagonal", {&t}, {&out}, {},
                        [n, nd, d0, d1](autograd::FunctionNode::Context&, const std::vector<Tensor>& g) {
                          Shape es = Dims::filled(nd, 1);
                          es[d0] = n;
                          es[d1] = n;
                          const Tensor id = eye(n, TensorOptions(g[0].dtype(), g[0].device())).view(es);
                          return std::vector<Tensor>{g[0].unsqueeze(d1) * id};
                        });
  }
  return out;
}

struct Term {
  Tensor t;
  std::vector<int> labels;  // one per dim of t, no repeats
};

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Sums out the dims whose label fails keep(label).
template <class Keep>
void sum_out(Term& term, Keep keep) {
  std::vector<int64_t> dims;
  std::vector<int> labels;
  for (size_t d = 0; d < term.labels.size(); ++d) {
    if (keep(term.labels[d])) labels.push_back(term.labels[d]);
    else dims.push_back(static_cast<int64_t>(d));
  }
  if (dims.empty()) return;
  term.t = sum(term.t, Dims(dims), false, term.t.dtype());
  term.labels = labels;
}

// Permutes t so that its labels come in `order` (every label of t appears there once).
Tensor permute_to(const Term& term, const std::vector<int>& order) {
  std::vector<int64_t> perm;
  for (int l : order)
    perm.push_back(std::find(term.labels.begin(), term.labels.end(), l) - term.labels.begin());
  return term.t.permute(Dims(perm));
}

// Contracts a and b into one term over the labels in `keep` (the output and later operands).
Term contract_pair(Term a, Term b, const std::array<bool, kNumLabels>& keep) {
  sum_out(a, [&](int l) { return keep[l] || contains(b.labels, l); });
  sum_out(b, [&](int l) { return keep[l] || contains(a.labels, l); });
  std::vector<int> batch, contracted, afree, bfree;
  std::array<int64_t, kNumLabels> size{};
  for (size_t d = 0; d < a.labels.size(); ++d) {
    const int l = a.labels[d];
    size[l] = a.t.size(static_cast<int64_t>(d));
    if (!contains(b.labels, l)) afree.push_back(l);
    else (keep[l] ? batch : contracted).push_back(l);
  }
  for (size_t d = 0; d < b.labels.size(); ++d) {
    const int l = b.labels[d];
    const int64_t sb = b.t.size(static_cast<int64_t>(d));
    if (!contains(a.labels, l)) {
      bfree.push_back(l);
      size[l] = sb;
      continue;
    }
    MOELAB_CHECK(size[l] == sb || size[l] == 1 || sb == 1, "einsum: subscript '", label_name(l),
                 "' has size ", size[l], " in one operand and ", sb, " in another (shapes ", a.t.shape(), " and ",
                 b.t.shape(), " after diagonals and sums)");
    size[l] = std::max(size[l], sb);
  }
  auto group = [&](const std::vector<int>& ls) {
    int64_t n = 1;
    for (int l : ls) n *= size[l];
    return n;
  };
  // Contracted dims of size 1 against size n are broadcast (stride 0); batch dims broadcast in matmul.
  auto expand_contracted = [&](const Tensor& t, const std::vector<int>& order) {
    Shape s = t.shape();
    for (size_t i = 0; i < order.size(); ++i)
      if (contains(contracted, order[i])) s[static_cast<int>(i)] = size[order[i]];
    return t.expand(s);
  };
  std::vector<int> a_order = batch, b_order = batch;
  a_order.insert(a_order.end(), afree.begin(), afree.end());
  a_order.insert(a_order.end(), contracted.begin(), contracted.end());
  b_order.insert(b_order.end(), contracted.begin(), contracted.end());
  b_order.insert(b_order.end(), bfree.begin(), bfree.end());
  Tensor ta = expand_contracted(permute_to(a, a_order), a_order);
  Tensor tb = expand_contracted(permute_to(b, b_order), b_order);
  Shape sa, sb, out_shape;
  for (size_t i = 0; i < batch.size(); ++i) {
    sa.push_back(ta.size(static_cast<int64_t>(i)));
    sb.push_back(tb.size(static_cast<int64_t>(i)));
    out_shape.push_back(size[batch[i]]);
  }
  sa.push_back(group(afree));
  sa.push_back(group(contracted));
  sb.push_back(group(contracted));
  sb.push_back(group(bfree));
  for (int l : afree) out_shape.push_back(size[l]);
  for (int l : bfree) out_shape.push_back(size[l]);
  Term r;
  r.t = matmul(ta.reshape(sa), tb.reshape(sb)).view(out_shape);
  r.labels = batch;
  r.labels.insert(r.labels.end(), afree.begin(), afree.end());
  r.labels.insert(r.labels.end(), bfree.begin(), bfree.end());
  return r;
}

}  // namespace

Tensor einsum(std::string_view equation, const std::vector<Tensor>& operands) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq.push_back(c);
  MOELAB_CHECK(!operands.empty(), "einsum: expected at least one operand for \"", eq, "\"");
  for (const Tensor& t : operands) {
    detail::check_defined(t, "einsum", "operand");
    MOELAB_CHECK(t.device() == operands[0].device() && t.dtype() == operands[0].dtype(),
                 "einsum: expected all operands on one device with one dtype, got ", operands[0].dtype(), " and ",
                 t.dtype());
  }
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  MOELAB_CHECK(arrow == std::string::npos || eq.find("->", arrow + 2) == std::string::npos,
               "einsum: more than one \"->\" in \"", eq, "\"");

  // Operand subscripts, with each ellipsis expanded into its right-aligned labels.
  std::vector<Term> terms;
  std::array<int, kNumLabels> count{};
  int ellipsis_dims = 0;
  std::vector<Subscripts> subs;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    subs.push_back(parse_term(std::string_view(lhs).substr(start, comma - start), eq));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  MOELAB_CHECK(subs.size() == operands.size(), "einsum: \"", eq, "\" has subscripts for ", subs.size(),
               " operands but ", operands.size(), " were given");
  for (size_t i = 0; i < subs.size(); ++i) {
    const int named = static_cast<int>(subs[i].before.size() + subs[i].after.size());
    const int nd = operands[i].dim();
    MOELAB_CHECK(subs[i].ellipsis ? named <= nd : named == nd, "einsum: operand ", i, " has shape ",
                 operands[i].shape(), " (", nd, " dims) but \"", eq, "\" gives it ", named, " subscripts");
    if (subs[i].ellipsis) ellipsis_dims = std::max(ellipsis_dims, nd - named);
  }
  for (size_t i = 0; i < subs.size(); ++i) {
    Term term{operands[i], subs[i].before};
    const int e = operands[i].dim() - static_cast<int>(subs[i].before.size() + subs[i].after.size());
    for (int j = 0; j < e; ++j) term.labels.push_back(kLetters + ellipsis_dims - e + j);
    term.labels.insert(term.labels.end(), subs[i].after.begin(), subs[i].after.end());
    // A label repeated within an operand selects its diagonal: one dim whose stride is the sum.
    for (int d = static_cast<int>(term.labels.size()) - 1; d >= 0; --d) {
      const int first =
          static_cast<int>(std::find(term.labels.begin(), term.labels.end(), term.labels[d]) - term.labels.begin());
      if (first == d) continue;
      MOELAB_CHECK(term.t.size(d) == term.t.size(first), "einsum: subscript '", label_name(term.labels[d]),
                   "' is repeated in operand ", i, " over dims of sizes ", term.t.size(first), " and ",
                   term.t.size(d), " (shape ", operands[i].shape(), ")");
      term.t = take_diagonal(term.t, first, d);
      term.labels.erase(term.labels.begin() + d);
    }
    for (size_t d = 0; d < subs[i].before.size(); ++d) ++count[subs[i].before[d]];
    for (size_t d = 0; d < subs[i].after.size(); ++d) ++count[subs[i].after[d]];
    terms.push_back(std::move(term));
  }

  // Output labels: given, or the ellipsis dims then the letters used exactly once, sorted.
  std::vector<int> out_labels;
  if (arrow == std::string::npos) {
    for (int j = 0; j < ellipsis_dims; ++j) out_labels.push_back(kLetters + j);
    for (int l = 0; l < kLetters; ++l)
      if (count[l] == 1) out_labels.push_back(l);
  } else {
    const Subscripts out = parse_term(std::string_view(eq).substr(arrow + 2), eq);
    for (int l : out.before) out_labels.push_back(l);
    if (out.ellipsis)
      for (int j = 0; j < ellipsis_dims; ++j) out_labels.push_back(kLetters + j);
    for (int l : out.after) out_labels.push_back(l);
    std::array<bool, kNumLabels> seen{};
    for (int l : out_labels) {
      MOELAB_CHECK(l >= kLetters || count[l] > 0, "einsum: output subscript '", label_name(l),
                   "' does not appear in the inputs of \"", eq, "\"");
      MOELAB_CHECK(!seen[l], "einsum: output subscript '", label_name(l), "' appears more than once in \"", eq,
                   "\"");
      seen[l] = true;
    }
  }

  // Contract left to right; a label stays while the output or a later operand still needs it.
  std::array<bool, kNumLabels> in_output{};
  for (int l : out_labels) in_output[l] = true;
  Term acc = std::move(terms[0]);
  for (size_t i = 1; i < terms.size(); ++i) {
    std::array<bool, kNumLabels> keep = in_output;
    for (size_t j = i + 1; j < terms.size(); ++j)
      for (int l : terms[j].labels) keep[l] = true;
    acc = contract_pair(std::move(acc), std::move(terms[i]), keep);
  }
  sum_out(acc, [&](int l) { return in_output[l]; });
  return permute_to(acc, out_labels);
}

}  // namespace moelab
