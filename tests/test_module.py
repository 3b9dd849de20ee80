"""Module registration, traversal, modes, conversion and state dicts."""

import numpy as np
import pytest

import minigen
from minigen import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(minigen.ones(2, 3))
        self.bias = nn.Parameter(minigen.zeros(3))
        self.register_buffer("running_mean", minigen.zeros(3))
        self.register_buffer("scratch", minigen.zeros(1), persistent=False)

    def forward(self, x):
        return x * self.bias + 1.0


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.layers = nn.ModuleList([Block(), nn.Identity()])
        self.head = nn.Sequential(Block(), Block())
        self.scale = nn.Parameter(minigen.ones(1))

    def forward(self, x):
        return self.head(self.first(x)) * self.scale


def test_registration_and_names_follow_pytorch_order():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "first.weight", "first.bias", "layers.0.weight", "layers.0.bias",
                     "head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias"]
    assert list(net.state_dict())[:4] == ["scale", "first.weight", "first.bias", "first.running_mean"]
    assert "first.scratch" not in net.state_dict()
    assert [name for name, _ in net.named_buffers()][0] == "first.running_mean"
    assert len(list(net.children())) == 3 and len(list(net.modules())) == 8


def test_shared_parameters_are_listed_once():
    net = nn.Module()
    block = Block()
    net.a, net.b = block, block
    assert len(list(net.parameters())) == 2


def test_train_eval_propagate():
    net = Net().eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_dtype_changes_data_in_place_and_keeps_objects():
    net = Net()
    weight = net.first.weight
    net.to(minigen.float64)
    assert net.first.weight is weight and weight.dtype == minigen.float64
    assert net.first.running_mean.dtype == minigen.float64
    with pytest.raises(TypeError, match="floating"):
        net.to(minigen.int64)


def test_zero_grad_and_requires_grad():
    net = Net()
    net(minigen.ones(2, 3)).sum().backward()
    assert net.head[1].bias.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_every_module():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Block") == 4


def test_load_state_dict_round_trip_and_errors_leave_model_untouched():
    source, target = Net(), Net()
    with minigen.no_grad():
        for p in source.parameters():
            p.copy_(minigen.randn(*p.shape))
    target.load_state_dict(source.state_dict())
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name

    before = {k: v.numpy().copy() for k, v in target.state_dict().items()}
    broken = source.state_dict()
    broken["first.weight"] = minigen.zeros(3, 3)
    broken.pop("scale")
    broken["extra"] = minigen.zeros(1)
    with pytest.raises(RuntimeError) as error:
        target.load_state_dict(broken)
    message = str(error.value)
    assert "missing keys: scale" in message and "unexpected keys: extra" in message
    assert "first.weight: checkpoint shape (3, 3) vs model shape (2, 3)" in message
    for key, value in target.state_dict().items():
        assert np.array_equal(value.numpy(), before[key]), f"{key} was changed by a failed load"
    result = target.load_state_dict({"scale": minigen.full((1,), 5.0)}, strict=False)
    assert target.scale.tolist() == [5.0] and "first.weight" in result.missing_keys


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Identity(), nn.Flatten()))
    assert text == "Sequential(\n  (0): Identity()\n  (1): Flatten(start_dim=1, end_dim=-1)\n)"


def test_containers():
    seq = nn.Sequential(nn.Identity(), Block())
    assert len(seq) == 2 and isinstance(seq[1], Block) and isinstance(seq[-1], Block)
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    modules = nn.ModuleDict({"a": Block()})
    modules["b"] = nn.Identity()
    assert list(modules.keys()) == ["a", "b"] and "a" in modules
    assert [n for n, _ in modules.named_parameters()] == ["a.weight", "a.bias"]


def test_assigning_before_init_fails_clearly():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(minigen.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()
