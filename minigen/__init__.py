"""minigen: a from-scratch deep-learning engine on NumPy and CuPy for generative models."""

from . import backend
from .backend import (
    Device as device,
    bool_ as bool,
    cuda_is_available,
    float16,
    float32,
    float64,
    get_default_dtype,
    get_num_threads,
    int8,
    int16,
    int32,
    int64,
    manual_seed,
    set_default_dtype,
    set_num_threads,
    uint8,
)
from .tensor import Tensor, enable_grad, grad, is_grad_enabled, no_grad
from .function import Function
from . import ops
from .ops.elementwise import *  # noqa: F401,F403
from .ops.shape import *  # noqa: F401,F403
from .ops.reduce import *  # noqa: F401,F403
from .ops.indexing import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.conv import *  # noqa: F401,F403
from .ops.pooling import *  # noqa: F401,F403
from .ops.activation import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import load, save
from . import data, nn, optim

long = int64
float = float32
double = float64

__version__ = "0.1.0"
