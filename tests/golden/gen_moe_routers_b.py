"""Golden values and gradients for the sigmoid-bias (DeepSeek-V3), cosine (X-MoE), dense-to-sparse
and top-p routers (tests/moe/test_router_*.cpp), from reference implementations written the way the
defining code writes them:
  ds     DeepSeek-V3 Gate (official inference model.py; HF DeepseekV3TopkRouter's norm with + 1e-20),
         group-limited top-k with -inf masking, and the aux-loss-free bias update b += rate*sign(mean(c)-c)
  cos    X-MoE (torchscale xmoe routing): W_proj reduction, L2-normalised cosine, / tau, softmax, top-k
  dts    dense-to-sparse temperature gate softmax((Wx+b)/tau) and activation gate softmax(act(Wx+b)/tau)
  topp   Huang et al. 2024 dynamic routing (their MoE top-p code: sort, cumsum, keep up to the crossing)
All in f64; gradients of sum(weights * gout) (plus the aux loss where named) w.r.t. the parameters.
Run: /usr/bin/python3 tests/golden/gen_moe_routers_b.py
"""
import math
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(20261123)
torch.set_default_dtype(torch.float64)
w = GoldenWriter("moe_routers_b")


# ---- DeepSeek-V3 ----
def deepseek_gate(x, weight, bias, topk, n_groups, topk_groups, route_scale, norm=True):
    scores = F.linear(x, weight).sigmoid()
    original_scores = scores
    scores = scores + bias
    if n_groups > 1:
        scores = scores.view(x.size(0), n_groups, -1)
        group_scores = scores.topk(2, dim=-1)[0].sum(dim=-1)
        indices = group_scores.topk(topk_groups, dim=-1)[1]
        mask = scores.new_ones(x.size(0), n_groups, dtype=torch.bool).scatter_(1, indices, False)
        scores = scores.masked_fill(mask.unsqueeze(-1), float("-inf")).flatten(1)
    indices = torch.topk(scores, topk, dim=-1)[1]
    weights = original_scores.gather(1, indices)
    if topk > 1 and norm:
        weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
    return weights * route_scale, indices


T, D, E = 10, 6, 8
for name, k, ng, tg, scale in [("g1", 2, 1, 1, 1.0), ("g4", 3, 4, 2, 2.5)]:
    x = torch.randn(T, D)
    W = (torch.randn(E, D) * 0.5).requires_grad_()
    b = torch.randn(E) * 0.1
    wts, ids = deepseek_gate(x, W, b, k, ng, tg, scale)
    gout = torch.randn(T, k)
    (dW,) = torch.autograd.grad((wts * gout).sum(), [W])
    p = f"ds.{name}"
    w.add(p + ".x", x); w.add(p + ".W", W); w.add(p + ".b", b); w.add(p + ".gout", gout)
    w.add(p + ".ids", ids); w.add(p + ".weights", wts); w.add(p + ".dW", dW)

# Bias update over steps: route (training), count, b += rate * sign(mean(c) - c).
steps, rate, k, ng, tg = 4, 0.05, 2, 4, 2
W = torch.randn(E, D) * 0.5
b = torch.zeros(E)
w.add("ds.upd.W", W)
for s in range(steps):
    x = torch.randn(T, D) + 0.5  # skewed tokens so the load is unbalanced
    _, ids = deepseek_gate(x, W, b, k, ng, tg, 1.0)
    c = torch.bincount(ids.flatten(), minlength=E).to(torch.float64)
    b = b + rate * torch.sign(c.mean() - c)
    w.add(f"ds.upd.x{s}", x); w.add(f"ds.upd.ids{s}", ids); w.add(f"ds.upd.b{s}", b)


# ---- X-MoE cosine router ----
def xmoe_cosine(x, proj, emb, log_tau, k, eps=1e-4, min_tau=0.01):
    h = F.normalize(F.linear(x, proj), p=2.0, dim=1, eps=eps)
    e = F.normalize(emb, p=2.0, dim=1, eps=eps)
    tau = log_tau.exp().clamp(min=min_tau)
    logits = h.matmul(e.t()) / tau
    probs = logits.softmax(dim=-1)
    wts, ids = probs.topk(k, dim=-1)
    return wts, ids, probs


