// oneDNN convolution (f32): forward, backward data, backward weights, with a primitive cache.
//
// A primitive is keyed by everything that shapes it (pass, shapes, stride, padding, dilation,
// groups, bias). Each cache entry also holds the reorders between moelab's plain NCHW/OIHW memory
// and the blocked layouts oneDNN prefers (nChw8c on AVX2), so a repeated call does only: one map
// lookup under a mutex, memory-object wrapping, the reorders, and the primitive itself.
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "moelab/backends/cpu/cpu_conv_internal.h"
#include "moelab/backends/cpu/cpu_dnnl.h"
#include "moelab/core/parallel.h"

namespace moelab::cpu_conv {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

dnnl::engine& engine() { return cpu::dnnl_engine(); }
dnnl::stream& thread_stream() { return cpu::dnnl_thread_stream(); }

// One argument of a cached primitive: the user's plain layout, the primitive's layout, and the
// reorder between them when they differ (user -> primitive for inputs, back for outputs).
struct Arg {
  int id = 0;
  memory::desc user_md;
  memory::desc prim_md;
  bool is_output = false;
  std::optional<dnnl::reorder> reorder;
};

struct Entry {
  dnnl::primitive prim;
  std::vector<Arg> args;
  memory::desc scratch_md;
  bool zero_output_first = false;  // backward data on a cropped input: unreached rows get 0
};

Arg make_arg(int id, const memory::desc& user_md, const memory::desc& prim_md, bool is_output) {
  Arg a{id, user_md, prim_md, is_output, std::nullopt};
  if (user_md != prim_md) {
    a.reorder = is_output ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), prim_md, engine(), user_md))
                          : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user_md, engine(), prim_md));
  }
  return a;
}

// ---- the cache: a small LRU, shared by all threads ----
using Key = std::vector<int64_t>;
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : k) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

class Cache {
 public:
  static constexpr size_t kCapacity = 256;

  template <class Build>
  std::shared_ptr<const Entry> get(const Key& key, Build&& build) {
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        ++hits_;
        return it->second->second;
      }
    }
    // Built outside the lock: primitive creation can take milliseconds (JIT). Two threads racing on
    // one new key both build; the second insert is dropped.
    auto entry = std::make_shared<const Entry>(build());
    std::lock_guard lock(mu_);
    ++created_;
    if (map_.count(key)) return entry;
    lru_.emplace_front(key, entry);
    map_[key] = lru_.begin();
    if (lru_.size() > kCapacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return entry;
  }

  ConvCacheStats stats() {
    std::lock_guard lock(mu_);
    return {created_, hits_, static_cast<int64_t>(map_.size())};
  }
  void clear() {
    std::lock_guard lock(mu_);
    map_.clear();
    lru_.clear();
    created_ = hits_ = 0;
  }

 private:
  using Item = std::pair<Key, std::shared_ptr<const Entry>>;
  std::mutex mu_;
  std::list<Item> lru_;
  std::unordered_map<Key, std::list<Item>::iterator, KeyHash> map_;
  int64_t created_ = 0, hits_ = 0;
};

Cache& cache() {
  static Cache c;
  return c;
}

enum Pass : int64_t { kForward = 1, kBackwardData = 2, kBackwardWeights = 3 };

memory::dims dims_of(const Tensor& t) { return memory::dims(t.shape().begin(), t.shape().end()); }

// The geometry in oneDNN's terms. oneDNN checks (in + pad_l + pad_r - extent) / stride + 1 == out
// (integer division), so pad_r is PyTorch's padding when that already holds and otherwise the exact
// value. That exact value is negative when conv_transpose2d's output_padding is at least the stride
// (allowed when below the dilation): then the last input rows are reached by no window, and oneDNN
// (which rejects negative padding) sees the input cropped to the rows that are reached, through
// strides into the full tensor; those rows' gradient is zero.
struct Geometry {
  memory::dims src, src_strides, wei, dst, strides, dilates, pad_l, pad_r;
  Tag wei_tag;
  bool cropped = false;

