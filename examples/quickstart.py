"""Quick start: a small classifier on built-in 2-D data, trained with minigen's autograd.

Runs in a few seconds on a CPU, needs no download:

    python examples/quickstart.py [--device cuda]

It shows the PyTorch-shaped workflow (Module, Adam, zero_grad/backward/step)
and a second-order gradient, the input-gradient penalty that WGAN-GP uses.
"""

import argparse
import math

import numpy as np

import minigen
from minigen import nn, optim
from minigen.nn import functional as F


def two_moons(count, noise, rng):
    """Two interleaving half circles (labels 0 and 1) with Gaussian noise."""
    half = count // 2
    angle = rng.uniform(0, math.pi, size=count)
    upper = np.stack([np.cos(angle[:half]), np.sin(angle[:half])], axis=1)
    lower = np.stack([1 - np.cos(angle[half:]), 0.5 - np.sin(angle[half:])], axis=1)
    points = np.concatenate([upper, lower]) + rng.normal(scale=noise, size=(count, 2))
    labels = np.concatenate([np.zeros(half), np.ones(count - half)]).astype(np.int64)
    return points.astype(np.float32), labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    minigen.manual_seed(0)
    rng = np.random.default_rng(0)
    points, labels = two_moons(1024, noise=0.1, rng=rng)
    x = minigen.tensor(points, device=args.device)
    y = minigen.tensor(labels, device=args.device)

    model = nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2)).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    print(model)

    for step in range(1, args.steps + 1):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == 1:
            with minigen.no_grad():
                accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")

    # A gradient of a gradient: how far is ||d logit / d x|| from 1 (the WGAN-GP penalty)?
    inputs = x[:256].detach().requires_grad_()
    (input_grad,) = minigen.grad(model(inputs)[:, 1].sum(), inputs, create_graph=True)
    penalty = ((input_grad.norm(dim=1) - 1.0) ** 2).mean()
    optimizer.zero_grad()
    penalty.backward()
    first_layer_grad = model[0].weight.grad.norm().item()
    print(f"gradient penalty {penalty.item():.4f}; its gradient reaches the first layer (norm {first_layer_grad:.4f})")
    if accuracy < 0.95:
        raise SystemExit(f"quickstart: accuracy {accuracy:.3f} is below 0.95: something is wrong")


if __name__ == "__main__":
    main()
