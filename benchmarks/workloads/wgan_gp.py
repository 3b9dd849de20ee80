"""wgan_gp: WGAN with gradient penalty (Gulrajani et al., 2017), batch 64.

The ``dcgan`` generator and critic without BatchNorm (the penalty is per
sample, which batch statistics would break). One critic step and one generator
step (Adam, lr 1e-4, betas (0.0, 0.9), as in the paper):

    x_hat = alpha * x + (1 - alpha) * G(z),  alpha ~ U(0, 1) per sample
    L_D = D(G(z)) - D(x) + 10 * (||grad_x_hat D(x_hat)||_2 - 1)^2     (batch means)
    L_G = -D(G(z))

The penalty differentiates through a gradient: ``grad(..., create_graph=True)``
records the critic's backward pass as a graph, and L_D.backward() then runs a
second-order backward through the convolutions.
"""

import numpy as np

from .common import images, normal
from .dcgan import BATCH_SIZE, LATENT, discriminator, generator

PENALTY_WEIGHT = 10.0


def make_batch(rng):
    return {
        "real": images(rng, BATCH_SIZE, 1, 28),
        "z": normal(rng, BATCH_SIZE, LATENT),
        "alpha": rng.uniform(size=(BATCH_SIZE, 1, 1, 1)).astype(np.float32),
    }


def make_models(framework):
    nn = framework.nn
    return {"generator": generator(nn, batch_norm=False), "critic": discriminator(nn, batch_norm=False)}


def make_train_step(framework, models, batch):
    generator, critic = models["generator"], models["critic"]
    generator_optimizer = framework.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    critic_optimizer = framework.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    real, z, alpha = batch["real"], batch["z"], batch["alpha"]

    def gradient_penalty(fake):
        interpolates = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
        (gradients,) = framework.grad(critic(interpolates).sum(), [interpolates], create_graph=True)
        return ((gradients.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()

    def step():
        fake = generator(z)
        fake_detached = fake.detach()
        critic_loss = (critic(fake_detached).mean() - critic(real).mean()
                       + PENALTY_WEIGHT * gradient_penalty(fake_detached))
        critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_optimizer.step()

        generator_loss = -critic(fake).mean()
        generator_optimizer.zero_grad()
        generator_loss.backward()
        generator_optimizer.step()
        return {"d_loss": critic_loss, "g_loss": generator_loss}

    return step
