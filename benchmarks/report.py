"""The results as a Markdown report (printed and written to ``benchmarks/RESULTS.md``)."""

from benchmarks.frameworks import REFERENCE

MIB = 2**20


def row_label(workload, phase):
    return workload if phase == "train" else f"{workload} sampling"


def _milliseconds(seconds):
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def _mebibytes(count):
    return "—" if count is None else f"{count / MIB:.0f}"


def _ratio(measurement, measurements):
    reference = measurements.get((measurement["workload"], measurement["phase"], REFERENCE.get(
        measurement["backend"], "torch-cpu")))
    if reference is None or "step_s" not in reference or "step_s" not in measurement:
        return "—"
    return f"{measurement['step_s'] / reference['step_s']:.2f}"


def _notes(measurement):
    if "error" in measurement:
        return f"failed: {measurement['error']}"
    if "gemm_count" in measurement:
        note = f"{measurement['gemm_count']} GEMMs, {measurement['gflop']:.2f} GFLOP"
        if measurement["unhandled_ops"]:
            note += "; not counted: " + ", ".join(measurement["unhandled_ops"])
        return note
    losses = measurement.get("losses") or {}
    return ", ".join(f"{name} {value:.6g}" for name, value in losses.items())


def results_table(measurements):
    """One Markdown row per (workload, phase, backend), in the order measured."""
    lines = [
        "| Workload | Backend | Median ms/step | Min ms | vs PyTorch | Host MiB | GPU MiB | First losses / notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for measurement in measurements.values():
        timed = "step_s" in measurement
        cells = [
            row_label(measurement["workload"], measurement["phase"]),
            measurement["backend"],
            _milliseconds(measurement["step_s"]) if timed else "—",
            _milliseconds(measurement["min_s"]) if timed else "—",
            _ratio(measurement, measurements),
            _mebibytes(measurement.get("peak_host_bytes")),
            _mebibytes(measurement.get("peak_gpu_bytes")),
            _notes(measurement),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _threads(measurements):
    by_backend = {}
    for measurement in measurements.values():
        if "threads" in measurement:
            by_backend.setdefault(measurement["backend"], measurement["threads"])
    return "; ".join(f"{backend}: " + ", ".join(f"{pool} {count}" for pool, count in threads.items())
                     for backend, threads in by_backend.items())


def _gpus(measurements):
    names = sorted({m["gpu_name"] for m in measurements.values() if "gpu_name" in m})
    return ", ".join(names) or "none used"


def render(measurements, machine, settings, skipped):
    """The whole report. ``measurements`` maps (workload, phase, backend) to a measurement dict."""
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version)
    host_note = ("peak resident memory during the warm-up and timed steps minus the resident memory after "
                 "imports, model build and batch upload (VmHWM, reset through /proc/self/clear_refs)")
    if any(m.get("host_peak_resettable") is False for m in measurements.values()):
        host_note += "; where the high-water mark could not be reset it is the process's lifetime peak (getrusage)"
    lines = [
        "# minigen benchmarks",
        "",
        f"Measured {machine['date']} with `{settings['command']}`"
        + (" (quick mode: fewer steps, same shapes)." if settings["quick"] else "."),
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']}",
        f"- GPU: {_gpus(measurements)}",
        f"- OS: {machine['os']}",
        f"- Load average (1 / 5 / 15 min): {machine['load']} (a value above the core count before the run means other jobs shared the CPU)",
        f"- Libraries: {versions}",
        f"- Threads ({'--threads ' + str(settings['threads']) if settings['threads'] else 'library defaults'}): "
        f"{_threads(measurements) or '—'}",
        "",
        "## How",
        "",
        f"- Training rows: median of {settings['steps']} steps after {settings['warmup']} warm-up steps; one step is "
        "forward, backward and the Adam update (both players for the GANs). Sampling rows: median time of one "
        f"sampling step over {settings['sampling_steps']} steps after {settings['warmup']} warm-up steps.",
        "- Same architecture, float32, batch, fixed inputs and initial weights (minigen's, copied into PyTorch) "
        "in every backend; the first losses agree to float32 rounding.",
        "- vs PyTorch: median step time divided by PyTorch's on the same device (CPU rows against torch-cpu, "
        "CUDA rows against torch-cuda); GPU work is synchronised before every clock read.",
        f"- Host MiB: {host_note}. GPU MiB: torch.cuda.max_memory_allocated, or the bytes held by CuPy's "
        "default memory pool, above the amount in use before the steps.",
        "- numpy-gemm-floor: only the matrix products of the step (traced from PyTorch's step: linear layers, "
        "im2col GEMMs of convolutions forward / grad-input / grad-weight, attention products) timed with "
        "numpy.matmul at the same shapes; see `benchmarks/gemm_floor.py`.",
        "- Each measurement runs in a fresh process. The machine may be shared with other jobs; "
        "see `benchmarks/NOTES.md` for the method in full.",
    ]
    if skipped:
        lines.append("- Not measured: " + "; ".join(f"{backend} ({reason})" for backend, reason in skipped.items()))
    lines += ["", "## Results", "", results_table(measurements), ""]
    return "\n".join(lines)
