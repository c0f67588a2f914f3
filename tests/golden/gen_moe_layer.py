"""Golden values for tests/moe/test_moe_layer.cpp: the HF-transformers sparse MoE block written the
usual way (MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock): router logits = gate(x), softmax over
experts, top-k, optional renormalisation, then a loop over experts with torch.where on the one-hot
expert mask and index_add_ of the weighted expert outputs; experts are w2(act(w1 x) * w3 x) (SwiGLU)
or w2(act(w1 x)); optional shared expert added to every token, optionally scaled by
sigmoid(shared_expert_gate(x)) (Qwen2-MoE). Routing runs in the model dtype here (f64), where HF
casts to float32: moelab routes f64 models in f64.

Each case NAME stores the inputs x [B,S,d], gate [E,d] (nn.Linear layout, = TopKRouter.weight),
the expert weights in moelab's layout W1 [E,d,f] (= w1.weight.T of each expert), W2 [E,f,d],
W3 [E,d,f], shared SW1 [1,d,fs], SW2, SW3, sgate [1,d]; gout; and the outputs out, ids and the
gradients d<input>."""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

gw = GoldenWriter("moe_layer")
ACT = {"swiglu": F.silu, "silu": F.silu, "relu": F.relu, "gelu": F.gelu}


def expert(x, w1, w2, w3, act):
    # HF: self.w2(self.act_fn(self.w1(x)) * self.w3(x)) with nn.Linear weights [f, d] / [d, f]
    h = ACT[act](F.linear(x, w1))
    if act == "swiglu":
        h = h * F.linear(x, w3)
    return F.linear(h, w2)


def case(name, B, S, d, f, E, k, renorm, act, fs=0, sgate=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dt) * scale).requires_grad_()

    x = rnd(B, S, d)
    gate = rnd(E, d)
    # Per-expert nn.Linear weights: w1 [f, d], w2 [d, f], w3 [f, d].
    w1 = [rnd(f, d, scale=d ** -0.5) for _ in range(E)]
    w2 = [rnd(d, f, scale=f ** -0.5) for _ in range(E)]
    w3 = [rnd(f, d, scale=d ** -0.5) for _ in range(E)]
    if fs:
        s1, s2, s3 = rnd(fs, d, scale=d ** -0.5), rnd(d, fs, scale=fs ** -0.5), rnd(fs, d, scale=d ** -0.5)
        sg = rnd(1, d)
    gout = torch.randn(B, S, d, generator=g, dtype=dt)

    h = x.view(-1, d)
    router_logits = F.linear(h, gate)
    routing_weights = F.softmax(router_logits, dim=1, dtype=dt)
    routing_weights, selected = torch.topk(routing_weights, k, dim=-1)
    if renorm:
        routing_weights = routing_weights / routing_weights.sum(dim=-1, keepdim=True)
    final = torch.zeros(B * S, d, dtype=dt)
    expert_mask = F.one_hot(selected, num_classes=E).permute(2, 1, 0)
    for e in range(E):
        idx, top_x = torch.where(expert_mask[e])
        cur = h[None, top_x].reshape(-1, d)
        cur_h = expert(cur, w1[e], w2[e], w3[e], act) * routing_weights[top_x, idx, None]
        final = final.index_add(0, top_x, cur_h)
    if fs:
        shared = expert(h, s1, s2, s3, act)
        if sgate:
            shared = torch.sigmoid(F.linear(h, sg)) * shared
        final = final + shared
    out = final.view(B, S, d)
    out.backward(gout)

    def stack_t(ws):
        return torch.stack([w.t() for w in ws])

    def stack_grad_t(ws):
        return torch.stack([w.grad.t() for w in ws])

    items = [("x", x), ("gate", gate), ("W1", stack_t(w1)), ("W2", stack_t(w2)), ("gout", gout), ("out", out),
             ("ids", selected), ("dx", x.grad), ("dgate", gate.grad), ("dW1", stack_grad_t(w1)),
             ("dW2", stack_grad_t(w2))]
    if act == "swiglu":
        items += [("W3", stack_t(w3)), ("dW3", stack_grad_t(w3))]
    if fs:
        items += [("SW1", s1.t()[None]), ("SW2", s2.t()[None]), ("dSW1", s1.grad.t()[None]),
                  ("dSW2", s2.grad.t()[None])]
        if act == "swiglu":
            items += [("SW3", s3.t()[None]), ("dSW3", s3.grad.t()[None])]
        if sgate:
            items += [("sgate", sg), ("dsgate", sg.grad)]
    for key, t in items:
        gw.add(f"{name}.{key}", t)


case("mixtral", B=2, S=5, d=6, f=8, E=4, k=2, renorm=True, act="swiglu", seed=1)
case("qwen2", B=3, S=3, d=5, f=4, E=6, k=2, renorm=False, act="swiglu", fs=7, sgate=True, seed=2)
case("deepseek_gelu", B=1, S=7, d=4, f=6, E=5, k=3, renorm=True, act="gelu", fs=5, seed=3)
case("relu_k1", B=2, S=4, d=3, f=5, E=3, k=1, renorm=False, act="relu", seed=4)
gw.save()
