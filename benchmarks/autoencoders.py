"""Deterministic autoencoders against PCA on MNIST: reconstruction, linear probes, sparsity, denoising, contraction.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.autoencoders               # the full run: about 15 min on 2 CPU cores
    python -m benchmarks.autoencoders --epochs 1 --limit 5000              # a quick look (about 2 min)

(Measured on the shared 2-core machine: an MLP epoch over 60,000 images takes about 4 s, a conv epoch about
70 s; the linear probes on the 60,000 codes and the exact Jacobians of the conv net take most of the rest.)

Every model but two is a 784-256-32 ReLU MLP (``--hidden``, ``--code-dim``)
with a sigmoid output; ``conv`` is the 4x4 stride-2 conv net (32-64 channels,
256 hidden, 32-d code) and ``contractive_closed_form`` the registered
contractive autoencoder (one-layer sigmoid encoder 784-256, BCE, closed-form
penalty). All train with Adam (lr 1e-3, batch 128) for ``--epochs`` epochs (3
by default, to fit the time budget; the models still improve) on the 60,000
training images, and are scored on the 10,000 test images (``--test-images``):

- test MSE per pixel (and PSNR = 10 log10(1 / MSE)) of the clean reconstruction,
  against PCA with the same number of components fitted on the training images;
- linear-probe test accuracy: softmax regression trained with minigen (Adam,
  ``--probe-epochs`` epochs) on the frozen, standardised codes of the training
  images (raw pixels and PCA codes as references);
- code statistics on the test set (|z| < ``--threshold`` = 0.05 counts as near
  zero): mean |z|, the share of near-zero code values, and the share of dead
  units (near zero on every test image);
- mean ||dz/dx||_F^2 on the first ``--jacobian-images`` test images: exact
  (double backward), or by the closed form for the closed-form CAE;
- denoisers: PSNR to the clean test image of the corrupted input and of the
  reconstruction, and of the plain autoencoder's reconstruction of the same
  corrupted input (the corruption is seeded, the same draw for both).

The exact contractive autoencoder takes its penalty on ``--jacobian-examples``
examples of each batch (the Jacobian of each is exact; on the whole batch of 128
its k = 32 vector-Jacobian products would cost about 10x a plain step, on 16
examples about 2.5x). Prints a table, writes the figures as JSON to ``--out``
and as a markdown page (command, machine, date, seed, sample counts) to
``--markdown`` (default benchmarks/results/autoencoders.md).
"""

import argparse
import json
import time
from pathlib import Path

import minigen
from benchmarks import result_page
from benchmarks.machine import describe
from minigen.data import DataLoader, load_mnist
from minigen.models import (PCA, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder,
                            linear_probe)
from minigen.models.autoencoder import psnr
from minigen.training import fit

# name -> (class, arguments beyond (or replacing) the shared 784-hidden-code MLP, description)
MODELS = {
    "autoencoder": (Autoencoder, {}, "plain, linear code"),
    "conv": (Autoencoder, {"architecture": "conv", "channels": (32, 64)}, "conv 32-64, linear code"),
    "sparse_l1": (SparseAutoencoder, {"l1_weight": 0.05, "kl_weight": 0.0, "code_activation": "relu"},
                  "ReLU code, 0.05 ||z||_1"),
    "sparse_kl": (SparseAutoencoder, {"kl_weight": 3.0, "target_activation": 0.1},
                  "sigmoid code, 3 sum KL(0.1 || rho^)"),
    "denoising_gaussian": (DenoisingAutoencoder, {"noise_std": 0.5}, "Gaussian noise, sigma 0.5"),
    "denoising_mask": (DenoisingAutoencoder, {"noise_std": 0.0, "drop_probability": 0.5}, "masking, p 0.5"),
    "contractive": (ContractiveAutoencoder, {"contractive_weight": 0.1}, "0.1 ||J||_F^2, exact"),
    "contractive_closed_form": (ContractiveAutoencoder, {
        "hidden": (), "code_dim": 256, "code_activation": "sigmoid", "reconstruction": "bce",
        "contractive_weight": 0.1, "jacobian": "closed_form"},
        "one-layer sigmoid 784-256, BCE, 0.1 ||J||_F^2 closed form"),
}
COLUMNS = (("test_mse", "test MSE", "{:.4f}"), ("pca_test_mse", "PCA MSE (same k)", "{:.4f}"),
           ("test_psnr", "PSNR dB", "{:.2f}"), ("probe_accuracy", "probe acc", "{:.4f}"),
           ("mean_activation", "mean abs z", "{:.3f}"), ("near_zero_share", "near-zero values", "{:.1%}"),
           ("dead_unit_share", "dead units", "{:.1%}"), ("jacobian_frobenius_squared", "mean ||J||_F^2", "{:.2f}"),
           ("train_seconds", "train s", "{:.0f}"))


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--code-dim", type=int, default=32)
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--test-images", type=int, default=10_000, help="score on the first N test images")
    parser.add_argument("--probe-epochs", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.05, help="|z| below this counts as near zero")
    parser.add_argument("--jacobian-images", type=int, default=1000)
    parser.add_argument("--jacobian-examples", type=int, default=16)
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmarks/autoencoders.json")
    parser.add_argument("--markdown", default=str(result_page.RESULTS / "autoencoders.md"))
    return parser.parse_args(argv)


