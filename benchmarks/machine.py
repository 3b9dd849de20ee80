"""What the benchmarks ran on: CPU, cores, GPU, library versions and thread counts."""

import ctypes
import datetime
import importlib.metadata
import os
import platform

# OpenBLAS builds export their thread count under one of these names (NumPy's wheels use the scipy_ prefix).
_OPENBLAS_THREAD_GETTERS = (
    "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_", "openblas_get_num_threads",
)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores():
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def blas_threads():
    """``(library, threads)`` of the BLAS that NumPy loaded; threads is None when it cannot be asked."""
    import numpy  # noqa: F401  (loads the BLAS library so that it shows in the memory map)

    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return pool["internal_api"], pool["num_threads"]
    except ImportError:
        pass
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        paths = set()
    for path in paths:
        library = ctypes.CDLL(path)
        for getter in _OPENBLAS_THREAD_GETTERS:
            if hasattr(library, getter):
                return "openblas", getattr(library, getter)()
    return "unknown BLAS", None


def numpy_blas_counts():
    """NumPy's BLAS threads, and for OpenBLAS how long its idle threads spin after a product."""
    library, threads = blas_threads()
    counts = {f"NumPy BLAS ({library})": threads}
    if library == "openblas":
        # minigen's import sets it (and its measuring processes inherit it); OpenBLAS's default is 28
        counts["OpenBLAS idle spin 2**n cycles, n ="] = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "28 (default)")
    return counts


def thread_counts(framework):
    """The threads a backend computes with: NumPy's BLAS pool and minigen's host threads, or PyTorch's pools."""
    if framework.is_torch:
        torch = framework.lib
        return {"torch intra-op": torch.get_num_threads(), "torch inter-op": torch.get_num_interop_threads()}
    counts = numpy_blas_counts()
    if framework.library == "minigen":
        counts["minigen host"] = framework.lib.get_num_threads()
    return counts


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_build():
    """Name and version of the BLAS NumPy was built against, from ``numpy.show_config``."""
    import numpy

    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (TypeError, KeyError):
        return blas_threads()[0]


def library_versions():
    """Versions of the libraries the benchmarks use (None for those not installed)."""
    import numpy

    import minigen

    cupy = next((version for name in ("cupy", "cupy-cuda12x", "cupy-cuda13x", "cupy-cuda11x")
                 if (version := _version(name))), None)
    return {
        "Python": platform.python_version(),
        "minigen": minigen.__version__,
        "NumPy": numpy.__version__,
        "BLAS": blas_build(),
        "PyTorch": _version("torch"),
        "CuPy": cupy,
    }


def load_average():
    """The 1-, 5- and 15-minute load averages as text ("unknown" where the OS has none)."""
    try:
        return " / ".join(f"{load:.1f}" for load in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def describe():
    """The machine and the date, as a dict of strings for the report."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": f"{usable_cores()} usable ({os.cpu_count()} logical in the machine)",
        "os": f"{platform.system()} {platform.release()}",
        "versions": library_versions(),
    }
