"""The ``minigen`` command: train, sample, eval and list the registered models.

    minigen list
    minigen train classifier --data mnist --epochs 1 --out runs/classifier
    minigen train beta_vae --set beta=1 --set latent_dim=6     # change registered model arguments
    minigen sample runs/vae/checkpoint.safetensors -n 64 --out grid.png
    minigen eval runs/classifier/checkpoint.safetensors

Bad arguments (an unknown model, model argument or dataset, missing data, a
CUDA device without CuPy, a checkpoint that does not name its model) end with
a one-line error and exit code 2.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import backend, data, training
from .models import REGISTRY, get_spec
from .models.base import TRAINING_SETTINGS


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit code 2."""


DATASETS = {
    "mnist": "MNIST digits, 28x28 in [0, 1], with labels",
    "fashion-mnist": "Fashion-MNIST clothes, 28x28 in [0, 1], with labels",
    "shapes": "procedural shapes (dSprites-like), 64x64 binary, with generating factors",
    **{name: "2-D toy distribution" for name in data.TOY_DATASETS},
}


def load_dataset(name, split, limit=None, seed=0):
    """The arrays of a named dataset split, as a tuple the DataLoader batches together."""
    if name in ("mnist", "fashion-mnist"):
        try:
            arrays = tuple(data.load_mnist(split, kind=name))
        except (OSError, RuntimeError) as error:  # missing, corrupt or undownloadable files
            raise UsageError(f"dataset '{name}' is not available: {error}") from None
    elif name == "shapes":
        count = 20_000 if split == "train" else 2_000
        shapes = data.ShapesDataset()
        # the factors of the whole split (cheap), then only the images asked for (rendering is the cost)
        factors = shapes.sample_factors(count, seed + (split == "test"))[:limit]
        arrays = (shapes.render(factors), factors)
    elif name in data.TOY_DATASETS:
        count = 20_000 if split == "train" else 2_500
        arrays = (data.toy_dataset(name).sample(count, seed + (split == "test")),)
    else:
        raise UsageError(f"unknown dataset '{name}'; known datasets: {', '.join(sorted(DATASETS))}")
    if limit is not None:
        arrays = tuple(array[:limit] for array in arrays)
    return arrays


def _device(name):
    try:
        device = backend.Device(name)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    if device.type == "cuda" and not backend.cuda_is_available():
        try:
            backend.cupy()
        except RuntimeError as error:
            raise UsageError(str(error)) from None
    return device


def _write_json(path, payload):
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
    with os.fdopen(handle, "w") as file:
        json.dump(payload, file, indent=2)
    os.replace(temporary, path)


def _build(config, device, source):
    """The model a run config describes, on ``device``; ``source`` (a checkpoint path or a command) names the
    config in the usage error raised when it names no registered model or its arguments do not fit."""
    name = config.get("model") if isinstance(config, dict) else None
    if not isinstance(name, str) or not isinstance(config.get("model_arguments"), dict):
        raise UsageError(f"{source} does not say which registered model it holds (its config needs 'model' and "
                         "'model_arguments', as `minigen train` and the examples write them)")
    if name not in REGISTRY:
        raise UsageError(f"{source} holds model '{name}', which is not registered; registered models: "
                         f"{', '.join(sorted(REGISTRY))}")
    try:
        model = get_spec(name).build(**config["model_arguments"])
    except (TypeError, ValueError) as error:
        raise UsageError(f"{source}: cannot build model '{name}': {error}") from None
    return model.to(device)


