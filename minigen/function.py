"""Function: one node of the graph.

``forward`` works on raw arrays (NumPy or CuPy, through ``self.xp``);
``backward`` works on Tensors, built from other Functions. Because the
backward pass is made of ordinary differentiable ops, running it with the
graph recorded (``create_graph=True``) gives gradients of gradients to any
order: the design of DeZero and Chainer.

Subclass contract::

    class Exp(Function):
        def forward(self, x):           # arrays in, array(s) out
            return self.xp.exp(x)
        def backward(self, grad_y):     # Tensors in, Tensors out (one per input)
            return grad_y * self.output

Non-tensor arguments (``dim``, ``stride`` ...) are passed to the constructor and
kept as attributes. ``self.inputs`` holds the input Tensors and
``self.output``/``self.outputs`` the outputs (held weakly, so a node never keeps
its own outputs alive). ``self.needs_input_grad[i]`` says whether input ``i``
wants a gradient (all False when no graph is recorded); it is set before
``forward`` runs, so forward can skip saving what backward will not need.
"""

import weakref

import numpy as np

from . import backend
from . import tensor as _tensor
from .tensor import Tensor


class Function:
    # Set to True on a Function whose backward is computed on raw arrays and is
    # therefore only once-differentiable: asking for its second derivative
    # (create_graph=True) raises instead of silently returning a wrong answer.
    once_differentiable = False
    released = False

    def __call__(self, *inputs):
        first = inputs[0].data
        if type(first) is np.ndarray and all(type(t.data) is np.ndarray for t in inputs[1:]):
            self.xp = np
        else:
            devices = {backend.device_of(t.data) for t in inputs}
            if len(devices) > 1:
                _raise_device_mismatch(self, inputs)
            self.xp = backend.array_module(first)
        record = _tensor._grad_enabled and any(t.requires_grad for t in inputs)
        # Known before forward runs, so a forward can skip saving what no gradient will use.
        self.needs_input_grad = tuple(t.requires_grad for t in inputs) if record else (False,) * len(inputs)
        try:
            outputs = self.forward(*[t.data for t in inputs])
        except (ValueError, TypeError) as error:
            # NumPy/CuPy's own complaint (bad broadcast, bad dtype) without the op's name.
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            dtypes = ", ".join(str(t.dtype) for t in inputs)
            raise RuntimeError(
                f"{self.name}: cannot compute on inputs of shapes {shapes} and dtypes {dtypes}: {error}"
            ) from None
        single = not isinstance(outputs, tuple)
        if single:
            outputs = (outputs,)
        results = []
        for y in outputs:
            if type(y) is not np.ndarray and self.xp is np:
                y = np.asarray(y)  # NumPy turns 0-d results into scalars
            results.append(Tensor(y, record and y.dtype.kind == "f"))
        if record:
            self.inputs = inputs
            self._outputs = tuple(weakref.ref(y) for y in results)
            self._output_meta = tuple((y.shape, y.dtype) for y in results)
            for index, y in enumerate(results):
                if y.requires_grad:  # integer outputs (indices) stay leaves
                    y.creator = self
                    y.output_index = index
        return results[0] if single else tuple(results)

    @classmethod
    def apply(cls, *inputs, **arguments):
        """Build the node with its non-tensor arguments and run it on ``inputs``."""
        return cls(**arguments)(*inputs) if arguments else cls()(*inputs)

    def __init__(self, **arguments):
        self.__dict__.update(arguments)

    @property
    def name(self):
        return type(self).__name__

    @property
    def output(self):
        return self._outputs[0]()

    @property
    def outputs(self):
        return tuple(ref() for ref in self._outputs)

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name}.forward")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name} is not differentiable")

    def release(self):
        """Drop everything saved for backward (the graph is used up)."""
        self.__dict__.clear()
        self.released = True


def _raise_device_mismatch(function, inputs):
    devices = ", ".join(str(t.device) for t in inputs)
    raise RuntimeError(
        f"{function.name}: expected all tensors on the same device, got {devices}"
    )
