"""Golden values for matmul, einsum and the torch.linalg decompositions (tests/ops/test_linalg*.cpp).

Decompositions whose factors are unique only up to sign (SVD, eigh) store the inputs, the values and
PyTorch's vectors; the C++ tests compare sign-invariant quantities.
"""
import torch
from golden import GoldenWriter

torch.manual_seed(0)
w = GoldenWriter("linalg")

EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("bi,bj->bij", [(3, 4), (3, 5)]),
    ("ij,kj", [(3, 4), (5, 4)]),
    ("ijk->k", [(2, 3, 4)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk->ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,j->i", [(3, 4), (1,)]),
    ("kji,ikj->jk", [(3, 4, 2), (2, 3, 4)]),
]

for dt, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
    def rnd(*s):
        return torch.randn(*s, dtype=dt)

    def pair(name, a, b, out):
        w.add(f"{name}.{tag}.a", a)
        w.add(f"{name}.{tag}.b", b)
        w.add(f"{name}.{tag}.out", out)

    a, b = rnd(3, 4), rnd(4, 5)
    pair("mm", a, b, a @ b)
    a, b = rnd(2, 1, 3, 4), rnd(5, 4, 2)
    pair("matmul_bcast", a, b, torch.matmul(a, b))
    a, b = rnd(2, 3, 4), rnd(4, 5)
    pair("matmul_nd_2d", a, b, torch.matmul(a, b))
    a, b = rnd(4, 5), rnd(2, 5, 3)
    pair("matmul_2d_nd", a, b, torch.matmul(a, b))
    a, b = rnd(4), rnd(4, 5)
    pair("matmul_vm", a, b, torch.matmul(a, b))
    a, b = rnd(3, 4), rnd(4)
    pair("matmul_mv", a, b, torch.matmul(a, b))
    a, b = rnd(4), rnd(4)
    pair("matmul_vv", a, b, torch.matmul(a, b))
    a, b = rnd(4), rnd(2, 4, 5)
    pair("matmul_v3", a, b, torch.matmul(a, b))
    a, b = rnd(2, 3, 4), rnd(4)
    pair("matmul_3v", a, b, torch.matmul(a, b))
    a, b = rnd(2, 3, 4), rnd(2, 4, 5)
    pair("bmm", a, b, torch.bmm(a, b))
    a, b = rnd(3), rnd(4)
    pair("outer", a, b, torch.outer(a, b))

    for eq, shapes in EINSUM:
        xs = [rnd(*s) for s in shapes]
        for i, x in enumerate(xs):
            w.add(f"einsum.{eq}.{tag}.x{i}", x)
        w.add(f"einsum.{eq}.{tag}.out", torch.einsum(eq, *xs))

    # SVD: tall, wide and batched.
    for name, shape in [("svd_tall", (5, 3)), ("svd_wide", (3, 5)), ("svd_batch", (2, 4, 3))]:
        A = rnd(*shape)
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        w.add(f"{name}.{tag}.A", A)
        w.add(f"{name}.{tag}.S", S)
        w.add(f"{name}.{tag}.U", U)
        w.add(f"{name}.{tag}.Vh", Vh)

    # QR: LAPACK's geqrf + orgqr, as in PyTorch, so Q and R compare directly.
    for name, shape in [("qr_tall", (5, 3)), ("qr_wide", (3, 5)), ("qr_batch", (2, 4, 4))]:
        A = rnd(*shape)
        w.add(f"{name}.{tag}.A", A)
        for mode in ["reduced", "complete"]:
            Q, R = torch.linalg.qr(A, mode=mode)
            w.add(f"{name}.{tag}.{mode}.Q", Q)
            w.add(f"{name}.{tag}.{mode}.R", R)

    # solve: matrix, broadcast batch, vector right-hand sides.
    eye3 = torch.eye(3, dtype=dt)
    A = rnd(3, 3) + 3 * eye3
    B = rnd(3, 2)
    pair("solve", A, B, torch.linalg.solve(A, B))
    A = rnd(2, 1, 3, 3) + 3 * eye3
    B = rnd(4, 3, 2)
    pair("solve_bcast", A, B, torch.linalg.solve(A, B))
    A = rnd(3, 3) + 3 * eye3
    B = rnd(3)
    pair("solve_vec", A, B, torch.linalg.solve(A, B))
    A = rnd(2, 3, 3) + 3 * eye3
    B = rnd(2, 3)
    pair("solve_bvec", A, B, torch.linalg.solve(A, B))
    A = rnd(3, 3) + 3 * eye3
    w.add(f"inv.{tag}.A", A)
    w.add(f"inv.{tag}.out", torch.linalg.inv(A))

    # Cholesky and eigh on symmetric (positive-definite) matrices; the unused triangle of A holds
    # junk, so reading the wrong triangle fails the test.
    for name, shape in [("spd", (4, 4)), ("spd_batch", (2, 3, 3))]:
        X = rnd(*shape)
        S = X @ X.transpose(-1, -2) + shape[-1] * torch.eye(shape[-1], dtype=dt)
        junk_upper = S.tril() + torch.triu(torch.full_like(S, 7.0), diagonal=1)
        junk_lower = S.triu() + torch.tril(torch.full_like(S, -5.0), diagonal=-1)
        w.add(f"{name}.{tag}.A", S)
        w.add(f"{name}.{tag}.A_lower", junk_upper)  # only its lower triangle is meaningful
        w.add(f"{name}.{tag}.A_upper", junk_lower)  # only its upper triangle is meaningful
        w.add(f"{name}.{tag}.L", torch.linalg.cholesky(S))
        w.add(f"{name}.{tag}.U", torch.linalg.cholesky(S, upper=True))
        ev, V = torch.linalg.eigh(S)
        w.add(f"{name}.{tag}.eigenvalues", ev)
        w.add(f"{name}.{tag}.eigenvectors", V)
    # eigh of an indefinite symmetric matrix.
    X = rnd(5, 5)
    S = X + X.T
    ev, V = torch.linalg.eigh(S)
    w.add(f"sym.{tag}.A", S)
    w.add(f"sym.{tag}.eigenvalues", ev)
    w.add(f"sym.{tag}.eigenvectors", V)

for dt, tag in [(torch.int64, "i64"), (torch.int32, "i32")]:
    a = torch.randint(-5, 6, (2, 3, 4), dtype=dt)
    b = torch.randint(-5, 6, (4, 2), dtype=dt)
    w.add(f"matmul_int.{tag}.a", a)
    w.add(f"matmul_int.{tag}.b", b)
    w.add(f"matmul_int.{tag}.out", torch.matmul(a, b))

w.save()
