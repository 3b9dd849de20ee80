"""conv2d forward + backward (input and weight gradients): minigen (NumPy) vs PyTorch CPU.

Same shapes, weights and upstream gradient in both, float32, ``warmup`` untimed
steps, then the median of ``steps`` timed ones. PyTorch runs with its default
thread count. Run: ``python benchmarks/conv2d.py``.
"""

import statistics
import sys
import time
from pathlib import Path

import numpy as np

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minigen  # noqa: E402


def _median_ms(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _arrays(batch, channels, size, out_channels, kernel_size, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    weight = rng.standard_normal((out_channels, channels, kernel_size, kernel_size), dtype=np.float32)
    weight *= np.float32(1.0 / np.sqrt(channels * kernel_size * kernel_size))
    return x, weight


def _minigen_step(x, weight, grad_output, padding):
    x, weight = minigen.tensor(x, requires_grad=True), minigen.tensor(weight, requires_grad=True)
    grad_output = minigen.tensor(grad_output)

    def step():
        y = minigen.conv2d(x, weight, padding=padding)
        return minigen.grad(y, [x, weight], grad_output)

    return step


def _torch_step(torch, x, weight, grad_output, padding):
    x = torch.from_numpy(x).requires_grad_(True)
    weight = torch.from_numpy(weight).requires_grad_(True)
    grad_output = torch.from_numpy(grad_output)

    def step():
        y = torch.nn.functional.conv2d(x, weight, padding=padding)
        return torch.autograd.grad(y, [x, weight], grad_output)

    return step


def run(batch=64, channels=32, size=32, out_channels=64, kernel_size=3, padding=1, warmup=5, steps=20, seed=0):
    """Median milliseconds per forward+backward step: ``{"minigen_ms", "torch_ms", "ratio"}``.

    ``torch_ms`` and ``ratio`` (minigen / torch) are None when PyTorch is not importable.
    """
    x, weight = _arrays(batch, channels, size, out_channels, kernel_size, seed)
    out_size = size + 2 * padding - kernel_size + 1
    grad_output = np.random.default_rng(seed + 1).standard_normal(
        (batch, out_channels, out_size, out_size), dtype=np.float32
    )
    result = {"minigen_ms": _median_ms(_minigen_step(x, weight, grad_output, padding), warmup, steps)}
    try:
        import torch
    except ImportError:
        result.update(torch_ms=None, ratio=None)
        return result
    result["torch_ms"] = _median_ms(_torch_step(torch, x, weight, grad_output, padding), warmup, steps)
    result["ratio"] = result["minigen_ms"] / result["torch_ms"]
    return result


def main():
    shape = "input (64, 32, 32, 32), weight (64, 32, 3, 3), padding 1, float32"
    result = run()
    print(f"conv2d forward+backward, {shape}")
    print(f"minigen (NumPy): {result['minigen_ms']:8.1f} ms")
    if result["torch_ms"] is None:
        print("PyTorch: not installed")
        return
    import torch

    print(f"PyTorch CPU ({torch.get_num_threads()} threads): {result['torch_ms']:8.1f} ms")
    print(f"ratio minigen / PyTorch: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
