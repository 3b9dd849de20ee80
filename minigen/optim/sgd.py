"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``).

With gradient g_t of the loss at theta_{t-1}, learning rate gamma, weight
decay lambda, momentum mu and dampening tau:

    g_t <- -g_t                                   if maximize
    g_t <- g_t + lambda * theta_{t-1}             (L2 weight decay, folded into the gradient)
    b_1 = g_1,  b_t = mu * b_{t-1} + (1 - tau) * g_t       (t > 1, only when mu != 0)
    g_t <- g_t + mu * b_t    if nesterov,   g_t <- b_t    otherwise   (when mu != 0)
    theta_t = theta_{t-1} - gamma * g_t

The momentum buffer starts as a copy of the first gradient (no dampening on
the first step), exactly as PyTorch does; ``state[p]["momentum_buffer"]``
exists only when ``momentum != 0``.
"""

from .. import backend
from ..tensor import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"SGD: Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"SGD: Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, group):
        lr, momentum, weight_decay = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param.data
        if momentum != 0:
            state = self.state[param]
            buffer = state.get("momentum_buffer")
            if buffer is None:
                # A copy: the gradient array may be a read-only view shared with other parameters.
                buffer = backend.array_module(grad).array(grad, copy=True)
                state["momentum_buffer"] = Tensor(buffer)
            else:
                buffer = buffer.data
                buffer *= momentum
                buffer += (1.0 - float(group["dampening"])) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param.data += -lr * grad

