"""benchmarks/vae_burda.py and burda_report.py: the schedule, the minigen and torch steps against each other,
bit-for-bit resume, and the report from synthetic results."""

import json

import numpy as np
import pytest

import minigen
from benchmarks import burda_report, vae_burda
from benchmarks.burda_runs import MinigenRun, TorchRun, build_minigen, noise_shape
from minigen.models import get_spec
from minigen.models.vae import BURDA_ADAM, burda_lr_factor

TINY = ["--limit", "200", "--batch-size", "100", "--curve-every", "1", "--curve-images", "20", "--curve-k", "2",
        "--eval-k", "2", "--eval-images", "20"]


@pytest.fixture
def _needs_mnist():
    try:
        minigen.data.load_mnist("test", labels=False, download=False)
    except (OSError, RuntimeError) as error:
        pytest.skip(f"MNIST is not available: {error}")


def test_schedule_stage_i_lasts_three_to_the_i_epochs_and_stops_at_stage_seven():
    factors = [burda_lr_factor(epoch) for epoch in range(4000)]
    stages, lengths = [], []
    for factor in factors:
        if not stages or factor != stages[-1]:
            stages.append(factor)
            lengths.append(0)
        lengths[-1] += 1
    assert stages == pytest.approx([10 ** (-i / 7) for i in range(8)], rel=1e-12)
    assert lengths[:7] == [3**i for i in range(7)] and sum(lengths[:7]) + 3**7 == 3280
    assert factors[3279] == factors[3280] == factors[-1] == pytest.approx(0.1)  # capped at stage 7 after 3280


