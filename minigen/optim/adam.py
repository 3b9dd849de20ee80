"""Adam and AdamW (``torch.optim.Adam``, ``torch.optim.AdamW``); Kingma & Ba 2015, Loshchilov & Hutter 2019.

With gradient g_t at theta_{t-1}, learning rate gamma, betas (beta_1, beta_2),
epsilon eps and weight decay lambda, at step t = 1, 2, ...:

    g_t <- -g_t                                          if maximize
    g_t <- g_t + lambda * theta_{t-1}                    Adam: L2 decay inside the gradient
    theta_{t-1} <- theta_{t-1} * (1 - gamma * lambda)    AdamW: decoupled decay on the weights
    m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t          first moment (computed as a lerp)
    v_t = beta_2 * v_{t-1} + (1 - beta_2) * g_t^2        second moment
    v_t^max = max(v_{t-1}^max, v_t)                      amsgrad only; used in place of v_t below
    theta_t = theta_{t-1} - gamma / (1 - beta_1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta_2^t) + eps)

The last line is the bias-corrected update m_hat / (sqrt(v_hat) + eps) with
eps added after the correction, arranged exactly as PyTorch computes it.
State per parameter: ``step`` (a 0-d CPU tensor), ``exp_avg``,
``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``.
"""

from .. import backend
from .optimizer import Optimizer, advance_step, lerp_, zero_step, zeros_state


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        name = type(self).__name__
        if not 0.0 <= lr:
            raise ValueError(f"{name}: Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"{name}: Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"{name}: Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"{name}: Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, param, grad, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(beta) for beta in group["betas"])
        state = self.state[param]
        if not state:
            state["step"] = zero_step()
            state["exp_avg"] = zeros_state(param)
            state["exp_avg_sq"] = zeros_state(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_state(param)
        step = advance_step(state)
        theta = param.data
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                theta *= 1.0 - lr * weight_decay
            else:
                grad = grad + weight_decay * theta
        moments = [state["exp_avg"].data, state["exp_avg_sq"].data]
        if group["amsgrad"]:
            moments.append(state["max_exp_avg_sq"].data)
        bias_correction1 = 1.0 - beta1**step
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        xp = backend.array_module(theta)
        # In cache-sized pieces, through one scratch array: twelve passes that stay in the core's cache.
        for theta_piece, grad_piece, exp_avg, exp_avg_sq, *max_exp_avg_sq in backend.cache_pieces(theta, grad,
                                                                                                   *moments):
            scratch = xp.empty_like(theta_piece)
            lerp_(exp_avg, grad_piece, 1.0 - beta1, scratch)
            exp_avg_sq *= beta2
            xp.multiply(grad_piece, grad_piece, out=scratch)
            scratch *= 1.0 - beta2
            exp_avg_sq += scratch
            second_moment = exp_avg_sq
            if max_exp_avg_sq:
                second_moment = xp.maximum(max_exp_avg_sq[0], exp_avg_sq, out=max_exp_avg_sq[0])
            denominator = xp.sqrt(second_moment, out=scratch)
            denominator /= bias_correction2_sqrt
            denominator += eps
            update = xp.divide(exp_avg, denominator, out=scratch)
            update *= -lr / bias_correction1
            theta_piece += update


class AdamW(Adam):
    """Adam with decoupled weight decay: the decay shrinks the weights and never enters m_t or v_t."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
