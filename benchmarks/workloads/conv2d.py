"""conv2d: micro-benchmark of one convolution, forward + backward (input and weight gradients).

Input (64, 32, 32, 32), weight (64, 32, 3, 3), padding 1, float32; the backward
takes a fixed upstream gradient, so no loss or optimizer is involved.
"""

import numpy as np

from .common import normal


def make_batch(rng):
    weight = normal(rng, 64, 32, 3, 3) * np.float32(1.0 / np.sqrt(32 * 3 * 3))
    return {"x": normal(rng, 64, 32, 32, 32), "weight": weight, "grad_output": normal(rng, 64, 64, 32, 32)}


def make_models(framework):
    return {}


def make_train_step(framework, models, batch):
    x, weight = batch["x"].requires_grad_(True), batch["weight"].requires_grad_(True)
    grad_output = batch["grad_output"]

    def step():
        y = framework.F.conv2d(x, weight, padding=1)
        framework.grad(y, [x, weight], grad_outputs=grad_output)
        return {}

    return step
