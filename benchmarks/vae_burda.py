"""The VAE of Burda et al. (2016) on dynamically binarised MNIST, trained in minigen and in PyTorch.

The recipe (the paper's, with batch 100):

- model: 784-200-200-50 tanh MLP encoder (mean and log-variance heads), 50-200-200-784
  tanh MLP decoder with Bernoulli logits, one stochastic layer (``minigen.models.VAE``);
- data: the 60,000 MNIST training images, re-binarised at every step (pixel ~ Bernoulli(grey));
  the 10,000 test images binarised once with seed 0, the same binary test set for both runs;
- optimiser: Adam, betas (0.9, 0.999), eps 1e-4; stage i = 0, 1, 2, ... lasts 3^i epochs at
  lr 1e-3 * 10^(-i/7) (235 epochs = stages 0-4 and 114 epochs of stage 5);
- objective: the ELBO (``--k 1``, the VAE) or the k-sample IWAE bound (``--k 50``);
- score: NLL = -log p(x) estimated with IWAE k = 5000 on all 10,000 test images (``--eval-k``).

Both frameworks start from the same initial weights (minigen's, copied into the torch model),
see the same data order and binarisations, and are scored by the same estimator (minigen's
``VAE.log_likelihood``; torch weights are copied back), so the only difference is the engine.
Each run uses ``--threads`` threads (1 by default, so two runs can go side by side on 2 cores).

    python benchmarks/vae_burda.py --framework minigen --epochs 235 --out runs/burda/minigen
    python benchmarks/vae_burda.py --framework torch   --epochs 235 --out runs/burda/torch

Every ``--curve-every`` epochs the script adds IWAE-100 on 2,000 test images to the learning
curve in ``result.json`` (rewritten atomically, so a killed run still leaves its curve), and saves
the weights to ``weights.safetensors``. ``--evaluate-only`` scores a saved run again.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--framework", choices=("minigen", "torch"), required=True)
    parser.add_argument("--epochs", type=int, default=235)
    parser.add_argument("--k", type=int, default=1, help="importance samples of the training bound (1: VAE)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--eval-k", type=int, default=5000)
    parser.add_argument("--eval-images", type=int, default=10_000)
    parser.add_argument("--curve-every", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--evaluate-only", action="store_true", help="score the weights saved in --out")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import minigen  # noqa: E402
import minigen.interop  # noqa: E402
from minigen.data import load_mnist  # noqa: E402
from minigen.models import IWAE, VAE  # noqa: E402

ARCHITECTURE = {"architecture": "mlp", "latent_dim": 50, "hidden": (200, 200), "activation": "tanh"}


def learning_rate(epoch):
    """lr of ``epoch`` (0-based): stage i lasts 3^i epochs at 1e-3 * 10^(-i/7)."""
    stage, end = 0, 1
    while epoch >= end:
        stage += 1
        end += 3**stage
    return 1e-3 * 10 ** (-stage / 7)


def build_minigen(k, seed):
    minigen.manual_seed(seed)
    return IWAE(k=k, **ARCHITECTURE, binarize=False) if k > 1 else VAE(**ARCHITECTURE, binarize=False)


class TorchRun:
    """The same model and step in PyTorch, with parameter names matching minigen's state dict."""

    def __init__(self, initial_state, k, threads, seed):
        import torch
        from torch import nn

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.torch, self.k = torch, k

        def mlp(sizes):
            layers = []
            for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(nn.Linear(fan_in, fan_out))
                if index < len(sizes) - 2:
                    layers.append(nn.Tanh())
            return layers

        self.model = nn.Module()
        self.model.encoder = nn.Module()
        self.model.encoder.network = nn.Sequential(nn.Flatten(), nn.Sequential(*mlp((784, 200, 200)), nn.Tanh()))
        self.model.posterior = nn.Linear(200, 100)
        self.model.decoder = nn.Module()
        self.model.decoder.network = nn.Sequential(nn.Sequential(*mlp((50, 200, 200, 784))), nn.Unflatten(1, (1, 28, 28)))
        self.model.load_state_dict(minigen.interop.to_torch_state_dict(initial_state))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)

    def step(self, images, lr):
        torch, model = self.torch, self.model
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = torch.from_numpy(images)
        mu, log_variance = model.posterior(model.encoder.network(x)).chunk(2, dim=1)
        eps = torch.randn((self.k, *mu.shape))
        z = mu + (0.5 * log_variance).exp() * eps
        logits = model.decoder.network(z.reshape(-1, 50)).reshape(self.k, *x.shape)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand(logits.shape), reduction="none").sum((-3, -2, -1))
        if self.k == 1:  # the VAE: closed-form KL
            kl = 0.5 * (mu**2 + log_variance.exp() - log_variance - 1).sum(-1)
            loss = (-log_px[0] + kl).mean()
        else:
            log_weights = log_px + (0.5 * (eps**2 - z**2) + 0.5 * log_variance).sum(-1)
            loss = -(torch.logsumexp(log_weights, 0) - np.log(self.k)).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss)

    def state_dict(self):
        return minigen.interop.from_torch_state_dict(self.model.state_dict())


