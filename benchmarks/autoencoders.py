"""Deterministic autoencoders against PCA on MNIST: reconstruction, linear probes, sparsity, denoising, contraction.

    python benchmarks/autoencoders.py                          # the full run (17 min on 2 busy cores)
    python benchmarks/autoencoders.py --epochs 1 --limit 5000  # a quick look

Every model is a 784-256-32 ReLU MLP (``--hidden``, ``--code-dim``) with a
sigmoid output, trained with Adam (lr 1e-3, batch 128) for ``--epochs`` epochs
(3 by default, to fit the time budget; the models still improve) on the 60,000
training images, and scored on the 10,000 test images:

- test MSE per pixel (and PSNR = 10 log10(1 / MSE)) of the clean reconstruction,
  against PCA with the same number of components fitted on the training images;
- linear-probe test accuracy: softmax regression trained with minigen (Adam,
  ``--probe-epochs`` epochs) on the frozen, standardised codes of the training
  images (raw pixels and PCA codes as references);
- code statistics on the test set: mean |z| and the share of code values with
  |z| < 0.05 (``--threshold``);
- mean ||dz/dx||_F^2, exact (double backward), on the first ``--jacobian-images``
  test images;
- denoisers: PSNR to the clean test image of the corrupted input and of the
  reconstruction, and of the plain autoencoder's reconstruction of the same
  corrupted input (the corruption is seeded, the same draw for both).

The contractive autoencoder takes the exact penalty on ``--jacobian-examples``
examples of each batch (the Jacobian of each is exact; on the whole batch of 128
its k = 32 vector-Jacobian products would cost about 10x a plain step, on 16
examples about 2.5x). Prints a table and writes JSON to ``--out``.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import minigen  # noqa: E402
from minigen.data import DataLoader, load_mnist  # noqa: E402
from minigen.models import (PCA, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder,  # noqa: E402
                            SparseAutoencoder, linear_probe)
from minigen.models.autoencoder import psnr  # noqa: E402
from minigen.training import fit  # noqa: E402


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--code-dim", type=int, default=32)
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--probe-epochs", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.05, help="|z| below this counts as near zero")
    parser.add_argument("--jacobian-images", type=int, default=1000)
    parser.add_argument("--jacobian-examples", type=int, default=16)
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmarks/autoencoders.json")
    return parser.parse_args()


# name -> (class, arguments beyond the shared architecture, description)
MODELS = {
    "autoencoder": (Autoencoder, {}, "plain, linear code"),
    "sparse_l1": (SparseAutoencoder, {"l1_weight": 0.05, "kl_weight": 0.0, "code_activation": "relu"},
                  "ReLU code, 0.05 ||z||_1"),
    "sparse_kl": (SparseAutoencoder, {"kl_weight": 3.0, "target_activation": 0.1},
                  "sigmoid code, 3 sum KL(0.1 || rho^)"),
    "denoising_gaussian": (DenoisingAutoencoder, {"noise_std": 0.5}, "Gaussian noise, sigma 0.5"),
    "denoising_mask": (DenoisingAutoencoder, {"noise_std": 0.0, "drop_probability": 0.5}, "masking, p 0.5"),
    "contractive": (ContractiveAutoencoder, {"contractive_weight": 0.1}, "0.1 ||J||_F^2, exact"),
}


def train(name, args, train_images):
    model_class, arguments, _ = MODELS[name]
    if model_class is ContractiveAutoencoder:
        arguments = {**arguments, "jacobian_examples": args.jacobian_examples}
    minigen.manual_seed(args.seed)
    model = model_class(hidden=(args.hidden,), code_dim=args.code_dim, **arguments).to(args.device)
    loader = DataLoader((train_images,), batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    optimizers = [minigen.optim.Adam(model.parameters(), lr=args.lr)]
    started = time.perf_counter()
    fit(model, loader, optimizers, epochs=args.epochs, out_dir=Path(args.out).with_suffix("") / name,
        config={"benchmark": "autoencoders", "model": name}, progress=False)
    return model.eval(), time.perf_counter() - started


def probe(train_codes, test_codes, data, args):
    return linear_probe(train_codes, data["train_labels"], test_codes, data["test_labels"], epochs=args.probe_epochs,
                        seed=args.seed, device=args.device)["test_accuracy"]


def score(model, args, data, plain):
    """Every figure of one trained model on the test set."""
    test = minigen.tensor(data["test_images"], device=args.device)
    minigen.manual_seed(args.seed + 1)  # the denoisers' test corruption: one seeded draw
    metrics = model.evaluate(DataLoader((data["test_images"],), batch_size=1000, device=args.device))
    result = {"test_mse": metrics["test_mse"], "test_psnr": metrics["test_psnr"]}
    result.update(model.code_statistics(test, args.threshold))
    with minigen.no_grad():
        norms = model.jacobian_frobenius_squared(test[: args.jacobian_images])
    result["jacobian_frobenius_squared"] = float(norms.mean().item())
    train_codes = model.codes(minigen.tensor(data["train_images"], device=args.device))
    result["probe_accuracy"] = probe(train_codes, model.codes(test), data, args)
    if isinstance(model, DenoisingAutoencoder):
        result["psnr_noisy"], result["psnr_denoised"] = metrics["test_psnr_noisy"], metrics["test_psnr_denoised"]
        if plain is not None:  # the same corrupted images through the autoencoder trained on clean ones
            minigen.manual_seed(args.seed + 1)
            with minigen.no_grad():
                error = sum(float((plain(model.corrupt(batch)) - batch).square().sum().item())
                            for batch in test.split(1000))
            result["psnr_plain_autoencoder"] = psnr(error / test.numel())
    return result


def references(args, data):
    """PCA at the same code size, and the probe on raw pixels."""
    started = time.perf_counter()
    pca = PCA(args.code_dim).fit(data["train_images"])
    seconds = time.perf_counter() - started
    test_mse = pca.reconstruction_mse(data["test_images"])
    pca_probe = probe(pca.transform(data["train_images"]), pca.transform(data["test_images"]), data, args)
    pixels_probe = probe(data["train_images"].reshape(len(data["train_images"]), -1),
                         data["test_images"].reshape(len(data["test_images"]), -1), data, args)
    return {"pca": {"test_mse": test_mse, "test_psnr": psnr(test_mse), "probe_accuracy": pca_probe,
                    "explained_variance_ratio": float(pca.explained_variance_ratio_.sum()), "fit_seconds": seconds},
            "pixels": {"probe_accuracy": pixels_probe}}


def table(results, args):
    columns = ("test MSE", "PSNR dB", "probe acc", "mean |z|", f"|z|<{args.threshold:g}", "||J||_F^2", "train s")
    keys = ("test_mse", "test_psnr", "probe_accuracy", "mean_activation", "near_zero_share",
            "jacobian_frobenius_squared", "train_seconds")
    formats = ("{:.4f}", "{:.2f}", "{:.4f}", "{:.3f}", "{:.1%}", "{:.2f}", "{:.0f}")
    lines = [f"{'model':20s}" + "".join(f"{column:>12s}" for column in columns)]
    for name, figures in results.items():
        cells = [format_.format(figures[key]) if key in figures else "-" for key, format_ in zip(keys, formats)]
        lines.append(f"{name:20s}" + "".join(f"{cell:>12s}" for cell in cells))
    for name, figures in results.items():
        if "psnr_noisy" in figures:
            lines.append(f"{name}: PSNR of the corrupted input {figures['psnr_noisy']:.2f} dB, denoised "
                         f"{figures['psnr_denoised']:.2f} dB, plain autoencoder on the same input "
                         f"{figures.get('psnr_plain_autoencoder', float('nan')):.2f} dB")
    return "\n".join(lines)


def main():
    args = parse_arguments()
    names = list(MODELS) if args.models is None else [name.strip() for name in args.models.split(",")]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    started = time.perf_counter()
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    data = {"train_images": train_images[: args.limit], "train_labels": train_labels[: args.limit],
            "test_images": test_images, "test_labels": test_labels}
    results = references(args, data)
    print(f"PCA k={args.code_dim}: {json.dumps(results['pca'])}; pixel probe {results['pixels']['probe_accuracy']:.4f}",
          flush=True)
    plain = None
    for name in names:
        model, seconds = train(name, args, data["train_images"])
        results[name] = {**score(model, args, data, plain), "train_seconds": seconds,
                         "description": MODELS[name][2]}
        plain = model if name == "autoencoder" else plain
        print(f"{name}: {json.dumps(results[name])}", flush=True)

    wall = time.perf_counter() - started
    print(table(results, args))
    print(f"wall time {wall:.0f} s")
    report = {"settings": {key: value for key, value in vars(args).items() if key != "out"},
              "architecture": f"784-{args.hidden}-{args.code_dim} ReLU MLP, sigmoid output, summed squared error",
              "machine": {"platform": platform.platform(), "processor": platform.processor(), "cores": os.cpu_count(),
                          "load_average": os.getloadavg(), "numpy": np.__version__},
              "wall_seconds": wall, "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
