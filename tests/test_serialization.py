"""save/load: safetensors layout, round trips, atomic writes and clear errors."""

import json
import os
import struct

import numpy as np
import pytest

import minigen
from helpers import DEVICES
from minigen import nn
from minigen.serialization import CheckpointError, load, save


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(minigen.randn(3, 2))
        self.bias = nn.Parameter(minigen.randn(3))
        self.register_buffer("count", minigen.tensor(7))


@pytest.mark.parametrize("device", DEVICES)
def test_round_trip_nested_checkpoint(tmp_path, device):
    model = Tiny().to(device)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": {"state": {0: {"step": 3.0, "exp_avg": minigen.ones(3, 2, device=device)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "epoch": 12,
        "note": "hello",
    }
    path = tmp_path / "ckpt.safetensors"
    save(checkpoint, path)
    loaded = load(path, map_location=device)
    assert loaded["epoch"] == 12 and loaded["note"] == "hello"
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["optimizer"]["state"][0]["step"] == 3.0
    assert loaded["optimizer"]["state"][0]["exp_avg"].device == device
    for key, value in model.state_dict().items():
        assert loaded["model"][key].dtype == value.dtype
        assert np.array_equal(loaded["model"][key].cpu().numpy(), value.cpu().numpy())
    fresh = Tiny().to(device)
    fresh.load_state_dict(loaded["model"])
    assert np.array_equal(fresh.weight.detach().cpu().numpy(), model.weight.detach().cpu().numpy())


def test_file_is_plain_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    save(Tiny().state_dict(), path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    assert header["weight"]["dtype"] == "F32" and header["weight"]["shape"] == [3, 2]
    assert header["count"]["dtype"] == "I64"
    assert (8 + length) % 8 == 0 and len(raw) == 8 + length + 3 * 2 * 4 + 3 * 4 + 8


def test_truncated_file_is_reported_by_name(tmp_path):
    path = tmp_path / "cut.safetensors"
    save(Tiny().state_dict(), path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match="cut.safetensors' is truncated"):
        load(path)
    path.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="truncated"):
        load(path)


def test_wrong_shape_and_missing_key_leave_model_untouched(tmp_path):
    model = Tiny()
    before = model.weight.detach().numpy().copy()
    bad = Tiny().state_dict()
    bad["weight"] = minigen.zeros(2, 2)
    save(bad, tmp_path / "bad.safetensors")
    with pytest.raises(RuntimeError, match=r"weight: checkpoint shape \(2, 2\) vs model shape \(3, 2\)"):
        model.load_state_dict(load(tmp_path / "bad.safetensors"))
    missing = Tiny().state_dict()
    missing.pop("bias")
    save(missing, tmp_path / "missing.safetensors")
    with pytest.raises(RuntimeError, match="missing keys: bias"):
        model.load_state_dict(load(tmp_path / "missing.safetensors"))
    assert np.array_equal(model.weight.detach().numpy(), before)


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.safetensors"
    save({"x": minigen.ones(2)}, path)
    original = path.read_bytes()

    def failing_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save({"x": minigen.zeros(1000)}, path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["keep.safetensors"]


def test_refuses_objects_that_would_need_pickle(tmp_path):
    with pytest.raises(TypeError, match="never pickles"):
        save({"fn": lambda x: x}, tmp_path / "x.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "nope.safetensors")


def test_interop_with_torch_state_dict():
    torch = pytest.importorskip("torch")
    from minigen import interop

    model = Tiny()
    converted = interop.to_torch_state_dict(model.state_dict())
    assert isinstance(converted["weight"], torch.Tensor) and converted["count"].dtype == torch.int64
    back = interop.from_torch_state_dict(converted)
    assert np.array_equal(back["weight"].numpy(), model.weight.detach().numpy())
