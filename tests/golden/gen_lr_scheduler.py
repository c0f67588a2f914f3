"""Golden learning-rate (and momentum) sequences of torch.optim.lr_scheduler (PyTorch 1.13) for
tests/nn/test_lr_scheduler.cpp. Each case drives an optimizer with two param groups (lr 0.1 and
0.05) and records sched.NAME.lr, shape [STEPS + 1, 2]: the groups' lr after construction and after
each of STEPS scheduler steps; OneCycleLR cases also record sched.NAME.momentum (momentum or beta1)."""
import warnings

import torch
from golden import GoldenWriter

STEPS = 30
O = torch.optim
S = torch.optim.lr_scheduler
w = GoldenWriter("lr_scheduler")
warnings.simplefilter("ignore")


def groups():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    return [{"params": [a]}, {"params": [b], "lr": 0.05}]


def sgd():
    return O.SGD(groups(), lr=0.1, momentum=0.9)


def adam():
    return O.Adam(groups(), lr=0.1, betas=(0.9, 0.99))


def momentum(opt, g):
    return g["betas"][0] if "betas" in g else g["momentum"]


def run(name, make_opt, make_sched, steps=STEPS, record_momentum=False):
    opt = make_opt()
    sched = make_sched(opt)
    lrs, moms = [], []
    for s in range(steps + 1):
        if s > 0:
            opt.step()
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        assert lrs[-1] == list(sched.get_last_lr()), name
        moms.append([momentum(opt, g) for g in opt.param_groups])
    w.add(f"sched.{name}.lr", torch.tensor(lrs, dtype=torch.float64))
    if record_momentum:
        w.add(f"sched.{name}.momentum", torch.tensor(moms, dtype=torch.float64))


run("step", sgd, lambda o: S.StepLR(o, step_size=7, gamma=0.5))
run("multistep", sgd, lambda o: S.MultiStepLR(o, milestones=[3, 8, 20, 8], gamma=0.3))
run("cosine", sgd, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
run("cosine_long", sgd, lambda o: S.CosineAnnealingLR(o, T_max=40))
run("linear", sgd, lambda o: S.LinearLR(o))
run("linear_custom", sgd, lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=12))
run("exponential", sgd, lambda o: S.ExponentialLR(o, gamma=0.9))
run("constant", sgd, lambda o: S.ConstantLR(o, factor=0.25, total_iters=6))
run("polynomial", sgd, lambda o: S.PolynomialLR(o, total_iters=20, power=2.0))
run("sequential_constant_exp", sgd,
    lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, gamma=0.8),
                                 S.PolynomialLR(o, total_iters=8, power=0.5)], milestones=[3, 10]))
run("lambda", sgd, lambda o: S.LambdaLR(o, lambda e: 0.95 ** e))
run("lambda_per_group", sgd, lambda o: S.LambdaLR(o, [lambda e: 1.0 / (e + 1), lambda e: 0.9 ** e]))
run("onecycle_sgd", sgd, lambda o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=30), record_momentum=True)
run("onecycle_adam_linear3", adam,
    lambda o: S.OneCycleLR(o, max_lr=0.01, epochs=5, steps_per_epoch=6, pct_start=0.25, anneal_strategy="linear",
                           three_phase=True, base_momentum=0.8, max_momentum=0.9), record_momentum=True)
run("onecycle_nomomentum", sgd,
    lambda o: S.OneCycleLR(o, max_lr=0.3, total_steps=40, cycle_momentum=False, div_factor=10.0,
                           final_div_factor=100.0), record_momentum=True)
run("sequential_warmup_cosine", sgd,
    lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=25)],
                             milestones=[5]))
run("sequential3", sgd,
    lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.5, total_iters=4), S.StepLR(o, step_size=5, gamma=0.5),
                                 S.CosineAnnealingLR(o, T_max=10, eta_min=1e-4)], milestones=[4, 15]))
w.save()
