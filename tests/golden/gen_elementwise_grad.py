"""Golden gradients (torch.autograd) for unary, binary, reduction and view ops: for each op f and
input x, the gradient of sum(f(x) * w) for a fixed weight w (tests/autograd/test_golden_grad.cpp)."""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(1)
w = GoldenWriter("elementwise_grad")

x = torch.randn(3, 4, dtype=torch.float64)
xp = torch.rand(3, 4, dtype=torch.float64) + 0.2
wx = torch.randn(3, 4, dtype=torch.float64)
w.add("x", x)
w.add("xp", xp)
w.add("w", wx)

UNARY = {
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "silu": F.silu,
    "softplus": F.softplus, "erf": torch.erf, "relu": torch.relu, "abs": torch.abs, "sin": torch.sin,
    "rsqrt": torch.rsqrt, "clamp": lambda t: torch.clamp(t, -0.5, 0.5), "pow": lambda t: t ** 2.5,
}
POSITIVE = {"log", "sqrt", "rsqrt", "pow"}
for name, fn in UNARY.items():
    inp = (xp if name in POSITIVE else x).clone().requires_grad_()
    (fn(inp) * wx).sum().backward()
    w.add(f"{name}.grad", inp.grad)

a = torch.randn(2, 3, 4, dtype=torch.float64)
b = torch.rand(3, 1, dtype=torch.float64) + 0.5
wab = torch.randn(2, 3, 4, dtype=torch.float64)
w.add("a", a)
w.add("b", b)
w.add("wab", wab)
BINARY = {"add": lambda p, q: p + q, "mul": lambda p, q: p * q, "div": lambda p, q: p / q,
          "pow": lambda p, q: p.abs() ** q, "maximum": torch.maximum}
for name, fn in BINARY.items():
    pa, pb = a.clone().requires_grad_(), b.clone().requires_grad_()
    (fn(pa, pb) * wab).sum().backward()
    w.add(f"{name}.grad_a", pa.grad)
    w.add(f"{name}.grad_b", pb.grad)

REDUCE = {"sum1": lambda t: t.sum(1), "mean02": lambda t: t.mean((0, 2)), "prod2": lambda t: t.prod(2),
          "amax1": lambda t: t.amax(1), "var1": lambda t: t.var(1), "norm2": lambda t: t.norm(dim=2),
          "logsumexp0": lambda t: torch.logsumexp(t, 0), "max2": lambda t: t.max(2).values}
for name, fn in REDUCE.items():
    pa = a.clone().requires_grad_()
    out = fn(pa)
    wo = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    (out * wo).sum().backward()
    w.add(f"{name}.grad", pa.grad)

VIEWS = {"permute": lambda t: t.permute(2, 0, 1), "slice": lambda t: t[:, 1:, ::2], "select": lambda t: t[1, :, 2],
         "expand": lambda t: t[:, :1, :].expand(2, 5, 4), "reshape": lambda t: t.transpose(0, 1).reshape(6, 4)}
for name, fn in VIEWS.items():
    pa = a.clone().requires_grad_()
    out = fn(pa)
    wo = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    (out * wo).sum().backward()
    w.add(f"{name}.grad", pa.grad)
w.save()
