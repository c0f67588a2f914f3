"""Golden gradients for the indexing and shape ops (tests/autograd/test_index_grad.cpp,
test_shape_grad.cpp). Each case NAME stores its inputs (NAME.x, NAME.src, ... and integer indices),
the upstream gradient NAME.gout, and torch.autograd's gradients NAME.d<input>."""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("index_grad")
D = torch.float64


def leaf(*shape, ints=False):
    t = torch.randint(-2, 3, shape).to(D) if ints else torch.randn(*shape, dtype=D)
    return t.requires_grad_()


def case(name, fn, inputs, consts=None):
    """inputs: {name: leaf tensor}; consts: {name: tensor} (indices, masks)."""
    for k, v in (consts or {}).items():
        w.add(f"{name}.{k}", v)
    for k, v in inputs.items():
        w.add(f"{name}.{k}", v)
    out = fn(**inputs)
    gout = torch.randn(out.shape, dtype=D)
    w.add(f"{name}.gout", gout)
    grads = torch.autograd.grad(out, list(inputs.values()), gout)
    for k, g in zip(inputs.keys(), grads):
        w.add(f"{name}.d{k}", g)


# ---------------- indexing ----------------
gi = torch.randint(0, 4, (3, 5))
case("gather", lambda x: torch.gather(x, 1, gi), {"x": leaf(3, 4)}, {"i": gi})

si = torch.stack([torch.randperm(4)[:3] for _ in range(5)], 1)  # [3, 5], unique per column
case("scatter", lambda x, src: torch.scatter(x, 0, si, src), {"x": leaf(4, 5), "src": leaf(3, 5)}, {"i": si})  # PyTorch needs src shaped like the index for grads
case("scatter_value", lambda x: torch.scatter(x, 0, si, 2.5), {"x": leaf(4, 5)}, {"i": si})

ai = torch.randint(0, 5, (4, 7))  # duplicates along dim 1
case("scatter_add", lambda x, src: torch.scatter_add(x, 1, ai, src), {"x": leaf(4, 5), "src": leaf(4, 7)},
     {"i": ai})
for red in ["sum", "mean", "amax", "amin"]:
    for inc in [True, False]:
        ties = red in ("amax", "amin")  # small integers: ties between src elements and with x
        case(f"scatter_reduce.{red}.{int(inc)}",
             lambda x, src: torch.scatter_reduce(x, 1, ai, src, red, include_self=inc),
             {"x": leaf(4, 5, ints=ties), "src": leaf(4, 7, ints=ties)}, {"i": ai})

isel = torch.tensor([4, 0, 0, 2, 3, 1])
case("index_select.d0", lambda x: torch.index_select(x, 0, isel), {"x": leaf(5, 4)}, {"i": isel})
isel1 = torch.tensor([3, 0, 0, 2, 3])
case("index_select.d1", lambda x: torch.index_select(x, 1, isel1), {"x": leaf(5, 4)}, {"i": isel1})

iadd = torch.tensor([1, 3, 1, 0])
case("index_add", lambda x, src: torch.index_add(x, 1, iadd, src, alpha=3), {"x": leaf(5, 4), "src": leaf(5, 4)},
     {"i": iadd})
icopy = torch.tensor([3, 0, 2])
case("index_copy", lambda x, src: torch.index_copy(x, 0, icopy, src), {"x": leaf(5, 4), "src": leaf(3, 4)},
     {"i": icopy})

a0 = torch.tensor([[0], [-1]])
a1 = torch.tensor([4, -5, 2, 4])  # 4 twice: accumulates
case("index", lambda x: x[a0, a1], {"x": leaf(4, 5, 3)}, {"i0": a0, "i1": a1})
m = torch.randn(4, 5) > 0
case("index_mask", lambda x: x[m], {"x": leaf(4, 5, 3)}, {"m": m})
p0 = torch.tensor([[0], [3]])
p1 = torch.tensor([4, 1, 2])  # unique pairs
case("index_put", lambda x, v: x.index_put((p0, p1), v), {"x": leaf(4, 5, 3), "v": leaf(3, 1)},
     {"i0": p0, "i1": p1})
d0 = torch.tensor([1, 1, 3, 1])
case("index_put_acc", lambda x, v: x.index_put((d0,), v, accumulate=True), {"x": leaf(4, 5, 3), "v": leaf(5, 3)},
     {"i0": d0})

fm = torch.randn(4, 1) > 0
case("masked_fill", lambda x: x.masked_fill(fm, 1.5), {"x": leaf(4, 3)}, {"m": fm})
sm = torch.randn(3, 4) > 0
case("masked_select", lambda x: torch.masked_select(x, sm), {"x": leaf(1, 4)}, {"m": sm})

ei = torch.tensor([[1, 5, 1, 0], [2, 2, 4, 5]])
case("embedding", lambda weight: F.embedding(ei, weight), {"weight": leaf(6, 3)}, {"i": ei})

# ---------------- shape ops ----------------
case("cat", lambda a, b, c: torch.cat([a, b, c], 1), {"a": leaf(2, 3), "b": leaf(2, 1), "c": leaf(2, 4)})
case("stack", lambda a, b: torch.stack([a, b], 1), {"a": leaf(3, 2), "b": leaf(3, 2)})
case("split", lambda x: torch.cat([p * (k + 1) for k, p in enumerate(torch.split(x, 2, 1))], 1), {"x": leaf(3, 5)})
case("chunk", lambda x: torch.chunk(x, 2, 0)[1], {"x": leaf(5, 2)})
case("repeat", lambda x: x.repeat(2, 1, 3), {"x": leaf(2, 3)})
case("repeat_interleave", lambda x: torch.repeat_interleave(x, 3, 1), {"x": leaf(2, 3)})
ri = torch.tensor([2, 0, 3])
case("repeat_interleave_t", lambda x: torch.repeat_interleave(x, ri, 0), {"x": leaf(3, 2)}, {"r": ri})
case("tril", lambda x: torch.tril(x, -1), {"x": leaf(2, 3, 4)})
case("triu", lambda x: torch.triu(x, 1), {"x": leaf(3, 4)})
case("flip", lambda x: torch.flip(x, [0, 2]), {"x": leaf(2, 3, 4)})
case("roll", lambda x: torch.roll(x, [1, -2], [0, 1]), {"x": leaf(3, 4)})
case("roll_flat", lambda x: torch.roll(x, 5), {"x": leaf(3, 4)})
case("pad_constant", lambda x: F.pad(x, [1, 2, -1, 1], value=0.5), {"x": leaf(2, 3, 4)})
case("pad_reflect", lambda x: F.pad(x, [2, 1], mode="reflect"), {"x": leaf(2, 2, 4)})
case("pad_replicate", lambda x: F.pad(x, [2, 3, 1, 0], mode="replicate"), {"x": leaf(1, 2, 3, 3)})
case("pad_circular", lambda x: F.pad(x, [1, 2], mode="circular"), {"x": leaf(2, 2, 3)})

w.save()
