"""VQ-VAE on MNIST: train, then look at reconstructions, code usage and what the code grid alone decodes to.

    python examples/vqvae.py [--codebook ema] [--epochs 1] [--limit 20000] [--device cuda] [--out runs/vqvae]

Each 28x28 digit becomes a 7x7 grid of integers in [0, K): 49 tokens from a
vocabulary of K codes. The script writes to ``--out``:

- ``reconstructions.png``: test digits (odd rows) and their decoded code grids (even rows);
- ``code_usage.png``: how often each code is picked on the test set, most used first;
- ``uniform_codes.png``: code grids drawn uniformly at random and decoded: the decoder
  alone is not a generative model, a prior over the grid (PixelCNN, transformer) is;
- ``losses.png`` and ``perplexity.png``: the training curves;
- ``checkpoint.safetensors`` and ``metrics.json`` (``minigen eval`` reads the checkpoint).

The default is a smaller network than the paper's (32 hidden channels, D = 32)
so that an epoch takes a minute or two on a laptop CPU.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import minigen
from minigen import training, viz
from minigen.data import DataLoader, load_mnist
from minigen.models import get_spec


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--out", default="runs/vqvae")
    parser.add_argument("--codebook", choices=["standard", "ema"], default="standard")
    parser.add_argument("--num-embeddings", type=int, default=512)
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--hidden-channels", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def save_code_usage(counts, path, metrics):
    """The test-set code counts, sorted from the most used code to the least, on a log scale."""
    counts = np.sort(counts)[::-1]
    used = counts[counts > 0]  # a log axis cannot show the unused codes: the title counts them
    viz.plot_curves({"grid positions per code": (np.arange(len(used)), used)}, path, xlabel="code, most used first",
                    ylabel="grid positions (test set)", log_y=True,
                    title=f"{len(used)} of {len(counts)} codes used, perplexity {metrics['test_code_perplexity']:.0f}")


def main():
    args = parse_arguments()
    minigen.manual_seed(args.seed)
    out = Path(args.out)
    train_images = load_mnist("train", labels=False)[: args.limit]
    test_images = load_mnist("test", labels=False)
    spec = get_spec("vqvae_ema" if args.codebook == "ema" else "vqvae")
    name = spec.name
    # The config `minigen train` would write, so that `minigen eval` reads the checkpoint.
    config = spec.config(seed=args.seed, num_embeddings=args.num_embeddings, embedding_dim=args.embedding_dim,
                         hidden_channels=args.hidden_channels, residual_channels=args.hidden_channels // 2,
                         lr=args.lr, batch_size=args.batch_size, epochs=args.epochs)
    model = spec.build(**config["model_arguments"]).to(args.device)
    optimizers, schedulers = spec.configure_optimizers(model, args.lr)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {len(train_images)} training images")

    loader = DataLoader(train_images, batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    started = time.perf_counter()
    history = training.fit(model, loader, optimizers, schedulers=schedulers, epochs=args.epochs, out_dir=out,
                           config=config)
    seconds = time.perf_counter() - started

    model.eval()
    test_loader = DataLoader(test_images, batch_size=500, device=args.device)
    metrics = {**model.evaluate(test_loader), "train_seconds": seconds, "epochs": args.epochs}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))

    with minigen.no_grad():
        originals = minigen.tensor(test_images[:32], device=args.device)
        reconstructions = model.decode_indices(model.encode_indices(originals)).clamp(0.0, 1.0)
        # rows of 8 test digits, each followed by the row of their reconstructions: (8 rows, 8 columns, 1, 28, 28)
        pairs = np.stack([originals.cpu().numpy(), reconstructions.cpu().numpy()])  # (2, 32, 1, 28, 28)
        rows = pairs.reshape(2, 4, 8, 1, 28, 28).transpose(1, 0, 2, 3, 4, 5).reshape(8, 8, 1, 28, 28)
        viz.plot_latent_traversal(rows, out / "reconstructions.png", row_labels=["test", "decoded"] * 4,
                                  value_range=(0, 1), title="test digits and their decoded 7x7 code grids")

        grid = model.encode_indices(originals).shape[1:]
        uniform = minigen.randint(0, args.num_embeddings, (32, *grid), device=args.device)
        viz.save_image_grid(model.decode_indices(uniform).clamp(0.0, 1.0), out / "uniform_codes.png",
                            value_range=(0, 1), title="uniform random codes: a prior is needed to sample")

    counts = model.code_usage(test_loader).cpu().numpy()
    save_code_usage(counts, out / "code_usage.png", metrics)
    losses = {term: history[term] for term in ("loss", "reconstruction", "codebook", "commitment") if term in history}
    viz.plot_curves(losses, out / "losses.png", log_y=True, smooth=0.9, title=f"{name} training loss terms")
    viz.plot_curves({"perplexity": history["perplexity"]}, out / "perplexity.png", smooth=0.9,
                    ylabel="exp(entropy) of code usage per batch", title=f"{name}: codes in use")
    print(f"wrote {', '.join(sorted(os.listdir(out)))} to {out}")


if __name__ == "__main__":
    main()
