"""BatchNorm, LayerNorm, GroupNorm and InstanceNorm."""

import warnings

from ... import backend, creation
from .. import functional as F
from .. import init
from ..module import Module, Parameter


def _affine_parameters(num_features, affine, bias, device, dtype):
    """(weight, bias) initialised to (1, 0), or None where disabled, as PyTorch's norm layers."""
    if not affine:
        return None, None
    weight = Parameter(creation.ones(num_features, device=device, dtype=dtype))
    return weight, Parameter(creation.zeros(num_features, device=device, dtype=dtype)) if bias else None


class _BatchNorm(Module):
    _input_dims = (2, 3)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight, self.bias = _affine_parameters(num_features, affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=backend.int64, device=device))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def forward(self, input):
        name = type(self).__name__
        if input.ndim not in self._input_dims:
            raise ValueError(f"{name}: expected {' or '.join(map(str, self._input_dims))}-D input, got shape "
                             f"{tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {input.shape[1]} channels but num_features is {self.num_features}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.item())
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    _input_dims = (4,)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*shape, device=device, dtype=dtype))
            self.bias = Parameter(creation.zeros(*shape, device=device, dtype=dtype)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight, self.bias = _affine_parameters(num_channels, affine, bias, device, dtype)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, ...), got shape {tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class InstanceNorm2d(_BatchNorm):
    """Per-sample, per-channel normalisation; PyTorch's defaults: no affine, no running stats."""

    _input_dims = (3, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input):
        if input.ndim not in self._input_dims:
            raise ValueError(f"InstanceNorm2d: expected 3-D or 4-D input, got shape {tuple(input.shape)}")
        channels = input.shape[-3]
        if channels != self.num_features:
            message = (f"InstanceNorm2d: input has {channels} channels but num_features is {self.num_features}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + " (num_features is unused when affine=False)", stacklevel=2)
        batched = input if input.ndim == 4 else input.unsqueeze(0)
        use_input_stats = self.training or not self.track_running_stats
        # momentum=None means "no cumulative average" here: PyTorch then leaves the running statistics as they are
        momentum = 0.0 if self.momentum is None else self.momentum
        output = F.instance_norm(batched, self.running_mean, self.running_var, self.weight, self.bias,
                                 use_input_stats, momentum, self.eps)
        return output if input.ndim == 4 else output.squeeze(0)
