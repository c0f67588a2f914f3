"""Golden values and gradients of the MoE auxiliary losses (tests/moe/test_aux_losses.cpp), from
reference implementations copied from the systems that define them:
  per_k        Megatron-Core switch_load_balancing_loss_func (moe/moe_utils.py), coefficient 1
  all_k        HF transformers Mixtral load_balancing_loss_func (with its attention_mask branch)
  first_choice DeepSpeed top2gating / fairseq top2gating l_aux (first-choice mask only)
  z-loss       Megatron-Core z_loss_func (ST-MoE)
  cv_squared   davidmrau/mixture-of-experts MoE.cv_squared (Shazeer et al. 2017)
The loss takes router logits through softmax; gradients are w.r.t. the logits.

Names: lb.E{E}.k{k}.{nomask|mask}.{logits,ids,mask} and .{norm}.{loss,dlogits}; z.*; cv.*.
Run: /usr/bin/python3 tests/golden/gen_moe_losses.py
"""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(20261123)
w = GoldenWriter("moe_losses")


# ---- Megatron-Core: per-k (coefficient 1, no sequence parallelism) ----
def megatron_switch_load_balancing_loss_func(probs, tokens_per_expert, topk, moe_aux_loss_coeff=1.0):
    num_tokens = probs.shape[0]
    num_experts = probs.shape[1]
    aggregated_probs_per_expert = probs.sum(dim=0)
    aggregated_loss = torch.sum(aggregated_probs_per_expert * tokens_per_expert) * (
        num_experts * moe_aux_loss_coeff / (num_tokens * num_tokens * topk))
    return aggregated_loss


# ---- HF transformers Mixtral: all-k, with the optional attention mask [batch, seq] ----
# Verbatim but for expert_mask.float() -> .to(routing_weights.dtype), so that f64 stays exact.
def hf_load_balancing_loss_func(gate_logits, num_experts, top_k=2, attention_mask=None):
    compute_device = gate_logits[0].device
    concatenated_gate_logits = torch.cat([layer_gate.to(compute_device) for layer_gate in gate_logits], dim=0)
    routing_weights = torch.nn.functional.softmax(concatenated_gate_logits, dim=-1)
    _, selected_experts = torch.topk(routing_weights, top_k, dim=-1)
    expert_mask = torch.nn.functional.one_hot(selected_experts, num_experts)
    if attention_mask is None:
        tokens_per_expert = torch.mean(expert_mask.to(routing_weights.dtype), dim=0)
        router_prob_per_expert = torch.mean(routing_weights, dim=0)
    else:
        batch_size, sequence_length = attention_mask.shape
        num_hidden_layers = concatenated_gate_logits.shape[0] // (batch_size * sequence_length)
        expert_attention_mask = (attention_mask[None, :, :, None, None]
                                 .expand((num_hidden_layers, batch_size, sequence_length, top_k, num_experts))
                                 .reshape(-1, top_k, num_experts).to(compute_device))
        tokens_per_expert = torch.sum(expert_mask.to(routing_weights.dtype) * expert_attention_mask, dim=0) / torch.sum(
            expert_attention_mask, dim=0)
        router_per_expert_attention_mask = (attention_mask[None, :, :, None]
                                            .expand((num_hidden_layers, batch_size, sequence_length, num_experts))
                                            .reshape(-1, num_experts).to(compute_device))
        router_prob_per_expert = torch.sum(routing_weights * router_per_expert_attention_mask, dim=0) / torch.sum(
            router_per_expert_attention_mask, dim=0)
    overall_loss = torch.sum(tokens_per_expert * router_prob_per_expert.unsqueeze(0))
    return overall_loss * num_experts


# ---- DeepSpeed top2gating / fairseq top2gating: first choice only ----
def deepspeed_first_choice_l_aux(gates, indices1_s):
    num_experts = int(gates.shape[1])
    mask1 = F.one_hot(indices1_s, num_classes=num_experts)
    me = torch.mean(gates, dim=0)
    ce = torch.mean(mask1.to(gates.dtype), dim=0)  # .float() there; f64 here
    return torch.mean(me * ce) * num_experts * num_experts


# The masked forms of per-k and first-choice: the token mask excludes a token from both the counts
# and the mean probability, as HF's attention_mask does (moelab's definition; DeepSpeed's used_token
# and fairseq's input_mask only zero the counts and keep dividing by all tokens).
def masked_general(probs, ids, mask, per_k_divisor):
    E = probs.shape[1]
    m = mask.to(probs.dtype)
    n = m.sum()
    counts = torch.zeros(E, dtype=probs.dtype).index_add_(0, ids.reshape(-1),
                                                          m[:, None].expand(ids.shape).reshape(-1))
    f = counts / (per_k_divisor * n)
    P = (probs * m[:, None]).sum(0) / n
    return E * torch.sum(f * P)


def close(a, b):
    assert abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b))), (float(a), float(b))


