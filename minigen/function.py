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

Saved tensors, as PyTorch saves them: a node keeps the data of only the
inputs its backward reads (``saved_inputs``, an index tuple; None keeps them
all, the safe default) and, with ``saves_output``, its output arrays. Every
other non-leaf input is kept as a ``GraphEdge``: the link to its creator
and its shape, dtype and device, enough for the graph walk and for shape
arithmetic such as ``sum_to(grad, a.shape)``, but not its array, which is
freed as soon as nothing else needs it. Subclasses set these as class
attributes, or in ``forward`` from ``needs_input_grad``.
"""

import weakref

import numpy as np

from . import backend
from . import tensor as _tensor
from .tensor import Tensor


class GraphEdge:
    """A non-leaf input whose data a node's backward does not read: its place in the graph and its metadata."""

    __slots__ = ("creator", "output_index", "requires_grad", "shape", "dtype", "device")

    def __init__(self, tensor):
        self.creator = tensor.creator
        self.output_index = tensor.output_index
        self.requires_grad = tensor.requires_grad
        self.shape = tensor.data.shape
        self.dtype = tensor.data.dtype
        self.device = tensor.device

    @property
    def ndim(self):
        return len(self.shape)


class Function:
    # Set to True on a Function whose backward is computed on raw arrays and is
    # therefore only once-differentiable: asking for its second derivative
    # (create_graph=True) raises instead of silently returning a wrong answer.
    once_differentiable = False
    released = False
    # The inputs whose data backward reads (None: all of them), and whether it reads the outputs.
    saved_inputs = None
    saves_output = False

    def __call__(self, *inputs):
        arrays = [t.data for t in inputs]
        if all(type(array) is np.ndarray for array in arrays):
            self.xp = np
        else:
            if len({backend.device_of(array) for array in arrays}) > 1:
                _raise_device_mismatch(self, inputs)
            self.xp = backend.array_module(arrays[0])
        # Known before forward runs, so a forward can skip saving what no gradient will use.
        needs = tuple(t.requires_grad for t in inputs) if _tensor._grad_enabled else (False,) * len(inputs)
        record = True in needs
        self.needs_input_grad = needs
        try:
            outputs = self.forward(*arrays)
        except (ValueError, TypeError) as error:
            # NumPy/CuPy's own complaint (bad broadcast, bad dtype) without the op's name.
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            dtypes = ", ".join(str(t.dtype) for t in inputs)
            raise RuntimeError(
                f"{self.name}: cannot compute on inputs of shapes {shapes} and dtypes {dtypes}: {error}"
            ) from None
        single = not isinstance(outputs, tuple)
        results = [self._tensor(y, record) for y in ((outputs,) if single else outputs)]
        if record:
            self._record(inputs, results)
        return results[0] if single else tuple(results)

    def _tensor(self, y, record):
        if self.xp is np and type(y) is not np.ndarray:
            y = np.asarray(y)  # NumPy turns 0-d results into scalars
        return Tensor(y, record and y.dtype.kind == "f")

    def _record(self, inputs, results):
        """Link the outputs to this node and keep what backward will read."""
        self.inputs = _saved(inputs, self.saved_inputs)
        self._outputs = tuple(weakref.ref(y) for y in results)
        self._output_meta = tuple((y.data.shape, y.data.dtype) for y in results)
        if self.saves_output:
            self._output_data = tuple(y.data for y in results)
        for index, y in enumerate(results):
            if y.requires_grad:  # integer outputs (indices) stay leaves
                y.creator = self
                y.output_index = index

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
        return self._output(0)

    @property
    def outputs(self):
        return tuple(self._output(index) for index in range(len(self._outputs)))

    def _output(self, index):
        """Output ``index`` as a graph tensor: the live one, or, once that is gone, one rebuilt
        around the saved array with this node as its creator (the same place in the graph)."""
        tensor = self._outputs[index]()
        if tensor is None and self.saves_output:
            tensor = Tensor(self._output_data[index], True)
            tensor.creator, tensor.output_index = self, index
        return tensor

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name}.forward")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name} is not differentiable")

    def release(self):
        """Drop everything saved for backward (the graph is used up)."""
        self.__dict__.clear()
        self.released = True


def bilinear_saved_inputs(needs_input_grad):
    """``saved_inputs`` of a bilinear op f(a, b, ...): a's gradient needs b, b's needs a (a bias needs neither)."""
    return tuple(i for i, needed in ((1, needs_input_grad[0]), (0, needs_input_grad[1])) if needed)


def _saved(inputs, saved_indices):
    """The inputs as the node keeps them: leaves and saved inputs whole, the rest as graph edges."""
    if saved_indices is None:
        return inputs
    return tuple(
        t if t.creator is None or index in saved_indices else GraphEdge(t) for index, t in enumerate(inputs)
    )


def _raise_device_mismatch(function, inputs):
    devices = ", ".join(str(t.device) for t in inputs)
    raise RuntimeError(
        f"{function.name}: expected all tensors on the same device, got {devices}"
    )
