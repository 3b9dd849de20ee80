"""Optimizers step for step against PyTorch, their state dicts, zero_grad, errors, and the EMA."""

import math

import numpy as np
import pytest

import minigen
from helpers import DEVICES
from minigen import nn, optim

# --- a small model both libraries can run: elementwise ops, a broadcast and a 0-d bias ---------

_RNG = np.random.default_rng(1234)
INPUT = _RNG.standard_normal((4, 3)).astype(np.float32)
INITIAL = [
    _RNG.standard_normal(3).astype(np.float32),  # w1, broadcast over the batch
    _RNG.standard_normal((4, 3)).astype(np.float32),  # w2
    np.asarray(0.3, dtype=np.float32),  # b, a 0-d parameter
]


def loss_of(x, w1, w2, b):
    """Runs unchanged on minigen and torch tensors."""
    return (((x * w1 + b).tanh() * w2).sum() - 0.5) ** 2 + (w1 * w1).sum() * 0.1


def minigen_params(device="cpu", arrays=INITIAL):
    return [nn.Parameter(minigen.tensor(a, device=device)) for a in arrays]


def as_numpy(t):
    if isinstance(t, minigen.Tensor):
        return t.detach().cpu().numpy()
    return t.detach().numpy()


def train_step(optimizer, params, x):
    optimizer.zero_grad()
    loss_of(x, *params).backward()
    optimizer.step()


def grouped(params, groups):
    """The params as one list, or split into [w1, w2] and [b] with per-group options."""
    if groups is None:
        return params
    return [dict(groups[0], params=params[:2]), dict(groups[1], params=params[2:])]


CASES = {
    "sgd": ("SGD", dict(lr=0.05), None),
    "sgd_momentum_dampening_decay": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), None),
    "sgd_nesterov": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02), None),
    "sgd_maximize": ("SGD", dict(lr=0.002, momentum=0.5, maximize=True), None),
    "adam": ("Adam", dict(lr=0.05), None),
    "adam_decay_amsgrad": ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True), None),
    "adam_gan_betas_maximize": ("Adam", dict(lr=0.02, betas=(0.5, 0.999), maximize=True), None),
    "adamw": ("AdamW", dict(lr=0.05), None),
    "adamw_amsgrad": ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True, eps=1e-6), None),
    "rmsprop": ("RMSprop", dict(), None),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.7, centered=True,
                                                   weight_decay=0.01), None),
    "sgd_two_groups": ("SGD", dict(lr=0.05, momentum=0.9), ({}, dict(lr=0.2, momentum=0.0))),
    "adam_two_groups": ("Adam", dict(lr=0.01), ({"weight_decay": 0.1}, dict(lr=0.1, betas=(0.0, 0.9)))),
}


def build(library, name, params):
    class_name, options, groups = CASES[name]
    return getattr(library.optim, class_name)(grouped(params, groups), **options)


@pytest.mark.torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_step_for_step(name, device):
    torch = pytest.importorskip("torch")
    params = minigen_params(device)
    reference = [torch.nn.Parameter(torch.tensor(a)) for a in INITIAL]
    optimizer, torch_optimizer = build(minigen, name, params), build(torch, name, reference)
    x, torch_x = minigen.tensor(INPUT, device=device), torch.tensor(INPUT)
    for step in range(20):
        train_step(optimizer, params, x)
        train_step(torch_optimizer, reference, torch_x)
        for mine, theirs in zip(params, reference):
            assert mine.dtype == minigen.float32
            np.testing.assert_allclose(as_numpy(mine), as_numpy(theirs), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name}, step {step + 1}")
    assert_same_state_dict(optimizer.state_dict(), torch_optimizer.state_dict())


def assert_same_state_dict(mine, theirs):
    """Same layout and values; minigen leaves out torch's implementation switches (foreach, fused, ...)."""
    assert mine["state"].keys() == theirs["state"].keys()
    for index, state in mine["state"].items():
        assert state.keys() == theirs["state"][index].keys()
        for key, value in state.items():
            np.testing.assert_allclose(as_numpy(value), as_numpy(theirs["state"][index][key]), rtol=1e-5, atol=1e-6)
    assert len(mine["param_groups"]) == len(theirs["param_groups"])
    for group, torch_group in zip(mine["param_groups"], theirs["param_groups"]):
        assert set(group) <= set(torch_group)
        assert all(group[key] == torch_group[key] for key in group)


# --- state dicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sgd_momentum_dampening_decay", "adam_decay_amsgrad", "adamw",
                                  "rmsprop_centered_momentum", "adam_two_groups"])
