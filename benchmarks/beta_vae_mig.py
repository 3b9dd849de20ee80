"""Does beta > 1 disentangle? The registered beta-VAE trained with beta = 1 and beta = 4, scored by MIG.

The recipe, the same for every beta (only beta differs):

- model: the registered ``beta_vae`` (conv 32-32-64-64 encoder/decoder, 256 hidden, 10-d latent,
  Bernoulli decoder), Adam at lr 5e-4, batch 64, seed 0 (the same initial weights and data order);
- data: ``--train-images`` procedural 64x64 shapes (``minigen.data.ShapesDataset``, seed 0) for
  ``--epochs`` epochs; KL warm-up beta_t = beta * min(1, epoch / warmup) over the registered third
  of the run (10 of 30 epochs in the spec, round(epochs / 3) here);
- score: MIG (Chen et al. 2018) of the posterior means of ``--test-images`` held-out shapes (seed 1)
  against their five factors, each latent cut into 20 equal-width bins (disentanglement_lib's
  discretised MIG); also the test reconstruction term and KL (nats per image) and the active units.

Each beta runs ``examples/beta_vae.py`` in its own process, which writes its curves, reconstructions,
samples and latent traversals to ``--out``/beta_<beta>/; this script gathers their metrics.json
into ``--out``/results.json and prints a table.

    OPENBLAS_NUM_THREADS=1 python benchmarks/beta_vae_mig.py                  # 23 min on a shared 2-core CPU
    python benchmarks/beta_vae_mig.py --train-images 20000 --epochs 30 --device cuda     # the spec's run
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import describe  # noqa: E402


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--test-images", type=int, default=5000)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmarks/beta_vae_mig")
    return parser.parse_args()


def train_and_score(beta, args, out):
    """Run the example for one beta; returns its metrics with the wall time of the whole run."""
    command = [sys.executable, str(ROOT / "examples" / "beta_vae.py"), "--beta", str(beta),
               "--epochs", str(args.epochs), "--limit", str(args.train_images), "--test-images", str(args.test_images),
               "--latent-dim", str(args.latent_dim), "--device", args.device, "--seed", str(args.seed),
               "--traversals", "3", "--quiet", "--out", str(out)]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall_seconds"] = time.perf_counter() - started
    return metrics


def table(results):
    factors = list(results[0]["mig_gaps"])
    lines = ["| beta | MIG | " + " | ".join(f"gap {name}" for name in factors)
             + " | test recon (nats) | test KL (nats) | active | train s | wall s |",
             "|" + "---|" * (len(factors) + 8)]
    for result in results:
        gaps = " | ".join(f"{result['mig_gaps'][name]:.3f}" for name in factors)
        lines.append(f"| {result['beta']:g} | {result['mig']:.3f} | {gaps} | {result['test_reconstruction']:.1f} | "
                     f"{result['test_kl']:.2f} | {result['active_units']}/{result['latent_dim']} | "
                     f"{result['train_seconds']:.0f} | {result['wall_seconds']:.0f} |")
    return "\n".join(lines)


def main():
    args = parse_arguments()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [train_and_score(beta, args, out / f"beta_{beta:g}") for beta in args.betas]
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    report = {"settings": settings, "machine": describe(), "results": results}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    print(f"\n{args.train_images} training images x {args.epochs} epochs, MIG on {args.test_images} test images "
          f"(20 equal-width bins), seed {args.seed}, {args.device}\n")
    print(table(results))
    print(f"\nwrote {out}/results.json and the plots of each run under {out}/beta_*/")


if __name__ == "__main__":
    main()