  Geometry(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p)
      : src(dims_of(x)), dst(dims_of(y)) {
    int64_t g = p.groups;
    wei = g == 1 ? dims_of(w) : memory::dims{g, w.size(0) / g, w.size(1), w.size(2), w.size(3)};
    wei_tag = g == 1 ? Tag::oihw : Tag::goihw;
    Strides cs = contiguous_strides(x.shape());
    src_strides.assign(cs.begin(), cs.end());
    for (int i = 0; i < 2; ++i) {
      int64_t in = x.size(2 + i), out = y.size(2 + i), k = w.size(2 + i), s = p.stride[i], d = p.dilation[i];
      int64_t pl = p.padding[i], extent = (k - 1) * d + 1;
      int64_t pr = (in + 2 * pl - extent) / s + 1 == out ? pl : (out - 1) * s + extent - in - pl;
      if (pr < 0) {
        src[2 + static_cast<size_t>(i)] = in + pr;
        pr = 0;
        cropped = true;
      }
      strides.push_back(s);
      dilates.push_back(d - 1);  // oneDNN: 0 = dense
      pad_l.push_back(pl);
      pad_r.push_back(pr);
    }
  }
  memory::desc any(const memory::dims& d) const { return {d, DT::f32, Tag::any}; }
  memory::desc plain(const memory::dims& d, Tag t) const { return {d, DT::f32, t}; }
  memory::desc user_src() const { return {src, DT::f32, src_strides}; }
};

Key make_key(Pass pass, const Tensor& x, const Tensor& w, const Tensor& y, bool bias, const Conv2dParams& p) {
  Key k{pass, bias ? 1 : 0, p.groups};
  for (const Tensor* t : {&x, &w, &y})
    for (int64_t s : t->shape()) k.push_back(s);
  for (int i = 0; i < 2; ++i) {
    k.push_back(p.stride[i]);
    k.push_back(p.padding[i]);
    k.push_back(p.dilation[i]);
  }
  return k;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Geometry& g, bool bias) {
  using F = dnnl::convolution_forward;
  auto desc = bias ? F::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.any(g.src),
                             g.any(g.wei), memory::desc({g.dst[1]}, DT::f32, Tag::x), g.any(g.dst), g.strides,
                             g.dilates, g.pad_l, g.pad_r)
                   : F::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.any(g.src),
                             g.any(g.wei), g.any(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r);
  return F::primitive_desc(desc, user_scratchpad(), engine());
}

// Runs a cached entry on user pointers given in the entry's argument order.
void execute(const Entry& e, const std::vector<void*>& ptrs) {
  cpu::sync_dnnl_threads();
  dnnl::stream& s = thread_stream();
  std::unordered_map<int, memory> prim_args;
  std::vector<Tensor> temps;  // keep reorder buffers alive until the stream is done
  std::vector<std::pair<const Arg*, memory>> outputs;
  auto buffer = [&](size_t bytes) {
    temps.push_back(make_empty({static_cast<int64_t>(bytes)}, kBool));
    return temps.back().raw_data();
  };
  for (size_t i = 0; i < e.args.size(); ++i) {
    const Arg& a = e.args[i];
    memory user(a.user_md, engine(), ptrs[i]);
    if (!a.reorder) {
      prim_args.emplace(a.id, user);
      continue;
    }
    memory prim(a.prim_md, engine(), buffer(a.prim_md.get_size()));
    if (a.is_output)
      outputs.emplace_back(&a, user);
    else
      a.reorder->execute(s, user, prim);
    prim_args.emplace(a.id, prim);
  }
  if (size_t n = e.scratch_md.get_size(); n > 0)
    prim_args.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch_md, engine(), buffer(n)));
  e.prim.execute(s, prim_args);
  for (auto& [a, user] : outputs) a->reorder->execute(s, prim_args.at(a->id), user);
  s.wait();
}

}  // namespace

