"""The VAE of Burda et al. (2016) on dynamically binarised MNIST, trained in minigen and in PyTorch.

The recipe (the paper's, with batch 100; ``minigen.models.vae`` holds its constants once):

- model: 784-200-200-50 tanh MLP encoder (mean and log-variance heads), 50-200-200-784
  tanh MLP decoder with Bernoulli logits, one stochastic layer (``BURDA_ARCHITECTURE``);
- data: the 60,000 MNIST training images (``--limit`` for quick runs), re-binarised at every
  step (pixel ~ Bernoulli(grey)); the test images binarised once with seed 0, the same binary
  test set for both frameworks;
- optimiser: Adam, betas (0.9, 0.999), eps 1e-4; stage i = 0, 1, ..., 7 lasts 3^i epochs at
  lr 1e-3 * 10^(-i/7), and later epochs stay at stage 7 (``burda_optimizers``; 235 epochs =
  stages 0-4 and 114 epochs of stage 5, 3280 epochs = all eight stages);
- objective: the ELBO (``--k 1``, the VAE) or the k-sample IWAE bound (``--k 50``);
- score: NLL = -log p(x) estimated with IWAE k = 5000 on all 10,000 test images (``--eval-k``).

Both frameworks start from the same initial weights (minigen's, copied into torch), see the
same data order, binarisations and reparameterisation noise (all drawn from one NumPy generator
seeded by ``--seed``), and are scored by the same estimator (minigen's ``VAE.log_likelihood``
on the trained weights), so the only difference is the engine (benchmarks/burda_runs.py).
Each run uses ``--threads`` threads (1 by default, so two runs can go side by side on 2 cores).

    python -m benchmarks.vae_burda --framework minigen --epochs 235 --out runs/burda/minigen
    python -m benchmarks.vae_burda --framework torch   --epochs 235 --out runs/burda/torch
        # side by side on 2 CPU cores, each about 35 min: 5-6 s per epoch (20-25 min), 2 min of curve
        # points, 12 min for the IWAE-5000 score
    python -m benchmarks.vae_burda --framework minigen --k 50 --epochs 235 --out runs/burda/minigen_k50
    python -m benchmarks.vae_burda --framework torch   --k 50 --epochs 235 --out runs/burda/torch_k50
        # the IWAE k = 50: about 2 min per epoch on one core, 8 h each (--device cuda on a GPU)
    python -m benchmarks.burda_report runs/burda/*     # the comparison: benchmarks/results/burda.md
    # --epochs 3280 is the paper's full schedule: about 5 h for the VAE, 4-5 days for the IWAE on one core

Every ``--checkpoint-every`` epochs (default 1) the weights, the optimizer and schedule states,
the data generator's state, the epoch and the learning curve go to ``checkpoint.safetensors`` in
one atomic write; ``--resume`` continues from it bit for bit (and on a finished run, scores it
again). Every ``--curve-every`` epochs the curve gets the IWAE-``--curve-k`` NLL of the first
``--curve-images`` test images; ``result.json`` (the curve, the final score, settings, machine,
threads) is rewritten atomically after each checkpoint.
"""

import argparse
import json
import os
import time
from pathlib import Path


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--framework", choices=("minigen", "torch"), required=True)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--epochs", type=int, default=235)
    parser.add_argument("--k", type=int, default=1, help="importance samples of the training bound (1: VAE)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--limit", type=int, help="train on the first N training images only (tests, quick looks)")
    parser.add_argument("--eval-k", type=int, default=5000)
    parser.add_argument("--eval-images", type=int, default=10_000)
    parser.add_argument("--curve-every", type=int, default=5)
    parser.add_argument("--curve-k", type=int, default=100)
    parser.add_argument("--curve-images", type=int, default=2000)
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


ARGS = parse_arguments() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402

import minigen  # noqa: E402
from benchmarks import result_page  # noqa: E402
from benchmarks.burda_runs import MinigenRun, TorchRun, build_minigen, noise_shape  # noqa: E402
from benchmarks.machine import describe, thread_counts  # noqa: E402
from minigen.data import load_mnist  # noqa: E402
from minigen.models import VAE  # noqa: E402
from minigen.models.vae import BURDA_ARCHITECTURE  # noqa: E402

CHECKPOINT = "checkpoint.safetensors"
# What a resumed run must share with the run that wrote its checkpoint (the device may change).
RUN_SETTINGS = ("framework", "k", "batch_size", "limit", "seed")


def test_set(count):
    grey = load_mnist("test", labels=False)[:count]
    return (np.random.default_rng(0).random(grey.shape, dtype=np.float32) < grey).astype(np.float32)


