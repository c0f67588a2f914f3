"""Golden data for the conv family: conv2d, conv_transpose2d, max/avg/adaptive pooling, forward and
gradients (torch autograd), f32 and f64.

Each case stores its inputs, its parameters as an i64 tensor NAME.params (layout per op below), the
output and the gradients for a random upstream gradient NAME.gy.
Run: /usr/bin/python3 tests/golden/gen_conv.py
"""
import torch
import torch.nn.functional as F

from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("conv")


def rnd(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def both_dtypes(name, inputs, fn, params):
    """inputs: dict of f64 tensors (None = absent). Writes f32 and f64 versions of the case."""
    for dt, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        pre = f"{tag}.{name}"
        ins = {k: (v.to(dt).requires_grad_() if v is not None else None) for k, v in inputs.items()}
        outs = fn(**ins)
        if not isinstance(outs, tuple):
            outs = (outs,)
        y = outs[0]
        gy = torch.randn(y.shape, dtype=torch.float64).to(dt)
        y.backward(gy)
        w.add(pre + ".params", torch.tensor(params, dtype=torch.int64))
        for k, v in ins.items():
            if v is None:
                continue
            w.add(f"{pre}.{k}", v)
            w.add(f"{pre}.g{k}", v.grad)
        w.add(pre + ".out", y)
        for i, extra in enumerate(outs[1:]):
            w.add(f"{pre}.out{i + 1}", extra)
        w.add(pre + ".gy", gy)


# conv2d params: stride_h stride_w pad_h pad_w dil_h dil_w groups
CONV = [
    ("basic", (2, 2, 5, 6), (3, 2, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
    ("stride_pad_nobias", (1, 3, 6, 7), (4, 3, 3, 2), False, (2, 2), (1, 1), (1, 1), 1),
    ("dilation", (1, 2, 7, 8), (2, 2, 3, 3), True, (1, 1), (2, 1), (2, 2), 1),
    ("groups", (1, 4, 4, 5), (6, 2, 3, 3), True, (2, 1), (1, 1), (1, 1), 2),
    ("depthwise", (1, 3, 4, 5), (3, 1, 3, 3), False, (1, 1), (1, 1), (1, 1), 3),
    ("stride_remainder", (1, 2, 6, 7), (2, 2, 3, 3), True, (2, 3), (0, 0), (1, 1), 1),
    ("one_by_one", (1, 3, 3, 4), (2, 3, 1, 1), True, (1, 1), (0, 0), (1, 1), 1),
    ("unbatched", (3, 4, 5), (2, 3, 2, 2), True, (1, 1), (1, 0), (1, 1), 1),
]
for name, xs, ws, bias, s, p, d, g in CONV:
    ins = {"x": rnd(*xs), "w": rnd(*ws), "b": rnd(ws[0]) if bias else None}
    both_dtypes("conv2d." + name, ins,
                lambda x, w, b, s=s, p=p, d=d, g=g: F.conv2d(x, w, b, s, p, d, g),
                [*s, *p, *d, g])

# conv_transpose2d params: stride_h stride_w pad_h pad_w outpad_h outpad_w dil_h dil_w groups
CONVT = [
    ("basic", (1, 3, 3, 4), (3, 2, 3, 3), True, (2, 2), (1, 1), (1, 1), (1, 1), 1),
    ("groups_dilation", (1, 4, 3, 3), (4, 2, 2, 3), False, (1, 2), (0, 1), (1, 0), (2, 1), 2),
    ("unbatched", (2, 3, 4), (2, 3, 2, 2), True, (1, 1), (0, 0), (0, 0), (1, 1), 1),
]
for name, xs, ws, bias, s, p, op, d, g in CONVT:
    cout = ws[1] * g
    ins = {"x": rnd(*xs), "w": rnd(*ws), "b": rnd(cout) if bias else None}
    both_dtypes("conv_transpose2d." + name, ins,
                lambda x, w, b, s=s, p=p, op=op, d=d, g=g: F.conv_transpose2d(x, w, b, s, p, op, g, d),
                [*s, *p, *op, *d, g])

# max_pool2d params: k_h k_w stride_h stride_w pad_h pad_w dil_h dil_w ceil_mode
MAXP = [
    ("basic", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ("ceil", (1, 2, 7, 8), (2, 3), (2, 1), (0, 1), (1, 1), True),
    ("dilation", (1, 2, 8, 7), (3, 2), (1, 2), (1, 1), (2, 2), False),
    ("ceil_pad", (1, 1, 6, 6), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ("unbatched", (3, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), False),
]
for name, xs, k, s, p, d, ceil in MAXP:
    ins = {"x": rnd(*xs)}
    both_dtypes("max_pool2d." + name, ins,
                lambda x, k=k, s=s, p=p, d=d, ceil=ceil: F.max_pool2d(x, k, s, p, d, ceil, return_indices=True),
                [*k, *s, *p, *d, int(ceil)])
# Ties (small integers) keep the first maximum; NaN wins.
ties = torch.randint(0, 3, (1, 2, 6, 6)).double()
ties[0, 1, 2, 3] = float("nan")
both_dtypes("max_pool2d.ties_nan", {"x": ties},
            lambda x: F.max_pool2d(x, 3, 2, 1, 1, False, return_indices=True), [3, 3, 2, 2, 1, 1, 1, 1, 0])

# avg_pool2d params: k_h k_w stride_h stride_w pad_h pad_w ceil_mode count_include_pad divisor (0 = none)
AVGP = [
    ("basic", (1, 2, 7, 7), (3, 3), (2, 2), (1, 1), False, True, 0),
    ("exclude_pad", (1, 2, 7, 7), (3, 3), (2, 2), (1, 1), False, False, 0),
    ("ceil_include_pad", (1, 2, 6, 7), (3, 2), (2, 2), (1, 1), True, True, 0),
    ("ceil_exclude_pad", (1, 2, 6, 7), (3, 2), (2, 2), (1, 1), True, False, 0),
    ("divisor", (1, 2, 5, 6), (2, 3), (1, 2), (1, 0), False, True, 5),
    ("unbatched", (2, 5, 4), (2, 2), (1, 1), (0, 0), False, True, 0),
]
for name, xs, k, s, p, ceil, cip, div in AVGP:
    ins = {"x": rnd(*xs)}
    both_dtypes("avg_pool2d." + name, ins,
                lambda x, k=k, s=s, p=p, ceil=ceil, cip=cip, div=div:
                    F.avg_pool2d(x, k, s, p, ceil, cip, div if div else None),
                [*k, *s, *p, int(ceil), int(cip), div])

# adaptive_avg_pool2d params: out_h out_w
ADAP = [
    ("uneven", (1, 2, 7, 9), (3, 4)),
    ("global", (1, 2, 5, 5), (1, 1)),
    ("upsample", (1, 2, 3, 4), (5, 7)),
    ("unbatched", (2, 6, 5), (4, 3)),
]
for name, xs, o in ADAP:
    both_dtypes("adaptive_avg_pool2d." + name, {"x": rnd(*xs)},
                lambda x, o=o: F.adaptive_avg_pool2d(x, o), [*o])

w.save()