x = torch.randn(T, D)
proj = torch.randn(4, D).requires_grad_()
emb = torch.randn(E, 4).requires_grad_()
log_tau = torch.tensor(math.log(0.3)).requires_grad_()
wts, ids, _ = xmoe_cosine(x, proj, emb, log_tau, 2)
gout = torch.randn(T, 2)
g = torch.autograd.grad((wts * gout).sum(), [proj, emb, log_tau])
for n, v in [("x", x), ("proj", proj), ("emb", emb), ("log_tau", log_tau), ("gout", gout), ("ids", ids),
             ("weights", wts), ("dproj", g[0]), ("demb", g[1]), ("dlog_tau", g[2])]:
    w.add("cos." + n, v)


# ---- dense-to-sparse gates ----
def dts_gate(x, W, bias, tau, act, k, renorm):
    z = F.linear(x, W, bias)
    if act == "tanh":
        z = torch.tanh(z)
    elif act == "sigmoid":
        z = torch.sigmoid(z)
    probs = torch.softmax(z / tau, dim=-1)
    wts, ids = probs.topk(k, dim=-1)
    if renorm and k < probs.shape[-1]:
        wts = wts / wts.sum(dim=-1, keepdim=True)
    return wts, ids


for act in ["none", "tanh", "sigmoid"]:
    for k, renorm in [(E, False), (3, True)]:
        x = torch.randn(T, D)
        W = torch.randn(E, D).requires_grad_()
        bias = torch.randn(E).requires_grad_()
        tau = torch.tensor(0.7).requires_grad_()
        wts, ids = dts_gate(x, W, bias, tau, act, k, renorm)
        gout = torch.randn(T, k)
        g = torch.autograd.grad((wts * gout).sum(), [W, bias, tau])
        p = f"dts.{act}.k{k}"
        for n, v in [("x", x), ("W", W), ("bias", bias), ("tau", tau), ("gout", gout), ("ids", ids),
                     ("weights", wts), ("dW", g[0]), ("dbias", g[1]), ("dtau", g[2])]:
            w.add(p + "." + n, v)


# ---- top-p (Huang et al. 2024) ----
def top_p_routing(logits, top_p):
    routing_weights = F.softmax(logits, dim=1)
    sorted_weights, sorted_indices = torch.sort(routing_weights, dim=-1, descending=True)
    cumulative_probs = sorted_weights.cumsum(dim=-1)
    mask = cumulative_probs > top_p
    threshold_indices = mask.long().argmax(dim=-1)
    threshold_mask = F.one_hot(threshold_indices, num_classes=sorted_indices.size(-1)).bool()
    mask = mask & ~threshold_mask
    sorted_indices = torch.where(mask, -1, sorted_indices)
    sorted_weights = torch.where(mask, 0.0, sorted_weights)
    return sorted_weights, sorted_indices, routing_weights


for name, top_p, max_k, renorm in [("p05", 0.5, E, False), ("p07k3", 0.7, 3, True)]:
    x = torch.randn(T, D)
    W = torch.randn(E, D).requires_grad_()
    sw, si, probs = top_p_routing(F.linear(x, W), top_p)
    sw, si = sw[:, :max_k], si[:, :max_k]
    kept = si >= 0
    ids = torch.sort(probs.detach(), dim=-1, descending=True)[1][:, :max_k]
    if renorm:
        sw = sw / sw.sum(dim=-1, keepdim=True)
    gout = torch.randn(T, max_k)
    # dynamic loss (router entropy) with coefficient 0.1 in the backpropagated objective
    dyn = -(probs * torch.log(probs)).sum(-1).mean()
    (dW,) = torch.autograd.grad((sw * gout).sum() + 0.1 * dyn, [W])
    p = f"topp.{name}"
    for n, v in [("x", x), ("W", W), ("gout", gout), ("ids", ids), ("kept", kept), ("weights", sw),
                 ("dynamic", dyn), ("dW", dW)]:
        w.add(p + "." + n, v)

w.save()