@pytest.mark.parametrize("name", ["vae", "iwae"])
def test_registered_specs_train_with_the_recipe(name):
    spec = get_spec(name)
    model = spec.build(**spec.config()["model_arguments"])
    (adam,), (schedule,) = spec.configure_optimizers(model, spec.hyperparameters["lr"])
    assert adam.param_groups[0]["eps"] == BURDA_ADAM["eps"] == 1e-4 and adam.param_groups[0]["betas"] == (0.9, 0.999)
    rates = []
    for _ in range(5):
        rates.append(adam.param_groups[0]["lr"])
        adam.step()  # no gradients: only the scheduler's call-order check needs a step
        schedule.step()
    assert rates == pytest.approx([1e-3, *[1e-3 * 10 ** (-1 / 7)] * 3, 1e-3 * 10 ** (-2 / 7)], rel=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("k", [1, 4])
def test_one_minigen_step_equals_one_torch_step(k):
    """Same weights, images and noise: the same loss, gradients and Adam update within float32 tolerance."""
    pytest.importorskip("torch")
    model = build_minigen(k, seed=3)
    torch_run = TorchRun(model.state_dict())
    minigen_run = MinigenRun(model)
    rng = np.random.default_rng(4)
    images = (rng.random((20, 1, 28, 28)) < 0.3).astype(np.float32)
    eps = rng.standard_normal(noise_shape(k, 20), dtype=np.float32)
    assert minigen_run.step(images, eps) == pytest.approx(torch_run.step(images, eps), rel=1e-5)
    torch_gradients = torch_run.gradients()
    for name, gradient in minigen_run.gradients().items():
        np.testing.assert_allclose(gradient, torch_gradients[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # Adam's first step moves a weight by lr g / (|g| + eps): where |g| is near eps = 1e-4, a difference d
    # between the two engines' float32 gradients moves it by up to lr d / eps = 10 d
    torch_weights = torch_run.weights()
    for name, weight in minigen_run.weights().items():
        np.testing.assert_allclose(weight.numpy(), torch_weights[name].numpy(), rtol=0, atol=5e-5, err_msg=name)


def _checkpoint(path):
    checkpoint = minigen.load(path / vae_burda.CHECKPOINT)
    return checkpoint["run"]["model"], checkpoint


@pytest.mark.parametrize("framework", ["minigen", pytest.param("torch", marks=pytest.mark.torch)])
def test_resume_continues_bit_for_bit(framework, tmp_path, _needs_mnist):
    if framework == "torch":
        pytest.importorskip("torch")
    common = ["--framework", framework, "--k", "2", *TINY]
    straight = vae_burda.main([*common, "--epochs", "2", "--out", str(tmp_path / "straight")])
    vae_burda.main([*common, "--epochs", "1", "--out", str(tmp_path / "resumed")])
    resumed = vae_burda.main([*common, "--epochs", "2", "--resume", "--out", str(tmp_path / "resumed")])
    weights, checkpoint = _checkpoint(tmp_path / "straight")
    resumed_weights, resumed_checkpoint = _checkpoint(tmp_path / "resumed")
    for name, weight in weights.items():
        np.testing.assert_array_equal(weight.numpy(), resumed_weights[name].numpy(), err_msg=name)
    assert checkpoint["epoch"] == resumed_checkpoint["epoch"] == 2
    assert checkpoint["data_rng"] == resumed_checkpoint["data_rng"]
    for key in ("train_loss", "test_nll", "lr"):
        assert [point[key] for point in straight["curve"]] == [point[key] for point in resumed["curve"]]
    assert straight["test_nll_iwae_2"] == resumed["test_nll_iwae_2"] and 0 < straight["test_nll_iwae_2"] < 800
    written = json.loads((tmp_path / "resumed" / "result.json").read_text())
    assert written["curve"] == resumed["curve"] and written["machine"]["cpu"] and written["threads"]
    with pytest.raises(SystemExit, match="trained with --k 2; resume it with the same"):
        vae_burda.main([*common, "--k", "3", "--epochs", "3", "--resume", "--out", str(tmp_path / "resumed")])


def _synthetic_result(path, framework, k, a, b, c, final_gap, **extra):
    """A result.json whose curve is exactly a + b epoch^-c and whose final score sits ``final_gap`` below it."""
    epochs = np.arange(5, 240, 5)
    curve = [{"epoch": int(epoch), "lr": 1e-3, "train_loss": 100.0, "seconds": 6.0 * epoch,
              "test_nll": float(a + b * epoch**-c)} for epoch in epochs]
    result = {"framework": framework, "k": k, "epochs": 235, "batch_size": 100, "device": "cpu", "curve": curve,
              "train_seconds": 1410.0, "test_nll_iwae_5000": curve[-1]["test_nll"] - final_gap, "eval_k": 5000,
              "eval_images": 10000, "eval_seconds": 1800.0, "threads": {"NumPy BLAS (openblas)": 1},
              "machine": {"cpu": "Synthetic CPU"}, "settings": {"seed": 0}, **extra}
    path.mkdir()
    (path / "result.json").write_text(json.dumps(result))
    return result


def test_report_fits_the_projection_and_gives_the_verdicts(tmp_path):
    _synthetic_result(tmp_path / "minigen", "minigen", 1, 87.0, 80.0, 0.6, final_gap=1.0)
    _synthetic_result(tmp_path / "torch", "torch", 1, 86.8, 80.0, 0.6, final_gap=1.0)
    _synthetic_result(tmp_path / "minigen_k50", "minigen", 50, 84.0, 70.0, 0.5, final_gap=0.5)
    markdown, figure = tmp_path / "burda.md", tmp_path / "burda.png"
    runs = burda_report.main([str(tmp_path / name) for name in ("minigen", "torch", "minigen_k50")]
                             + ["--markdown", str(markdown), "--figure", str(figure)])
    text = markdown.read_text()
    by_label = {run["label"]: run for run in runs}
    # the fit recovers the law, and the projection is the law at 3280 epochs moved by the final score's gap
    expected = 87.0 + 80.0 * 3280**-0.6 - 1.0
    assert by_label["minigen (minigen, k=1)"]["projected"] == pytest.approx(expected, abs=0.05)
    assert f"{by_label['minigen (minigen, k=1)']['projected']:.2f}" in text
    final_minigen, final_torch = by_label["minigen (minigen, k=1)"]["final"], by_label["torch (torch, k=1)"]["final"]
    assert f"{final_minigen - final_torch:+.2f} (within 0.5)" in text
    assert f"{final_minigen - 86.76:+.2f} (outside 2)" in text  # 235 epochs: still some nats above the paper
    assert f"{by_label['minigen_k50 (minigen, k=50)']['projected'] - 84.78:+.2f} (within 2)" in text
    assert "Synthetic CPU" in text and "0.89 h" in text and "| seed | 0 |" in text
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
