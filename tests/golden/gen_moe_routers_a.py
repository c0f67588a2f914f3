"""Golden values and gradients for the noisy top-k, expert-choice and hash routers
(tests/moe/test_router_noisy.cpp, test_router_expert_choice.cpp, test_router_hash.cpp), from
reference implementations written the way the defining systems write them:
  noisy top-k   FastMoE NoisyGate / davidmrau mixture-of-experts noisy_top_k_gating (Shazeer 2017),
                with the standard-normal noise eps given (stored here) instead of drawn
  expert choice flaxformer ExpertsChooseMaskedRouter (Zhou et al. 2022), in torch
  hash          splitmix64 expert draws (moelab's HashRouter definition), to pin the mixing function

Names: noisy.{case}.{x,w_gate,w_noise,eps,gout} inputs; .{ids,weights,logits,importance,load} outputs;
       .d{w_gate,w_noise,x}.{gates,importance,load} gradients of sum(weights*gout), importance, load.
       ec.{case}.{x,weight,bias,gout} inputs; .{kept,weights,logits,z_loss}; .d{weight,bias,x}.
       hash.E{E}.k{k}.s{seed}.ids for keys 0..19.
Run: /usr/bin/python3 tests/golden/gen_moe_routers_a.py
"""
import math

import torch
import torch.nn.functional as F
from torch.distributions.normal import Normal

from golden import GoldenWriter

torch.manual_seed(20261124)
w = GoldenWriter("moe_routers_a")


# ---- FastMoE NoisyGate.forward (fmoe/gates/noisy_gate.py), noise passed in ----
def cv_squared(x):
    eps = 1e-10
    if x.shape[0] == 1:
        return torch.tensor([0], device=x.device, dtype=x.dtype)
    return x.var() / (x.mean() ** 2 + eps)


def prob_in_top_k(clean_values, noisy_values, noise_stddev, noisy_top_values, top_k):
    batch = clean_values.size(0)
    m = noisy_top_values.size(1)
    top_values_flat = noisy_top_values.flatten()
    threshold_positions_if_in = torch.arange(batch, device=clean_values.device) * m + top_k
    threshold_if_in = torch.unsqueeze(torch.gather(top_values_flat, 0, threshold_positions_if_in), 1)
    is_in = torch.gt(noisy_values, threshold_if_in)
    threshold_positions_if_out = threshold_positions_if_in - 1
    threshold_if_out = torch.unsqueeze(torch.gather(top_values_flat, 0, threshold_positions_if_out), 1)
    normal = Normal(torch.tensor([0.0], dtype=clean_values.dtype), torch.tensor([1.0], dtype=clean_values.dtype))
    prob_if_in = normal.cdf((clean_values - threshold_if_in) / noise_stddev)
    prob_if_out = normal.cdf((clean_values - threshold_if_out) / noise_stddev)
    return torch.where(is_in, prob_if_in, prob_if_out)


def noisy_gate(inp, w_gate, w_noise, eps, top_k, training=True, noise_epsilon=1e-2):
    tot_expert = w_gate.shape[1]
    clean_logits = inp @ w_gate
    raw_noise_stddev = inp @ w_noise
    noise_stddev = (F.softplus(raw_noise_stddev) + noise_epsilon) * training
    noisy_logits = clean_logits + (eps * noise_stddev)
    logits = noisy_logits
    top_logits, top_indices = logits.topk(min(top_k + 1, tot_expert), dim=1)
    top_k_logits = top_logits[:, :top_k]
    top_k_indices = top_indices[:, :top_k]
    top_k_gates = F.softmax(top_k_logits, dim=1)
    zeros = torch.zeros_like(logits, requires_grad=True)
    gates = zeros.scatter(1, top_k_indices, top_k_gates)
    if top_k < tot_expert and training:
        load = prob_in_top_k(clean_logits, noisy_logits, noise_stddev, top_logits, top_k).sum(0)
    else:
        load = (gates > 0).sum(0).to(gates.dtype)
    importance = gates.sum(0)
    return top_k_indices, top_k_gates, logits, cv_squared(importance), cv_squared(load)


