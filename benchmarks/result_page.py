"""The markdown page every measurement script writes under ``benchmarks/results/``.

A page holds a script's figures together with what they came from: the exact
command, the date, the machine (CPU, cores, OS, library versions, BLAS or
PyTorch threads), the seed and the sample counts, so that any figure quoted
in the README can be traced to its run and repeated. The scripts also write
their raw figures as JSON; both are written atomically (a temporary file in
the same folder, then a rename), so a killed run never leaves half a file.
"""

import json
import os
import shlex
import sys
from pathlib import Path

from benchmarks.machine import blas_threads, describe

RESULTS = Path(__file__).resolve().parent / "results"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def command_line(module, argv=None):
    """The command that ran ``module``: thread variables set in the environment, then
    ``python -m module`` and its arguments (``argv``, default the process's own)."""
    arguments = sys.argv[1:] if argv is None else argv
    variables = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return " ".join([*variables, "python -m", module, *map(shlex.quote, arguments)])


def numpy_threads():
    """The NumPy BLAS library and its thread count, as text for a page."""
    library, threads = blas_threads()
    return f"NumPy BLAS ({library}), threads: {threads if threads is not None else 'unknown'}"


def table(header, rows):
    """A markdown table: ``header`` a list of column names, ``rows`` lists of cells (formatted already)."""

    def line(cells):  # a bare | inside a cell (||J||_F^2) would end the cell
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def machine_lines(machine, threads):
    """The machine a run used, as markdown table rows (``machine`` from ``benchmarks.machine.describe``)."""
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version)
    return [f"| machine | {machine['cpu']}; {machine['cores']}; {machine['os']} |",
            f"| threads | {threads} |", f"| versions | {versions} |"]


def write_page(path, *, title, command, seed, samples, sections, summary=None, machine=None, threads=None):
    """Write a result page to ``path``: ``title``, an optional ``summary`` paragraph, a table of provenance
    (``command``, date, ``machine``, ``threads``, ``seed``, ``samples``), then ``sections`` (markdown blocks)."""
    machine = machine or describe()
    lines = [f"# {title}", ""]
    if summary:
        lines += [summary, ""]
    lines += ["| run | |", "|---|---|", f"| command | `{command}` |", f"| date | {machine['date']} |",
              *machine_lines(machine, threads or numpy_threads()), f"| seed | {seed} |", f"| samples | {samples} |",
              ""]
    for section in sections:
        lines += [section, ""]
    write_text(path, "\n".join(lines))
    return Path(path)


def write_json(path, payload):
    write_text(path, json.dumps(payload, indent=2))


def write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temporary.write_text(text)
    os.replace(temporary, path)
