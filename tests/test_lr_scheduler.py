"""Learning-rate schedulers: PyTorch's rates step for step, closed forms, plateaus and state dicts."""

import math

import pytest

import minigen
from minigen import nn, optim
from minigen.optim import lr_scheduler

BASE_LRS = (0.1, 0.03)


def two_group_optimizer(library):
    """An SGD with two groups of different base rates; its parameters never receive gradients."""
    if library is minigen:
        params = [nn.Parameter(minigen.zeros(2)), nn.Parameter(minigen.zeros(1))]
    else:
        params = [library.nn.Parameter(library.zeros(2)), library.nn.Parameter(library.zeros(1))]
    return library.optim.SGD([{"params": params[:1], "lr": BASE_LRS[0]}, {"params": params[1:], "lr": BASE_LRS[1]}],
                             lr=BASE_LRS[0])


def warm_up_factor(epoch):
    return min(1.0, (epoch + 1) / 4)


SCHEDULES = {
    "step": lambda s, o: s.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "exponential": lambda s, o: s.ExponentialLR(o, gamma=0.9),
    "cosine": lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "cosine_past_t_max": lambda s, o: s.CosineAnnealingLR(o, T_max=7),
    "linear_warm_up": lambda s, o: s.LinearLR(o, start_factor=0.25, total_iters=6),
    "linear_decay": lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=10),
    "lambda": lambda s, o: s.LambdaLR(o, lr_lambda=lambda epoch: 0.95**epoch),
    "lambda_per_group": lambda s, o: s.LambdaLR(o, lr_lambda=[warm_up_factor, lambda epoch: 1 / (1 + epoch)]),
    "warm_up_then_cosine": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.01, total_iters=5), s.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
    "three_phases": lambda s, o: s.SequentialLR(
        o, [s.LambdaLR(o, warm_up_factor), s.ExponentialLR(o, gamma=0.8), s.StepLR(o, step_size=2)],
        milestones=[4, 9]),
}


def run(scheduler, optimizer, steps):
    """The rates after construction and after each of ``steps`` epochs (from the scheduler and the groups)."""
    rates = [list(scheduler.get_last_lr())]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == [group["lr"] for group in optimizer.param_groups]
        rates.append(list(scheduler.get_last_lr()))
    return rates


def assert_rates_close(mine, theirs):
    assert len(mine) == len(theirs)
    for epoch, (a, b) in enumerate(zip(mine, theirs)):
        assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-18) for x, y in zip(a, b)), (epoch, a, b)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_matches_torch_step_for_step(name):
    torch = pytest.importorskip("torch")
    optimizer, torch_optimizer = two_group_optimizer(minigen), two_group_optimizer(torch)
    mine = run(SCHEDULES[name](lr_scheduler, optimizer), optimizer, 30)
    theirs = run(SCHEDULES[name](torch.optim.lr_scheduler, torch_optimizer), torch_optimizer, 30)
    assert_rates_close(mine, theirs)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(BASE_LRS)


CLOSED_FORMS = {
    "step": lambda base, t: base * 0.5 ** (t // 3),
    "multistep": lambda base, t: base * 0.3 ** sum(1 for m in [2, 5, 5, 9] if m <= t),
    "exponential": lambda base, t: base * 0.9**t,
    "cosine": lambda base, t: 0.001 + (base - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2,
    "cosine_past_t_max": lambda base, t: base * (1 + math.cos(math.pi * t / 7)) / 2,
    "linear_warm_up": lambda base, t: base * (0.25 + 0.75 * min(t, 6) / 6),
    "linear_decay": lambda base, t: base * (1.0 - 0.9 * min(t, 10) / 10),
    "lambda": lambda base, t: base * 0.95**t,
    "warm_up_then_cosine": lambda base, t: (base * (0.01 + 0.99 * t / 5) if t < 5
                                            else base * (1 + math.cos(math.pi * (t - 5) / 20)) / 2),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_follows_the_closed_form(name):
    optimizer = two_group_optimizer(minigen)
    rates = run(SCHEDULES[name](lr_scheduler, optimizer), optimizer, 25)
    for epoch, lrs in enumerate(rates):
        expected = [CLOSED_FORMS[name](base, epoch) for base in BASE_LRS]
        assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15) for a, b in zip(lrs, expected)), (epoch, lrs)


def test_lambda_per_group_and_three_phases_by_hand():
    optimizer = two_group_optimizer(minigen)
    rates = run(SCHEDULES["three_phases"](lr_scheduler, optimizer), optimizer, 12)
    first = [lrs[0] for lrs in rates]
    expected = [0.1 * warm_up_factor(t) for t in range(4)] + [0.1 * 0.8**k for k in range(5)] + [0.1, 0.1, 0.01, 0.01]
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(first, expected)), first


def test_construction_sets_initial_lr_and_requires_it_when_resuming():
    optimizer = two_group_optimizer(minigen)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    assert scheduler.base_lrs == list(BASE_LRS) and scheduler.last_epoch == 0
    assert scheduler.get_last_lr() == list(BASE_LRS)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(two_group_optimizer(minigen), step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)


