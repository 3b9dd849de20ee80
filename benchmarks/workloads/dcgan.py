"""dcgan: a DCGAN (Radford et al., 2016) for 1x28x28 images, batch 64.

G: z (64) -> Linear 128*7*7 -> BatchNorm, ReLU -> ConvTranspose2d(128, 64, 4, 2, 1) + BN + ReLU
   -> ConvTranspose2d(64, 1, 4, 2, 1) + Tanh.
D: Conv2d(1, 64, 4, 2, 1) + LeakyReLU(0.2) -> Conv2d(64, 128, 4, 2, 1) + BN + LeakyReLU(0.2)
   -> Linear(6272, 1) logit.

One training step is one D step and one G step (Adam, lr 1e-4, betas (0.5, 0.999)):

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)          G(z) detached: only D learns here
    L_G = BCE(D(G(z)), 1) = -log sigmoid(D(G(z)))  the non-saturating generator loss

The generator and discriminator builders are shared with ``wgan_gp``.
"""

import numpy as np

from .common import images, normal

BATCH_SIZE = 64
LATENT = 64


def generator(nn, batch_norm=True):
    layers = [nn.Linear(LATENT, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7))]
    layers += [nn.BatchNorm2d(128)] if batch_norm else []
    layers += [nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1)]
    layers += [nn.BatchNorm2d(64)] if batch_norm else []
    layers += [nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(nn, batch_norm=True):
    layers = [nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1)]
    layers += [nn.BatchNorm2d(128)] if batch_norm else []
    layers += [nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1)]
    return nn.Sequential(*layers)


def make_batch(rng):
    return {
        "real": images(rng, BATCH_SIZE, 1, 28),
        "z": normal(rng, BATCH_SIZE, LATENT),
        "ones": np.ones((BATCH_SIZE, 1), dtype=np.float32),
        "zeros": np.zeros((BATCH_SIZE, 1), dtype=np.float32),
    }


def make_models(framework):
    return {"generator": generator(framework.nn), "discriminator": discriminator(framework.nn)}


def make_train_step(framework, models, batch):
    bce = framework.F.binary_cross_entropy_with_logits
    generator, discriminator = models["generator"], models["discriminator"]
    generator_optimizer = framework.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    discriminator_optimizer = framework.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    real, z, ones, zeros = batch["real"], batch["z"], batch["ones"], batch["zeros"]

    def step():
        fake = generator(z)
        discriminator_loss = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
        discriminator_optimizer.zero_grad()
        discriminator_loss.backward()
        discriminator_optimizer.step()

        generator_loss = bce(discriminator(fake), ones)
        generator_optimizer.zero_grad()
        generator_loss.backward()
        generator_optimizer.step()
        return {"d_loss": discriminator_loss, "g_loss": generator_loss}

    return step
