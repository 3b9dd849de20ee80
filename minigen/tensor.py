"""Tensor, grad mode and the graph walk (``backward`` and ``grad``).

A Tensor holds ``data`` (a NumPy or CuPy array), ``grad``, ``requires_grad``
and ``creator``, the Function node that made it (``None`` for a leaf). The
arithmetic methods and operators are attached by ``minigen.ops``; this module
knows only how to walk the graph.
"""

import functools

import numpy as np

from . import backend

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring it on exit."""

    mode = True

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with type(self)():
                return function(*args, **kwargs)

        return wrapped


class no_grad(_GradMode):
    """Record no graph: ops on tensors that require grad produce plain tensors."""

    mode = False


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` region."""

    mode = True


class Tensor:
    __slots__ = ("data", "grad", "requires_grad", "creator", "output_index", "__weakref__")
    # NumPy must hand `ndarray * tensor` to Tensor.__rmul__ rather than loop over it.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = None
        self.output_index = 0

    # --- attributes ------------------------------------------------------------

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        if dim is None:
            return self.data.shape
        return self.data.shape[_normalize_dim(dim, self.data.ndim, "size")]

    def numel(self):
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_leaf(self):
        return self.creator is None

    @property
    def grad_fn(self):
        return self.creator

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    __hash__ = object.__hash__

    # --- conversions --------------------------------------------------------------

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, (str, backend.Device)):
                device = arg
            else:
                dtype = arg
        result = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            result = _ops().cast(result, dtype)
        if device is not None and backend.Device(device) != result.device:
            result = _ops().to_device(result, device)
        return result

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(backend.float32)

    def double(self):
        return self.to(backend.float64)

    def long(self):
        return self.to(backend.int64)

    def int(self):
        return self.to(backend.int32)

    def bool(self):
        return self.to(backend.bool_)

    def type_as(self, other):
        return self.to(other.dtype)

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy: cannot convert a tensor that requires grad; use tensor.detach().numpy()")
        if self.device.type != "cpu":
            raise TypeError(f"numpy: tensor is on {self.device}; call .cpu() first")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {tuple(self.shape)}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"bool: the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off grad on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    # --- in-place updates (for optimizers and initialisers; never recorded) -------

    def _check_inplace(self, name):
        if _grad_enabled and self.requires_grad and self.is_leaf:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be changed in place while grad is "
                "enabled; wrap the update in minigen.no_grad()"
            )
        if not self.is_leaf and _grad_enabled and self.requires_grad:
            raise RuntimeError(f"{name}: in-place update of a tensor that is part of a graph")

    def zero_(self):
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, source):
        self._check_inplace("copy_")
        source = source.data if isinstance(source, Tensor) else source
        shape = tuple(np.shape(source))
        try:
            fits = np.broadcast_shapes(shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"copy_: source of shape {shape} does not broadcast to {tuple(self.shape)}")
        self.data[...] = source if np.isscalar(source) else backend.to_device(source, self.device)
        return self

    # --- autograd ------------------------------------------------------------------

    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if not self.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, got shape "
                    f"{tuple(self.shape)}; pass gradient= with the same shape"
                )
            gradient = Tensor(backend.array_module(self.data).ones_like(self.data))
        else:
            gradient = _check_grad_output(self, gradient, "backward")
        run_backward([self], [gradient], retain_graph or create_graph, create_graph)

    def retain_grad(self):
        raise NotImplementedError("retain_grad: use minigen.grad(output, [tensor]) for non-leaf gradients")

    def __repr__(self):
        body = np.array2string(
            backend.to_device(self.data, "cpu"), separator=", ", prefix="tensor(", precision=4
        )
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (backend.get_default_dtype(), backend.int64, backend.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.creator is not None:
            extras.append(f"grad_fn=<{self.creator.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"


def _ops():
    from . import ops

    return ops


def _normalize_dim(dim, ndim, op):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % max(ndim, 1)


def _check_grad_output(output, gradient, op):
    if not isinstance(gradient, Tensor):
        raise TypeError(f"{op}: gradient must be a Tensor, got {type(gradient).__name__}")
    if gradient.shape != output.shape:
        raise RuntimeError(
            f"{op}: gradient has shape {tuple(gradient.shape)} but the output has shape {tuple(output.shape)}"
        )
    if gradient.device != output.device:
        raise RuntimeError(f"{op}: gradient is on {gradient.device} but the output is on {output.device}")
    return gradient


# --- the graph walk ---------------------------------------------------------------


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function that consumes its outputs.

    Iterative (no recursion limit): count each function's consumers, then
    release a function once all of them have been visited (Kahn's algorithm).
    """
    consumers = {}
    stack = []
    for root in roots:
        fn = root.creator
        if fn is not None and fn not in consumers:
            consumers[fn] = 0
            stack.append(fn)
    while stack:
        fn = stack.pop()
        if fn.released:
            raise RuntimeError(
                f"backward: the graph through {fn.name} was already freed by an earlier backward; "
                "pass retain_graph=True to the first backward to go through it twice"
            )
        for t in fn.inputs:
            parent = t.creator
            if parent is not None and t.requires_grad:
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)
    ready = [fn for fn, count in consumers.items() if count == 0]
    order = []
    while ready:
        fn = ready.pop()
        order.append(fn)
        for t in fn.inputs:
            parent = t.creator
            if parent is not None and t.requires_grad:
                consumers[parent] -= 1
                if consumers[parent] == 0:
                    ready.append(parent)
    return order


def _accumulate(store, key, value):
    previous = store.get(key)
    store[key] = value if previous is None else previous + value


def run_backward(roots, root_grads, retain_graph, create_graph, targets=None):
    """Propagate ``root_grads`` from ``roots`` down the graph.

    With ``targets=None`` gradients are accumulated into the leaves' ``.grad``;
    otherwise the gradients of the target tensors are returned (as ``grad()``
    needs) and no ``.grad`` is touched.
    """
    order = _topological_order(roots)
    stored = {id(grad.data) for grad in root_grads}  # arrays a leaf's .grad must not alias
    pending = {}  # (function, output index) -> gradient so far
    results = {}  # target key -> gradient
    target_keys = None
    if targets is not None:
        target_keys = {_key(t) for t in targets}
        useful = _functions_leading_to(order, target_keys)
    for root, grad in zip(roots, root_grads):
        key = _key(root)
        if root.creator is None:
            if targets is None:
                _accumulate_leaf(root, grad, stored)
            elif key in target_keys:
                _accumulate(results, key, grad)
        else:
            _accumulate(pending, key, grad)

    with enable_grad() if create_graph else no_grad():
        for fn in order:
            grad_outputs = []
            for index, (shape, dtype) in enumerate(fn._output_meta):
                grad = pending.pop((fn, index), None)
                if target_keys is not None and (fn, index) in target_keys and grad is not None:
                    results[(fn, index)] = grad
                if grad is None:
                    grad = Tensor(fn.xp.zeros(shape, dtype))
                grad_outputs.append(grad)
            if targets is not None and fn not in useful:
                continue
            if create_graph and fn.once_differentiable:
                raise RuntimeError(
                    f"{fn.name}: its backward is only once-differentiable; it cannot be used with create_graph=True"
                )
            grad_inputs = fn.backward(*grad_outputs)
            if not isinstance(grad_inputs, tuple):
                grad_inputs = (grad_inputs,)
            if len(grad_inputs) != len(fn.inputs):
                raise RuntimeError(
                    f"{fn.name}.backward returned {len(grad_inputs)} gradients for {len(fn.inputs)} inputs"
                )
            for t, grad in zip(fn.inputs, grad_inputs):
                if grad is None or not t.requires_grad:
                    continue
                if grad.shape != t.shape:
                    raise RuntimeError(
                        f"{fn.name}.backward returned a gradient of shape {tuple(grad.shape)} "
                        f"for an input of shape {tuple(t.shape)}"
                    )
                if t.creator is None:
                    if targets is None:
                        _accumulate_leaf(t, grad, stored)
                    elif id(t) in target_keys:
                        _accumulate(results, id(t), grad)
                else:
                    _accumulate(pending, (t.creator, t.output_index), grad)
    if not retain_graph:
        # Only after the walk: a node's backward may read an output that a node
        # processed earlier held alive through its inputs.
        for fn in order:
            fn.release()
    return results


def _key(t):
    return id(t) if t.creator is None else (t.creator, t.output_index)


def _functions_leading_to(order, target_keys):
    """The functions whose backward must run for gradients to reach a target."""
    useful = set()
    for fn in reversed(order):  # inputs' creators come before their consumers here
        for t in fn.inputs:
            if not t.requires_grad:
                continue
            if t.creator is None:
                if id(t) in target_keys:
                    useful.add(fn)
                    break
            elif t.creator in useful or (t.creator, t.output_index) in target_keys:
                useful.add(fn)
                break
    return useful


def _accumulate_leaf(leaf, grad, stored):
    if not leaf.requires_grad:
        return
    if grad.dtype != leaf.dtype:
        grad = grad.to(leaf.dtype)
    if leaf.grad is not None:
        leaf.grad = leaf.grad + grad
        return
    # A fresh .grad must own its memory: backward may hand out broadcast views or
    # one array to several leaves (x + b), and optimizers may update .grad in place.
    if not grad.requires_grad and (grad.data.base is not None or id(grad.data) in stored):
        grad = Tensor(backend.array_module(grad.data).array(grad.data))
    stored.add(id(grad.data))
    leaf.grad = grad


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple.

    Unlike ``backward`` nothing is accumulated into ``.grad``, so penalties built
    from gradients (WGAN-GP, R1, contractive AE) leave no reference cycles behind.
    """
    single_output = isinstance(outputs, Tensor)
    outputs = [outputs] if single_output else list(outputs)
    inputs_were_single = isinstance(inputs, Tensor)
    inputs = [inputs] if inputs_were_single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("grad: every input must be a Tensor that requires grad")
    root_grads = []
    for y, g in zip(outputs, grad_outputs):
        if not y.requires_grad:
            raise RuntimeError("grad: an output does not require grad and has no grad_fn")
        if g is None:
            if y.data.size != 1:
                raise RuntimeError(
                    f"grad: grad can be implicitly created only for scalar outputs, got shape {tuple(y.shape)}; "
                    "pass grad_outputs"
                )
            g = Tensor(backend.array_module(y.data).ones_like(y.data))
        root_grads.append(_check_grad_output(y, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(outputs, root_grads, retain_graph, create_graph, targets=inputs)
    grads = []
    for t in inputs:
        g = results.get(_key(t))
        if g is None and not allow_unused:
            raise RuntimeError(
                "grad: one of the inputs was not used to compute the outputs; pass allow_unused=True "
                "to get None for it"
            )
        grads.append(g)
    return tuple(grads)