T, D = 12, 5
for (E, k, training) in ((6, 2, True), (4, 1, True), (4, 4, True), (6, 2, False), (8, 3, True)):
    name = f"noisy.E{E}.k{k}.{'train' if training else 'eval'}"
    x = torch.randn(T, D, dtype=torch.float64)
    wg = torch.randn(D, E, dtype=torch.float64) * 0.7
    wn = torch.randn(D, E, dtype=torch.float64) * 0.5
    eps = torch.randn(T, E, dtype=torch.float64)
    gout = torch.randn(T, k, dtype=torch.float64)
    for n, t in (("x", x), ("w_gate", wg), ("w_noise", wn), ("eps", eps), ("gout", gout)):
        w.add(f"{name}.{n}", t)
    ids, gts, logits, imp, load = noisy_gate(x, wg, wn, eps, k, training)
    w.add(f"{name}.ids", ids)
    w.add(f"{name}.weights", gts)
    w.add(f"{name}.logits", logits)
    w.add(f"{name}.importance", imp.reshape(()))
    w.add(f"{name}.load", load.reshape(()))
    for what in ("gates", "importance", "load"):
        xs, wgs, wns = (t.clone().requires_grad_() for t in (x, wg, wn))
        _, g2, _, imp2, load2 = noisy_gate(xs, wgs, wns, eps, k, training)
        out = {"gates": (g2 * gout).sum(), "importance": imp2.sum(), "load": load2.sum()}[what]
        if out.requires_grad:
            gx, gg, gn = torch.autograd.grad(out, (xs, wgs, wns), allow_unused=True)
        else:  # the count load of k = E / eval is a constant
            gx = gg = gn = None
        z = lambda g, ref: torch.zeros_like(ref) if g is None else g
        w.add(f"{name}.dw_gate.{what}", z(gg, wg))
        w.add(f"{name}.dw_noise.{what}", z(gn, wn))
        w.add(f"{name}.dx.{what}", z(gx, x))


# ---- flaxformer ExpertsChooseMaskedRouter._compute_routing_instructions, in torch ----
def experts_choose(x, weight, bias, expert_capacity):
    router_logits = x @ weight.t()
    if bias is not None:
        router_logits = router_logits + bias
    router_probs = F.softmax(router_logits, dim=-1)
    num_tokens = router_probs.shape[0]
    router_probs_t = router_probs.t()                                          # [E, T]
    expert_gate, expert_index = torch.topk(router_probs_t, k=expert_capacity)  # [E, C]
    dispatch_mask = F.one_hot(expert_index, num_tokens).to(x.dtype)            # [E, C, T]
    dispatch_mask = dispatch_mask.permute(2, 0, 1)                             # [T, E, C]
    combine_array = torch.einsum("ec,tec->tec", expert_gate, dispatch_mask)
    return router_logits, dispatch_mask, combine_array


def z_loss(logits):
    return torch.mean(torch.square(torch.logsumexp(logits, dim=-1)))


for (E, Tt, cf, use_bias) in ((4, 10, 1.0, False), (3, 9, 2.0, True), (5, 8, 0.5, False)):
    name = f"ec.E{E}.T{Tt}.cf{cf}"
    C = min(Tt, math.ceil(cf * Tt / E))
    x = torch.randn(Tt, D, dtype=torch.float64)
    weight = torch.randn(E, D, dtype=torch.float64) * 0.6
    bias = torch.randn(E, dtype=torch.float64) * 0.3 if use_bias else None
    gout = torch.randn(Tt, E, dtype=torch.float64)
    w.add(f"{name}.x", x)
    w.add(f"{name}.weight", weight)
    if use_bias:
        w.add(f"{name}.bias", bias)
    w.add(f"{name}.gout", gout)
    xs = x.clone().requires_grad_()
    ws = weight.clone().requires_grad_()
    bs = bias.clone().requires_grad_() if use_bias else None
    logits, dispatch, combine = experts_choose(xs, ws, bs, C)
    weights = combine.sum(-1)     # [T, E]: the probability where chosen, else 0
    kept = dispatch.sum(-1) > 0   # [T, E]
    zl = z_loss(logits)
    w.add(f"{name}.kept", kept)
    w.add(f"{name}.weights", weights)
    w.add(f"{name}.logits", logits)
    w.add(f"{name}.z_loss", zl)
    out = (weights * gout).sum() + 0.1 * zl
    grads = torch.autograd.grad(out, [xs, ws] + ([bs] if use_bias else []))
    w.add(f"{name}.dx", grads[0])
    w.add(f"{name}.dweight", grads[1])
    if use_bias:
        w.add(f"{name}.dbias", grads[2])


# ---- splitmix64 hash draws (moelab HashRouter) ----
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(z):
    z = (z + GOLDEN) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def hash_experts(key, seed, E, k):
    state = splitmix64(seed) ^ key
    out, j = [], 0
    while len(out) < k:
        c = splitmix64((state + j * GOLDEN) & M64) % E
        if c not in out:
            out.append(c)
        j += 1
    return out


for (E, k, seed) in ((8, 1, 0), (8, 3, 0), (5, 2, 42), (4, 4, 7)):
    ids = torch.tensor([hash_experts(t, seed, E, k) for t in range(20)], dtype=torch.int64)
    w.add(f"hash.E{E}.k{k}.s{seed}.ids", ids)

w.save()
