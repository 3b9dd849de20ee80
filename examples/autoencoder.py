"""Deterministic autoencoders on MNIST, against PCA at the same code size.

    python examples/autoencoder.py                                   # 784-256-32 MLP autoencoder, 3 epochs
    python examples/autoencoder.py --variant conv
    python examples/autoencoder.py --variant sparse --penalty kl     # sigmoid code, KL to rho = 0.1
    python examples/autoencoder.py --variant sparse --penalty l1     # ReLU code, lambda ||z||_1
    python examples/autoencoder.py --variant denoising --corruption mask
    python examples/autoencoder.py --variant contractive --device cuda

The models are in minigen/models/autoencoder.py (read it for each objective line
by line): one encoder/decoder, and the variants differ only in the penalty on
the code (sparse, contractive) or in the corruption of the input (denoising).
Every run also fits PCA with the same number of components on the training
images, and compares the two on the test set: reconstruction MSE per pixel and
the accuracy of a linear probe (softmax regression on the frozen codes).
Writes to --out (default runs/<variant>_autoencoder): curves.png,
reconstructions.png (test digits, the autoencoder's and PCA's reconstructions),
latent_scatter.png, metrics.json, the checkpoint (``minigen eval`` reads it), and
per variant codes.png (sparse: each digit's code as a 4x8 tile), denoising.png
(corrupted / reconstructed / clean).
"""

import argparse
import json
import time
from pathlib import Path

import minigen
from minigen import viz
from minigen.data import DataLoader, load_mnist
from minigen.models import PCA, get_spec, linear_probe
from minigen.training import fit

VARIANTS = ("autoencoder", "conv", "sparse", "denoising", "contractive")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=VARIANTS, default="autoencoder")
    parser.add_argument("--penalty", choices=("kl", "l1"), default="kl", help="sparse: which sparsity penalty")
    parser.add_argument("--corruption", choices=("gaussian", "mask"), default="gaussian", help="denoising: noise")
    parser.add_argument("--code-dim", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, help="train on the first N images only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="output folder (default runs/<variant>_autoencoder)")
    return parser.parse_args()


def variant_config(args):
    """The registered spec of the variant and the run config (its arguments changed for this variant).

    All share the 784-256-32 ReLU MLP (or the 32-64 channel conv net); the contractive variant swaps the
    registered one-layer sigmoid encoder for that MLP, with the exact penalty.
    """
    overrides = {"code_dim": args.code_dim, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    if args.variant == "sparse" and args.penalty == "l1":
        overrides.update(l1_weight=0.05, kl_weight=0.0, code_activation="relu")
    if args.variant == "denoising" and args.corruption == "mask":
        overrides.update(noise_std=0.0, drop_probability=0.5)
    if args.variant == "contractive":
        # the exact penalty costs ~k backward passes per example: take it on 16 examples of each batch
        overrides.update(hidden=[256], code_activation="linear", reconstruction="mse", jacobian="exact",
                         jacobian_examples=16)
    name = {"autoencoder": "autoencoder", "conv": "conv_autoencoder"}.get(args.variant, f"{args.variant}_autoencoder")
    spec = get_spec(name)
    return spec, spec.config(seed=args.seed, **overrides)


def main():
    args = parse_arguments()
    out = Path(args.out or f"runs/{'' if args.variant == 'autoencoder' else args.variant + '_'}autoencoder")
    minigen.manual_seed(args.seed)
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]
    spec, config = variant_config(args)
    model = spec.build(**config["model_arguments"]).to(args.device)

    loader = DataLoader((train_images,), batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    optimizers, schedulers = spec.configure_optimizers(model, args.lr)
    started = time.perf_counter()
    history = fit(model, loader, optimizers, schedulers=schedulers, epochs=args.epochs, out_dir=out, config=config)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - started:.0f} s")
    viz.plot_curves({name: values for name, values in history.items() if name != "mse"}, out / "curves.png",
                    log_y=True, smooth=0.9)

    model.eval()
    minigen.manual_seed(args.seed)  # the denoiser's test corruption
    metrics = model.evaluate(DataLoader((test_images,), batch_size=500, device=args.device))
    pca = PCA(args.code_dim).fit(train_images)
    metrics["pca_test_mse"] = pca.reconstruction_mse(test_images)
    test = minigen.tensor(test_images, device=args.device)
    codes = {"autoencoder": (model.codes(minigen.tensor(train_images, device=args.device)), model.codes(test)),
             "pca": (pca.transform(train_images), pca.transform(test_images))}
    for name, (train_codes, test_codes) in codes.items():
        probe = linear_probe(train_codes, train_labels, test_codes, test_labels, device=args.device)
        metrics[f"{name}_probe_accuracy"] = probe["test_accuracy"]
    with minigen.no_grad():  # ||dz/dx||_F^2 on 1,000 test digits, exact, without a graph
        metrics["test_jacobian_frobenius_squared"] = float(model.jacobian_frobenius_squared(test[:1000]).mean().item())
    print(json.dumps(metrics, indent=2))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))

    name = "autoencoder" if args.variant == "autoencoder" else f"{args.variant} AE"
    with minigen.no_grad():
        digits = test[:12]
        pca_rows = pca.inverse_transform(pca.transform(test_images[:12])).reshape(12, 1, 28, 28)
        rows = minigen.stack([digits, model(digits), minigen.tensor(pca_rows, device=args.device)])
        viz.plot_latent_traversal(rows, out / "reconstructions.png", value_range=(0, 1),
                                  row_labels=["test digit", name, f"PCA k={args.code_dim}"],
                                  title=f"reconstructions from {args.code_dim}-d codes (test MSE: AE "
                                        f"{metrics['test_mse']:.4f}, PCA {metrics['pca_test_mse']:.4f})")
        viz.plot_latent_scatter(codes["autoencoder"][1][:5000], test_labels[:5000], out / "latent_scatter.png",
                                title="autoencoder codes of test digits")
        if args.variant == "sparse" and args.code_dim == 32:
            tiles = codes["autoencoder"][1][:64].reshape(64, 1, 4, 8)
            viz.save_image_grid(tiles, out / "codes.png", value_range=(0, float(tiles.max().item())),
                                title=f"codes of 64 test digits as 4x8 tiles: mean |z| "
                                      f"{metrics['test_mean_activation']:.3f}, "
                                      f"{metrics['test_near_zero_share']:.0%} of values and "
                                      f"{metrics['test_dead_unit_share']:.0%} of units below 0.05")
        if args.variant == "denoising":
            minigen.manual_seed(args.seed)
            noisy = model.corrupt(digits)
            rows = minigen.stack([noisy, model(noisy), digits])
            viz.plot_latent_traversal(rows, out / "denoising.png", value_range=(0, 1),
                                      row_labels=["corrupted", "reconstructed", "clean"],
                                      title=f"{args.corruption} corruption: PSNR {metrics['test_psnr_noisy']:.1f} dB "
                                            f"-> {metrics['test_psnr_denoised']:.1f} dB (test set)")
    print(f"wrote {out}/curves.png, reconstructions.png, latent_scatter.png, metrics.json"
          + {"sparse": ", codes.png", "denoising": ", denoising.png"}.get(args.variant, ""))


if __name__ == "__main__":
    main()
