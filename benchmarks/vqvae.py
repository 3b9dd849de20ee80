"""VQ-VAE on full MNIST, gradient codebook vs EMA codebook: reconstruction and code usage on the test set.

For each codebook variant: train for ``--epochs`` on the 60,000 training
digits with Adam, then report on the 10,000 test digits

- reconstruction MSE per pixel (pixels in [0, 1]) and PSNR = 10 log10(1 / MSE), in dB;
- code perplexity: exp(entropy) of the codes picked by all 7x7 grid positions of all test digits;
- code usage: the fraction of the K codes picked at least once on the test set.

Prints a table and writes JSON (settings, machine, figures, seconds) to
``--out``. Run: ``python benchmarks/vqvae.py [--device cuda] [--epochs 2]`` with
``MINIGEN_DATA`` pointing at the MNIST files. On a busy CPU, OPENBLAS_NUM_THREADS=1
avoids OpenBLAS threads spinning against other processes.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigen  # noqa: E402
from minigen.data import DataLoader, load_mnist  # noqa: E402
from minigen.models import VQVAE  # noqa: E402

FIGURES = (("test_reconstruction", "test MSE", "{:.5f}"), ("test_psnr", "PSNR dB", "{:.2f}"),
           ("test_code_perplexity", "perplexity", "{:.1f}"), ("test_code_usage", "usage", "{:.3f}"),
           ("train_seconds", "train s", "{:.0f}"))


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--codebooks", default="standard,ema", help="comma-separated: standard, ema")
    parser.add_argument("--num-embeddings", type=int, default=512)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--hidden-channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="the paper's 2e-4 needs many more steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmarks/vqvae.json")
    return parser.parse_args()


def run(codebook, train, test, args):
    """Train one variant; returns its test figures and timings."""
    minigen.manual_seed(args.seed)
    model = VQVAE(codebook=codebook, num_embeddings=args.num_embeddings, embedding_dim=args.embedding_dim,
                  hidden_channels=args.hidden_channels, residual_channels=args.hidden_channels // 2).to(args.device)
    optimizers = model.configure_optimizers(args.lr)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    epochs = []
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        epoch_started, totals = time.perf_counter(), {}
        for batch in loader:
            for name, value in model.training_step(batch, optimizers).items():
                totals[name] = totals.get(name, 0.0) + value / len(loader)
        epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - epoch_started,
                       **{f"train_{name}": value for name, value in totals.items()}})
        print(f"{codebook}: epoch {epoch + 1}  " + "  ".join(f"{k} {v:.4g}" for k, v in totals.items())
              + f"  ({epochs[-1]['seconds']:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    model.eval()
    metrics = model.evaluate(DataLoader(test, batch_size=500, device=args.device))
    return {**metrics, "train_seconds": seconds, "epochs": epochs,
            "parameters": sum(p.numel() for p in model.parameters())}


def print_table(results):
    header = "| codebook | " + " | ".join(label for _, label, _ in FIGURES) + " |"
    print(header)
    print("|" + "---|" * (len(FIGURES) + 1))
    for codebook, figures in results.items():
        print(f"| {codebook} | " + " | ".join(text.format(figures[key]) for key, _, text in FIGURES) + " |")


def main():
    args = parse_arguments()
    train, test = load_mnist("train", labels=False), load_mnist("test", labels=False)
    started = time.perf_counter()
    results = {codebook: run(codebook, train, test, args) for codebook in args.codebooks.split(",")}
    print_table(results)
    report = {
        "benchmark": "vqvae", "settings": vars(args), "results": results,
        "wall_seconds": time.perf_counter() - started,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out} ({report['wall_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