void dnnl_conv2d(const Tensor& out, const Tensor& input, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p) {
  bool has_bias = bias.defined();
  auto entry = cache().get(make_key(kForward, input, weight, out, has_bias, p), [&] {
    Geometry g(input, weight, out, p);
    auto pd = forward_pd(g, has_bias);
    Entry e{dnnl::convolution_forward(pd), {}, pd.scratchpad_desc()};
    e.args.push_back(make_arg(DNNL_ARG_SRC, g.user_src(), pd.src_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_WEIGHTS, g.plain(g.wei, g.wei_tag), pd.weights_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_DST, g.plain(g.dst, Tag::nchw), pd.dst_desc(), true));
    if (has_bias) e.args.push_back(make_arg(DNNL_ARG_BIAS, pd.bias_desc(), pd.bias_desc(), false));
    return e;
  });
  std::vector<void*> ptrs{input.raw_data(), weight.raw_data(), out.raw_data()};
  if (has_bias) ptrs.push_back(bias.raw_data());
  execute(*entry, ptrs);
}

void dnnl_conv2d_backward_input(const Tensor& grad_input, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p) {
  auto entry = cache().get(make_key(kBackwardData, grad_input, weight, grad_out, false, p), [&] {
    Geometry g(grad_input, weight, grad_out, p);
    using B = dnnl::convolution_backward_data;
    B::desc desc(dnnl::algorithm::convolution_direct, g.any(g.src), g.any(g.wei), g.any(g.dst), g.strides,
                 g.dilates, g.pad_l, g.pad_r);
    B::primitive_desc pd(desc, user_scratchpad(), engine(), forward_pd(g, false));
    Entry e{B(pd), {}, pd.scratchpad_desc(), g.cropped};
    e.args.push_back(make_arg(DNNL_ARG_DIFF_DST, g.plain(g.dst, Tag::nchw), pd.diff_dst_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_WEIGHTS, g.plain(g.wei, g.wei_tag), pd.weights_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_DIFF_SRC, g.user_src(), pd.diff_src_desc(), true));
    return e;
  });
  if (entry->zero_output_first) std::memset(grad_input.raw_data(), 0, grad_input.numel() * sizeof(float));
  execute(*entry, {grad_out.raw_data(), weight.raw_data(), grad_input.raw_data()});
}

void dnnl_conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out,
                                 const Tensor& input, const Conv2dParams& p) {
  bool has_bias = grad_bias.defined();
  auto entry = cache().get(make_key(kBackwardWeights, input, grad_weight, grad_out, has_bias, p), [&] {
    Geometry g(input, grad_weight, grad_out, p);
    using B = dnnl::convolution_backward_weights;
    auto desc = has_bias ? B::desc(dnnl::algorithm::convolution_direct, g.any(g.src), g.any(g.wei),
                                   memory::desc({g.dst[1]}, DT::f32, Tag::x), g.any(g.dst), g.strides, g.dilates,
                                   g.pad_l, g.pad_r)
                         : B::desc(dnnl::algorithm::convolution_direct, g.any(g.src), g.any(g.wei), g.any(g.dst),
                                   g.strides, g.dilates, g.pad_l, g.pad_r);
    B::primitive_desc pd(desc, user_scratchpad(), engine(), forward_pd(g, has_bias));
    Entry e{B(pd), {}, pd.scratchpad_desc()};
    e.args.push_back(make_arg(DNNL_ARG_SRC, g.user_src(), pd.src_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_DIFF_DST, g.plain(g.dst, Tag::nchw), pd.diff_dst_desc(), false));
    e.args.push_back(make_arg(DNNL_ARG_DIFF_WEIGHTS, g.plain(g.wei, g.wei_tag), pd.diff_weights_desc(), true));
    if (has_bias)
      e.args.push_back(make_arg(DNNL_ARG_DIFF_BIAS, pd.diff_bias_desc(), pd.diff_bias_desc(), true));
    return e;
  });
  std::vector<void*> ptrs{input.raw_data(), grad_out.raw_data(), grad_weight.raw_data()};
  if (has_bias) ptrs.push_back(grad_bias.raw_data());
  execute(*entry, ptrs);
}

ConvCacheStats dnnl_cache_stats() { return cache().stats(); }
void dnnl_clear_cache() { cache().clear(); }

}  // namespace moelab::cpu_conv
