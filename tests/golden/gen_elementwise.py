"""Golden values for unary, binary and reduction ops (tests/ops/test_elementwise.cpp, test_reduce.cpp)."""
import math
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("elementwise")

UNARY = {
    "neg": torch.neg, "abs": torch.abs, "sign": torch.sign, "exp": torch.exp, "log": torch.log,
    "log1p": torch.log1p, "expm1": torch.expm1, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
    "square": torch.square, "reciprocal": torch.reciprocal, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
    "softplus": F.softplus, "softplus_b2": lambda x: F.softplus(x, beta=2.0, threshold=5.0),
    "erf": torch.erf, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
    "clamp": lambda x: torch.clamp(x, -0.5, 0.7), "clamp_min": lambda x: torch.clamp(x, min=0.1),
    "pow3": lambda x: torch.pow(x, 3.0), "pow_half": lambda x: torch.pow(x, 0.5),
}
POSITIVE = {"log", "log1p", "sqrt", "rsqrt", "pow_half"}

for dt, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
    x = torch.randn(3, 5, dtype=dt) * 2
    x[0, 0] = 2.5  # a tie for round (half to even)
    x[0, 1] = -1.5
    xp = torch.rand(3, 5, dtype=dt) * 4 + 0.05
    w.add(f"x.{tag}", x)
    w.add(f"xp.{tag}", xp)
    for name, fn in UNARY.items():
        w.add(f"{name}.{tag}", fn(xp if name in POSITIVE else x))

    a = torch.randn(4, 1, 3, dtype=dt)
    b = torch.randn(5, 1, dtype=dt) + 0.1
    bp = torch.rand(5, 1, dtype=dt) + 0.5
    w.add(f"a.{tag}", a)
    w.add(f"b.{tag}", b)
    w.add(f"bp.{tag}", bp)
    w.add(f"add.{tag}", a + b)
    w.add(f"add_alpha.{tag}", torch.add(a, b, alpha=2.5))
    w.add(f"sub.{tag}", a - b)
    w.add(f"mul.{tag}", a * b)
    w.add(f"div.{tag}", a / b)
    w.add(f"pow.{tag}", torch.pow(a.abs(), bp))
    w.add(f"maximum.{tag}", torch.maximum(a, b))
    w.add(f"minimum.{tag}", torch.minimum(a, b))
    w.add(f"lt.{tag}", a < b)
    w.add(f"ge.{tag}", a >= b)

    # reductions on a [2, 3, 4] tensor
    r = torch.randn(2, 3, 4, dtype=dt)
    w.add(f"r.{tag}", r)
    w.add(f"sum_all.{tag}", r.sum())
    w.add(f"sum_1.{tag}", r.sum(1))
    w.add(f"sum_02_keep.{tag}", r.sum((0, 2), keepdim=True))
    w.add(f"mean_m1.{tag}", r.mean(-1))
    w.add(f"prod_1.{tag}", r.prod(1))
    w.add(f"amax_02.{tag}", r.amax((0, 2)))
    w.add(f"amin_1.{tag}", r.amin(1))
    v, i = r.max(2)
    w.add(f"max2_values.{tag}", v)
    w.add(f"max2_indices.{tag}", i)
    v, i = r.min(0, keepdim=True)
    w.add(f"min0_values.{tag}", v)
    w.add(f"min0_indices.{tag}", i)
    w.add(f"argmax_all.{tag}", r.argmax())
    w.add(f"argmin_1.{tag}", r.argmin(1))
    w.add(f"var_1.{tag}", r.var(1))
    w.add(f"var_all_pop.{tag}", r.var(unbiased=False))
    w.add(f"std_02.{tag}", r.std((0, 2)))
    w.add(f"norm1_2.{tag}", torch.linalg.vector_norm(r, 1, dim=2))
    w.add(f"norm2_all.{tag}", torch.linalg.vector_norm(r, 2))
    w.add(f"norminf_1.{tag}", torch.linalg.vector_norm(r, math.inf, dim=1))
    w.add(f"norm3_0.{tag}", torch.linalg.vector_norm(r, 3, dim=0))
    w.add(f"logsumexp_2.{tag}", torch.logsumexp(r, 2))
    w.add(f"logsumexp_01.{tag}", torch.logsumexp(r * 50, (0, 1)))

ri = torch.randint(-5, 6, (3, 4))
w.add("ri", ri)
w.add("ri_sum_0", ri.sum(0))
w.add("ri_prod_1", ri.prod(1))
w.add("ri_any_1", (ri > 3).any(1))
w.add("ri_all_0", (ri > -4).all(0))
w.save()
