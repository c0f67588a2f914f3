"""Golden values for tests/nn/test_layers*.cpp: Conv2d, ConvTranspose2d, the pools, the functional
activations of moelab/ops/activation.h and a small Sequential CNN, all in f64. For each case NAME:
inputs (NAME.x and the layer's parameters NAME.weight / NAME.bias), the output NAME.y, the output
gradient NAME.gy and the gradients NAME.dx, NAME.dweight, NAME.dbias of sum(y * gy)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
w = GoldenWriter("layers")


def run_module(name, m, shape, forward=None):
    x = torch.randn(shape, requires_grad=True)
    w.add(name + ".x", x)
    for k, p in m.named_parameters():
        w.add(f"{name}.{k}", p)
    y = forward(m, x) if forward else m(x)
    gy = torch.randn(y.shape)
    w.add(name + ".y", y)
    w.add(name + ".gy", gy)
    params = list(m.named_parameters())
    grads = torch.autograd.grad(y, [x] + [p for _, p in params], gy)
    w.add(name + ".dx", grads[0])
    for (k, _), g in zip(params, grads[1:]):
        w.add(f"{name}.d{k}", g)


# ---- Conv2d (the C++ test repeats these configurations) ----
run_module("conv.basic", nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 4))
run_module("conv.stride", nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0)), (1, 3, 7, 5))
run_module("conv.dilation", nn.Conv2d(2, 3, 3, dilation=2, padding=2), (1, 2, 7, 6))
run_module("conv.groups", nn.Conv2d(4, 6, 3, groups=2, bias=False), (1, 4, 5, 5))
run_module("conv.depthwise", nn.Conv2d(4, 8, 3, groups=4, padding=1), (1, 4, 5, 4))
run_module("conv.same", nn.Conv2d(3, 4, 3, padding="same"), (1, 3, 5, 4))
run_module("conv.same_even", nn.Conv2d(2, 3, (4, 2), padding="same", dilation=(1, 2)), (1, 2, 6, 5))
run_module("conv.valid", nn.Conv2d(2, 3, 2, padding="valid"), (1, 2, 5, 4))
run_module("conv.reflect", nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (1, 2, 5, 4))
run_module("conv.circular_same", nn.Conv2d(2, 3, 4, padding="same", padding_mode="circular"), (1, 2, 6, 6))
run_module("conv.unbatched", nn.Conv2d(3, 4, 3, stride=2, padding=1), (3, 5, 5))

# ---- ConvTranspose2d ----
run_module("convt.basic", nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (1, 3, 3, 4))
run_module("convt.groups", nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), padding=(0, 1), groups=2, bias=False,
                                              dilation=(1, 2)), (1, 4, 3, 4))
run_module("convt.output_size", nn.ConvTranspose2d(2, 3, 3, stride=3), (1, 2, 3, 3),
           forward=lambda m, x: m(x, output_size=[10, 11]))

# ---- pools ----
run_module("pool.max_ceil", nn.MaxPool2d(3, 2, 1, ceil_mode=True), (1, 2, 7, 6))
run_module("pool.max_dilation", nn.MaxPool2d((3, 2), (1, 2), (1, 0), dilation=(2, 1)), (1, 2, 9, 6))
run_module("pool.max_unbatched", nn.MaxPool2d(2), (3, 7, 7))
run_module("pool.avg_ceil_nopad", nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 2, 7, 6))
run_module("pool.avg_pad", nn.AvgPool2d((2, 3), 1, (1, 1)), (1, 2, 5, 6))
run_module("pool.avg_divisor", nn.AvgPool2d(2, divisor_override=3), (1, 2, 6, 4))
run_module("pool.adaptive", nn.AdaptiveAvgPool2d((3, 2)), (1, 3, 7, 5))
run_module("pool.adaptive_global", nn.AdaptiveAvgPool2d(1), (4, 6, 6))

# ---- functional activations: random values plus the kinks (where PyTorch's gradient convention
# matters) and large magnitudes ----
x = torch.randn(4, 8) * 3
x[0] = torch.tensor([-3.0, 3.0, 0.0, 6.0, -1.0, 1.0, 0.5, -0.5])
x[1] = torch.tensor([25.0, -25.0, 40.0, -40.0, 0.1, -0.1, 1e-3, -2.0])
ACTS = {
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "elu": lambda t: F.elu(t, 1.5),
    "selu": F.selu,
    "celu": lambda t: F.celu(t, 0.7),
    "hardtanh": lambda t: F.hardtanh(t, -1.0, 1.0),
    "hardtanh_wide": lambda t: F.hardtanh(t, -0.5, 3.0),
    "relu6": F.relu6,
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "mish": F.mish,
    "logsigmoid": F.logsigmoid,
    "softsign": F.softsign,
    "tanhshrink": F.tanhshrink,
    "softshrink": lambda t: F.softshrink(t, 0.5),
    "hardshrink": lambda t: F.hardshrink(t, 0.5),
    "threshold": lambda t: F.threshold(t, 0.1, -2.0),
    "glu": lambda t: F.glu(t, 1),
    "glu0": lambda t: F.glu(t, 0),
    "softmin": lambda t: F.softmin(t, 1),
}
# PyTorch 1.13's CPU hardswish backward gives 1 at x = 3 in its vectorised loop but 1.5 (= x/3 + 1/2,
# the documented formula, which moelab follows) in its scalar tail, so that kink is left out there.
x_hardswish = x.clone()
x_hardswish[0, 1] = 2.5
for name, fn in ACTS.items():
    xin = x_hardswish if name == "hardswish" else x
    xi = xin.clone().requires_grad_()
    y = fn(xi)
    gy = torch.randn(y.shape)
    (dx,) = torch.autograd.grad(y, xi, gy)
    w.add(f"act.{name}.x", xin)
    w.add(f"act.{name}.y", y)
    w.add(f"act.{name}.gy", gy)
    w.add(f"act.{name}.dx", dx)
# prelu: a weight per channel (dim 1), kinks included
xp = torch.randn(2, 3, 4)
xp[0, :, 0] = 0.0
m = nn.PReLU(3)
with torch.no_grad():
    m.weight.copy_(torch.tensor([0.1, -0.3, 0.7]))
xpl = xp.clone().requires_grad_()
y = m(xpl)
gy = torch.randn(y.shape)
dx, dw = torch.autograd.grad(y, [xpl, m.weight], gy)
for k, v in {"x": xp, "weight": m.weight, "y": y, "gy": gy, "dx": dx, "dweight": dw}.items():
    w.add(f"act.prelu.{k}", v)

# ---- a small CNN end to end ----
cnn = nn.Sequential(
    nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(4, 6, 3, padding="same"), nn.GELU(), nn.AvgPool2d(2),
    nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 5), nn.LogSoftmax(1))
run_module("cnn", cnn, (2, 2, 8, 8))
w.save()
