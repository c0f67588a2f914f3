"""Golden gradients for the linear-algebra ops (tests/autograd/test_linalg_grad.cpp).

Each case stores its inputs (CASE.in0, CASE.in1, ...), the incoming gradient of the output
(CASE.gout) and PyTorch's gradients of the inputs (CASE.grad0, ...), all f64.
"""
import torch
from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("linalg_grad")
dt = torch.float64


def rnd(*s):
    return torch.randn(s, dtype=dt)


def spd(n, *batch):
    x = rnd(*batch, n, n)
    return x @ x.transpose(-1, -2) + n * torch.eye(n, dtype=dt)


def case(name, fn, inputs):
    ins = [t.clone().requires_grad_() for t in inputs]
    out = fn(*ins)
    gout = rnd(*out.shape)
    grads = torch.autograd.grad(out, ins, gout)
    for i, t in enumerate(inputs):
        w.add(f"{name}.in{i}", t)
    w.add(f"{name}.gout", gout)
    for i, g in enumerate(grads):
        w.add(f"{name}.grad{i}", g)


case("matmul_2d", torch.matmul, [rnd(3, 4), rnd(4, 5)])
case("matmul_bcast", torch.matmul, [rnd(2, 1, 3, 4), rnd(3, 4, 2)])
case("matmul_stack_mat", torch.matmul, [rnd(2, 3, 4), rnd(4, 5)])
case("matmul_vec_left", torch.matmul, [rnd(4), rnd(2, 4, 3)])
case("matmul_vec_right", torch.matmul, [rnd(2, 3, 4), rnd(4)])
case("matmul_dot", torch.matmul, [rnd(5), rnd(5)])
case("mm", torch.mm, [rnd(3, 4), rnd(4, 2)])
case("bmm", torch.bmm, [rnd(2, 3, 4), rnd(2, 4, 5)])
case("mv", torch.mv, [rnd(3, 4), rnd(4)])
case("outer", torch.outer, [rnd(3), rnd(4)])
case("einsum_bmm", lambda a, b: torch.einsum("bij,bjk->bik", a, b), [rnd(2, 3, 4), rnd(2, 4, 5)])
case("einsum_diag", lambda a: torch.einsum("ii->i", a), [rnd(4, 4)])
case("einsum_three", lambda a, b, c: torch.einsum("bn,anm,bm->ba", a, b, c), [rnd(2, 3), rnd(4, 3, 5), rnd(2, 5)])
case("einsum_ellipsis", lambda a, b: torch.einsum("...ij,...jk", a, b), [rnd(2, 3, 4), rnd(4, 5)])
case("einsum_attn", lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k), [rnd(1, 2, 3, 4), rnd(1, 2, 5, 4)])
case("solve_bcast", torch.linalg.solve, [spd(3, 2), rnd(3, 2)])
case("solve_vec", torch.linalg.solve, [spd(3), rnd(3)])
case("inv", torch.linalg.inv, [spd(3)])
case("cholesky", torch.linalg.cholesky, [spd(4)])
case("cholesky_upper", lambda a: torch.linalg.cholesky(a, upper=True), [spd(3, 2)])
w.save()
