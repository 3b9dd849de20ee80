"""Elementwise ops: arithmetic, comparisons, activations.

Binary ops broadcast; their backward sums each gradient back to its input's
shape with ``sum_to``. Type promotion follows PyTorch: a Python scalar never
widens a tensor (``float32 * 2.5`` stays float32), an integer tensor meets a
float as the default float dtype, and two float tensors meet at the wider one.
"""

import math
import numbers

import numpy as np

from .. import backend
from ..function import Function, bilinear_saved_inputs
from ..tensor import Tensor
from .shape import sum_to

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "abs", "sign", "exp", "log", "log1p", "expm1",
    "sqrt", "rsqrt", "square", "sin", "cos", "clamp", "clip", "maximum", "minimum", "where", "lerp", "erf",
    "masked_fill", "clone", "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or",
    "logical_xor",
]
TENSOR_METHODS = [
    "add", "sub", "mul", "div", "neg", "pow", "abs", "sign", "exp", "log", "log1p", "expm1",
    "sqrt", "rsqrt", "square", "sin", "cos", "clamp", "clip",
    "maximum", "minimum", "lerp", "erf", "clone", "cast", "to_device", "masked_fill",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__neg__", "__pos__", "__pow__", "__rpow__", "__abs__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__or__", "__xor__",
    "__invert__",
]

_SCALARS = (numbers.Number, np.generic)


# --- type promotion -----------------------------------------------------------


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2}[dtype.kind]


def _promote_pair(a, b):
    """Cast two tensors to the dtype PyTorch would compute them in."""
    if a.dtype == b.dtype:
        return a, b
    ca, cb = _category(a.dtype), _category(b.dtype)
    if ca != cb:
        dtype = a.dtype if ca > cb else b.dtype
    elif a.ndim == 0 and b.ndim > 0:
        dtype = b.dtype  # a 0-d tensor does not widen a dimensioned one of its kind
    elif b.ndim == 0 and a.ndim > 0:
        dtype = a.dtype
    else:
        dtype = np.promote_types(a.dtype, b.dtype)
    return (a if a.dtype == dtype else cast(a, dtype)), (b if b.dtype == dtype else cast(b, dtype))


def _as_tensor(value, like, op):
    """A Python scalar as a 0-d tensor of ``like``'s kind, on ``like``'s device."""
    if isinstance(value, Tensor):
        return value
    if not isinstance(value, _SCALARS):
        raise TypeError(f"{op}: expected a Tensor or a Python number, got {type(value).__name__}")
    if like.dtype.kind == "f":
        dtype = like.dtype
    elif isinstance(value, (float, np.floating)):
        dtype = backend.get_default_dtype()
    elif isinstance(value, (bool, np.bool_)):
        dtype = like.dtype
    else:
        dtype = like.dtype if like.dtype.kind in "iu" else backend.int64
    xp = backend.array_module(like.data)
    with backend.on_device(like.device):
        return Tensor(xp.asarray(value, dtype=dtype))


def _binary(a, b, op):
    if not isinstance(a, Tensor):
        a = _as_tensor(a, b, op)
    elif not isinstance(b, Tensor):
        b = _as_tensor(b, a, op)
    return _promote_pair(a, b)


def _float_operand(x):
    """Integer and bool tensors enter float-only ops as the default float dtype."""
    return x if x.dtype.kind == "f" else cast(x, backend.get_default_dtype())


def _is_scalar(value):
    return isinstance(value, _SCALARS)


def _python_scalar(value):
    """NumPy scalars would widen a float32 array under NEP 50; Python scalars never do."""
    return value.item() if isinstance(value, np.generic) else value


# --- dtype and device --------------------------------------------------------------


class Cast(Function):
    saved_inputs = ()

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, grad):
        return cast(grad, self.inputs[0].dtype)


def cast(x, dtype):
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast.apply(x, dtype=dtype)


class ToDevice(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, grad):
        return to_device(grad, self.inputs[0].device)


def to_device(x, device):
    device = backend.Device(device)
    if x.device == device:
        return x
    return ToDevice.apply(x, device=device)


class Clone(Function):
    saved_inputs = ()

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return grad


def clone(x):
    """A copy of the data that stays in the graph (gradients flow through unchanged)."""
    return Clone.apply(x)


# --- arithmetic --------------------------------------------------------------------


