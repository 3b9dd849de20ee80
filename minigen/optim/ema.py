"""Exponential moving average of a model's weights, as diffusion models and GANs evaluate with.

After the n-th call of ``update()`` (n = 1, 2, ...) every parameter's shadow copy is

    shadow_n = d_n * shadow_{n-1} + (1 - d_n) * theta_n,      shadow_0 = theta_0 (the weights at creation)
    d_n = min(decay, (1 + n) / (10 + n))    with warmup (the default)
    d_n = decay                             without

The warm-up (TensorFlow's ``ExponentialMovingAverage(num_updates=...)``, kept by
Latent Diffusion's ``LitEma``) lets the average forget the random
initialisation in early training: d_1 = 2/11, d_10 = 0.55, d_90 = 0.91, and
d_n reaches ``decay = 0.9999`` only after about 90,000 updates. Without it a
0.9999 average still gives the initial weights the weight 0.9999^n (e^-1 after
10,000 updates), harmless only in runs of hundreds of thousands of steps.

Buffers (BatchNorm's running statistics, say) are copied at each update, not
averaged. Typical use::

    ema = EMA(model, decay=0.999)
    for batch in loader:
        loss = ...; optimizer.zero_grad(); loss.backward(); optimizer.step()
        ema.update()
    with ema.average_parameters():   # the averaged weights inside, training weights restored after
        samples = model.sample(...)
"""

import contextlib
from collections import OrderedDict

from .. import backend
from ..tensor import Tensor


class EMA:
    """Shadow copies of ``model``'s parameters, averaged by ``update()``; see the module docstring."""

    def __init__(self, model, decay=0.9999, *, warmup=True):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA: decay must be in [0, 1], got {decay}")
        self.model = model
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.shadow_params = OrderedDict((name, p.data.copy()) for name, p in model.named_parameters())
        self.shadow_buffers = OrderedDict((name, b.data.copy()) for name, b in model.named_buffers())

    def __repr__(self):
        return f"EMA(decay={self.decay}, warmup={self.warmup}, num_updates={self.num_updates})"

    def update(self):
        """Fold the model's current weights into the average; call once after each optimizer step."""
        self.num_updates += 1
        decay = self.decay
        if self.warmup:
            decay = min(decay, (1 + self.num_updates) / (10 + self.num_updates))
        for name, param in _matched(self.model.named_parameters(), self.shadow_params, "parameters"):
            shadow = _aligned(self.shadow_params, name, param)
            # shadow = d * shadow + (1 - d) * theta, written as one in-place step towards theta.
            shadow -= (1.0 - decay) * (shadow - param.data)
        for name, buffer in _matched(self.model.named_buffers(), self.shadow_buffers, "buffers"):
            _aligned(self.shadow_buffers, name, buffer)[...] = buffer.data

    def copy_to(self, model=None):
        """Write the averaged weights and the buffers saved at the last update into ``model``
        (the tracked model by default, or another instance of the same architecture)."""
        model = self.model if model is None else model
        pairs = _matched(model.named_parameters(), self.shadow_params, "parameters")
        pairs += _matched(model.named_buffers(), self.shadow_buffers, "buffers")
        shadows = {**self.shadow_params, **self.shadow_buffers}
        for name, target in pairs:
            target.data[...] = backend.to_device(shadows[name], target.device)

    @contextlib.contextmanager
    def average_parameters(self):
        """Swap the averaged weights into the tracked model for the ``with`` block.

        The training weights and buffers are copied back on exit, also when the
        block raises, so an evaluation never leaks into training.
        """
        tensors = [t for _, t in self.model.named_parameters()] + [t for _, t in self.model.named_buffers()]
        saved = [t.data.copy() for t in tensors]
        try:
            self.copy_to()
            yield self.model
        finally:
            for tensor, array in zip(tensors, saved):
                tensor.data[...] = array

    def state_dict(self):
        """Hyperparameters, update count and the shadow tensors by name (sharing memory, like Module.state_dict)."""
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "num_updates": self.num_updates,
            "shadow_params": OrderedDict((name, Tensor(array)) for name, array in self.shadow_params.items()),
            "shadow_buffers": OrderedDict((name, Tensor(array)) for name, array in self.shadow_buffers.items()),
        }

    def load_state_dict(self, state_dict):
        """Restore a saved average. Names and shapes are checked before anything is written."""
        problems = []
        for key, shadows in (("shadow_params", self.shadow_params), ("shadow_buffers", self.shadow_buffers)):
            saved = state_dict[key]
            missing = [name for name in shadows if name not in saved]
            unexpected = [name for name in saved if name not in shadows]
            if missing:
                problems.append(f"{key} missing: {', '.join(missing)}")
            if unexpected:
                problems.append(f"{key} unexpected: {', '.join(unexpected)}")
            problems.extend(
                f"{key} {name}: saved shape {tuple(saved[name].shape)} vs model shape {tuple(shadows[name].shape)}"
                for name in shadows
                if name in saved and tuple(saved[name].shape) != tuple(shadows[name].shape)
            )
        if problems:
            raise RuntimeError("EMA.load_state_dict: " + "; ".join(problems))
        for key, shadows in (("shadow_params", self.shadow_params), ("shadow_buffers", self.shadow_buffers)):
            for name, current in shadows.items():
                array = backend.to_device(state_dict[key][name].data, backend.device_of(current))
                shadows[name] = array.astype(current.dtype, copy=True)
        self.decay = float(state_dict["decay"])
        self.warmup = bool(state_dict["warmup"])
        self.num_updates = int(state_dict["num_updates"])


def _matched(named_tensors, shadows, kind):
    """``(name, tensor)`` pairs of the model, checked to be exactly the names the EMA tracks."""
    pairs = list(named_tensors)
    names = {name for name, _ in pairs}
    if names != set(shadows):
        missing = [name for name in shadows if name not in names]
        new = [name for name, _ in pairs if name not in shadows]
        raise RuntimeError(
            f"EMA: the model's {kind} differ from those the EMA was created with "
            f"(missing: {missing or 'none'}; new: {new or 'none'})"
        )
    return pairs


def _aligned(shadows, name, tensor):
    """The shadow array of ``name``, moved and cast to follow ``tensor`` after a ``model.to(...)``."""
    shadow = shadows[name]
    if shadow.dtype != tensor.dtype or backend.device_of(shadow) != tensor.device:
        shadow = backend.to_device(shadow, tensor.device).astype(tensor.dtype)
        shadows[name] = shadow
    return shadow