class MinigenRun:
    def __init__(self, model):
        self.model = model
        self.optimizer = minigen.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)

    def step(self, images, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        terms = self.model.loss(minigen.tensor(images))
        self.optimizer.zero_grad()
        terms["loss"].backward()
        self.optimizer.step()
        return float(terms["loss"].item())

    def state_dict(self):
        return self.model.state_dict()


def test_set(count):
    grey = load_mnist("test", labels=False)[:count]
    return (np.random.default_rng(0).random(grey.shape, dtype=np.float32) < grey).astype(np.float32)


def nll(state_dict, images, k, seed=1, batch=100):
    """-IWAE_k estimate of log p(x) in nats, averaged over ``images``, by minigen's estimator."""
    model = VAE(**ARCHITECTURE, binarize=False)
    model.load_state_dict(state_dict)
    model.eval()
    minigen.manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), batch):
        total += float(model.log_likelihood(minigen.tensor(images[start:start + batch]), k).sum().item())
    return -total / len(images)


def _write_json(path, payload):
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    temporary.replace(path)


def main(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result_path, weights_path = out / "result.json", out / "weights.safetensors"
    test_images = test_set(args.eval_images)
    curve_images = test_images[:2000]
    if args.evaluate_only:
        result = json.loads(result_path.read_text())
    else:
        model = build_minigen(args.k, args.seed)
        run = MinigenRun(model) if args.framework == "minigen" else TorchRun(model.state_dict(), args.k, args.threads,
                                                                              args.seed)
        train = load_mnist("train", labels=False).reshape(-1, 1, 28, 28)
        data_rng = np.random.default_rng(args.seed)
        result = {"framework": args.framework, "k": args.k, "epochs": args.epochs, "batch_size": args.batch_size,
                  "threads": args.threads, "numpy": np.__version__, "curve": []}
        if args.framework == "torch":
            import torch
            result["torch"] = torch.__version__
        started = time.perf_counter()
        for epoch in range(args.epochs):
            lr, losses = learning_rate(epoch), []
            order = data_rng.permutation(len(train))
            for start in range(0, len(train) - args.batch_size + 1, args.batch_size):
                grey = train[order[start:start + args.batch_size]]
                images = (data_rng.random(grey.shape, dtype=np.float32) < grey).astype(np.float32)
                losses.append(run.step(images, lr))
            seconds = time.perf_counter() - started
            point = {"epoch": epoch + 1, "lr": lr, "train_loss": float(np.mean(losses)), "seconds": seconds}
            if (epoch + 1) % args.curve_every == 0 or epoch + 1 == args.epochs:
                state = run.state_dict()
                minigen.save(state, weights_path)
                point["test_nll_iwae_100_2k"] = nll(state, curve_images, 100)
            result["curve"].append(point)
            result["train_seconds"] = seconds
            _write_json(result_path, result)
            print(json.dumps(point), flush=True)
    state = minigen.load(weights_path)
    started = time.perf_counter()
    result[f"test_nll_iwae_{args.eval_k}"] = nll(state, test_images, args.eval_k)
    result["eval_images"] = len(test_images)
    result["eval_seconds"] = time.perf_counter() - started
    _write_json(result_path, result)
    print(json.dumps({key: value for key, value in result.items() if key != "curve"}, indent=2))


if __name__ == "__main__":
    main(ARGS)
