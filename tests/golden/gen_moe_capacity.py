"""Golden values for tests/moe/test_capacity.cpp and tests/moe/test_router_gshard.cpp, from
reference implementations written the way the systems write them:
  ds.*   DeepSpeed sharded_moe.top2gating (with _capacity and gumbel_rsample replaced by given noise),
         its mask1.float() casts replaced by .to(gates.dtype) so that f64 stays f64.
  fs.*   fairseq top2gating: second_expert_policy 'random' with given uniform noise, capacity
         2 * ceil(T/E), batch_prioritized_routing.
  mg.*   Megatron-Core topk_softmax_with_capacity (drop_policy 'probs' and 'position'); the 'position'
         top-k over a 0/1 mask is done by a stable descending sort, which is what it relies on (the
         first C tokens in token order); probs are torch.topk (no ties in the data).
  gp.*   GShard position order generalised to top-k: loc_j = cumsum(mask_j) - 1 + sum_{i<j} sum(mask_i)
         (DeepSpeed's loc2 for k = 2), with optional renormalisation by clamp(sum, eps).
Each case stores its inputs, the capacity, ids, kept masks, weights, l_aux, a random projection R and
the gradient w.r.t. the logits of sum(weights * R) (+ 0.3 * l_aux for the top-2 gates).

Run: /usr/bin/python3 tests/golden/gen_moe_capacity.py
"""
import math

import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(20261124)
w = GoldenWriter("moe_capacity")
DT = torch.float64


# ---- DeepSpeed ----
def _capacity(gates, capacity_factor, min_capacity):
    num_tokens = gates.shape[0]
    num_experts = gates.shape[1]
    capacity = torch.ceil((num_tokens / num_experts) * capacity_factor).to(torch.int64)
    if capacity < min_capacity:
        capacity = min_capacity.to(torch.int64)
    return capacity


def deepspeed_top2gating(logits, capacity_factor, min_capacity, drop_tokens=True, gumbel=None):
    gates = F.softmax(logits, dim=1)
    indices1_s = torch.argmax(gates, dim=1)
    num_experts = int(gates.shape[1])
    mask1 = F.one_hot(indices1_s, num_classes=num_experts)
    if gumbel is not None:  # top2_2nd_expert_sampling: logits += gumbel_rsample(...)
        logits = logits + gumbel
    logits_except1 = logits.masked_fill(mask1.bool(), float("-inf"))
    indices2_s = torch.argmax(logits_except1, dim=1)
    mask2 = F.one_hot(indices2_s, num_classes=num_experts)
    locations1 = torch.cumsum(mask1, dim=0) - 1
    locations2 = torch.cumsum(mask2, dim=0) - 1
    locations2 += torch.sum(mask1, dim=0, keepdim=True)
    me = torch.mean(gates, dim=0)
    ce = torch.mean(mask1.to(gates.dtype), dim=0)
    l_aux = torch.mean(me * ce) * num_experts * num_experts
    exp_counts = torch.sum(mask1 + mask2, dim=0).detach()
    if drop_tokens:
        capacity = _capacity(gates, torch.tensor(capacity_factor * 2), torch.tensor(min_capacity))
        mask1 = mask1 * torch.lt(locations1, capacity)
        mask2 = mask2 * torch.lt(locations2, capacity)
    else:
        capacity = torch.max(exp_counts)
    locations1_s = torch.sum(locations1 * mask1, dim=1)
    locations2_s = torch.sum(locations2 * mask2, dim=1)
    mask1_float = mask1.to(gates.dtype)
    mask2_float = mask2.to(gates.dtype)
    gates1_s = torch.einsum("se,se->s", gates, mask1_float)
    gates2_s = torch.einsum("se,se->s", gates, mask2_float)
    denom_s = gates1_s + gates2_s
    denom_s = torch.clamp(denom_s, min=torch.finfo(denom_s.dtype).eps)
    gates1_s = gates1_s / denom_s
    gates2_s = gates2_s / denom_s
    gates1 = torch.einsum("s,se->se", gates1_s, mask1_float)
    gates2 = torch.einsum("s,se->se", gates2_s, mask2_float)
    locations1_sc = F.one_hot(locations1_s, num_classes=int(capacity)).to(gates.dtype)
    locations2_sc = F.one_hot(locations2_s, num_classes=int(capacity)).to(gates.dtype)
    combine1_sec = torch.einsum("se,sc->sec", gates1, locations1_sc)
    combine2_sec = torch.einsum("se,sc->sec", gates2, locations2_sc)
    combine_weights = combine1_sec + combine2_sec
    return dict(l_aux=l_aux, combine=combine_weights, capacity=int(capacity), idx1=indices1_s, idx2=indices2_s,
                kept1=mask1.sum(1).bool(), kept2=mask2.sum(1).bool(), g1=gates1_s, g2=gates2_s)