class Add(Function):
    saved_inputs = ()

    def forward(self, a, b):
        return backend.apply_ufunc(self.xp.add, a, b)

    def backward(self, grad):
        a, b = self.inputs
        return sum_to(grad, a.shape), sum_to(grad, b.shape)


class Sub(Function):
    saved_inputs = ()

    def forward(self, a, b):
        return backend.apply_ufunc(self.xp.subtract, a, b)

    def backward(self, grad):
        a, b = self.inputs
        return sum_to(grad, a.shape), sum_to(-grad, b.shape)


class Mul(Function):
    def forward(self, a, b):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        return backend.apply_ufunc(self.xp.multiply, a, b)

    def backward(self, grad):
        a, b = self.inputs
        grad_a = sum_to(grad * b, a.shape) if self.needs_input_grad[0] else None
        grad_b = sum_to(grad * a, b.shape) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    def forward(self, a, b):
        self.saved_inputs = (0, 1) if self.needs_input_grad[1] else (1,)
        return backend.apply_ufunc(self.xp.divide, a, b)

    def backward(self, grad):
        a, b = self.inputs
        grad_a = grad / b
        # d(a/b)/db = -a / b^2 = -(a/b) / b
        grad_b = sum_to(-grad_a * a / b, b.shape) if self.needs_input_grad[1] else None
        return sum_to(grad_a, a.shape), grad_b


