"""Golden values and input gradients of the torch.nn.functional losses (tests/nn/test_loss*.cpp).

Each case NAME stores its differentiable inputs NAME.<x>, its constant arguments (targets, weights)
NAME.<arg>, the output NAME.out, an output gradient NAME.gout and PyTorch's input gradients
NAME.d<x> (all f64). The C++ tests call the same function with the same options and compare.
"""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(7)
w = GoldenWriter("loss")
REDS = ["mean", "sum", "none"]
D = torch.float64


def case(name, fn, diff, const=None):
    """fn(**diff, **const) -> output; gradients are taken w.r.t. the tensors in diff."""
    const = const or {}
    for k, v in list(diff.items()) + list(const.items()):
        w.add(f"{name}.{k}", v)
    leaves = {k: v.clone().requires_grad_() for k, v in diff.items()}
    out = fn(**leaves, **const)
    gout = torch.randn(out.shape, dtype=D)
    w.add(f"{name}.out", out)
    w.add(f"{name}.gout", gout)
    grads = torch.autograd.grad(out, list(leaves.values()), gout)
    for k, g in zip(leaves, grads):
        w.add(f"{name}.d{k}", g)


def randn(*s):
    return torch.randn(*s, dtype=D)


def probs(*s, dim=1):
    return torch.softmax(randn(*s) * 2, dim)


# ---- cross_entropy and nll_loss ----
N, C = 6, 5
x = randn(N, C) * 2
t = torch.tensor([0, 4, 2, 2, 1, 3])
t_ign = torch.tensor([0, -100, 2, 2, -100, 3])
t_ign1 = torch.tensor([0, 1, 2, 1, 4, 3])  # ignore_index = 1, a real class
wt = torch.rand(C, dtype=D) + 0.5
p = probs(N, C)
xk = randn(2, 4, 3, 3)
tk = torch.randint(0, 4, (2, 3, 3))
tk[0, 1, 2] = -100
tk[1, 0, 0] = -100
wk = torch.rand(4, dtype=D) + 0.5
pk = probs(2, 4, 3, 3)
for red in REDS:
    r = dict(reduction=red)
    case(f"ce.plain.{red}", lambda x, t: F.cross_entropy(x, t, **r), {"x": x}, {"t": t})
    case(f"ce.weight.{red}", lambda x, t, w: F.cross_entropy(x, t, w, **r), {"x": x}, {"t": t, "w": wt})
    case(f"ce.ignore.{red}", lambda x, t, w: F.cross_entropy(x, t, w, **r), {"x": x}, {"t": t_ign, "w": wt})
    case(f"ce.ignore1.{red}", lambda x, t: F.cross_entropy(x, t, ignore_index=1, **r), {"x": x}, {"t": t_ign1})
    case(f"ce.ls.{red}", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2, **r), {"x": x}, {"t": t_ign})
    case(f"ce.ls_weight.{red}", lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.3, **r), {"x": x},
         {"t": t_ign, "w": wt})
    case(f"ce.ls_weight_ign1.{red}",
         lambda x, t, w: F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.3, **r), {"x": x},
         {"t": t_ign1, "w": wt})
    case(f"ce.prob.{red}", lambda x, p: F.cross_entropy(x, p, **r), {"x": x, "p": p})
    case(f"ce.prob_weight_ls.{red}", lambda x, p, w: F.cross_entropy(x, p, w, label_smoothing=0.25, **r),
         {"x": x, "p": p}, {"w": wt})
    case(f"ce.kdim.{red}", lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.1, **r), {"x": xk},
         {"t": tk, "w": wk})
    case(f"ce.kdim_prob.{red}", lambda x, p, w: F.cross_entropy(x, p, w, label_smoothing=0.1, **r),
         {"x": xk, "p": pk}, {"w": wk})
    case(f"ce.unbatched.{red}", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1, **r), {"x": x[1]},
         {"t": t[1]})
    case(f"ce.unbatched_prob.{red}", lambda x, p: F.cross_entropy(x, p, **r), {"x": x[1], "p": p[1]})
    lp = torch.log_softmax(x, 1)
    case(f"nll.weight_ignore.{red}", lambda x, t, w: F.nll_loss(x, t, w, **r), {"x": lp}, {"t": t_ign, "w": wt})
    case(f"nll.kdim.{red}", lambda x, t: F.nll_loss(x, t, ignore_index=2, **r), {"x": torch.log_softmax(xk, 1)},
         {"t": tk.clamp_min(0)})
# every target ignored: "mean" is 0 / 0
w.add("ce.all_ignored.out", F.cross_entropy(x[:2], torch.tensor([-100, -100])))

# ---- binary cross entropy ----
xb = torch.rand(4, 5, dtype=D) * 0.98 + 0.01
tb = torch.rand(4, 5, dtype=D)
wb = torch.rand(5, dtype=D) + 0.5
logits = randn(4, 5) * 3
logits[0, 0], logits[0, 1] = 60.0, -60.0
pw = torch.rand(5, dtype=D) * 3
for red in REDS:
    r = dict(reduction=red)
    case(f"bce.plain.{red}", lambda x, t: F.binary_cross_entropy(x, t, **r), {"x": xb, "t": tb})
    case(f"bce.weight.{red}", lambda x, t, w: F.binary_cross_entropy(x, t, w, **r), {"x": xb}, {"t": tb, "w": wb})
    case(f"bcel.plain.{red}", lambda x, t: F.binary_cross_entropy_with_logits(x, t, **r), {"x": logits, "t": tb})
    case(f"bcel.weight_pos.{red}",
         lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw, **r), {"x": logits, "t": tb},
         {"w": wb, "pw": pw})