def test_warns_when_stepped_before_the_optimizer():
    optimizer = two_group_optimizer(minigen)
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()


def test_argument_errors():
    optimizer = two_group_optimizer(minigen)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        lr_scheduler.LinearLR(optimizer, start_factor=0)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(optimizer, [warm_up_factor])
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        lr_scheduler.SequentialLR(optimizer, [cosine], milestones=[3])
    with pytest.raises(ValueError, match="same optimizer"):
        lr_scheduler.SequentialLR(optimizer, [lr_scheduler.StepLR(two_group_optimizer(minigen), 2), cosine], [3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.SequentialLR(optimizer, [cosine, lr_scheduler.ReduceLROnPlateau(optimizer)], [3])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(optimizer, factor=1.0)
    with pytest.raises(ValueError, match="mode 'best' is unknown"):
        lr_scheduler.ReduceLROnPlateau(optimizer, mode="best")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        lr_scheduler.ReduceLROnPlateau(optimizer, min_lr=[0, 0, 0])


def test_schedulers_are_only_under_lr_scheduler():
    assert not hasattr(optim, "StepLR") and hasattr(optim.lr_scheduler, "StepLR")


# --- ReduceLROnPlateau ---------------------------------------------------------------------

LOSSES = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7999, 0.85, 0.85, 0.85, 0.85, 0.85,
          0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]

PLATEAUS = {
    "min_rel": dict(patience=2, factor=0.5, threshold=0.01),
    "min_abs_cooldown_min_lr": dict(patience=1, factor=0.3, threshold=0.02, threshold_mode="abs", cooldown=2,
                                    min_lr=[0.01, 0.001]),
    "max_rel": dict(mode="max", patience=0, factor=0.7),
    "max_abs_no_patience": dict(mode="max", patience=3, threshold=0.1, threshold_mode="abs", eps=0.01),
}


def run_plateau(library, options, losses):
    optimizer = two_group_optimizer(library)
    scheduler = library.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    rates = []
    for loss in losses:
        optimizer.step()
        scheduler.step(loss)
        rates.append(list(scheduler.get_last_lr()))
    return rates


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(PLATEAUS))
def test_plateau_matches_torch(name):
    torch = pytest.importorskip("torch")
    assert_rates_close(run_plateau(minigen, PLATEAUS[name], LOSSES), run_plateau(torch, PLATEAUS[name], LOSSES))


def test_plateau_by_hand():
    # patience 1: the second bad epoch in a row reduces; the count then restarts.
    rates = run_plateau(minigen, dict(patience=1, factor=0.1), [minigen.tensor(1.0)] + [1.0] * 5)
    expected = [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert all(math.isclose(lrs[0], e, rel_tol=1e-12) for lrs, e in zip(rates, expected)), rates
    # min_lr floors the rate, and a change below eps is skipped.
    floored = run_plateau(minigen, dict(patience=0, factor=0.5, min_lr=0.04), [1.0] * 5)
    assert [lrs[0] for lrs in floored] == [0.1, 0.05, 0.04, 0.04, 0.04]


# --- state dicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_dict_round_trip_through_a_file_resumes_exactly(name, tmp_path):
    optimizer = two_group_optimizer(minigen)
    scheduler = SCHEDULES[name](lr_scheduler, optimizer)
    run(scheduler, optimizer, 7)
    minigen.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "ckpt")
    uninterrupted = run(scheduler, optimizer, 15)

    checkpoint = minigen.load(tmp_path / "ckpt")
    fresh_optimizer = two_group_optimizer(minigen)
    fresh = SCHEDULES[name](lr_scheduler, fresh_optimizer)  # the scheduler first, as PyTorch advises
    fresh_optimizer.load_state_dict(checkpoint["optimizer"])
    fresh.load_state_dict(checkpoint["scheduler"])
    assert run(fresh, fresh_optimizer, 15) == uninterrupted


def test_plateau_state_dict_round_trip(tmp_path):
    optimizer = two_group_optimizer(minigen)
    options = PLATEAUS["min_abs_cooldown_min_lr"]
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    for loss in LOSSES[:9]:
        scheduler.step(loss)
    minigen.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "ckpt")
    checkpoint = minigen.load(tmp_path / "ckpt")
    fresh_optimizer = two_group_optimizer(minigen)
    fresh = lr_scheduler.ReduceLROnPlateau(fresh_optimizer)
    fresh_optimizer.load_state_dict(checkpoint["optimizer"])
    fresh.load_state_dict(checkpoint["scheduler"])
    for loss in LOSSES[9:]:
        scheduler.step(loss)
        fresh.step(loss)
        assert fresh.get_last_lr() == scheduler.get_last_lr()
    assert fresh.best == scheduler.best and fresh.min_lrs == [0.01, 0.001]


def test_lambda_state_dict_keeps_callable_objects_attributes():
    class Warmup:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    optimizer = two_group_optimizer(minigen)
    scheduler = lr_scheduler.LambdaLR(optimizer, [Warmup(8), warm_up_factor])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"steps": 8}, None] and "optimizer" not in state
    other = lr_scheduler.LambdaLR(two_group_optimizer(minigen), [Warmup(2), warm_up_factor])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].steps == 8
