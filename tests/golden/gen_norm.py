"""Golden values for tests/nn/test_norm*.cpp and test_embedding*.cpp: BatchNorm1d/2d (two training
steps with running stats, then eval), GroupNorm, RMSNorm (torch 1.13 has none: the reference is
torch 2.4's formula), Embedding with padding_idx and Bilinear. Forward outputs and the gradients of
sum(out * gout) for inputs, weights and biases, all in f64."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(0)
gen = torch.Generator().manual_seed(1234)
w = GoldenWriter("norm")


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def batchnorm(name, cls, c, shape, momentum=0.1, affine=True):
    m = cls(c, momentum=momentum, affine=affine).double()
    if affine:
        with torch.no_grad():
            m.weight.copy_(randn(c))
            m.bias.copy_(randn(c))
        w.add(f"{name}.weight", m.weight)
        w.add(f"{name}.bias", m.bias)
    for s in range(2):
        x = (randn(*shape) * 2 + 0.5).requires_grad_()
        if affine:
            m.weight.grad = None
            m.bias.grad = None
        y = m(x)
        gout = randn(*y.shape)
        y.backward(gout)
        w.add(f"{name}.x{s}", x)
        w.add(f"{name}.y{s}", y)
        w.add(f"{name}.gout{s}", gout)
        w.add(f"{name}.dx{s}", x.grad)
        if affine:
            w.add(f"{name}.dweight{s}", m.weight.grad)
            w.add(f"{name}.dbias{s}", m.bias.grad)
        w.add(f"{name}.running_mean{s}", m.running_mean)
        w.add(f"{name}.running_var{s}", m.running_var)
        w.add(f"{name}.num_batches_tracked{s}", m.num_batches_tracked)
    m.eval()
    x = randn(*shape).requires_grad_()
    y = m(x)
    gout = randn(*y.shape)
    y.backward(gout)
    w.add(f"{name}.xe", x)
    w.add(f"{name}.ye", y)
    w.add(f"{name}.goute", gout)
    w.add(f"{name}.dxe", x.grad)


batchnorm("bn1d", nn.BatchNorm1d, 3, (5, 3))
batchnorm("bn1d_seq", nn.BatchNorm1d, 4, (3, 4, 6), momentum=0.3)
batchnorm("bn1d_cma", nn.BatchNorm1d, 3, (4, 3, 2), momentum=None, affine=False)
batchnorm("bn2d", nn.BatchNorm2d, 3, (2, 3, 4, 5))
batchnorm("bn2d_cma", nn.BatchNorm2d, 2, (3, 2, 3, 3), momentum=None)


def grads(name, fn, inputs, extra=None):
    """inputs: dict of name -> tensor (leaves); records them, fn(**inputs), gout and the d<name>s."""
    leaves = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    out = fn(**leaves)
    gout = randn(*out.shape)
    out.backward(gout)
    for k, v in leaves.items():
        w.add(f"{name}.{k}", v)
        if v.requires_grad:
            w.add(f"{name}.d{k}", v.grad)
    w.add(f"{name}.out", out)
    w.add(f"{name}.gout", gout)


grads("gn", lambda x, weight, bias: F.group_norm(x, 2, weight, bias, 1e-5),
      {"x": randn(3, 6, 4, 2) * 3 + 1, "weight": randn(6), "bias": randn(6)})
grads("gn_2d", lambda x, weight, bias: F.group_norm(x, 3, weight, bias, 1e-3),
      {"x": randn(4, 3), "weight": randn(3), "bias": randn(3)})
grads("gn_noaffine", lambda x: F.group_norm(x, 1, eps=1e-5), {"x": randn(2, 4, 5)})


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """torch 2.4's composite rms_norm (aten/src/ATen/native/layer_norm.cpp)."""
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    dims = tuple(range(-len(normalized_shape), 0))
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


grads("rms", lambda x, weight: rms_norm(x, (5,), weight, 1e-6), {"x": randn(2, 3, 5), "weight": randn(5)})
grads("rms_2d", lambda x, weight: rms_norm(x, (3, 4), weight), {"x": randn(2, 3, 4), "weight": randn(3, 4)})
grads("rms_noweight", lambda x: rms_norm(x, (6,)), {"x": randn(4, 6) * 0.01})
# The f32 default eps is finfo(float32).eps: values small enough that it matters.
x32 = (torch.randn(3, 4, generator=gen) * 1e-3).requires_grad_()
y32 = rms_norm(x32, (4,))
w.add("rms_f32.x", x32)
w.add("rms_f32.out", y32)

idx = torch.tensor([[0, 2, 5, 2], [9, 1, 2, 0], [3, 3, 7, 8]])
grads("emb", lambda weight, i: F.embedding(i, weight, padding_idx=2), {"weight": randn(10, 4), "i": idx})
grads("emb_neg", lambda weight, i: F.embedding(i, weight, padding_idx=-1), {"weight": randn(10, 3), "i": idx})
grads("emb_none", lambda weight, i: F.embedding(i, weight), {"weight": randn(10, 3), "i": idx[0]})

grads("bil", lambda x1, x2, weight, bias: F.bilinear(x1, x2, weight, bias),
      {"x1": randn(2, 3, 4), "x2": randn(2, 3, 5), "weight": randn(6, 4, 5), "bias": randn(6)})
grads("bil_1d", lambda x1, x2, weight: F.bilinear(x1, x2, weight), {"x1": randn(3), "x2": randn(2), "weight": randn(4, 3, 2)})

w.save()
