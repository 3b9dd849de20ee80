"""The minigen command: list, train (with resume and interruption), sample, eval, and one-line errors."""

import json
import subprocess
import sys

import pytest

import minigen
from minigen import training
from minigen.cli import main


def test_list_shows_models_and_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "classifier" in out and "mnist" in out and "ring8" in out


def test_train_classifier_writes_checkpoint_metrics_and_curves(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "classifier", "--data", "mnist", "--epochs", "1", "--batch-size", "32", "--limit", "320",
                 "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 10 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = training.load_checkpoint(out / training.CHECKPOINT_NAME)
    assert checkpoint["epoch"] == 1 and checkpoint["step"] == 10 and len(checkpoint["history"]["loss"]) == 10

    # --resume with more epochs continues from the saved state: steps keep counting
    assert main(["train", "classifier", "--epochs", "2", "--batch-size", "32", "--limit", "320", "--out", str(out),
                 "--resume", "--quiet"]) == 0
    checkpoint = training.load_checkpoint(out / training.CHECKPOINT_NAME)
    assert checkpoint["epoch"] == 2 and checkpoint["step"] == 20
    assert main(["eval", str(out / training.CHECKPOINT_NAME), "--limit", "200"]) == 0
    assert "test_accuracy" in capsys.readouterr().out


def test_interrupted_training_saves_a_checkpoint(tmp_path, monkeypatch):
    from minigen.models.classifier import Classifier

    calls = {"count": 0}
    original = Classifier.training_step

    def interrupt_on_third(self, batch, optimizers):
        calls["count"] += 1
        if calls["count"] == 3:
            raise KeyboardInterrupt
        return original(self, batch, optimizers)

    monkeypatch.setattr(Classifier, "training_step", interrupt_on_third)
    out = tmp_path / "run"
    assert main(["train", "classifier", "--epochs", "1", "--batch-size", "32", "--limit", "320", "--out", str(out),
                 "--quiet"]) == 130
    checkpoint = training.load_checkpoint(out / training.CHECKPOINT_NAME)
    assert checkpoint["step"] == 2 and checkpoint["epoch"] == 0


@pytest.mark.parametrize("argv, message", [
    (["train", "no-such-model"], "unknown model 'no-such-model'"),
    (["train", "classifier", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "classifier", "--device", "tpu"], "unknown device 'tpu'"),
    (["sample", "missing.safetensors"], "no checkpoint at missing.safetensors"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(minigen.cuda_is_available(), reason="checks the message given without CuPy")
def test_cuda_without_cupy_is_a_usage_error(capsys):
    assert main(["train", "classifier", "--device", "cuda"]) == 2
    assert "CuPy" in capsys.readouterr().err


def test_missing_data_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    monkeypatch.setattr(minigen.data.mnist, "MIRRORS", {})  # never touch the network in tests
    assert main(["train", "classifier", "--data", "fashion-mnist", "--out", str(tmp_path / "run")]) == 2
    assert "not available" in capsys.readouterr().err


def test_classifier_cannot_sample(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "classifier", "--epochs", "1", "--limit", "64", "--batch-size", "32", "--out", str(out), "--quiet"])
    assert main(["sample", str(out / training.CHECKPOINT_NAME)]) == 2
    assert "cannot sample" in capsys.readouterr().err
    assert main(["eval", str(out / training.CHECKPOINT_NAME), "--limit", "64", "--metrics", "fid,pr"]) == 2
    assert "cannot sample, so fid, precision, recall do not apply" in capsys.readouterr().err
    assert main(["eval", str(out / training.CHECKPOINT_NAME), "--limit", "64", "--metrics", "fud"]) == 2
    assert "unknown metrics fud" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "minigen", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "classifier" in result.stdout


def test_set_passes_model_arguments_to_the_model(tmp_path):
    out = tmp_path / "beta1"
    assert main(["train", "beta_vae", "--set", "beta=1", "--set", "latent_dim=3", "--limit", "32", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    arguments = training.load_checkpoint(out / training.CHECKPOINT_NAME)["config"]["model_arguments"]
    assert arguments["beta"] == 1.0 and isinstance(arguments["beta"], float) and arguments["latent_dim"] == 3
    assert arguments["warmup_epochs"] == 10  # the registered arguments not set stay


@pytest.mark.parametrize("assignment, message", [
    ("betta=1", "model 'beta_vae' has no argument 'betta'; its arguments: activation, architecture, beta,"),
    ("beta", "--set expects NAME=VALUE, got 'beta'"),
    ("lr=0.1", "--set lr: set the training settings with --lr"),
    ("activation=gelu", "cannot build model 'beta_vae': VAE: activation must be one of"),
])
def test_bad_model_arguments_are_usage_errors(assignment, message, tmp_path, capsys):
    assert main(["train", "beta_vae", "--set", assignment, "--limit", "8", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("text, registered, expected", [
    ("1", 4.0, 1.0), ("3", 10, 3), ("1e-3", None, 1e-3), ("true", None, True), ("None", 0.5, None),
    ("200,200", [1], [200, 200]), ("[64, 32]", None, [64, 32]), ("[]", [256], []), ("256", [256], [256]),
    ("relu", "tanh", "relu"),
])
def test_set_values_are_parsed_by_their_look_and_the_registered_type(text, registered, expected):
    from minigen.cli import parse_value

    value = parse_value(text, registered)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("config, message", [
    ({"example": "vae"}, "does not say which registered model it holds"),
    ({"example": "iwae", "model": "VAE", "model_arguments": {}}, "holds model 'VAE', which is not registered"),
    ({"model": "classifier", "model_arguments": {"hidden": "wide"}}, "cannot build model 'classifier'"),
])
def test_checkpoint_without_a_registered_model_is_a_usage_error(config, message, tmp_path, capsys):
    from minigen.models import Classifier

    path = tmp_path / "checkpoint.safetensors"
    model = Classifier()
    training.save_checkpoint(path, model, model.configure_optimizers(1e-3), epoch=0, step=0, history={},
                             config=config)
    for command in (["eval", str(path)], ["sample", str(path), "--out", str(tmp_path / "s.png")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_resumed_training_continues_the_learning_rate_schedule(tmp_path):
    out = tmp_path / "vae"
    assert main(["train", "vae", "--limit", "100", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["train", "vae", "--limit", "100", "--epochs", "2", "--out", str(out), "--resume", "--quiet"]) == 0
    checkpoint = training.load_checkpoint(out / training.CHECKPOINT_NAME)
    (schedule,), (adam,) = checkpoint["schedulers"], checkpoint["optimizers"]
    assert checkpoint["epoch"] == schedule["last_epoch"] == 2
    assert adam["param_groups"][0]["lr"] == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert adam["param_groups"][0]["eps"] == 1e-4