# ---- fairseq (normalize_gate_prob_before_dropping = False, no input_mask) ----
def fused_cumsum_sub_one(mask):
    return torch.cumsum(mask, dim=0) - 1


def fairseq_top2gating(logits, second_expert_policy="sampling", batch_prioritized_routing=False, gumbel=None,
                       uniform=None):
    gates = F.softmax(logits, dim=1)
    num_tokens = gates.shape[0]
    num_experts = gates.shape[1]
    capacity = 2 * math.ceil(num_tokens / num_experts)
    indices1_s = torch.argmax(gates, dim=1, keepdim=True)
    mask1 = torch.zeros_like(gates, dtype=torch.int64).scatter_(1, indices1_s, 1)
    if second_expert_policy == "sampling":
        logits_w_noise = logits + gumbel
    else:
        logits_w_noise = logits
    logits_except1 = logits_w_noise.masked_fill(mask1.bool(), float("-inf"))
    indices2_s = torch.argmax(logits_except1, dim=1, keepdim=True)
    mask2 = torch.zeros_like(gates, dtype=torch.int64).scatter_(1, indices2_s, 1)
    gates1_s = (gates * mask1).sum(dim=1)
    gates2_s = (gates * mask2).sum(dim=1)
    if second_expert_policy == "random":
        sampled = (2 * gates2_s) > uniform
        mask2 = mask2 * sampled.repeat(num_experts, 1).transpose(1, 0)
    if batch_prioritized_routing:
        importance_scores = -1 * gates.max(dim=1)[0]
        order = importance_scores.argsort(dim=0)
        sorted_mask1 = mask1[order]
        sorted_cumsum1 = fused_cumsum_sub_one(sorted_mask1) * sorted_mask1
        importance_sorted_locations1 = sorted_cumsum1[order.argsort(dim=0)]
        sorted_mask2 = mask2[order]
        sorted_cumsum2 = fused_cumsum_sub_one(sorted_mask2) * sorted_mask2
        importance_sorted_locations2 = sorted_cumsum2[order.argsort(dim=0)]
        importance_sorted_locations2 += torch.sum(mask1, dim=0, keepdim=True)
        locations1, locations2 = importance_sorted_locations1, importance_sorted_locations2
    else:
        locations1 = fused_cumsum_sub_one(mask1)
        locations2 = fused_cumsum_sub_one(mask2)
        locations2 += torch.sum(mask1, dim=0, keepdim=True)
    me = torch.mean(gates, dim=0)
    ce = torch.mean(mask1.to(gates.dtype), dim=0)
    l_aux = torch.mean(me * ce) * num_experts * num_experts
    mask1 = mask1 * torch.lt(locations1, capacity)
    mask2 = mask2 * torch.lt(locations2, capacity)
    gates1_s = (gates * mask1).sum(dim=1)
    gates2_s = (gates * mask2).sum(dim=1)
    denom_s = gates1_s + gates2_s
    denom_s = torch.clamp(denom_s, min=torch.finfo(denom_s.dtype).eps)
    gates1_s = gates1_s / denom_s
    gates2_s = gates2_s / denom_s
    gates1 = gates1_s.unsqueeze(-1) * mask1.to(gates1_s.dtype)
    gates2 = gates2_s.unsqueeze(-1) * mask2.to(gates2_s.dtype)
    return dict(l_aux=l_aux, combine=gates1 + gates2, capacity=capacity, idx1=indices1_s[:, 0],
                idx2=indices2_s[:, 0], kept1=mask1.sum(1).bool(), kept2=mask2.sum(1).bool(), g1=gates1_s,
                g2=gates2_s)


