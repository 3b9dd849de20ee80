"""minigen and PyTorch behind one small interface: the only module of the harness that tells them apart.

minigen mirrors PyTorch's public surface (``nn``, ``nn.functional``, ``optim``,
``cat``, ``no_grad``, ``randn_like``, tensor methods), so a workload written
against ``framework.nn`` / ``framework.F`` / ``framework.lib`` is genuine
minigen code when ``lib`` is ``minigen`` and genuine PyTorch code when it is
``torch``. What differs is collected here: where the functional gradient lives
(``minigen.grad`` vs ``torch.autograd.grad``), how a NumPy array becomes a
tensor on a device, how to wait for the GPU and how to read its memory.
"""

import importlib

# Backend name -> (library, device). The harness measures every available pair.
BACKENDS = {
    "minigen-numpy": ("minigen", "cpu"),
    "torch-cpu": ("torch", "cpu"),
    "minigen-cupy": ("minigen", "cuda"),
    "torch-cuda": ("torch", "cuda"),
}

# The PyTorch backend each backend is compared with (same device).
REFERENCE = {
    "minigen-numpy": "torch-cpu",
    "torch-cpu": "torch-cpu",
    "minigen-cupy": "torch-cuda",
    "torch-cuda": "torch-cuda",
}


def unavailable_reason(backend):
    """None when ``backend`` can run here, else a short reason why not."""
    library, device = BACKENDS[backend]
    try:
        lib = importlib.import_module(library)
    except ImportError:
        return f"{library} is not installed"
    if device == "cuda":
        available = lib.cuda.is_available() if library == "torch" else lib.cuda_is_available()
        if not available:
            return "no CUDA device" if library == "torch" else "no CuPy or no CUDA device"
    return None


class Framework:
    """One backend: ``lib`` (``minigen`` or ``torch``), ``nn``, ``F``, ``optim`` and ``device``."""

    def __init__(self, backend):
        if backend not in BACKENDS:
            raise ValueError(f"Framework: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.library, self.device = BACKENDS[backend]
        self.lib = importlib.import_module(self.library)
        self.nn = self.lib.nn
        self.F = self.lib.nn.functional
        self.optim = self.lib.optim

    @property
    def is_torch(self):
        return self.library == "torch"

    @property
    def on_gpu(self):
        return self.device == "cuda"

    def tensor(self, array):
        """A copy of a NumPy array as a tensor on this backend's device (dtype kept)."""
        return self.lib.tensor(array, device=self.device)

    def grad(self, outputs, inputs, grad_outputs=None, create_graph=False):
        """The functional gradient: ``torch.autograd.grad`` or ``minigen.grad``."""
        grad = self.lib.autograd.grad if self.is_torch else self.lib.grad
        return grad(outputs, inputs, grad_outputs=grad_outputs, create_graph=create_graph)

    def manual_seed(self, seed):
        self.lib.manual_seed(seed)

    def synchronize(self):
        """Wait for queued GPU work, so that a clock read after it covers that work."""
        if not self.on_gpu:
            return
        if self.is_torch:
            self.lib.cuda.synchronize()
        else:
            self._cupy().cuda.Device().synchronize()

    def reset_peak_gpu_memory(self):
        """Start a new peak-GPU-memory window; returns the bytes in use at its start."""
        self.synchronize()
        if self.is_torch:
            self.lib.cuda.reset_peak_memory_stats()
            return self.lib.cuda.memory_allocated()
        pool = self._cupy().get_default_memory_pool()
        # Drop cached free blocks so that what the pool holds afterwards is what the steps needed.
        pool.free_all_blocks()
        return pool.total_bytes()

    def peak_gpu_memory(self):
        """Bytes at the high-water mark since ``reset_peak_gpu_memory``.

        PyTorch: ``torch.cuda.max_memory_allocated``. CuPy keeps no peak counter,
        but its default memory pool keeps every block it ever handed out, so the
        bytes it holds are its high-water mark (rounded up to its block sizes).
        """
        self.synchronize()
        if self.is_torch:
            return self.lib.cuda.max_memory_allocated()
        return self._cupy().get_default_memory_pool().total_bytes()

    def _cupy(self):
        return self.lib.backend.cupy()
