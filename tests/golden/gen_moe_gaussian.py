"""Golden values for the Gaussian mixture of experts (tests/moe/test_gaussian_moe.cpp):
p(y|x) = sum_i g_i(x) N(y | a_i^T x + b_i, sigma2_i), written directly with torch.distributions,
for the gates of Nguyen, Nguyen, Ho et al.: top-K sparse softmax, temperature softmax(s/tau), and
activation softmax(act(s)/tau), s = x beta1^T + beta0. Gradients of the mean log-likelihood w.r.t.
every parameter, f64.

Names: gmoe.{beta1,beta0,a,b,sigma2,x,y} and gmoe.<gate>.{density,loglik,dbeta1,dbeta0,da,db,dsigma2}.
Run: /usr/bin/python3 tests/golden/gen_moe_gaussian.py
"""
import torch
from golden import GoldenWriter

torch.manual_seed(20261123)
torch.set_default_dtype(torch.float64)
w = GoldenWriter("moe_gaussian")

k, d, n = 4, 3, 11
P = {
    "beta1": torch.randn(k, d),
    "beta0": torch.randn(k),
    "a": torch.randn(k, d),
    "b": torch.randn(k),
    "sigma2": torch.rand(k) + 0.2,
}
x = torch.rand(n, d) * 2 - 1
y = torch.randn(n) * 1.5
for name, t in P.items():
    w.add("gmoe." + name, t)
w.add("gmoe.x", x)
w.add("gmoe.y", y)


def gates(p, kind, K=None, tau=1.0):
    s = x @ p["beta1"].T + p["beta0"]
    if kind == "topk":
        v, idx = torch.topk(s, K, dim=1)
        return torch.zeros_like(s).scatter(1, idx, torch.softmax(v, dim=1))
    if kind == "temp":
        return torch.softmax(s / tau, dim=1)
    if kind == "tanh":
        return torch.softmax(torch.tanh(s) / tau, dim=1)
    return torch.softmax(torch.sigmoid(s) / tau, dim=1)


cases = {"top1": ("topk", 1, 1.0), "top2": ("topk", 2, 1.0), "dense": ("topk", 4, 1.0),
         "temp": ("temp", None, 0.6), "tanh": ("tanh", None, 0.5), "sigmoid": ("sigmoid", None, 0.3)}
for cname, (kind, K, tau) in cases.items():
    p = {kk: v.clone().requires_grad_() for kk, v in P.items()}
    g = gates(p, kind, K, tau)
    normal = torch.distributions.Normal(x @ p["a"].T + p["b"], p["sigma2"].sqrt())
    dens = (g * normal.log_prob(y[:, None]).exp()).sum(1)
    ll = dens.log().mean()
    ll.backward()
    w.add(f"gmoe.{cname}.density", dens.detach())
    w.add(f"gmoe.{cname}.loglik", ll.detach())
    for kk in P:
        w.add(f"gmoe.{cname}.d{kk}", p[kk].grad)
w.save()
