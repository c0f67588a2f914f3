"""Golden values for tests/moe/test_dispatch.cpp: the HF-transformers (Mixtral) way of running
top-k experts, a loop over experts with torch.where on the one-hot expert mask, index_add_ of the
weighted expert outputs, with a kept (capacity) mask; plus the dispatch order as PyTorch's stable
argsort of the flat expert ids. Each case NAME: inputs x [T,d], W [E,d,f], ids [T,k], w [T,k],
kept [T,k], gout [T,f]; outputs out, dx, dW, dw and order (kept slots only)."""
import torch
from golden import GoldenWriter

gw = GoldenWriter("moe_dispatch")


def case(name, T, d, f, E, k, drop, seed, allowed=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, d, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(E, d, f, generator=g, dtype=torch.float64, requires_grad=True)
    allowed = torch.tensor(allowed if allowed else list(range(E)))
    ids = allowed[torch.randint(0, len(allowed), (T, k), generator=g)]
    w = torch.rand(T, k, generator=g, dtype=torch.float64, requires_grad=True)
    kept = torch.rand(T, k, generator=g) < (0.7 if drop else 2.0)
    gout = torch.randn(T, f, generator=g, dtype=torch.float64)

    out = torch.zeros(T, f, dtype=torch.float64)
    mask = torch.nn.functional.one_hot(ids, E).permute(2, 1, 0) * kept.t().unsqueeze(0)  # [E, k, T]
    for e in range(E):
        slot, tok = torch.where(mask[e])
        cur = x[tok] @ W[e] * w[tok, slot, None]
        out = out.index_add(0, tok, cur)
    out.backward(gout)

    flat = ids.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    order = order[kept.reshape(-1)[order]]
    for key, t in [("x", x), ("W", W), ("ids", ids), ("w", w), ("kept", kept), ("gout", gout), ("out", out),
                   ("dx", x.grad), ("dW", W.grad), ("dw", w.grad), ("order", order)]:
        gw.add(f"{name}.{key}", t)


case("k2_drop", T=9, d=4, f=5, E=5, k=2, drop=True, seed=1, allowed=[0, 1, 3, 4])
case("k1", T=7, d=3, f=4, E=4, k=1, drop=False, seed=2)
case("k4_drop", T=6, d=3, f=2, E=6, k=4, drop=True, seed=3, allowed=[0, 2, 3, 5])
gw.save()
