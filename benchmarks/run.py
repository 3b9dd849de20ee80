"""Time the benchmark workloads in every available backend and write ``benchmarks/RESULTS.md``.

Run ``python -m benchmarks`` (or ``python benchmarks/run.py``) from the
repository root; ``--quick`` for a short run, ``--workloads`` and
``--backends`` to choose (comma-separated). Each (workload, backend)
measurement runs in a fresh Python process (``benchmarks.measure``).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from benchmarks import machine, report, workloads  # noqa: E402
from benchmarks.frameworks import BACKENDS, unavailable_reason  # noqa: E402
from benchmarks.measure import GEMM_FLOOR  # noqa: E402

ALL_BACKENDS = (*BACKENDS, GEMM_FLOOR)
FULL = {"steps": 20, "warmup": 5, "sampling_steps": None}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
QUICK = {"steps": 2, "warmup": 1, "sampling_steps": 2}


def _names(text, known, what):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; expected some of {', '.join(known)}")
    return names


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['steps']} timed steps after {QUICK['warmup']} warm-up, "
                             f"{QUICK['sampling_steps']} sampling steps (same shapes)")
    parser.add_argument("--workloads", default=",".join(workloads.NAMES),
                        help=f"comma-separated, from {','.join(workloads.NAMES)} (default: all)")
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS),
                        help=f"comma-separated, from {','.join(ALL_BACKENDS)} (default: all available)")
    parser.add_argument("--steps", type=int,
                        help=f"timed training steps (default {FULL['steps']}, quick {QUICK['steps']})")
    parser.add_argument("--warmup", type=int,
                        help=f"untimed warm-up steps (default {FULL['warmup']}, quick {QUICK['warmup']})")
    parser.add_argument("--sampling-steps", type=int,
                        help="timed sampling steps (default: the sampler's full length, "
                             f"quick {QUICK['sampling_steps']})")
    parser.add_argument("--threads", type=int,
                        help="threads for every backend (sets OMP/OPENBLAS/MKL_NUM_THREADS in the measuring "
                             "processes; default: each library's own default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md",
                        help="where to write the Markdown report")
    arguments = parser.parse_args(argv)
    arguments.workloads = _names(arguments.workloads, workloads.NAMES, "workloads")
    arguments.backends = _names(arguments.backends, ALL_BACKENDS, "backends")
    defaults = QUICK if arguments.quick else FULL
    for name, value in defaults.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    return arguments


def plan(arguments):
    """``(measurements, skipped)``: the (workload, phase, backend) triples to run and the backends left out."""
    skipped = {}
    for backend in arguments.backends:
        if backend == GEMM_FLOOR:
            # The floor's GEMM shapes are traced from PyTorch's CPU step.
            reason = unavailable_reason("torch-cpu")
            reason = reason and f"its shapes are traced from PyTorch: {reason}"
        else:
            reason = unavailable_reason(backend)
        if reason:
            skipped[backend] = reason
    backends = [backend for backend in arguments.backends if backend not in skipped]
    triples = []
    for workload in arguments.workloads:
        phases = ["train", "sample"] if workloads.has_sampler(workload) else ["train"]
        for phase in phases:
            triples += [(workload, phase, backend) for backend in backends
                        if not (backend == GEMM_FLOOR and phase != "train")]
    return triples, skipped


def run_measurement(workload, phase, backend, arguments):
    """Run one measurement in a fresh process; its result dict, or ``{"error": ...}``."""
    if phase == "train":
        steps = arguments.steps
    else:
        full_length = workloads.load(workload).SAMPLING_STEPS
        steps = min(arguments.sampling_steps or full_length, full_length)
    spec = {"workload": workload, "phase": phase, "backend": backend, "seed": arguments.seed,
            "steps": steps, "warmup": arguments.warmup}
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=python_path)
    if arguments.threads:
        # Read at import by OpenBLAS / MKL (NumPy) and by PyTorch's intra-op pool.
        for variable in THREAD_VARIABLES:
            environment[variable] = str(arguments.threads)
    completed = subprocess.run([sys.executable, "-m", "benchmarks.measure", json.dumps(spec)], cwd=ROOT,
                               env=environment, capture_output=True, text=True)
    result = {"workload": workload, "phase": phase, "backend": backend}
    if completed.returncode != 0:
        error_lines = completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"]
        result["error"] = error_lines[-1]
        return result
    result.update(json.loads(completed.stdout.strip().splitlines()[-1]))
    return result


def _progress(result):
    label = f"{report.row_label(result['workload'], result['phase'])} / {result['backend']}"
    if "error" in result:
        return f"{label}: failed: {result['error']}"
    return f"{label}: {result['step_s'] * 1e3:.1f} ms"


def main(argv=None):
    arguments = parse_arguments(argv)
    triples, skipped = plan(arguments)
    for backend, reason in skipped.items():
        print(f"skipping {backend}: {reason}", file=sys.stderr)
    load_before = machine.load_average()
    measurements = {}
    for workload, phase, backend in triples:
        result = run_measurement(workload, phase, backend, arguments)
        measurements[(workload, phase, backend)] = result
        print(_progress(result), file=sys.stderr, flush=True)
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {"command": command.strip(), "quick": arguments.quick, "threads": arguments.threads,
                "steps": arguments.steps, "warmup": arguments.warmup,
                "sampling_steps": arguments.sampling_steps or "all (1000 DDPM / 50 Euler)"}
    description = dict(machine.describe(), load=f"{load_before} before the run, {machine.load_average()} after")
    text = report.render(measurements, description, settings, skipped)
    print(text)
    arguments.output.write_text(text)
    print(f"wrote {arguments.output}", file=sys.stderr)
    return measurements


if __name__ == "__main__":
    main()
