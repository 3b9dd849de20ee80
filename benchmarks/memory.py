"""Peak resident memory of this process, from ``/proc/self/status`` (Linux) or ``getrusage``.

Linux keeps a high-water mark of the resident set (VmHWM); writing "5" to
``/proc/self/clear_refs`` resets it to the current RSS, so a measurement can
start a fresh window after its imports and model build. Where that is not
possible, the peak comes from ``getrusage`` (never reset) and the report says so.
"""

import resource
import sys


def _status_kib(field):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rusage_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss():
    """Resident bytes now (None where /proc is missing)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss():
    """Start a new peak window; True when the high-water mark could be reset."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def peak_rss():
    """Resident bytes at the high-water mark (since the last reset where that worked)."""
    kib = _status_kib("VmHWM")
    return _rusage_bytes() if kib is None else kib * 1024