def _parse_scalar(text):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_value(text, registered=None):
    """A ``--set`` value: ``3`` -> 3, ``1e-3`` -> 0.001, ``true`` -> True, ``none`` -> None, ``200,200`` or
    ``[200, 200]`` -> [200, 200] (``[]`` -> []), anything else stays text. A number where the registered value
    is a float becomes a float, and a single value where it is a list a one-element list."""
    text = text.strip()
    if (text.startswith("[") and text.endswith("]")) or "," in text:
        value = [_parse_scalar(item) for item in text.strip("[]").split(",") if item.strip()]
    else:
        value = _parse_scalar(text)
    if isinstance(registered, list) and not isinstance(value, list):
        return [value]
    if isinstance(registered, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def model_overrides(spec, assignments):
    """``--set NAME=VALUE`` assignments as constructor arguments of ``spec``'s model."""
    known = spec.argument_names()
    overrides = {}
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        name = name.strip()
        if not separator or not name:
            raise UsageError(f"--set expects NAME=VALUE, got {assignment!r}")
        if name in TRAINING_SETTINGS:
            raise UsageError(f"--set {name}: set the training settings with --{name.replace('_', '-')}")
        if name not in known:
            raise UsageError(f"--set: model '{spec.name}' has no argument '{name}'; its arguments: "
                             f"{', '.join(sorted(known))}")
        overrides[name] = parse_value(text, spec.hyperparameters.get(name))
    return overrides


def command_list(args):
    print("models:")
    for name, spec in sorted(REGISTRY.items()):
        print(f"  {name:14s} {spec.description} (default data: {spec.dataset})")
    print("datasets:")
    for name, description in sorted(DATASETS.items()):
        print(f"  {name:14s} {description}")
    return 0


def command_train(args):
    from . import manual_seed, viz
    from .data import DataLoader

    if args.model not in REGISTRY:
        raise UsageError(f"unknown model '{args.model}'; registered models: {', '.join(sorted(REGISTRY))}")
    spec = get_spec(args.model)
    device = _device(args.device)
    overrides = model_overrides(spec, args.overrides)
    overrides.update({key: getattr(args, key) for key in TRAINING_SETTINGS if getattr(args, key) is not None})
    dataset = args.data or spec.dataset
    out_dir = Path(args.out or Path("runs") / args.model)
    checkpoint_path = out_dir / training.CHECKPOINT_NAME
    if args.resume and not checkpoint_path.exists():
        raise UsageError(f"--resume: no checkpoint at {checkpoint_path}")
    manual_seed(args.seed)
    config = spec.config(dataset=dataset, seed=args.seed, **overrides)
    settings = config["settings"]
    model = _build(config, device, f"minigen train {args.model}")  # before the data: a bad --set fails at once
    train_arrays = load_dataset(dataset, "train", args.limit, args.seed)
    test_arrays = load_dataset(dataset, "test", args.limit, args.seed)
    optimizers, schedulers = spec.configure_optimizers(model, settings["lr"])
    start_epoch, step, history = 0, 0, {}
    if args.resume:
        try:
            start_epoch, step, history = training.restore(training.load_checkpoint(checkpoint_path, device), model,
                                                          optimizers, schedulers)
        except ValueError as error:
            raise UsageError(f"--resume {checkpoint_path}: {error}") from None
    loader = DataLoader(train_arrays, batch_size=settings["batch_size"], shuffle=True, seed=args.seed + start_epoch,
                        device=device)
    started = time.perf_counter()
    history = training.fit(model, loader, optimizers, epochs=settings["epochs"], out_dir=out_dir, config=config,
                           schedulers=schedulers, start_epoch=start_epoch, step=step, history=history,
                           progress=not args.quiet)
    seconds = time.perf_counter() - started
    model.eval()
    metrics = model.evaluate(DataLoader(test_arrays, batch_size=256, device=device))
    metrics.update({"train_seconds": seconds, "epochs": settings["epochs"], "steps": len(history.get("loss", [])),
                    "device": str(device), "dataset": dataset})
    _write_json(out_dir / "metrics.json", metrics)
    viz.plot_curves({name: values for name, values in history.items()}, out_dir / "curves.png",
                    ylabel="value", smooth=0.9)
    try:
        samples = model.sample(64)
    except NotImplementedError:
        samples = None
    if samples is not None:
        viz.save_image_grid(samples, out_dir / "samples.png")
    print(json.dumps(metrics, indent=2))
    print(f"wrote {out_dir}/checkpoint.safetensors, metrics.json, curves.png"
          + (", samples.png" if samples is not None else ""))
    return 0


def _load_model(path, device):
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no checkpoint at {path}")
    try:
        checkpoint = training.load_checkpoint(path, device)
    except (ValueError, RuntimeError) as error:
        raise UsageError(str(error)) from None
    model = _build(checkpoint["config"], device, f"checkpoint {path}")
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint["config"]


def _draw_samples(model, config, n, seed, consequence):
    """``n`` seeded samples, or a usage error naming the model when it cannot sample."""
    from . import manual_seed, no_grad

    manual_seed(seed)
    with no_grad():
        try:
            return model.sample(n)
        except NotImplementedError:
            raise UsageError(f"model '{config['model']}' cannot sample{consequence}") from None


def command_sample(args):
    from . import viz

    device = _device(args.device)
    model, config = _load_model(args.checkpoint, device)
    samples = _draw_samples(model, config, args.n, args.seed, "")
    viz.save_image_grid(samples, args.out)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def command_eval(args):
    from . import manual_seed
    from .data import DataLoader

    device = _device(args.device)
    model, config = _load_model(args.checkpoint, device)
    test_arrays = load_dataset(config["dataset"], "test", args.limit, config["seed"])
    manual_seed(args.seed)
    loader = DataLoader(test_arrays, batch_size=256, device=device)
    if args.iwae_k is not None:
        if not hasattr(model, "log_likelihood"):
            raise UsageError(f"--iwae-k needs a VAE-family model with log_likelihood(), not '{config['model']}'")
        if args.iwae_k < 1:
            raise UsageError(f"--iwae-k must be >= 1, got {args.iwae_k}")
        metrics = model.evaluate(loader, k=args.iwae_k)
    else:
        metrics = model.evaluate(loader)
    if args.metrics:
        metrics.update(_sample_metrics(model, config, test_arrays[0], args))
    print(json.dumps(metrics, indent=2))
    return 0


SAMPLE_METRICS = ("fid", "kid", "precision", "recall", "classifier_score", "class_coverage")


def _sample_metrics(model, config, real_images, args):
    """Scores of ``args.n`` samples against the test images, on the dataset's feature network."""
    from . import metrics

    wanted = [name.strip() for name in args.metrics.split(",") if name.strip()]
    wanted = [name for group in wanted for name in (("precision", "recall") if group == "pr" else (group,))]
    unknown = sorted(set(wanted) - set(SAMPLE_METRICS))
    if unknown:
        raise UsageError(f"unknown metrics {', '.join(unknown)}; choose from pr, {', '.join(SAMPLE_METRICS)}")
    if config["dataset"] not in ("mnist", "fashion-mnist"):
        raise UsageError(f"sample metrics need an MNIST-family dataset (feature network), not '{config['dataset']}'")
    samples = _draw_samples(model, config, args.n, args.seed, f", so {', '.join(wanted)} do not apply")
    network = metrics.feature_network(config["dataset"])
    scores = metrics.evaluate_images(real_images[: args.n], samples, network)
    return {name: {"value": scores[name].value, "stderr": scores[name].stderr, "n_samples": scores[name].n_samples,
                   "feature_net_fingerprint": network.info.fingerprint,
                   "feature_net_accuracy": network.info.test_accuracy} for name in wanted}


def build_parser():
    parser = argparse.ArgumentParser(prog="minigen", description="Train, sample and evaluate minigen models.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show the registered models and datasets").set_defaults(run=command_list)

    train = commands.add_parser("train", help="train a registered model")
    train.add_argument("model")
    train.add_argument("--data", help="dataset name (default: the model's own)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                       help="a model argument, repeatable (e.g. --set beta=1 --set hidden=128,64)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--out", help="output folder (default: runs/MODEL)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    train.add_argument("--limit", type=int, help="use only the first N examples of each split (quick runs)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=command_train)

    sample = commands.add_parser("sample", help="draw samples from a checkpoint into an image grid")
    sample.add_argument("checkpoint")
    sample.add_argument("-n", type=int, default=64)
    sample.add_argument("--out", default="samples.png")
    sample.add_argument("--device", default="cpu")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=command_sample)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on its test split")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--limit", type=int)
    evaluate.add_argument("--metrics", help="comma-separated sample metrics: fid,kid,pr,classifier_score,class_coverage")
    evaluate.add_argument("-n", type=int, default=2000, help="samples for --metrics")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--iwae-k", dest="iwae_k", type=int,
                          help="also estimate the test NLL with the k-sample IWAE bound (VAE-family checkpoints)")
    evaluate.set_defaults(run=command_eval)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"minigen: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
