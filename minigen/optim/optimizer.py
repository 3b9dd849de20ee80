"""``Optimizer``: parameter groups, per-parameter state and its state dict (``torch.optim.Optimizer``).

A subclass gives its hyperparameter defaults and one method,
``_update(param, grad, group)``, that changes ``param.data`` in place from
the raw gradient array. The base class walks the groups, skips parameters
without a gradient, runs the optional closure with grad enabled, and keeps
the state dict in PyTorch's shape::

    {"state": {index: {"step": tensor(3.), "exp_avg": tensor(...), ...}},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}]}

where ``index`` numbers the parameters across groups in order. Updates work
on the arrays of whatever backend holds each parameter (NumPy or CuPy) and
keep its dtype: every hyperparameter enters the arithmetic as a Python
float, which never widens a float32 array.
"""

import copy
from collections import defaultdict

from .. import backend
from ..tensor import Tensor, enable_grad, no_grad


class Optimizer:
    """Base class of every optimizer; ``params`` is an iterable of tensors, ``(name, tensor)`` pairs or dicts."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params argument given to the optimizer should be an iterable of "
                f"Tensors or dicts, but got {type(params).__name__}"
            )
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = [{"params": params}] if isinstance(params, set) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    # --- parameter groups --------------------------------------------------------------

    def add_param_group(self, param_group):
        """Append a group; options it leaves out take the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        names = [item[0] for item in params if isinstance(item, tuple)]
        params = [item[1] if isinstance(item, tuple) else item for item in params]
        if names and len(names) != len(params):
            raise ValueError(f"{name}: all optimizer params should be with/without names. Some param names are missing")
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{name}: optimizer can only optimize Tensors, but one of the params is {type(param).__name__}"
                )
            if not param.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        param_group["params"] = params
        if names:
            param_group["param_names"] = names
        for key, default in self.defaults.items():
            param_group.setdefault(key, default)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{name}: some parameters appear more than once (in one group or in two groups)")
        if self.param_groups and ("param_names" in param_group) != ("param_names" in self.param_groups[0]):
            raise ValueError(f"{name}: all optimizer param groups should be with/without names")
        self.param_groups.append(param_group)

    # --- stepping ------------------------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Drop every gradient (``set_to_none=True``) or replace it with zeros."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    # A fresh array, not an in-place fill: a gradient may be a read-only
                    # broadcast view or be shared by several parameters.
                    param.grad = Tensor(backend.array_module(param.grad.data).zeros_like(param.grad.data))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns the closure's loss when one is given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step_called = True  # read by the learning-rate schedulers' call-order check
        updates = [(param, group) for group in self.param_groups for param in group["params"]
                   if param.grad is not None]
        offsets = [0]
        for param, _ in updates:
            offsets.append(offsets[-1] + param.numel())

        def update(start, stop):
            # each parameter goes to the block its first element falls in; their updates are independent
            for (param, group), offset in zip(updates, offsets):
                if start <= offset < stop:
                    self._update(param, param.grad.data, group)

        # host threads for NumPy parameters only: CuPy keeps its current device per thread
        on_host = all(backend.device_of(param.data) == backend.CPU for param, _ in updates)
        with no_grad():
            backend.parallel(update, offsets[-1], offsets[-1] if on_host else 0)
        return loss

    def _update(self, param, grad, group):
        """Change ``param.data`` in place from the gradient array ``grad``, using ``self.state[param]``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _update")

    # --- state dicts -----------------------------------------------------------------------

    def state_dict(self):
        """``{"state": {index: state}, "param_groups": [options + "params": indices]}``.

        As in PyTorch the state tensors are shared, not copied: save the dict (or
        deep-copy it) before stepping again if it must stay a snapshot.
        """
        indices = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                indices.setdefault(id(param), len(indices))
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [indices[id(param)] for param in group["params"]]
            groups.append(packed)
        state = {indices[id(param)]: dict(values) for param, values in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state and options saved by ``state_dict``; the parameters stay this optimizer's own.

        Everything is checked before anything is written. State tensors are
        copied, cast to their parameter's dtype and moved to its device; the
        step counts stay on the CPU, as PyTorch keeps them.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' entries")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})"
            )
        for index, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded state dict contains a parameter group that doesn't match "
                    f"the size of optimizer's group: group {index} has {len(saved['params'])} parameters in "
                    f"the state dict but {len(group['params'])} in the optimizer"
                )
        params_by_index = {
            index: param
            for group, saved in zip(self.param_groups, saved_groups)
            for index, param in zip(saved["params"], group["params"])
        }
        state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            if index not in params_by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group lists")
            param = params_by_index[index]
            state[param] = {key: _state_value_for(param, key, value, index, name) for key, value in values.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups


def _state_value_for(param, key, value, index, optimizer_name):
    """A private copy of one saved state entry, on the device and in the dtype ``param`` needs."""
    if key == "step":
        return Tensor(backend.module_for("cpu").asarray(float(value), dtype=backend.float32))
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(
            f"{optimizer_name}.load_state_dict: state '{key}' of parameter {index} has shape "
            f"{tuple(value.shape)} but the parameter has shape {tuple(param.shape)}"
        )
    array = backend.to_device(value.data, param.device)
    dtype = param.dtype if array.dtype.kind == "f" else array.dtype
    return Tensor(array.astype(dtype, copy=True))


# --- helpers shared by the optimizers ------------------------------------------------------


def zero_step():
    """A fresh step count: a 0-d float32 CPU tensor, as PyTorch keeps ``state["step"]``."""
    return Tensor(backend.module_for("cpu").zeros((), dtype=backend.float32))


def advance_step(state):
    """Add one to ``state["step"]`` in place and return the new count as a Python float."""
    state["step"].data += 1
    return float(state["step"].data)


def zeros_state(param):
    """A zero tensor shaped, typed and placed like ``param``."""
    return Tensor(backend.array_module(param.data).zeros_like(param.data))


def lerp_(start, end, weight, scratch=None):
    """``start += weight * (end - start)`` in place, in PyTorch's two-sided form.

    For ``weight >= 0.5`` it is computed from the ``end`` side, which is what
    ``torch.lerp`` does, so results agree bit for bit at e.g. ``betas=(0.5, 0.999)``.
    ``scratch``, an array like ``start``, holds the difference (a new one when None).
    """
    xp = backend.array_module(start)
    difference = xp.subtract(end, start, out=scratch)
    if abs(weight) < 0.5:
        difference *= weight
        start += difference
    else:
        difference *= 1.0 - weight
        xp.subtract(end, difference, out=start)
