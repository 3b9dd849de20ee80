"""minigen vs PyTorch on the same workloads: ``python -m benchmarks`` (see ``run.py`` and ``NOTES.md``)."""
