"""Golden gradients (torch.autograd) for softmax, log_softmax, cumsum, cumprod, sort and topk
(tests/autograd/test_softmax_grad.cpp, test_scan_sort_grad.cpp). Each case stores the input, the
upstream gradient g and the input gradient; "*.gg" cases also store the second-order product."""
import torch
from golden import GoldenWriter

torch.manual_seed(1)
w = GoldenWriter("sort_scan_grad")


def grad_of(f, x, g):
    x = x.detach().clone().requires_grad_()
    (dx,) = torch.autograd.grad(f(x), x, g)
    return dx


for dt, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
    x = torch.randn(3, 4, 5, dtype=dt) * 2
    g = torch.randn(3, 4, 5, dtype=dt)
    w.add(f"x.{tag}", x)
    w.add(f"g.{tag}", g)
    for d in (0, 1, 2):
        w.add(f"softmax_{d}.{tag}", grad_of(lambda t: torch.softmax(t, d), x, g))
        w.add(f"log_softmax_{d}.{tag}", grad_of(lambda t: torch.log_softmax(t, d), x, g))
        w.add(f"cumsum_{d}.{tag}", grad_of(lambda t: torch.cumsum(t, d), x, g))
        w.add(f"cumprod_{d}.{tag}", grad_of(lambda t: torch.cumprod(t * 0.5, d), x, g))
        w.add(f"sort_{d}.{tag}", grad_of(lambda t: torch.sort(t, d)[0], x, g))
        w.add(f"sort_desc_{d}.{tag}", grad_of(lambda t: torch.sort(t, d, descending=True)[0], x, g))
    gk = torch.randn(3, 4, 2, dtype=dt)
    w.add(f"gk.{tag}", gk)
    w.add(f"topk_2.{tag}", grad_of(lambda t: torch.topk(t, 2)[0], x, gk))
    w.add(f"topk_2_small.{tag}", grad_of(lambda t: torch.topk(t, 2, largest=False)[0], x, gk))
    gk0 = torch.randn(2, 4, 5, dtype=dt)
    w.add(f"gk0.{tag}", gk0)
    w.add(f"topk_2_dim0.{tag}", grad_of(lambda t: torch.topk(t, 2, 0)[0], x, gk0))
    # cumprod through zeros: one zero, two zeros, a zero first, no zero
    xz = torch.tensor([[0.5, 0.0, 2.0, -1.5, 3.0], [1.5, 0.0, 2.0, 0.0, 0.5],
                       [0.0, 2.0, -1.0, 1.5, 2.0], [1.0, 2.0, -0.5, 1.5, 0.8]], dtype=dt)
    gz = torch.randn(4, 5, dtype=dt)
    w.add(f"xz.{tag}", xz)
    w.add(f"gz.{tag}", gz)
    w.add(f"cumprod_zeros.{tag}", grad_of(lambda t: torch.cumprod(t, 1), xz, gz))

# Second order (f64): v . d/dx (g . d softmax(x)/dx), through create_graph.
x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
g = torch.randn(3, 5, dtype=torch.float64)
v = torch.randn(3, 5, dtype=torch.float64)
w.add("x2.f64", x)
w.add("g2.f64", g)
w.add("v2.f64", v)
for name, f in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
    (dx,) = torch.autograd.grad(f(x, 1), x, g, create_graph=True)
    (ddx,) = torch.autograd.grad(dx, x, v)
    w.add(f"{name}.gg.f64", ddx)
w.save()
