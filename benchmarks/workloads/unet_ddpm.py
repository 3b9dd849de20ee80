"""unet_ddpm: DDPM (Ho et al., 2020) epsilon-prediction with a small U-Net on 1x32x32, batch 64.

Forward process with a 1000-step linear schedule beta_t in [1e-4, 0.02],
alpha_bar_t = prod_{s <= t} (1 - beta_s):

    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * epsilon
    L = || epsilon - epsilon_theta(x_t, t) ||^2   (mean over pixels and batch)

at a random t per image (fixed numbers fed to both frameworks). One Adam step, lr 1e-4.

U-Net-lite: channels 32-64-128 at 32/16/8 pixels, one ResBlock per level on
the way down and up (GroupNorm(8), SiLU, 3x3 conv, twice, the time embedding
added between the convs through a Linear), a sinusoidal time embedding of 128
through an MLP, one-head self-attention at 8x8, stride-2 convs down,
nearest x2 + 3x3 conv up, skips concatenated.

Sampling is ancestral (Algorithm 2 of the paper) for 16 images:

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * epsilon_theta(x_t, t)) / sqrt(1 - beta_t) + sqrt(beta_t) * z
"""

import numpy as np

from .common import images, normal, sinusoidal_embedding, timestep_frequencies

BATCH_SIZE = 64
SAMPLE_COUNT = 16
TIMESTEPS = 1000
SAMPLING_STEPS = TIMESTEPS
TIME_DIM = 128
BETAS = np.linspace(1e-4, 0.02, TIMESTEPS)
ALPHA_BAR = np.cumprod(1.0 - BETAS)


def make_batch(rng):
    t = rng.integers(0, TIMESTEPS, BATCH_SIZE)
    # The schedule's per-image coefficients, shaped to broadcast over (C, H, W).
    sqrt_alpha_bar = np.sqrt(ALPHA_BAR[t]).astype(np.float32).reshape(-1, 1, 1, 1)
    sqrt_one_minus_alpha_bar = np.sqrt(1.0 - ALPHA_BAR[t]).astype(np.float32).reshape(-1, 1, 1, 1)
    return {
        "x0": images(rng, BATCH_SIZE, 1, 32),
        "epsilon": normal(rng, BATCH_SIZE, 1, 32, 32),
        "t": t.astype(np.float32),
        "sqrt_alpha_bar": sqrt_alpha_bar,
        "sqrt_one_minus_alpha_bar": sqrt_one_minus_alpha_bar,
    }


def make_models(framework):
    return {"unet": networks(framework)()}


def networks(framework):
    """The U-Net class written against ``framework``'s ``nn`` (minigen or PyTorch)."""
    lib, nn, F = framework.lib, framework.nn, framework.F

    class ResBlock(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.norm1 = nn.GroupNorm(8, in_channels)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            self.time = nn.Linear(TIME_DIM, out_channels)
            self.norm2 = nn.GroupNorm(8, out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
            self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

        def forward(self, x, time_embedding):
            h = self.conv1(F.silu(self.norm1(x)))
            h = h + self.time(F.silu(time_embedding))[:, :, None, None]
            h = self.conv2(F.silu(self.norm2(h)))
            return h + self.skip(x)

    class SelfAttention(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.norm = nn.GroupNorm(8, channels)
            self.qkv = nn.Conv2d(channels, 3 * channels, 1)
            self.out = nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            batch, channels, height, width = x.shape
            tokens = self.qkv(self.norm(x)).reshape(batch, 3 * channels, height * width).transpose(1, 2)
            query, key, value = tokens.chunk(3, dim=2)
            attended = F.scaled_dot_product_attention(query, key, value)
            return x + self.out(attended.transpose(1, 2).reshape(batch, channels, height, width))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("frequencies", framework.tensor(timestep_frequencies(TIME_DIM)), persistent=False)
            self.time_mlp = nn.Sequential(nn.Linear(TIME_DIM, TIME_DIM), nn.SiLU(), nn.Linear(TIME_DIM, TIME_DIM))
            self.stem = nn.Conv2d(1, 32, 3, padding=1)
            self.down1 = ResBlock(32, 32)
            self.downsample1 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
            self.down2 = ResBlock(64, 64)
            self.downsample2 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
            self.middle = ResBlock(128, 128)
            self.attention = SelfAttention(128)
            self.upsample2 = nn.Conv2d(128, 64, 3, padding=1)
            self.up2 = ResBlock(128, 64)
            self.upsample1 = nn.Conv2d(64, 32, 3, padding=1)
            self.up1 = ResBlock(64, 32)
            self.head = nn.Sequential(nn.GroupNorm(8, 32), nn.SiLU(), nn.Conv2d(32, 1, 3, padding=1))

        def forward(self, x, t):
            time_embedding = self.time_mlp(sinusoidal_embedding(lib, t, self.frequencies))
            skip1 = self.down1(self.stem(x), time_embedding)                           # 32 x 32x32
            skip2 = self.down2(self.downsample1(skip1), time_embedding)                # 64 x 16x16
            h = self.attention(self.middle(self.downsample2(skip2), time_embedding))   # 128 x 8x8
            h = self.upsample2(F.interpolate(h, scale_factor=2, mode="nearest"))       # 64 x 16x16
            h = self.up2(lib.cat([h, skip2], dim=1), time_embedding)
            h = self.upsample1(F.interpolate(h, scale_factor=2, mode="nearest"))       # 32 x 32x32
            h = self.up1(lib.cat([h, skip1], dim=1), time_embedding)
            return self.head(h)

    return UNet


def make_train_step(framework, models, batch):
    unet = models["unet"]
    optimizer = framework.optim.Adam(unet.parameters(), lr=1e-4)
    x0, epsilon, t = batch["x0"], batch["epsilon"], batch["t"]
    sqrt_alpha_bar, sqrt_one_minus_alpha_bar = batch["sqrt_alpha_bar"], batch["sqrt_one_minus_alpha_bar"]

    def step():
        x_t = sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * epsilon
        loss = framework.F.mse_loss(unet(x_t, t), epsilon)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss}

    return step


def make_sampler(framework, models, rng):
    """``(x_T, sample_step)``: ``sample_step(x, i)`` is ancestral step i, from t = T - 1 - i to t - 1."""
    unet = models["unet"].eval()
    x_start = framework.tensor(normal(rng, SAMPLE_COUNT, 1, 32, 32))

    def sample_step(x, i):
        t = TIMESTEPS - 1 - i
        beta, alpha_bar = float(BETAS[t]), float(ALPHA_BAR[t])
        with framework.lib.no_grad():
            epsilon = unet(x, framework.tensor(np.full(SAMPLE_COUNT, t, dtype=np.float32)))
            mean = (x - (beta / (1.0 - alpha_bar) ** 0.5) * epsilon) / (1.0 - beta) ** 0.5
            return mean + beta**0.5 * framework.lib.randn_like(x) if t > 0 else mean

    return x_start, sample_step
