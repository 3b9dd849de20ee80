"""One measurement, run in its own process: ``python -m benchmarks.measure '<json>'``.

The JSON names the workload, the phase (``train`` or ``sample``), the backend
(one of ``frameworks.BACKENDS``, or ``numpy-gemm-floor``), the warm-up and timed
step counts and the seed. The process builds the models and the fixed batch,
resets its memory high-water marks, runs the warm-up and timed steps, and
prints one JSON line with the median step time, the peak memory and the first
step's losses. A fresh process per measurement keeps one measurement's memory
(and its allocator caches) out of the next one's peak.
"""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import memory, workloads  # noqa: E402
from benchmarks.frameworks import Framework  # noqa: E402
from benchmarks.machine import thread_counts  # noqa: E402

GEMM_FLOOR = "numpy-gemm-floor"


def build_models(workload, framework, seed):
    """The workload's models on ``framework``, holding minigen's initial weights for ``seed``.

    minigen initialises; PyTorch receives a copy through ``minigen.interop``, so
    both frameworks start from the same point and their first losses agree.
    """
    import minigen
    from minigen.interop import to_torch_state_dict

    minigen.manual_seed(seed)
    reference = workload.make_models(Framework("minigen-numpy"))
    framework.manual_seed(seed)
    if framework.is_torch:
        models = workload.make_models(framework)
        for name, model in models.items():
            model.load_state_dict(to_torch_state_dict(reference[name].state_dict()))
    else:
        models = reference
    return {name: model.to(framework.device) for name, model in models.items()}


def build(workload_name, backend, phase="train", seed=0):
    """``(framework, run)`` where ``run(i)`` does step i of the phase and returns its losses (maybe empty)."""
    workload = workloads.load(workload_name)
    framework = Framework(backend)
    models = build_models(workload, framework, seed)
    rng = np.random.default_rng(seed)
    if phase == "train":
        batch = {name: framework.tensor(array) for name, array in workload.make_batch(rng).items()}
        train_step = workload.make_train_step(framework, models, batch)
        return framework, lambda i: train_step()
    x_start, sample_step = workload.make_sampler(framework, models, rng)
    state = {"x": x_start}

    def run(i):
        # Step 0 restarts from the fixed noise, so warm-up and timed runs walk the same steps.
        state["x"] = sample_step(x_start if i == 0 else state["x"], i)
        return {}

    return framework, run


def first_losses(workload_name, backend, seed=0):
    """The losses of the first training step, as floats (used by the smoke test and the report)."""
    _, run = build(workload_name, backend, seed=seed)
    return {name: float(loss.item()) for name, loss in run(0).items()}


def time_steps(framework, run, warmup, steps):
    """Seconds of each timed step (GPU synchronised before every clock read) and the first losses."""
    losses = {}
    for i in range(warmup):
        result = run(i)
        if i == 0:
            losses = {name: float(loss.item()) for name, loss in result.items()}
    framework.synchronize()
    seconds = []
    for i in range(steps):
        start = time.perf_counter()
        result = run(i)
        framework.synchronize()
        seconds.append(time.perf_counter() - start)
        if i == 0 and not losses:
            losses = {name: float(loss.item()) for name, loss in result.items()}
    return seconds, losses


def measure(workload_name, backend, phase, warmup, steps, seed=0):
    """Median step time, peak memory above the post-build baseline, losses and thread counts."""
    if backend == GEMM_FLOOR:
        from benchmarks.gemm_floor import measure_floor

        return measure_floor(workload_name, warmup, steps, seed)
    framework, run = build(workload_name, backend, phase, seed)
    framework.synchronize()
    baseline_gpu = framework.reset_peak_gpu_memory() if framework.on_gpu else None
    resettable = memory.reset_peak_rss()
    baseline_host = memory.current_rss() if resettable else memory.peak_rss()
    seconds, losses = time_steps(framework, run, warmup, steps)
    result = {
        "step_s": statistics.median(seconds),
        "min_s": min(seconds),
        "steps": steps,
        "warmup": warmup,
        "peak_host_bytes": max(memory.peak_rss() - baseline_host, 0),
        "host_peak_resettable": resettable,
        "losses": losses,
        "threads": thread_counts(framework),
    }
    if framework.on_gpu:
        result["peak_gpu_bytes"] = max(framework.peak_gpu_memory() - baseline_gpu, 0)
        result["gpu_name"] = gpu_name(framework)
    return result


def gpu_name(framework):
    if framework.is_torch:
        return framework.lib.cuda.get_device_name()
    cupy = framework.lib.backend.cupy()
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else name


def main():
    spec = json.loads(sys.argv[1])
    result = measure(spec["workload"], spec["backend"], spec["phase"], spec["warmup"], spec["steps"], spec["seed"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
