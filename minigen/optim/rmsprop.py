"""RMSprop (``torch.optim.RMSprop``); Hinton's lecture 6e, centered variant from Graves 2013.

With gradient g_t at theta_{t-1}, learning rate gamma, smoothing alpha,
epsilon eps, weight decay lambda and momentum mu:

    g_t <- -g_t                                     if maximize
    g_t <- g_t + lambda * theta_{t-1}               L2 weight decay
    v_t = alpha * v_{t-1} + (1 - alpha) * g_t^2     running mean of squared gradients
    centered:  gbar_t = alpha * gbar_{t-1} + (1 - alpha) * g_t,   v~_t = v_t - gbar_t^2
    otherwise: v~_t = v_t
    mu > 0:    b_t = mu * b_{t-1} + g_t / (sqrt(v~_t) + eps),   theta_t = theta_{t-1} - gamma * b_t
    mu = 0:    theta_t = theta_{t-1} - gamma * g_t / (sqrt(v~_t) + eps)

There is no bias correction (v_0 = 0, so early steps are large, as in PyTorch).
State per parameter: ``step``, ``square_avg``, and ``momentum_buffer``
(mu > 0) and ``grad_avg`` (centered).
"""

from .. import backend
from .optimizer import Optimizer, advance_step, lerp_, zero_step, zeros_state


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"RMSprop: Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"RMSprop: Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"RMSprop: Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"RMSprop: Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"RMSprop: Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        state = self.state[param]
        if not state:
            state["step"] = zero_step()
            state["square_avg"] = zeros_state(param)
            if momentum > 0:
                state["momentum_buffer"] = zeros_state(param)
            if group["centered"]:
                state["grad_avg"] = zeros_state(param)
        advance_step(state)
        theta = param.data
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * theta
        square_avg = state["square_avg"].data
        square_avg *= alpha
        square_avg += (1.0 - alpha) * grad * grad
        xp = backend.array_module(theta)
        if group["centered"]:
            grad_avg = state["grad_avg"].data
            lerp_(grad_avg, grad, 1.0 - alpha)
            average = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            average = xp.sqrt(square_avg)
        average += eps
        if momentum > 0:
            buffer = state["momentum_buffer"].data
            buffer *= momentum
            buffer += grad / average
            theta += -lr * buffer
        else:
            theta += -lr * grad / average
