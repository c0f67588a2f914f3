"""Golden values and gradients for layer_norm, mse_loss and cross_entropy (tests/autograd/test_functional_grad.cpp)."""
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(3)
w = GoldenWriter("functional")
x = torch.randn(4, 3, 5, dtype=torch.float64)
wt = torch.randn(3, 5, dtype=torch.float64)
bs = torch.randn(3, 5, dtype=torch.float64)
gy = torch.randn(4, 3, 5, dtype=torch.float64)
for name, t in [("ln.x", x), ("ln.w", wt), ("ln.b", bs), ("ln.gy", gy)]:
    w.add(name, t)
px, pw, pb = x.clone().requires_grad_(), wt.clone().requires_grad_(), bs.clone().requires_grad_()
y = F.layer_norm(px, (3, 5), pw, pb, 1e-5)
y.backward(gy)
w.add("ln.y", y)
w.add("ln.dx", px.grad)
w.add("ln.dw", pw.grad)
w.add("ln.db", pb.grad)

a = torch.randn(6, 4, dtype=torch.float64)
b = torch.randn(6, 4, dtype=torch.float64)
w.add("mse.a", a)
w.add("mse.b", b)
pa = a.clone().requires_grad_()
loss = F.mse_loss(pa, b)
loss.backward()
w.add("mse.loss", loss)
w.add("mse.da", pa.grad)

logits = torch.randn(5, 7, dtype=torch.float64)
target = torch.tensor([0, 6, 3, 3, 1])
w.add("ce.logits", logits)
w.add("ce.target", target)
pl = logits.clone().requires_grad_()
ce = F.cross_entropy(pl, target)
ce.backward()
w.add("ce.loss", ce)
w.add("ce.dlogits", pl.grad)
w.add("ce.none", F.cross_entropy(logits, target, reduction="none"))
w.save()
