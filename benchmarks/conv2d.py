"""Shortcut to the harness's ``conv2d`` micro-benchmark, in this process: minigen (NumPy) vs PyTorch CPU.

Forward + backward (input and weight gradients) of input (64, 32, 32, 32),
weight (64, 32, 3, 3), padding 1, float32; the median of ``steps`` timed steps
after ``warmup``. For quick checks while optimising the engine; the full,
per-process measurement is ``python -m benchmarks --workloads conv2d``.
Run: ``python benchmarks/conv2d.py``.
"""

import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.frameworks import unavailable_reason  # noqa: E402
from benchmarks.measure import build, time_steps  # noqa: E402


def _median_ms(backend, warmup, steps):
    framework, run_step = build("conv2d", backend)
    seconds, _ = time_steps(framework, run_step, warmup, steps)
    return statistics.median(seconds) * 1e3


def run(warmup=5, steps=20):
    """Median milliseconds per step: ``{"minigen_ms", "torch_ms", "ratio"}`` (torch's None without PyTorch)."""
    result = {"minigen_ms": _median_ms("minigen-numpy", warmup, steps), "torch_ms": None, "ratio": None}
    if unavailable_reason("torch-cpu") is None:
        result["torch_ms"] = _median_ms("torch-cpu", warmup, steps)
        result["ratio"] = result["minigen_ms"] / result["torch_ms"]
    return result


def main():
    result = run()
    print("conv2d forward+backward, input (64, 32, 32, 32), weight (64, 32, 3, 3), padding 1, float32")
    print(f"minigen (NumPy): {result['minigen_ms']:8.1f} ms")
    if result["torch_ms"] is None:
        print("PyTorch: not installed")
        return
    print(f"PyTorch CPU:     {result['torch_ms']:8.1f} ms")
    print(f"ratio minigen / PyTorch: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