def top2_case(name, T, E, skew, gate_fn):
    logits = torch.randn(T, E, dtype=DT) * 1.5
    logits[:, 0] += skew  # crowd expert 0 so that capacity bites
    R = torch.randn(T, E, dtype=DT)
    x = logits.clone().requires_grad_()
    out = gate_fn(x)
    # combine weights summed over the capacity dim: [T, E], g1 at idx1 and g2 at idx2
    comb = out["combine"].sum(-1) if out["combine"].dim() == 3 else out["combine"]
    loss = (comb * R).sum() + 0.3 * out["l_aux"]
    loss.backward()
    w.add(name + ".logits", logits)
    w.add(name + ".R", R)
    w.add(name + ".capacity", torch.tensor(out["capacity"]))
    w.add(name + ".ids", torch.stack([out["idx1"], out["idx2"]], 1))
    w.add(name + ".kept", torch.stack([out["kept1"], out["kept2"]], 1))
    w.add(name + ".weights", torch.stack([out["g1"], out["g2"]], 1))
    w.add(name + ".l_aux", out["l_aux"])
    w.add(name + ".dlogits", x.grad)
    return logits


def gumbel_noise(T, E):
    return -torch.log(-torch.log(torch.rand(T, E, dtype=DT).clamp(1e-30, 1 - 1e-7)))


top2_case("ds.cf1", 12, 4, 1.0, lambda x: deepspeed_top2gating(x, 1.0, 0))
top2_case("ds.cf05", 16, 4, 1.5, lambda x: deepspeed_top2gating(x, 0.5, 0))
top2_case("ds.mincap", 12, 4, 2.0, lambda x: deepspeed_top2gating(x, 0.25, 5))
top2_case("ds.cf125", 20, 8, 1.0, lambda x: deepspeed_top2gating(x, 1.25, 1))
top2_case("ds.nodrop", 10, 4, 2.0, lambda x: deepspeed_top2gating(x, 1.0, 0, drop_tokens=False))
g = gumbel_noise(16, 4)
w.add("ds.sampling.gumbel", g)
top2_case("ds.sampling", 16, 4, 1.0, lambda x: deepspeed_top2gating(x, 1.0, 0, gumbel=g))
u = torch.rand(16, dtype=DT)
w.add("fs.random.uniform", u)
top2_case("fs.random", 16, 4, 1.0, lambda x: fairseq_top2gating(x, "random", uniform=u))
top2_case("fs.bpr", 16, 4, 1.5, lambda x: fairseq_top2gating(x, "all", batch_prioritized_routing=True))
u2 = torch.rand(16, dtype=DT)
w.add("fs.random_bpr.uniform", u2)
top2_case("fs.random_bpr", 16, 4, 1.0, lambda x: fairseq_top2gating(x, "random", True, uniform=u2))

# Gates with an exact zero sum after dropping hit the eps clamp: both slots dropped (C tiny).
# (covered by ds.cf05: tokens whose both experts overflow have g1 = g2 = 0.)


# ---- Megatron-Core topk_softmax_with_capacity ----
def get_capacity(num_tokens, num_experts, capacity_factor, min_capacity=None):
    capacity = math.ceil((num_tokens / num_experts) * capacity_factor)
    if min_capacity is not None and capacity < min_capacity:
        capacity = min_capacity
    return capacity


