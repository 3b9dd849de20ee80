"""mlp_vae: the VAE of Kingma & Welling (2014) on flattened 28x28 images, batch 128.

Encoder 784-400-ReLU with two heads mu, log sigma^2 (20 each); decoder
20-400-ReLU-784 Bernoulli logits. The loss is the negative ELBO per image:

    BCE-with-logits(decoder(z), x) summed over pixels          reconstruction
    + 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)                KL(q(z|x) || N(0, I)) in closed form

with z = mu + exp(logvar / 2) * epsilon (reparameterisation; epsilon is fixed
noise fed to both frameworks, so their losses agree). One Adam step (lr 1e-4).
"""

import numpy as np

BATCH_SIZE = 128
IMAGE_SIZE = 28 * 28
HIDDEN = 400
LATENT = 20


def make_batch(rng):
    return {
        # Binarised pixels, as in the paper's MNIST setup.
        "x": (rng.uniform(size=(BATCH_SIZE, IMAGE_SIZE)) < 0.5).astype(np.float32),
        "epsilon": rng.standard_normal((BATCH_SIZE, LATENT), dtype=np.float32),
    }


def make_models(framework):
    nn, F = framework.nn, framework.F

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(IMAGE_SIZE, HIDDEN)
            self.mu = nn.Linear(HIDDEN, LATENT)
            self.logvar = nn.Linear(HIDDEN, LATENT)
            self.decoder = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, IMAGE_SIZE))

        def forward(self, x, epsilon):
            hidden = F.relu(self.encoder(x))
            mu, logvar = self.mu(hidden), self.logvar(hidden)
            z = mu + (0.5 * logvar).exp() * epsilon
            return self.decoder(z), mu, logvar

    return {"vae": VAE()}


def make_train_step(framework, models, batch):
    F = framework.F
    vae = models["vae"]
    optimizer = framework.optim.Adam(vae.parameters(), lr=1e-4)
    x, epsilon = batch["x"], batch["epsilon"]

    def step():
        logits, mu, logvar = vae(x, epsilon)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum()
        loss = (reconstruction + kl) / BATCH_SIZE
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    return step