class AddScalar(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.apply_ufunc(self.xp.add, x, self.value)

    def backward(self, grad):
        return grad


class MulScalar(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.apply_ufunc(self.xp.multiply, x, self.value)

    def backward(self, grad):
        return mul(grad, self.value)


class RDivScalar(Function):
    """value / x"""
    saves_output = True

    def forward(self, x):
        return self.value / x

    def backward(self, grad):
        # d(c/x)/dx = -c/x^2 = -y/x
        return -grad * self.output / self.inputs[0]


class Neg(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.apply_ufunc(self.xp.negative, x)

    def backward(self, grad):
        return -grad


class PowScalar(Function):
    """x ** exponent for a constant exponent."""

    def forward(self, x):
        return x**self.exponent

    def backward(self, grad):
        x = self.inputs[0]
        if self.exponent == 0:
            return grad * 0.0  # d(x^0)/dx = 0 everywhere, x = 0 included
        if self.exponent == 2:
            return grad * (x * 2.0)
        return grad * (pow(x, self.exponent - 1) * self.exponent)


class RPowScalar(Function):
    """base ** x for a constant base."""
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return self.base**x

    def backward(self, grad):
        return grad * self.output * math.log(self.base)


class Pow(Function):
    saves_output = True

    def forward(self, a, b):
        return a**b

    def backward(self, grad):
        a, b = self.inputs
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = sum_to(grad * b * pow(a, b - 1), a.shape)
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b log a, taken as 0 where a == 0 (PyTorch's convention)
            safe_log = log(where(a == 0, 1.0, a))
            grad_b = sum_to(grad * self.output * safe_log, b.shape)
        return grad_a, grad_b


def add(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha)
    if _is_scalar(other) and isinstance(input, Tensor):
        other = _python_scalar(other)
        input = _float_operand(input) if isinstance(other, float) else input
        return AddScalar.apply(input, value=other) if other != 0 or input.dtype.kind != "f" else input
    a, b = _binary(input, other, "add")
    return Add.apply(a, b)


def sub(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha)
    if _is_scalar(other) and isinstance(input, Tensor):
        return add(input, -other)
    a, b = _binary(input, other, "sub")
    return Sub.apply(a, b)


def mul(input, other):
    if _is_scalar(other) and isinstance(input, Tensor):
        other = _python_scalar(other)
        input = _float_operand(input) if isinstance(other, float) else input
        return MulScalar.apply(input, value=other)
    a, b = _binary(input, other, "mul")
    return Mul.apply(a, b)


def div(input, other, rounding_mode=None):
    if rounding_mode is not None:
        raise NotImplementedError("div: rounding_mode is not supported; use floor division on the data")
    if _is_scalar(other) and isinstance(input, Tensor):
        other = _python_scalar(other)
        return MulScalar.apply(_float_operand(input), value=1.0 / other) if other != 0 else mul(input, math.inf)
    a, b = _binary(input, other, "div")
    return Div.apply(_float_operand(a), _float_operand(b))


def neg(x):
    return Neg.apply(x)


def pow(input, exponent):
    if isinstance(input, Tensor) and _is_scalar(exponent):
        exponent = _python_scalar(exponent)
        if exponent == 1:
            return input
        if isinstance(exponent, (float, np.floating)) or exponent < 0:
            input = _float_operand(input)
        return PowScalar.apply(input, exponent=exponent)
    if _is_scalar(input):
        base = _python_scalar(input)
        if not (isinstance(base, int) and exponent.dtype.kind in "iu"):  # int ** int tensor stays integer
            exponent = _float_operand(exponent)
        return RPowScalar.apply(exponent, base=base)
    a, b = _binary(input, exponent, "pow")
    return Pow.apply(a, b)


def _rsub(x, other):
    return add(neg(x), other) if _is_scalar(other) else sub(other, x)


def _rtruediv(x, other):
    if _is_scalar(other):
        return RDivScalar.apply(_float_operand(x), value=_python_scalar(other))
    return div(other, x)


# --- unary math -----------------------------------------------------------------------


class Abs(Function):
    def forward(self, x):
        return self.xp.abs(x)

    def backward(self, grad):
        return grad * sign(self.inputs[0])


def abs(x):
    return Abs.apply(x)


class Sign(Function):
    saved_inputs = ()

    def forward(self, x):
        return self.xp.sign(x)

    def backward(self, grad):
        return grad * 0.0


def sign(x):
    """sign(x); its gradient is zero wherever it exists."""
    return Sign.apply(x)


class Exp(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return backend.apply_ufunc(self.xp.exp, x)

    def backward(self, grad):
        return grad * self.output


class Log(Function):
    def forward(self, x):
        return self.xp.log(x)

    def backward(self, grad):
        return grad / self.inputs[0]


class Log1p(Function):
    def forward(self, x):
        return self.xp.log1p(x)

    def backward(self, grad):
        return grad / (self.inputs[0] + 1.0)


class Expm1(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return self.xp.expm1(x)

    def backward(self, grad):
        return grad * (self.output + 1.0)


class Sqrt(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, grad):
        return grad * 0.5 / self.output


class Rsqrt(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return 1.0 / self.xp.sqrt(x)

    def backward(self, grad):
        # d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 y^3
        y = self.output
        return grad * (y * y * y) * -0.5


class Sin(Function):
    def forward(self, x):
        return self.xp.sin(x)

    def backward(self, grad):
        return grad * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return self.xp.cos(x)

    def backward(self, grad):
        return grad * -sin(self.inputs[0])


class Erf(Function):
    def forward(self, x):
        from .special import erf_array

        return erf_array(x)

    def backward(self, grad):
        x = self.inputs[0]
        return grad * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


def _unary(function):
    def op(x):
        return function.apply(_float_operand(x))

    op.__name__ = function.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__}."
    return op


exp = _unary(Exp)
log = _unary(Log)
log1p = _unary(Log1p)
expm1 = _unary(Expm1)
sqrt = _unary(Sqrt)
rsqrt = _unary(Rsqrt)
sin = _unary(Sin)
cos = _unary(Cos)
erf = _unary(Erf)


def square(x):
    return pow(x, 2)


class Clamp(Function):
    def forward(self, x):
        return self.xp.clip(x, self.min, self.max)

    def backward(self, grad):
        data = self.inputs[0].data
        inside = self.xp.ones(data.shape, dtype=bool)
        if self.min is not None:
            inside &= data >= self.min
        if self.max is not None:
            inside &= data <= self.max
        return grad * Tensor(inside)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        result = x
        if min is not None:
            result = maximum(result, min if isinstance(min, Tensor) else _as_tensor(min, x, "clamp"))
        if max is not None:
            result = minimum(result, max if isinstance(max, Tensor) else _as_tensor(max, x, "clamp"))
        return result
    if any(isinstance(bound, (float, np.floating)) for bound in (min, max)):
        x = _float_operand(x)
    return Clamp.apply(x, min=min, max=max)


clip = clamp


class Maximum(Function):
    def forward(self, a, b):
        return self.xp.maximum(a, b)

    def backward(self, grad):
        return _split_by_winner(self, grad, self.inputs[0].data > self.inputs[1].data)


class Minimum(Function):
    def forward(self, a, b):
        return self.xp.minimum(a, b)

    def backward(self, grad):
        return _split_by_winner(self, grad, self.inputs[0].data < self.inputs[1].data)


def _split_by_winner(function, grad, a_wins):
    """Route the gradient to the winning input; ties share it half and half (as PyTorch)."""
    a, b = function.inputs
    tie = a.data == b.data
    dtype = grad.dtype.type
    weight_a = Tensor(a_wins.astype(grad.dtype) + tie.astype(grad.dtype) * dtype(0.5))
    grad_a = sum_to(grad * weight_a, a.shape)
    grad_b = sum_to(grad * (1.0 - weight_a), b.shape)
    return grad_a, grad_b


def maximum(input, other):
    a, b = _binary(input, other, "maximum")
    return Maximum.apply(a, b)


def minimum(input, other):
    a, b = _binary(input, other, "minimum")
    return Minimum.apply(a, b)


class Where(Function):
    def forward(self, condition, a, b):
        return backend.where(condition, a, b)

    def backward(self, grad):
        condition, a, b = self.inputs
        grad_a = sum_to(where(condition, grad, 0.0), a.shape) if self.needs_input_grad[1] else None
        grad_b = sum_to(where(condition, 0.0, grad), b.shape) if self.needs_input_grad[2] else None
        return None, grad_a, grad_b


def where(condition, input, other):
    if not isinstance(condition, Tensor) or condition.dtype != backend.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {getattr(condition, 'dtype', type(condition).__name__)}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        dtype = backend.get_default_dtype() if any(isinstance(v, float) for v in (input, other)) else backend.int64
        like = Tensor(condition.data.astype(dtype))
        input, other = _as_tensor(input, like, "where"), _as_tensor(other, like, "where")
    a, b = _binary(input, other, "where")
    return Where.apply(condition, a, b)


def masked_fill(x, mask, value):
    if isinstance(value, Tensor):
        value = value.to(x.dtype)
    return where(mask, value if isinstance(value, Tensor) else _as_tensor(value, x, "masked_fill"), x)


def lerp(input, end, weight):
    """input + weight * (end - input)"""
    return add(input, mul(sub(end, input), weight))


# --- comparisons and logic (no gradient) --------------------------------------------------


def _compare(ufunc_name, op):
    def compare(input, other):
        a, b = _binary(input, other, op)
        if a.device != b.device:
            raise RuntimeError(f"{op}: expected both tensors on the same device, got {a.device} and {b.device}")
        xp = backend.array_module(a.data)
        return Tensor(getattr(xp, ufunc_name)(a.data, b.data))

    compare.__name__ = op
    return compare


eq = _compare("equal", "eq")
ne = _compare("not_equal", "ne")
lt = _compare("less", "lt")
le = _compare("less_equal", "le")
gt = _compare("greater", "gt")
ge = _compare("greater_equal", "ge")
logical_and = _compare("logical_and", "logical_and")
logical_or = _compare("logical_or", "logical_or")
logical_xor = _compare("logical_xor", "logical_xor")


def logical_not(x):
    return Tensor(backend.array_module(x.data).logical_not(x.data))


def _bitwise(name, logical):
    def op(input, other):
        if input.dtype != backend.bool_ and (not isinstance(other, Tensor) or other.dtype != backend.bool_):
            raise TypeError(f"{name}: only bool tensors are supported, got {input.dtype}")
        return logical(input, other)

    return op


def _invert(x):
    if x.dtype != backend.bool_:
        raise TypeError(f"__invert__: only bool tensors are supported, got {x.dtype}")
    return logical_not(x)


__add__ = add
__radd__ = add
__sub__ = sub
__rsub__ = _rsub
__mul__ = mul
__rmul__ = mul
__truediv__ = div
__rtruediv__ = _rtruediv
__neg__ = neg
__pos__ = lambda x: x  # noqa: E731
__pow__ = pow
__rpow__ = lambda x, base: pow(base, x)  # noqa: E731
__abs__ = abs
__eq__ = eq
__ne__ = ne
__lt__ = lt
__le__ = le
__gt__ = gt
__ge__ = ge
__and__ = _bitwise("__and__", logical_and)
__or__ = _bitwise("__or__", logical_or)
__xor__ = _bitwise("__xor__", logical_xor)
__invert__ = _invert