def nll(weights, images, k, device="cpu", seed=1, batch=100):
    """-IWAE_k estimate of log p(x) in nats, averaged over ``images``, by minigen's estimator."""
    model = VAE(**BURDA_ARCHITECTURE, binarize=False).to(device)
    model.load_state_dict(weights)
    model.eval()
    minigen.manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), batch):
        total += float(model.log_likelihood(minigen.tensor(images[start:start + batch], device=device), k).sum().item())
    return -total / len(images)


def start_run(args):
    """A fresh run from minigen's seeded initial weights: (run, data generator, epoch 0, a new result)."""
    model = build_minigen(args.k, args.seed)
    if args.framework == "minigen":
        run = MinigenRun(model, args.device)
    else:
        run = TorchRun(model.state_dict(), args.device, args.threads)
    settings = {key: value for key, value in vars(args).items() if key not in ("out", "resume")}
    result = {"framework": args.framework, "k": args.k, "epochs": args.epochs, "batch_size": args.batch_size,
              "device": args.device, "settings": settings, "curve": [], "train_seconds": 0.0}
    return run, np.random.default_rng(args.seed), 0, result


def resume_run(args, path):
    """The run saved in the checkpoint at ``path``: (run, data generator, epoch, result)."""
    checkpoint = minigen.load(path)
    saved = checkpoint["result"]["settings"]
    changed = [name for name in RUN_SETTINGS if saved[name] != getattr(args, name)]
    if changed:
        raise SystemExit(f"--resume: {path} was trained with " + ", ".join(
            f"--{name.replace('_', '-')} {saved[name]}" for name in changed) + "; resume it with the same")
    run, data_rng, _, _ = start_run(args)
    run.load_state(checkpoint["run"])
    data_rng.bit_generator.state = json.loads(checkpoint["data_rng"])
    # the final score is recomputed at the end, perhaps with another --eval-k
    result = {key: value for key, value in checkpoint["result"].items()
              if not key.startswith(("test_nll_iwae_", "eval_"))}
    return run, data_rng, checkpoint["epoch"], result


def train_epoch(run, train, data_rng, args):
    """One pass over ``train`` in a fresh order: each batch binarised and given its noise by ``data_rng``."""
    losses, order = [], data_rng.permutation(len(train))
    for start in range(0, len(train) - args.batch_size + 1, args.batch_size):
        grey = train[order[start:start + args.batch_size]]
        images = (data_rng.random(grey.shape, dtype=np.float32) < grey).astype(np.float32)
        eps = data_rng.standard_normal(noise_shape(args.k, args.batch_size), dtype=np.float32)
        losses.append(run.step(images, eps))
    run.framework.synchronize()
    return float(np.mean(losses))


def save(out, run, data_rng, epoch, result):
    """The checkpoint in one atomic write, then result.json (so the curve never runs ahead of the checkpoint)."""
    minigen.save({"run": run.state(), "data_rng": json.dumps(data_rng.bit_generator.state), "epoch": epoch,
                  "result": result}, out / CHECKPOINT)
    result_page.write_json(out / "result.json", result)


def main(argv=None):
    args = parse_arguments(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.resume and not (out / CHECKPOINT).exists():
        raise SystemExit(f"--resume: no checkpoint at {out / CHECKPOINT}")
    run, data_rng, first_epoch, result = resume_run(args, out / CHECKPOINT) if args.resume else start_run(args)
    result.update({"epochs": args.epochs, "machine": describe(), "threads": thread_counts(run.framework),
                   "command": result_page.command_line("benchmarks.vae_burda", argv)})
    train = load_mnist("train", labels=False)[: args.limit]
    test_images = test_set(args.eval_images)
    for epoch in range(first_epoch, args.epochs):
        lr, started = run.lr, time.perf_counter()
        train_loss = train_epoch(run, train, data_rng, args)
        run.end_epoch()
        result["train_seconds"] += time.perf_counter() - started
        point = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "seconds": result["train_seconds"]}
        if (epoch + 1) % args.curve_every == 0 or epoch + 1 == args.epochs:
            point["test_nll"] = nll(run.weights(), test_images[: args.curve_images], args.curve_k, args.device)
        result["curve"].append(point)
        result.update(curve_k=args.curve_k, curve_images=min(args.curve_images, len(test_images)),
                      train_images=len(train))
        if (epoch + 1) % args.checkpoint_every == 0 or epoch + 1 == args.epochs:
            save(out, run, data_rng, epoch + 1, result)
        print(json.dumps(point), flush=True)
    started = time.perf_counter()
    result[f"test_nll_iwae_{args.eval_k}"] = nll(run.weights(), test_images, args.eval_k, args.device)
    result.update(eval_k=args.eval_k, eval_images=len(test_images), eval_seconds=time.perf_counter() - started)
    save(out, run, data_rng, max(first_epoch, args.epochs), result)
    print(json.dumps({key: value for key, value in result.items() if key not in ("curve", "machine")}, indent=2))
    return result


if __name__ == "__main__":
    main()