def build(name, args):
    model_class, arguments, _ = MODELS[name]
    arguments = {"hidden": (args.hidden,), "code_dim": args.code_dim, **arguments}
    if model_class is ContractiveAutoencoder and arguments.get("jacobian", "exact") == "exact":
        arguments["jacobian_examples"] = args.jacobian_examples
    return model_class(**arguments)


def train(name, args, train_images):
    minigen.manual_seed(args.seed)
    model = build(name, args).to(args.device)
    loader = DataLoader((train_images,), batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    optimizers = model.configure_optimizers(args.lr)
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
    result = {"test_mse": metrics["test_mse"], "test_psnr": metrics["test_psnr"], "code_dim": model.code_dim}
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


def pca_reference(k, args, data):
    """PCA with k components: its test MSE, PSNR, probe accuracy and explained variance."""
    started = time.perf_counter()
    pca = PCA(k).fit(data["train_images"])
    seconds = time.perf_counter() - started
    test_mse = pca.reconstruction_mse(data["test_images"])
    accuracy = probe(pca.transform(data["train_images"]), pca.transform(data["test_images"]), data, args)
    return {"test_mse": test_mse, "test_psnr": psnr(test_mse), "fit_seconds": seconds, "probe_accuracy": accuracy,
            "explained_variance_ratio": float(pca.explained_variance_ratio_.sum())}


def references(code_dims, args, data):
    """PCA at each code size in use, and the probe on raw pixels."""
    found = {f"pca_k{k}": pca_reference(k, args, data) for k in sorted(code_dims)}
    found["pixels"] = {"probe_accuracy": probe(data["train_images"].reshape(len(data["train_images"]), -1),
                                               data["test_images"].reshape(len(data["test_images"]), -1), data, args)}
    return found


def tables(results, reference):
    """The markdown blocks of the page: the models against PCA, then the denoisers and the references."""
    rows = []
    for name, figures in results.items():
        figures = {**figures, "pca_test_mse": reference[f"pca_k{figures['code_dim']}"]["test_mse"]}
        rows.append([f"{name} (k={figures['code_dim']}, {figures['description']})"]
                    + [text.format(figures[key]) for key, _, text in COLUMNS])
    blocks = [result_page.table(["model"] + [label for _, label, _ in COLUMNS], rows)]
    denoisers = [[name, f"{figures['psnr_noisy']:.2f}", f"{figures['psnr_denoised']:.2f}",
                  f"{figures['psnr_plain_autoencoder']:.2f}" if "psnr_plain_autoencoder" in figures else "-"]
                 for name, figures in results.items() if "psnr_noisy" in figures]
    if denoisers:
        blocks += ["PSNR (dB) to the clean test images of the corrupted input, of the denoiser's reconstruction, and "
                   "of the plain autoencoder's reconstruction of the same corrupted input (unclipped noisy values):",
                   result_page.table(["denoiser", "corrupted input", "denoised", "plain autoencoder"], denoisers)]
    pca_rows = [[name, f"{figures['test_mse']:.4f}", f"{figures['test_psnr']:.2f}", f"{figures['probe_accuracy']:.4f}",
                 f"{figures['explained_variance_ratio']:.3f}"]
                for name, figures in reference.items() if name != "pixels"]
    blocks += ["References: PCA fitted on the same training images, and the probe on raw pixels "
               f"({reference['pixels']['probe_accuracy']:.4f}).",
               result_page.table(["PCA", "test MSE", "PSNR dB", "probe acc", "explained variance"], pca_rows)]
    return blocks


def main(argv=None):
    args = parse_arguments(argv)
    names = list(MODELS) if args.models is None else [name.strip() for name in args.models.split(",")]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    started = time.perf_counter()
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    data = {"train_images": train_images[: args.limit], "train_labels": train_labels[: args.limit],
            "test_images": test_images[: args.test_images], "test_labels": test_labels[: args.test_images]}
    reference = references({build(name, args).code_dim for name in names}, args, data)
    print(f"references: {json.dumps(reference)}", flush=True)
    results, plain = {}, None
    for name in names:
        model, seconds = train(name, args, data["train_images"])
        results[name] = {**score(model, args, data, plain), "train_seconds": seconds, "description": MODELS[name][2]}
        plain = model if name == "autoencoder" else plain
        print(f"{name}: {json.dumps(results[name])}", flush=True)

    wall = time.perf_counter() - started
    blocks = tables(results, reference)
    print("\n\n".join(blocks) + f"\n\nwall time {wall:.0f} s")
    command = result_page.command_line("benchmarks.autoencoders", argv)
    test_count = len(data["test_images"])
    samples = (f"{len(data['train_images'])} MNIST training images x {args.epochs} epochs; scored on the first "
               f"{test_count} test images (||J||_F^2 on {min(args.jacobian_images, test_count)})")
    report = {"settings": {key: value for key, value in vars(args).items() if key not in ("out", "markdown")},
              "command": command, "samples": samples, "machine": describe(), "wall_seconds": wall,
              "references": reference, "results": results}
    result_page.write_json(args.out, report)
    result_page.write_page(args.markdown, title="Autoencoders against PCA on MNIST", command=command, seed=args.seed,
                           samples=samples, machine=report["machine"], sections=blocks,
                           summary=f"Adam lr {args.lr:g}, batch {args.batch_size}, {args.device}; wall time "
                                   f"{wall:.0f} s. |z| < {args.threshold:g} counts as near zero.")
    print(f"wrote {args.out} and {args.markdown}")
    return report


if __name__ == "__main__":
    main()