B, S = 3, 4
T = B * S
for E in (4, 8):
    for k in (1, 2):
        for masked in (False, True):
            name = f"lb.E{E}.k{k}.{'mask' if masked else 'nomask'}"
            logits = torch.randn(T, E, dtype=torch.float64) * 1.5
            ids = torch.topk(F.softmax(logits, -1), k, dim=-1).indices
            attn = None
            mask = torch.ones(T, dtype=torch.bool)
            if masked:
                attn = torch.ones(B, S, dtype=torch.int64)
                attn[0, 3:] = 0  # right padding
                attn[2, :2] = 0  # left padding
                mask = attn.reshape(-1).bool()
            w.add(name + ".logits", logits)
            w.add(name + ".ids", ids)
            w.add(name + ".mask", mask)
            losses = {}
            for norm in ("per_k", "all_k", "first_choice"):
                x = logits.clone().requires_grad_()
                probs = F.softmax(x, -1)
                if norm == "all_k":
                    loss = hf_load_balancing_loss_func((x,), E, k, attn)
                elif masked:
                    loss = masked_general(probs, ids if norm == "per_k" else ids[:, :1], mask,
                                          k if norm == "per_k" else 1)
                elif norm == "per_k":
                    tokens_per_expert = torch.bincount(ids.reshape(-1), minlength=E).to(probs.dtype)
                    loss = megatron_switch_load_balancing_loss_func(probs, tokens_per_expert, k)
                else:
                    loss = deepspeed_first_choice_l_aux(probs, ids[:, 0])
                loss.backward()
                losses[norm] = loss.detach()
                w.add(f"{name}.{norm}.loss", loss)
                w.add(f"{name}.{norm}.dlogits", x.grad)
            close(losses["per_k"] * k, losses["all_k"])  # per-k * k == all-k
            if k == 1:
                close(losses["first_choice"], losses["per_k"])
            if not masked:  # the masked general form reduces to each reference with an all-true mask
                p = F.softmax(logits, -1)
                close(masked_general(p, ids, mask, k), losses["per_k"])
                close(masked_general(p, ids, mask, 1), losses["all_k"])
                close(masked_general(p, ids[:, :1], mask, 1), losses["first_choice"])

# Perfect balance: uniform probabilities and every expert chosen equally often in every slot.
for E, k in ((4, 1), (4, 2), (8, 2)):
    Tb = 2 * E
    probs = torch.full((Tb, E), 1.0 / E, dtype=torch.float64)
    ids = (torch.arange(Tb)[:, None] + torch.arange(k)[None, :]) % E
    tpe = torch.bincount(ids.reshape(-1), minlength=E).double()
    close(megatron_switch_load_balancing_loss_func(probs, tpe, k), 1.0)
    # all-k through the general form (checked equal to HF's above; HF itself re-derives ids by topk)
    close(masked_general(probs, ids, torch.ones(Tb, dtype=torch.bool), 1), k)
    close(deepspeed_first_choice_l_aux(probs, ids[:, 0]), 1.0)


# ---- Megatron z_loss_func (coefficient 1) ----
def megatron_z_loss_func(logits, z_loss_coeff=1.0):
    return torch.mean(torch.square(torch.logsumexp(logits, dim=-1))) * z_loss_coeff


for E in (4, 8):
    logits = torch.randn(10, E, dtype=torch.float64) * 3 + 2
    x = logits.clone().requires_grad_()
    loss = megatron_z_loss_func(x)
    loss.backward()
    w.add(f"z.E{E}.logits", logits)
    w.add(f"z.E{E}.loss", loss)
    w.add(f"z.E{E}.dlogits", x.grad)


# ---- davidmrau/mixture-of-experts cv_squared (without its .float(): f64 here) ----
def cv_squared(x):
    eps = 1e-10
    if x.shape[0] == 1:
        return torch.tensor([0], device=x.device, dtype=x.dtype)
    return x.var() / (x.mean() ** 2 + eps)


for E in (4, 8):
    # importance through softmax gates (dense) and on sparse top-2 gates given directly
    logits = torch.randn(10, E, dtype=torch.float64)
    x = logits.clone().requires_grad_()
    loss = cv_squared(F.softmax(x, -1).sum(0))
    loss.backward()
    w.add(f"cv.E{E}.logits", logits)
    w.add(f"cv.E{E}.importance", loss)
    w.add(f"cv.E{E}.dlogits", x.grad)
    top_v, top_i = torch.topk(logits, 2, dim=-1)
    gates = torch.zeros_like(logits).scatter(1, top_i, F.softmax(top_v, -1))
    g = gates.clone().requires_grad_()
    loss = cv_squared(g.sum(0))
    loss.backward()
    w.add(f"cv.E{E}.gates", gates)
    w.add(f"cv.E{E}.importance_sparse", loss)
    w.add(f"cv.E{E}.dgates", g.grad)
    load = torch.rand(E, dtype=torch.float64) * 5
    l = load.clone().requires_grad_()
    loss = cv_squared(l)
    loss.backward()
    w.add(f"cv.E{E}.load", load)
    w.add(f"cv.E{E}.load_loss", loss)
    w.add(f"cv.E{E}.dload", l.grad)
# f32, as the reference computes (x.float())
load32 = torch.tensor([1.0, 2.0, 3.5, 0.25], dtype=torch.float32)
w.add("cv.f32.load", load32)
w.add("cv.f32.load_loss", cv_squared(load32))

w.save()
