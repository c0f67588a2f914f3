"""Golden parameter trajectories of torch.optim (single-tensor "for-loop" implementations) for
tests/nn/test_optim.cpp. Each case: params NAME.p0, NAME.p1 (f64), per-step gradients NAME.g{s}.{i}
(missing = the parameter has no grad at that step) and the parameters after each step NAME.s{s}.{i}."""
import torch
from golden import GoldenWriter

STEPS = 5
w = GoldenWriter("optim")


def run(name, make, skip=()):
    """make(params) -> optimizer; skip: (step, param index) pairs whose grad is None."""
    gen = torch.Generator().manual_seed(len(name) * 7919 + sum(map(ord, name)))
    init = [torch.randn(3, generator=gen, dtype=torch.float64),
            torch.randn(2, 3, generator=gen, dtype=torch.float64)]
    params = [t.clone().requires_grad_() for t in init]
    for i, t in enumerate(init):
        w.add(f"{name}.p{i}", t)
    opt = make(params)
    for s in range(STEPS):
        for i, p in enumerate(params):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64) * (1 + s)
            if (s, i) in skip:
                p.grad = None
            else:
                p.grad = g
                w.add(f"{name}.g{s}.{i}", g)
        opt.step()
        for i, p in enumerate(params):
            w.add(f"{name}.s{s}.{i}", p)


O = torch.optim
F = dict(foreach=False)
run("sgd", lambda ps: O.SGD(ps, lr=0.1, **F))
run("sgd_momentum", lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, **F))
run("sgd_nesterov", lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05, **F))
run("sgd_maximize", lambda ps: O.SGD(ps, lr=0.1, momentum=0.5, maximize=True, **F))
run("sgd_groups", lambda ps: O.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.01, "momentum": 0.5}],
                                   lr=0.1, momentum=0.9, **F))
run("adam", lambda ps: O.Adam(ps, lr=0.01, **F))
run("adam_wd_amsgrad", lambda ps: O.Adam(ps, lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, amsgrad=True, **F))
run("adam_maximize", lambda ps: O.Adam(ps, lr=0.01, eps=1e-3, maximize=True, **F))
run("adam_skip", lambda ps: O.Adam(ps, lr=0.01, **F), skip={(1, 1), (2, 1), (3, 0)})
run("adam_groups", lambda ps: O.Adam([{"params": [ps[0]], "lr": 0.05, "betas": (0.5, 0.6)}, {"params": [ps[1]]}],
                                     lr=0.01, **F))
run("adamw", lambda ps: O.AdamW(ps, lr=0.01, weight_decay=0.1, **F))
run("adamw_amsgrad", lambda ps: O.AdamW(ps, lr=0.02, amsgrad=True, **F))
run("rmsprop", lambda ps: O.RMSprop(ps, lr=0.01, **F))
run("rmsprop_centered", lambda ps: O.RMSprop(ps, lr=0.01, centered=True, **F))
run("rmsprop_all", lambda ps: O.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5,
                                        centered=True, **F))
run("rmsprop_maximize", lambda ps: O.RMSprop(ps, lr=0.01, momentum=0.3, maximize=True, **F))
run("adagrad", lambda ps: O.Adagrad(ps, lr=0.1, **F))
run("adagrad_all", lambda ps: O.Adagrad(ps, lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5,
                                        eps=1e-6, **F))
run("adagrad_maximize", lambda ps: O.Adagrad(ps, lr=0.1, maximize=True, **F))

# torch.nn.utils.clip_grad_norm_ / clip_grad_value_: clip.NAME.g{i} the grads before, clip.NAME.c{i}
# after (parameter 2 has no grad), clip.NAME.total the returned norm.
def clip(name, fn, dtype=torch.float64, scale=1.0):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    params = [torch.zeros(4, 3, dtype=dtype, requires_grad=True), torch.zeros(5, dtype=dtype, requires_grad=True),
              torch.zeros(2, dtype=dtype, requires_grad=True)]
    for i, p in enumerate(params[:2]):
        p.grad = (torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
        w.add(f"clip.{name}.g{i}", p.grad)
    total = fn(params)
    for i, p in enumerate(params[:2]):
        w.add(f"clip.{name}.c{i}", p.grad)
    if total is not None:
        w.add(f"clip.{name}.total", total)


U = torch.nn.utils
clip("norm2", lambda ps: U.clip_grad_norm_(ps, 1.0))
clip("norm2_f32", lambda ps: U.clip_grad_norm_(ps, 1.0), dtype=torch.float32)
clip("norm2_noclip", lambda ps: U.clip_grad_norm_(ps, 100.0))
clip("norm1", lambda ps: U.clip_grad_norm_(ps, 2.0, norm_type=1))
clip("norm_inf", lambda ps: U.clip_grad_norm_(ps, 0.5, norm_type=float("inf")))
clip("norm_inf_f32", lambda ps: U.clip_grad_norm_(ps, 0.5, norm_type=float("inf")), dtype=torch.float32)
clip("norm3_5", lambda ps: U.clip_grad_norm_(ps, 0.7, norm_type=3.5))
clip("value", lambda ps: U.clip_grad_value_(ps, 0.5))
clip("value_f32", lambda ps: U.clip_grad_value_(ps, 0.25), dtype=torch.float32)
w.save()
