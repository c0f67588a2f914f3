"""Golden values for indexing and shape ops (tests/ops/test_indexing*.cpp, test_shape_ops*.cpp)."""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("index")

FLOATS = [(torch.float32, "f32"), (torch.float64, "f64")]

# ---------------- indexing ----------------
for dt, tag in FLOATS + [(torch.int64, "i64"), (torch.int32, "i32")]:
    x = (torch.randn(3, 4, 5) * 10).to(dt)
    w.add(f"gather.x.{tag}", x)
    i1 = torch.randint(0, 4, (3, 2, 5))
    w.add(f"gather.i1.{tag}", i1)
    w.add(f"gather.d1.{tag}", torch.gather(x, 1, i1))
    i2 = torch.randint(0, 5, (2, 4, 3))  # smaller than x on the other dims
    w.add(f"gather.i2.{tag}", i2)
    w.add(f"gather.d2.{tag}", torch.gather(x, -1, i2))

    # scatter (unique targets per column so the result is well defined), scatter value, scatter_add
    base = (torch.randn(4, 5) * 10).to(dt)
    w.add(f"scatter.x.{tag}", base)
    si = torch.stack([torch.randperm(4)[:3] for _ in range(5)], 1)  # [3, 5]
    src = (torch.randn(3, 6) * 10).to(dt)  # larger than the index on dim 1
    w.add(f"scatter.i.{tag}", si)
    w.add(f"scatter.src.{tag}", src)
    w.add(f"scatter.out.{tag}", torch.scatter(base, 0, si, src))
    w.add(f"scatter.value.{tag}", torch.scatter(base, 0, si, 7))
    ai = torch.randint(0, 5, (4, 7))  # duplicates along dim 1
    asrc = (torch.randn(4, 7) * 10).to(dt)
    w.add(f"scatter_add.i.{tag}", ai)
    w.add(f"scatter_add.src.{tag}", asrc)
    w.add(f"scatter_add.out.{tag}", torch.scatter_add(base, 1, ai, asrc))
    if tag != "i32":
        for red in ["sum", "prod", "mean", "amax", "amin"]:
            for inc in [True, False]:
                w.add(f"scatter_reduce.{red}.{int(inc)}.{tag}",
                      torch.scatter_reduce(base, 1, ai, asrc, red, include_self=inc))

    # index_select / index_add / index_copy
    xs = (torch.randn(5, 4) * 10).to(dt)
    w.add(f"isel.x.{tag}", xs)
    isel = torch.tensor([4, 0, 0, 2, 3, 1])
    w.add(f"isel.i.{tag}", isel)
    w.add(f"isel.d0.{tag}", torch.index_select(xs, 0, isel))
    isel1 = torch.tensor([3, 0, 0, 2, 3])
    w.add(f"isel.i1.{tag}", isel1)
    w.add(f"isel.d1.{tag}", torch.index_select(xs, -1, isel1))
    iadd = torch.tensor([1, 3, 1, 0])
    asrc0 = (torch.randn(4, 4) * 10).to(dt)
    asrc1 = (torch.randn(5, 4) * 10).to(dt)
    w.add(f"iadd.i.{tag}", iadd)
    w.add(f"iadd.src0.{tag}", asrc0)
    w.add(f"iadd.src1.{tag}", asrc1)
    w.add(f"iadd.d0.{tag}", torch.index_add(xs, 0, iadd, asrc0))
    w.add(f"iadd.d1.{tag}", torch.index_add(xs, 1, iadd, asrc1, alpha=3))
    icopy = torch.tensor([3, 0, 2])
    w.add(f"icopy.i.{tag}", icopy)
    w.add(f"icopy.d0.{tag}", torch.index_copy(xs, 0, icopy, asrc0[:3]))

    # advanced indexing: x[i0, i1] with broadcasting and negative indices
    xa = (torch.randn(4, 5, 3) * 10).to(dt)
    a0 = torch.tensor([[0], [-1]])
    a1 = torch.tensor([4, -5, 2])
    w.add(f"adv.x.{tag}", xa)
    w.add(f"adv.i0.{tag}", a0)
    w.add(f"adv.i1.{tag}", a1)
    w.add(f"adv.get.{tag}", xa[a0, a1])
    vals = (torch.randn(3) * 10).to(dt)
    w.add(f"adv.vals.{tag}", vals)
    w.add(f"adv.put.{tag}", xa.index_put((a0, a1), vals))
    d0 = torch.tensor([1, 1, 3, 1])
    dvals = (torch.randn(4, 5, 3) * 10).to(dt)
    w.add(f"adv.d0.{tag}", d0)
    w.add(f"adv.dvals.{tag}", dvals)
    w.add(f"adv.acc.{tag}", xa.index_put((d0,), dvals, accumulate=True))
    m = torch.randn(4, 5) > 0
    w.add(f"adv.mask.{tag}", m)
    w.add(f"adv.getmask.{tag}", xa[m])

    # masks and nonzero
    xm = (torch.randn(3, 4) * 10).to(dt)
    mm = torch.randn(4) > 0
    mc = torch.randn(3, 1) > 0
    w.add(f"mask.x.{tag}", xm)
    w.add(f"mask.row.{tag}", mm)
    w.add(f"mask.col.{tag}", mc)
    w.add(f"mask.fill.{tag}", xm.masked_fill(mm, -2.5 if dt.is_floating_point else -2))
    w.add(f"mask.select.{tag}", torch.masked_select(xm, mc))
    xz = (torch.randint(-1, 2, (3, 2, 4))).to(dt)
    w.add(f"nonzero.x.{tag}", xz)
    w.add(f"nonzero.out.{tag}", torch.nonzero(xz))