# inputs at the ends: logs clamped at -100, gradient (x - t) / max(x (1 - x), 1e-12)
xe = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0], dtype=D)
te = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 1.0, 0.0], dtype=D)
case("bce.edge", lambda x, t: F.binary_cross_entropy(x, t, reduction="none"), {"x": xe}, {"t": te})

# ---- kl_div ----
lq = torch.log_softmax(randn(3, 4), 1)
pt = probs(3, 4)
for red in REDS + ["batchmean"]:
    case(f"kl.{red}", lambda x, t: F.kl_div(x, t, reduction=red), {"x": lq, "t": pt})
    case(f"kl_log.{red}", lambda x, t: F.kl_div(x, t, reduction=red, log_target=True), {"x": lq, "t": pt.log()})

# ---- regression ----
a, b = randn(3, 4) * 2, randn(3, 4) * 2
for red in REDS:
    r = dict(reduction=red)
    case(f"mse.{red}", lambda x, t: F.mse_loss(x, t, **r), {"x": a, "t": b})
    case(f"l1.{red}", lambda x, t: F.l1_loss(x, t, **r), {"x": a, "t": b})
    case(f"smooth_l1.{red}", lambda x, t: F.smooth_l1_loss(x, t, **r), {"x": a, "t": b})
    case(f"smooth_l1_b05.{red}", lambda x, t: F.smooth_l1_loss(x, t, beta=0.5, **r), {"x": a, "t": b})
    case(f"smooth_l1_b0.{red}", lambda x, t: F.smooth_l1_loss(x, t, beta=0.0, **r), {"x": a, "t": b})
    case(f"huber.{red}", lambda x, t: F.huber_loss(x, t, **r), {"x": a, "t": b})
    case(f"huber_d25.{red}", lambda x, t: F.huber_loss(x, t, delta=2.5, **r), {"x": a, "t": b})

# ---- similarity ----
c1, c2 = randn(4, 6), randn(4, 6)
c1[1] *= 1e-9  # norm below eps: the clamp shows in value and gradient
c2[2] = 0.0
case("cos.dim1", lambda x1, x2: F.cosine_similarity(x1, x2), {"x1": c1, "x2": c2})
case("cos.dim0", lambda x1, x2: F.cosine_similarity(x1, x2, dim=0, eps=1e-3), {"x1": c1, "x2": c2})
case("cos.bcast", lambda x1, x2: F.cosine_similarity(x1, x2, dim=-1), {"x1": randn(4, 1, 6), "x2": randn(3, 6)})
case("cos.bcast_dim", lambda x1, x2: F.cosine_similarity(x1, x2, dim=1), {"x1": randn(4, 1), "x2": randn(4, 3)})
ye = torch.tensor([1, -1, -1, 1, 0])
e1, e2 = randn(5, 3), randn(5, 3)
for red in REDS:
    r = dict(reduction=red)
    case(f"cosemb.{red}", lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y, margin=-0.2, **r),
         {"x1": e1, "x2": e2}, {"y": ye})
    case(f"cosemb_m.{red}", lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y, margin=0.1, **r),
         {"x1": e1, "x2": e2}, {"y": ye.to(D)})
    case(f"rank.{red}", lambda x1, x2, y: F.margin_ranking_loss(x1, x2, y, margin=0.3, **r),
         {"x1": randn(6), "x2": randn(6)}, {"y": torch.tensor([1.0, -1, 1, -1, 1, -1], dtype=D)})
case("cosemb.unbatched", lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y), {"x1": e1[0], "x2": e2[0]},
     {"y": torch.tensor(-1)})


# ---- InfoNCE: the formula of the info-nce-pytorch package ----
def info_nce(query, positive_key, negative_keys=None, temperature=0.1, reduction="mean", negative_mode="unpaired"):
    query, positive_key = F.normalize(query, dim=-1), F.normalize(positive_key, dim=-1)
    if negative_keys is not None:
        negative_keys = F.normalize(negative_keys, dim=-1)
        positive_logit = torch.sum(query * positive_key, dim=1, keepdim=True)
        if negative_mode == "unpaired":
            negative_logits = query @ negative_keys.transpose(-2, -1)
        else:
            negative_logits = (query.unsqueeze(1) @ negative_keys.transpose(-2, -1)).squeeze(1)
        logits = torch.cat([positive_logit, negative_logits], dim=1)
        labels = torch.zeros(len(logits), dtype=torch.long)
    else:
        logits = query @ positive_key.transpose(-2, -1)
        labels = torch.arange(len(query))
    return F.cross_entropy(logits / temperature, labels, reduction=reduction)


q, pk = randn(4, 8), randn(4, 8)
nu, npd = randn(6, 8), randn(4, 3, 8)
for red in REDS:
    case(f"nce.inbatch.{red}", lambda q, p: info_nce(q, p, reduction=red), {"q": q, "p": pk})
    case(f"nce.unpaired.{red}", lambda q, p, n: info_nce(q, p, n, temperature=0.5, reduction=red),
         {"q": q, "p": pk, "n": nu})
    case(f"nce.paired.{red}", lambda q, p, n: info_nce(q, p, n, reduction=red, negative_mode="paired"),
         {"q": q, "p": pk, "n": npd})
w.save()