def test_state_dict_round_trip_through_a_file_resumes_exactly(name, tmp_path):
    x = minigen.tensor(INPUT)
    params = minigen_params()
    optimizer = build(minigen, name, params)
    for _ in range(8):
        train_step(optimizer, params, x)
    minigen.save({"optimizer": optimizer.state_dict(), "weights": [p.detach() for p in params]}, tmp_path / "ckpt")
    for _ in range(12):
        train_step(optimizer, params, x)

    checkpoint = minigen.load(tmp_path / "ckpt")
    resumed_params = minigen_params(arrays=[w.numpy() for w in checkpoint["weights"]])
    resumed = build(minigen, name, resumed_params)
    resumed.load_state_dict(checkpoint["optimizer"])
    for _ in range(12):
        train_step(resumed, resumed_params, x)
    for mine, uninterrupted in zip(resumed_params, params):
        np.testing.assert_array_equal(as_numpy(mine), as_numpy(uninterrupted))
    assert resumed.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]


def test_state_dict_layout_and_loaded_state_is_a_private_copy_in_the_param_dtype():
    params = minigen_params()
    optimizer = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], amsgrad=True)
    train_step(optimizer, params, minigen.tensor(INPUT))
    state = optimizer.state_dict()
    assert [group["params"] for group in state["param_groups"]] == [[0, 1], [2]]
    assert state["param_groups"][1]["lr"] == 0.5 and state["param_groups"][0]["lr"] == 1e-3
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert float(state["state"][2]["step"]) == 1.0

    doubles = [nn.Parameter(minigen.tensor(a, dtype=minigen.float64)) for a in INITIAL]
    other = optim.Adam([{"params": doubles[:2]}, {"params": doubles[2:]}])
    other.load_state_dict(state)
    loaded = other.state[doubles[0]]
    assert loaded["exp_avg"].dtype == minigen.float64 and loaded["step"].dtype == minigen.float32
    assert loaded["exp_avg"].data is not state["state"][0]["exp_avg"].data
    assert other.param_groups[1]["lr"] == 0.5 and other.param_groups[1]["params"][0] is doubles[2]


def test_load_state_dict_rejects_mismatched_groups_and_shapes():
    params = minigen_params()
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    train_step(optimizer, params, minigen.tensor(INPUT))
    state = optimizer.state_dict()
    two_groups = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], momentum=0.9)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two_groups.load_state_dict(state)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD(params[:2], momentum=0.9).load_state_dict(state)
    swapped = [nn.Parameter(minigen.zeros(5)), params[1], params[2]]
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(3,\).*\(5,\)"):
        optim.SGD(swapped, momentum=0.9).load_state_dict(state)


# --- zero_grad, skipping, closures, dtypes ---------------------------------------------------


def test_zero_grad_sets_to_none_or_to_fresh_zeros():
    w = nn.Parameter(minigen.ones(3))
    b = nn.Parameter(minigen.ones(3))
    optimizer = optim.SGD([w, b], lr=0.1)
    (w + b).sum().backward()  # both grads are one read-only broadcast view, shared
    optimizer.zero_grad(set_to_none=False)
    assert w.grad is not None and np.array_equal(w.grad.numpy(), np.zeros(3, np.float32))
    assert w.grad.dtype == minigen.float32 and w.grad is not b.grad
    optimizer.zero_grad()
    assert w.grad is None and b.grad is None


def test_parameters_without_grad_are_skipped_and_get_no_state():
    used, unused = nn.Parameter(minigen.ones(2)), nn.Parameter(minigen.ones(2))
    optimizer = optim.Adam([used, unused], lr=0.1)
    (used * used).sum().backward()
    optimizer.step()
    assert np.array_equal(unused.detach().numpy(), np.ones(2, np.float32))
    assert not np.array_equal(used.detach().numpy(), np.ones(2, np.float32))
    assert list(optimizer.state_dict()["state"]) == [0]


def test_plain_sgd_keeps_no_state_like_torch():
    params = minigen_params()
    optimizer = optim.SGD(params, lr=0.1)
    train_step(optimizer, params, minigen.tensor(INPUT))
    assert optimizer.state_dict()["state"] == {}