def megatron_topk_softmax_with_capacity(logits, topk, capacity_factor, drop_policy, use_pre_softmax):
    num_tokens = logits.shape[0]
    num_experts = logits.shape[1]
    if use_pre_softmax:
        scores = torch.softmax(logits, dim=-1, dtype=logits.dtype)
        probs, top_indices = torch.topk(scores, k=topk, dim=1)
    else:
        scores, top_indices = torch.topk(logits, k=topk, dim=1)
        probs = torch.softmax(scores, dim=-1, dtype=logits.dtype)
    expert_capacity = get_capacity(num_tokens=num_tokens * topk, num_experts=num_experts,
                                   capacity_factor=capacity_factor)
    topk_masked_gates = torch.zeros_like(logits).scatter(1, top_indices, probs)
    topk_mask = torch.zeros_like(logits).scatter(1, top_indices, 1)
    kc = min(expert_capacity, num_tokens)
    if drop_policy == "probs":
        capacity_probs, capacity_indices = torch.topk(topk_masked_gates, k=kc, dim=0, sorted=False)
        capacity_mask = torch.zeros_like(logits).scatter(0, capacity_indices, 1)
    elif drop_policy == "position":
        capacity_indices = torch.sort(topk_mask, dim=0, descending=True, stable=True).indices[:kc]
        capacity_mask = torch.zeros_like(logits).scatter(0, capacity_indices, 1)
    final_mask = torch.logical_and(topk_mask, capacity_mask)
    drop_mask = torch.logical_not(final_mask)
    exceed_mask = torch.gather(drop_mask, 1, top_indices)
    final_probs = probs * torch.logical_not(exceed_mask)
    return final_probs, top_indices, ~exceed_mask, expert_capacity


def megatron_case(name, T, E, k, cf, policy, pre):
    logits = torch.randn(T, E, dtype=DT) * 1.5
    logits[:, 1] += 1.0
    R = torch.randn(T, k, dtype=DT)
    x = logits.clone().requires_grad_()
    probs, ids, kept, C = megatron_topk_softmax_with_capacity(x, k, cf, policy, pre)
    (probs * R).sum().backward()
    for key, t in [("logits", logits), ("R", R), ("capacity", torch.tensor(C)), ("ids", ids), ("kept", kept),
                   ("weights", probs), ("dlogits", x.grad)]:
        w.add(f"{name}.{key}", t)


megatron_case("mg.probs.k2", 14, 4, 2, 1.0, "probs", True)
megatron_case("mg.probs.k3", 15, 6, 3, 0.75, "probs", False)
megatron_case("mg.position.k2", 14, 4, 2, 1.0, "position", True)
megatron_case("mg.position.k3", 15, 6, 3, 0.75, "position", False)


# ---- GShard position order for top-k, with renormalisation ----
def gshard_position_topk(logits, k, capacity, renormalize):
    probs = torch.softmax(logits, -1)
    vals, ids = torch.topk(probs, k, dim=1)
    E = logits.shape[1]
    masks = [F.one_hot(ids[:, j], E) for j in range(k)]
    offset = torch.zeros(1, E, dtype=torch.int64)
    kept = []
    for j in range(k):
        loc = torch.cumsum(masks[j], 0) - 1 + offset
        offset = offset + masks[j].sum(0, keepdim=True)
        kept.append((masks[j] * torch.lt(loc, capacity)).sum(1).bool())
    kept = torch.stack(kept, 1)
    wts = vals * kept.to(vals.dtype)
    if renormalize:
        wts = wts / torch.clamp(wts.sum(1, keepdim=True), min=torch.finfo(wts.dtype).eps)
    return wts, ids, kept


for k, C, ren in ((2, 3, True), (3, 4, True), (3, 2, False)):
    name = f"gp.k{k}.C{C}"
    T, E = 13, 5
    logits = torch.randn(T, E, dtype=DT) * 1.5
    logits[:, 2] += 1.0
    R = torch.randn(T, k, dtype=DT)
    x = logits.clone().requires_grad_()
    wts, ids, kept = gshard_position_topk(x, k, C, ren)
    (wts * R).sum().backward()
    for key, t in [("logits", logits), ("R", R), ("capacity", torch.tensor(C)), ("renormalize", torch.tensor(ren)),
                   ("ids", ids), ("kept", kept), ("weights", wts), ("dlogits", x.grad)]:
        w.add(f"{name}.{key}", t)

w.save()