# one_hot / embedding
oh = torch.tensor([[0, 3, 1], [2, 2, 0]])
w.add("one_hot.i", oh)
w.add("one_hot.5", F.one_hot(oh, 5))
w.add("one_hot.auto", F.one_hot(oh))
for dt, tag in FLOATS:
    wt = torch.randn(10, 4, dtype=dt)
    ei = torch.tensor([[9, 0, 3], [3, 3, 7]])
    w.add(f"embedding.w.{tag}", wt)
    w.add(f"embedding.i.{tag}", ei)
    w.add(f"embedding.out.{tag}", F.embedding(ei, wt))

# ---------------- shape ops ----------------
for dt, tag in FLOATS + [(torch.int64, "i64")]:
    a = (torch.randn(2, 3, 4) * 10).to(dt)
    w.add(f"shape.a.{tag}", a)
    w.add(f"repeat.a.{tag}", a.repeat(2, 1, 1, 3))
    w.add(f"repeat.b.{tag}", a[:, 1:2].repeat(1, 3, 2))
    w.add(f"rep_int.2.{tag}", torch.repeat_interleave(a, 2, dim=1))
    w.add(f"rep_int.flat.{tag}", torch.repeat_interleave(a, 2))
    w.add(f"rep_int.t.{tag}", torch.repeat_interleave(a, torch.tensor([1, 0, 3]), dim=-2))
    for diag in [0, -1, 2]:
        w.add(f"tril.{diag}.{tag}", torch.tril(a, diag))
        w.add(f"triu.{diag}.{tag}", torch.triu(a, diag))
    w.add(f"flip.02.{tag}", torch.flip(a, (0, 2)))
    w.add(f"flip.m1.{tag}", torch.flip(a, (-1,)))
    w.add(f"roll.01.{tag}", torch.roll(a, (1, -2), (0, 1)))
    w.add(f"roll.flat.{tag}", torch.roll(a, 5))
    w.add(f"roll.2.{tag}", torch.roll(a, 7, 2))
    w.add(f"pad.const.{tag}", F.pad(a, (1, 2, 0, 1), value=3))
    w.add(f"pad.crop.{tag}", F.pad(a, (-1, 2, 1, -2)))

for dt, tag in FLOATS:
    a = torch.randn(2, 3, 4, dtype=dt)
    b = torch.randn(2, 1, 4, dtype=dt)
    w.add(f"cat.a.{tag}", a)
    w.add(f"cat.b.{tag}", b)
    w.add(f"cat.d1.{tag}", torch.cat([a, b, a], 1))
    w.add(f"cat.d0.{tag}", torch.cat([a, a[:1]], 0))
    w.add(f"stack.d1.{tag}", torch.stack([a, a * 2], 1))
    w.add(f"stack.dm1.{tag}", torch.stack([a, a * 2, a * 3], -1))
    p = torch.randn(1, 2, 5, dtype=dt)
    q = torch.randn(1, 2, 4, 5, dtype=dt)
    w.add(f"pad.p.{tag}", p)
    w.add(f"pad.q.{tag}", q)
    for mode in ["reflect", "replicate", "circular"]:
        w.add(f"pad.{mode}.1.{tag}", F.pad(p, (2, 3), mode=mode))
        w.add(f"pad.{mode}.2.{tag}", F.pad(q, (1, 2, 3, 1), mode=mode))
    w.add(f"pad.replicate.neg.{tag}", F.pad(p, (-2, 1), mode="replicate"))

ci = torch.arange(6).reshape(2, 3)
cf = torch.randn(2, 3)
w.add("cat.i", ci)
w.add("cat.f", cf)
w.add("cat.mixed", torch.cat([ci, torch.empty(0), cf, torch.ones(1, 3, dtype=torch.float64)]))

w.save()