def test_step_with_closure_returns_the_loss_and_uses_its_gradient():
    w = nn.Parameter(minigen.tensor([1.0, -2.0]))
    optimizer = optim.SGD([w], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with minigen.no_grad():  # the closure still records its graph
        loss = optimizer.step(closure)
    assert float(loss) == 5.0
    np.testing.assert_allclose(w.detach().numpy(), [0.5, -1.0])


@pytest.mark.parametrize("dtype", [minigen.float32, minigen.float64])
@pytest.mark.parametrize("class_name, options", [
    ("SGD", dict(momentum=0.9, weight_decay=0.1)),
    ("Adam", dict(amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(amsgrad=True)),
    ("RMSprop", dict(momentum=0.9, centered=True, weight_decay=0.1)),
])
def test_updates_keep_the_parameter_dtype(class_name, options, dtype):
    params = [nn.Parameter(minigen.tensor(a, dtype=dtype)) for a in INITIAL]
    optimizer = getattr(optim, class_name)(params, lr=0.01, **options)
    for _ in range(2):
        train_step(optimizer, params, minigen.tensor(INPUT, dtype=dtype))
    for p in params:
        assert p.dtype == dtype and p.data.dtype == dtype
        for key, value in optimizer.state[p].items():
            assert value.dtype == (minigen.float32 if key == "step" else dtype)


def test_param_groups_defaults_add_param_group_and_names():
    model = nn.Module()
    model.weight = nn.Parameter(minigen.ones(2))
    model.bias = nn.Parameter(minigen.zeros(2))
    optimizer = optim.SGD(model.named_parameters(), lr=0.1, momentum=0.5)
    assert optimizer.param_groups[0]["param_names"] == ["weight", "bias"]
    plain = optim.Adam([model.weight], lr=0.1)
    extra = nn.Parameter(minigen.zeros(1))
    plain.add_param_group({"params": extra, "lr": 0.5})
    assert plain.param_groups[1]["params"] == [extra]
    assert plain.param_groups[1]["lr"] == 0.5 and plain.param_groups[1]["betas"] == (0.9, 0.999)
    assert "Parameter Group 1" in repr(plain) and "lr: 0.5" in repr(plain)
    with pytest.raises(ValueError, match="more than once"):
        plain.add_param_group({"params": [model.weight]})


def test_torch_defaults():
    params = minigen_params()
    assert optim.SGD(params).defaults["lr"] == 1e-3
    adam = optim.Adam(params).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"], adam["amsgrad"]) == \
        (1e-3, (0.9, 0.999), 1e-8, 0, False)
    assert optim.AdamW(params).defaults["weight_decay"] == 1e-2
    rmsprop = optim.RMSprop(params).defaults
    assert (rmsprop["lr"], rmsprop["alpha"], rmsprop["eps"], rmsprop["momentum"], rmsprop["centered"]) == \
        (1e-2, 0.99, 1e-8, 0, False)


@pytest.mark.parametrize("build_bad, error, message", [
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "SGD: Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, momentum=-1), ValueError, "Invalid momentum value"),
    (lambda p: optim.SGD(p, nesterov=True), ValueError, "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "zero dampening"),
    (lambda p: optim.Adam(p, lr=-1), ValueError, "Adam: Invalid learning rate"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), ValueError, "AdamW: Invalid beta parameter at index 1"),
    (lambda p: optim.Adam(p, eps=-1e-8), ValueError, "Invalid epsilon value"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), ValueError, "Invalid weight_decay value"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), ValueError, "Invalid alpha value"),
    (lambda p: optim.Adam([]), ValueError, "empty parameter list"),
    (lambda p: optim.Adam(p[0]), TypeError, "iterable of Tensors or dicts"),
    (lambda p: optim.Adam([p[0], 3.0]), TypeError, "can only optimize Tensors"),
    (lambda p: optim.Adam([p[0] * 2]), ValueError, "non-leaf"),
    (lambda p: optim.Adam({p[0]}), TypeError, "ordered collections"),
    (lambda p: optim.Adam([{"params": [p[0]]}, {"params": [p[0]]}]), ValueError, "more than once"),
])
def test_constructor_errors(build_bad, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_bad(minigen_params())


@pytest.mark.torch
def test_errors_match_torch_messages():
    torch = pytest.importorskip("torch")
    reference = [torch.nn.Parameter(torch.tensor(INITIAL[0]))]
    for build_bad, message in [
        (lambda lib, p: lib.optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda lib, p: lib.optim.Adam(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        (lambda lib, p: lib.optim.RMSprop(p, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda lib, p: lib.optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ]:
        with pytest.raises(ValueError, match=message) as theirs:
            build_bad(torch, reference)
        with pytest.raises(ValueError, match=message) as mine:
            build_bad(minigen, minigen_params()[:1])
        assert str(mine.value).endswith(str(theirs.value))


# --- EMA -------------------------------------------------------------------------------------


class Tiny(nn.Module):
    def __init__(self, weight=(1.0, 2.0)):
        super().__init__()
        self.weight = nn.Parameter(minigen.tensor(list(weight)))
        self.register_buffer("running", minigen.zeros(2))


def set_weights(model, weight, running):
    with minigen.no_grad():
        model.weight.copy_(minigen.tensor(weight))
        model.running.copy_(minigen.tensor(running))


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_a_hand_computation(warmup):
    model = Tiny()
    ema = optim.EMA(model, decay=0.9, warmup=warmup)
    shadow = np.array([1.0, 2.0])
    for n, weight in enumerate([[3.0, -1.0], [0.5, 0.5], [2.0, 4.0], [-1.0, 0.0]], start=1):
        set_weights(model, weight, [n, 2 * n])
        ema.update()
        decay = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
        shadow = decay * shadow + (1 - decay) * np.array(weight)
        np.testing.assert_allclose(ema.shadow_params["weight"], shadow, rtol=1e-6)
        np.testing.assert_array_equal(ema.shadow_buffers["running"], [n, 2 * n])
        assert ema.shadow_params["weight"].dtype == np.float32
    assert ema.num_updates == 4


def test_ema_warmup_forgets_the_initial_weights_early():
    model = Tiny(weight=(0.0, 0.0))
    ema = optim.EMA(model)  # decay 0.9999 with warm-up
    set_weights(model, [1.0, 1.0], [0.0, 0.0])
    ema.update()
    np.testing.assert_allclose(ema.shadow_params["weight"], [9 / 11, 9 / 11], rtol=1e-6)
    plain = optim.EMA(Tiny(weight=(0.0, 0.0)), warmup=False)
    set_weights(plain.model, [1.0, 1.0], [0.0, 0.0])
    plain.update()
    np.testing.assert_allclose(plain.shadow_params["weight"], [1e-4, 1e-4], rtol=1e-3)


def test_ema_average_parameters_swaps_in_and_restores_even_on_error():
    model = Tiny()
    ema = optim.EMA(model, decay=0.5, warmup=False)
    set_weights(model, [3.0, 4.0], [7.0, 8.0])
    ema.update()  # shadow = [2, 3], buffers copied [7, 8]
    set_weights(model, [10.0, 20.0], [9.0, 9.0])
    with ema.average_parameters() as averaged:
        assert averaged is model
        np.testing.assert_array_equal(model.weight.detach().numpy(), [2.0, 3.0])
        np.testing.assert_array_equal(model.running.numpy(), [7.0, 8.0])
    np.testing.assert_array_equal(model.weight.detach().numpy(), [10.0, 20.0])
    np.testing.assert_array_equal(model.running.numpy(), [9.0, 9.0])
    with pytest.raises(ZeroDivisionError):
        with ema.average_parameters():
            1 / 0
    np.testing.assert_array_equal(model.weight.detach().numpy(), [10.0, 20.0])
    np.testing.assert_array_equal(model.running.numpy(), [9.0, 9.0])


def test_ema_copy_to_another_model_and_state_dict_round_trip(tmp_path):
    model = Tiny()
    ema = optim.EMA(model, decay=0.8)
    for n in range(3):
        set_weights(model, [n, -n], [n, n])
        ema.update()
    evaluation = Tiny(weight=(0.0, 0.0))
    ema.copy_to(evaluation)
    np.testing.assert_array_equal(evaluation.weight.detach().numpy(), ema.shadow_params["weight"])

    minigen.save(ema.state_dict(), tmp_path / "ema")
    restored = optim.EMA(Tiny(weight=(5.0, 5.0)), decay=0.1, warmup=False)
    restored.load_state_dict(minigen.load(tmp_path / "ema"))
    assert (restored.decay, restored.warmup, restored.num_updates) == (0.8, True, 3)
    for tracker in (ema, restored):
        set_weights(tracker.model, [4.0, 1.0], [2.0, 2.0])
        tracker.update()
    np.testing.assert_array_equal(restored.shadow_params["weight"], ema.shadow_params["weight"])

    other = nn.Module()
    other.weight = nn.Parameter(minigen.ones(3))
    with pytest.raises(RuntimeError, match="EMA.load_state_dict: shadow_params weight: saved shape"):
        optim.EMA(other).load_state_dict(ema.state_dict())


def test_ema_reports_a_changed_model_and_a_bad_decay():
    model = Tiny()
    ema = optim.EMA(model)
    model.extra = nn.Parameter(minigen.ones(1))
    with pytest.raises(RuntimeError, match=r"EMA: the model's parameters differ.*new: \['extra'\]"):
        ema.update()
    with pytest.raises(ValueError, match="EMA: decay must be in"):
        optim.EMA(model, decay=1.5)


@pytest.mark.parametrize("device", DEVICES)
def test_ema_follows_the_model_device(device):
    model = Tiny().to(device)
    ema = optim.EMA(model, decay=0.5, warmup=False)
    with minigen.no_grad():
        model.weight.copy_(minigen.tensor([3.0, 4.0], device=device))
    ema.update()
    with ema.average_parameters():
        np.testing.assert_array_equal(model.weight.detach().cpu().numpy(), [2.0, 3.0])
    assert math.isclose(float(model.weight.sum()), 7.0)
