"""dit_tiny: a Diffusion Transformer (Peebles & Xie, 2023) trained by rectified flow, batch 64.

Patches of 2x2 on 1x28x28 images make 196 tokens of width 128 (plus fixed 2-D
sine-cosine positions); 4 blocks of 4-head self-attention and an MLP of
ratio 4, each conditioned by adaLN-Zero on c = MLP(sinusoidal(t)) + Embedding(y)
for 10 classes: per block, a zero-initialised Linear(c) gives shift, scale and
gate for the attention and the MLP branches,

    x = x + gate_msa * Attention(LayerNorm(x) * (1 + scale_msa) + shift_msa)
    x = x + gate_mlp * MLP(LayerNorm(x) * (1 + scale_mlp) + shift_mlp)

and a zero-initialised final layer maps tokens back to patches. Rectified flow
(Liu et al., 2023) interpolates data x_0 and noise x_1 on a straight line and
regresses its velocity:

    x_t = (1 - t) * x_0 + t * x_1,   L = || v_theta(x_t, t, y) - (x_1 - x_0) ||^2,   t ~ U(0, 1)

One Adam step, lr 1e-4. Sampling integrates dx/dt = v from t = 1 (noise) to
t = 0 with 50 Euler steps for 16 images: x <- x - (1 / 50) * v_theta(x, t, y).
"""

import numpy as np

from .common import images, normal, sinusoidal_embedding, timestep_frequencies

BATCH_SIZE = 64
SAMPLE_COUNT = 16
SAMPLING_STEPS = 50
IMAGE_SIZE = 28
PATCH = 2
GRID = IMAGE_SIZE // PATCH
HIDDEN = 128
DEPTH = 4
HEADS = 4
MLP_RATIO = 4
CLASSES = 10


def positional_embedding(grid, dim):
    """Fixed 2-D sine-cosine positions (as DiT): half the channels encode the row, half the column."""
    frequencies = timestep_frequencies(dim // 2)
    rows, columns = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32), indexing="ij")

    def encode(positions):
        angles = positions.reshape(-1, 1) * frequencies.reshape(1, -1)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    return np.concatenate([encode(rows), encode(columns)], axis=1)[None].astype(np.float32)


def make_batch(rng):
    return {
        "x0": images(rng, BATCH_SIZE, 1, IMAGE_SIZE),
        "x1": normal(rng, BATCH_SIZE, 1, IMAGE_SIZE, IMAGE_SIZE),
        "t": rng.uniform(size=BATCH_SIZE).astype(np.float32),
        "y": rng.integers(0, CLASSES, BATCH_SIZE),
    }


def make_models(framework):
    return {"dit": networks(framework)()}


def networks(framework):
    """The DiT class written against ``framework``'s ``nn`` (minigen or PyTorch)."""
    lib, nn, F = framework.lib, framework.nn, framework.F

    def modulate(x, shift, scale):
        return x * (1.0 + scale.unsqueeze(1)) + shift.unsqueeze(1)

    def zero_linear(in_features, out_features):
        linear = nn.Linear(in_features, out_features)
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
        return linear

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
            self.proj = nn.Linear(HIDDEN, HIDDEN)

        def forward(self, x):
            batch, tokens, width = x.shape
            qkv = self.qkv(x).reshape(batch, tokens, 3, HEADS, width // HEADS).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))

    class DiTBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(HIDDEN, elementwise_affine=False, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(HIDDEN, elementwise_affine=False, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(HIDDEN, MLP_RATIO * HIDDEN), nn.GELU(approximate="tanh"),
                                     nn.Linear(MLP_RATIO * HIDDEN, HIDDEN))
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), zero_linear(HIDDEN, 6 * HIDDEN))

        def forward(self, x, c):
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
            x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
            return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))

    class DiT(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("frequencies", framework.tensor(timestep_frequencies(HIDDEN)), persistent=False)
            self.register_buffer("pos_embed", framework.tensor(positional_embedding(GRID, HIDDEN)), persistent=False)
            self.x_embedder = nn.Conv2d(1, HIDDEN, PATCH, stride=PATCH)
            self.t_embedder = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN))
            self.y_embedder = nn.Embedding(CLASSES, HIDDEN)
            self.blocks = nn.ModuleList([DiTBlock() for _ in range(DEPTH)])
            self.norm_final = nn.LayerNorm(HIDDEN, elementwise_affine=False, eps=1e-6)
            self.final_modulation = nn.Sequential(nn.SiLU(), zero_linear(HIDDEN, 2 * HIDDEN))
            self.final_linear = zero_linear(HIDDEN, PATCH * PATCH)

        def forward(self, x, t, y):
            tokens = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed    # (B, 196, 128)
            # t in [0, 1] is scaled to the range the sinusoid frequencies were made for.
            c = self.t_embedder(sinusoidal_embedding(lib, 1000.0 * t, self.frequencies)) + self.y_embedder(y)
            for block in self.blocks:
                tokens = block(tokens, c)
            shift, scale = self.final_modulation(c).chunk(2, dim=1)
            patches = self.final_linear(modulate(self.norm_final(tokens), shift, scale))   # (B, 196, 4)
            batch = patches.shape[0]
            patches = patches.reshape(batch, GRID, GRID, PATCH, PATCH).permute(0, 1, 3, 2, 4)
            return patches.reshape(batch, 1, IMAGE_SIZE, IMAGE_SIZE)

    return DiT


def make_train_step(framework, models, batch):
    dit = models["dit"]
    optimizer = framework.optim.Adam(dit.parameters(), lr=1e-4)
    x0, x1, t, y = batch["x0"], batch["x1"], batch["t"], batch["y"]

    def step():
        t_image = t.reshape(-1, 1, 1, 1)
        x_t = (1.0 - t_image) * x0 + t_image * x1
        loss = framework.F.mse_loss(dit(x_t, t, y), x1 - x0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    return step


def make_sampler(framework, models, rng):
    """``(x_1, sample_step)``: ``sample_step(x, i)`` is Euler step i, from t = 1 - i/N to t = 1 - (i + 1)/N."""
    dit = models["dit"].eval()
    x_start = framework.tensor(normal(rng, SAMPLE_COUNT, 1, IMAGE_SIZE, IMAGE_SIZE))
    labels = framework.tensor(np.arange(SAMPLE_COUNT) % CLASSES)
    step_size = 1.0 / SAMPLING_STEPS

    def sample_step(x, i):
        t = framework.tensor(np.full(SAMPLE_COUNT, 1.0 - i * step_size, dtype=np.float32))
        with framework.lib.no_grad():
            return x - step_size * dit(x, t, labels)

    return x_start, sample_step
