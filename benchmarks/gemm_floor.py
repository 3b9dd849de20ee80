"""The GEMM floor of a training step: the time of just its matrix products, in NumPy.

How the shapes are found: one training step of the workload's PyTorch version
runs on the CPU under a ``TorchDispatchMode`` that sees every ATen call that
autograd makes, forward and backward (double backward included, for WGAN-GP's
penalty). Each call that is a matrix product, or that an im2col engine
computes as one, becomes a GEMM ``(batch, m, k) @ (batch, k, n)``:

- ``mm`` / ``addmm`` / ``bmm`` / ``baddbmm``: their own operands (linear layers
  forward and backward, PyTorch's attention fallback);
- ``convolution`` on input (N, C, H, W), weight (O, C, kh, kw) and output
  (N, O, OH, OW): the im2col product (N*OH*OW, C*kh*kw) @ (C*kh*kw, O); a
  transposed convolution on input (N, Cin, H, W), weight (Cin, Cout, kh, kw)
  is the col2im product (N*H*W, Cin) @ (Cin, Cout*kh*kw);
- ``convolution_backward`` with its output mask: grad-input (N*OH*OW, O) @
  (O, C*kh*kw) and grad-weight (O, N*OH*OW) @ (N*OH*OW, C*kh*kw) for a plain
  convolution; (N*H*W, Cout*kh*kw) @ (Cout*kh*kw, Cin) and (Cin, N*H*W) @
  (N*H*W, Cout*kh*kw) for a transposed one;
- the fused CPU attention kernel: Q K^T and P V forward; dP = dO V^T,
  dV = P^T dO, dQ = dS K and dK = dS^T Q backward (the minimum: the fused
  kernel also recomputes P).

The floor then times ``numpy.matmul(a, b, out=c)`` on contiguous random
float32 operands of each shape, in the order traced, with the same warm-up and
median as the other rows. Operands are views of three shared buffers, so no
allocation is timed; everything else a step does (im2col copies,
element-wise ops, reductions, the optimizer) is left out, which is what makes
this a floor for an engine whose heavy lifting is NumPy's GEMM.
"""

import math
import statistics
import time

import numpy as np

_MATRIX_PRODUCTS = {"mm": (0, 1), "addmm": (1, 2), "_addmm_activation": (1, 2), "bmm": (0, 1), "baddbmm": (1, 2)}


def _product(a_shape, b_shape):
    """(batch, m, k, n) of a @ b for 2-D or batched 3-D operands."""
    batch = a_shape[0] if len(a_shape) == 3 else 1
    return batch, a_shape[-2], a_shape[-1], b_shape[-1]


def _convolution(input_shape, weight_shape, output_shape, transposed):
    kernel = math.prod(weight_shape[2:])
    if transposed:
        batch, in_channels, *spatial = input_shape
        return [(1, batch * math.prod(spatial), in_channels, weight_shape[1] * kernel)]
    batch, out_channels, *out_spatial = output_shape
    return [(1, batch * math.prod(out_spatial), weight_shape[1] * kernel, out_channels)]


def _convolution_backward(grad_shape, input_shape, weight_shape, transposed, output_mask):
    kernel = math.prod(weight_shape[2:])
    if transposed:
        rows = input_shape[0] * math.prod(input_shape[2:])
        in_channels, columns = weight_shape[0], weight_shape[1] * kernel
        grad_input = (1, rows, columns, in_channels)
        grad_weight = (1, in_channels, rows, columns)
    else:
        rows = grad_shape[0] * math.prod(grad_shape[2:])
        out_channels, columns = grad_shape[1], weight_shape[1] * kernel
        grad_input = (1, rows, out_channels, columns)
        grad_weight = (1, out_channels, rows, columns)
    return [gemm for gemm, wanted in zip((grad_input, grad_weight), output_mask[:2]) if wanted]


def _attention(query_shape, key_shape, value_shape, backward):
    batch = math.prod(query_shape[:-2])
    length, dim = query_shape[-2:]
    key_length, value_dim = key_shape[-2], value_shape[-1]
    if not backward:
        return [(batch, length, dim, key_length), (batch, length, key_length, value_dim)]
    return [(batch, length, value_dim, key_length), (batch, key_length, length, value_dim),
            (batch, length, key_length, dim), (batch, key_length, length, dim)]


def gemms_of_call(name, args, output):
    """The GEMMs ``(batch, m, k, n)`` that one ATen call stands for (empty for other ops)."""
    shapes = [tuple(arg.shape) if hasattr(arg, "shape") else arg for arg in args]
    if name in _MATRIX_PRODUCTS:
        first, second = _MATRIX_PRODUCTS[name]
        return [_product(shapes[first], shapes[second])]
    if name == "convolution":
        return _convolution(shapes[0], shapes[1], tuple(output.shape), transposed=shapes[6])
    if name == "convolution_backward":
        return _convolution_backward(shapes[0], shapes[1], shapes[2], transposed=shapes[7], output_mask=shapes[10])
    if name == "_scaled_dot_product_flash_attention_for_cpu":
        return _attention(shapes[0], shapes[1], shapes[2], backward=False)
    if name == "_scaled_dot_product_flash_attention_for_cpu_backward":
        return _attention(shapes[1], shapes[2], shapes[3], backward=True)
    return []


def trace_gemms(workload_name, seed=0):
    """``(gemms, unhandled)``: the GEMMs of one PyTorch CPU training step, and the names of any
    product-like ATen ops that no rule above covers (so a gap in the floor shows in the report)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from benchmarks.measure import build

    gemms, unhandled = [], set()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            output = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            found = gemms_of_call(name, args, output)
            gemms.extend(found)
            if not found and any(word in name for word in ("mm", "conv", "attention", "matmul", "linear")):
                unhandled.add(name)
            return output

    _, run = build(workload_name, "torch-cpu", seed=seed)
    with Recorder():
        run(0)
    return gemms, sorted(unhandled)


def time_gemms(gemms, warmup, steps, seed=0):
    """Seconds per pass over all ``gemms`` with ``numpy.matmul`` (one entry per timed pass)."""
    rng = np.random.default_rng(seed)
    size = max(max(batch * m * k, batch * k * n, batch * m * n) for batch, m, k, n in gemms)
    buffers = [rng.standard_normal(size, dtype=np.float32) for _ in range(3)]
    operands = [(buffers[0][: b * m * k].reshape(b, m, k), buffers[1][: b * k * n].reshape(b, k, n),
                 buffers[2][: b * m * n].reshape(b, m, n)) for b, m, k, n in gemms]

    def one_pass():
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    for _ in range(warmup):
        one_pass()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        one_pass()
        seconds.append(time.perf_counter() - start)
    return seconds


def measure_floor(workload_name, warmup, steps, seed=0):
    """The floor row's result, in the same form as ``measure.measure``."""
    from benchmarks.machine import numpy_blas_counts

    gemms, unhandled = trace_gemms(workload_name, seed)
    seconds = time_gemms(gemms, warmup, steps, seed)
    return {
        "step_s": statistics.median(seconds),
        "min_s": min(seconds),
        "steps": steps,
        "warmup": warmup,
        "gemm_count": len(gemms),
        "gflop": sum(2 * b * m * k * n for b, m, k, n in gemms) / 1e9,
        "unhandled_ops": unhandled,
        "threads": numpy_blas_counts(),
    }
