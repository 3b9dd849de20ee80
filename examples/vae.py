"""A variational autoencoder on MNIST: train, sample, reconstruct, interpolate, and map a 2-D latent space.

    python examples/vae.py                          # 784-200-200-50 tanh MLP (Burda et al.), 5 epochs
    python examples/vae.py --latent-dim 2           # adds the 2-D manifold and the latent scatter
    python examples/vae.py --architecture conv --device cuda

The model is ``minigen.models.VAE`` (read minigen/models/vae.py for the ELBO line
by line): a Gaussian encoder, the reparameterisation z = mu + sigma * eps, a
Bernoulli decoder on dynamically binarised digits, and the closed-form KL to
N(0, I). The MLP is the registered ``vae`` (Burda et al.'s network, Adam eps
1e-4 and staged learning rate), the conv net the registered ``conv_vae``.
Writes to --out (default runs/vae): curves.png, samples.png,
reconstructions.png, interpolation.png, and for a 2-D latent manifold.png and
latent_scatter.png, metrics.json, and a checkpoint that ``minigen sample`` and
``minigen eval`` read; prints the test ELBO and the IWAE-k estimate of -log p(x).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

import minigen
from minigen import viz
from minigen.data import DataLoader, load_mnist
from minigen.models import get_spec
from minigen.training import fit

SPECS = {"mlp": "vae", "conv": "conv_vae"}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", choices=("mlp", "conv"), default="mlp")
    parser.add_argument("--latent-dim", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, help="base learning rate (default: the registered one)")
    parser.add_argument("--limit", type=int, help="train on the first N images only")
    parser.add_argument("--iwae-k", type=int, default=1000, help="importance samples of the NLL estimate")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/vae")
    return parser.parse_args()


def main():
    args = parse_arguments()
    out = Path(args.out)
    minigen.manual_seed(args.seed)
    train_images, _ = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train_images = train_images[: args.limit]
    spec = get_spec(SPECS[args.architecture])
    # The config `minigen train` would write, so that `minigen sample` and `minigen eval` read the checkpoint.
    config = spec.config(seed=args.seed, latent_dim=args.latent_dim, epochs=args.epochs, batch_size=args.batch_size,
                         **({} if args.lr is None else {"lr": args.lr}))
    settings = config["settings"]
    model = spec.build(**config["model_arguments"]).to(args.device)

    loader = DataLoader((train_images,), batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    optimizers, schedulers = spec.configure_optimizers(model, settings["lr"])
    started = time.perf_counter()
    history = fit(model, loader, optimizers, schedulers=schedulers, epochs=args.epochs, out_dir=out, config=config)
    seconds = time.perf_counter() - started
    print(f"trained {args.epochs} epochs in {seconds:.0f} s")
    viz.plot_curves({"-ELBO (train)": history["loss"], "KL": history["kl"]}, out / "curves.png", smooth=0.9)

    model.eval()
    test = minigen.tensor(test_images[:1000], device=args.device)
    with minigen.no_grad():
        elbo = float(model.loss(test)["elbo"].item())
        nll = -float(model.log_likelihood(test, k=args.iwae_k).mean().item())
        print(f"test ELBO {elbo:.2f} nats; IWAE-{args.iwae_k} estimate of -log p(x): {nll:.2f} nats "
              f"(first 1,000 test images, binarised)")
        metrics = {"test_elbo": elbo, f"test_nll_iwae_{args.iwae_k}": nll, "test_images": test.shape[0],
                   "train_images": len(train_images), "epochs": args.epochs, "train_seconds": seconds,
                   "model": spec.name, "seed": args.seed}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))

        viz.save_image_grid(model.sample(64), out / "samples.png", title="samples: z ~ N(0, I)")
        originals = test[:16]
        viz.save_image_grid(minigen.cat([originals, model.reconstruct(originals)]), out / "reconstructions.png",
                            nrow=16, title="top: test digits, bottom: decoded posterior means")

        # Interpolate between the posterior means of pairs of test digits: z_t = (1 - t) z_a + t z_b.
        mu, _ = model.encode(test[:8])
        weights = minigen.linspace(0.0, 1.0, 9, device=args.device).reshape(1, 9, 1)
        path = mu[0::2].unsqueeze(1) * (1.0 - weights) + mu[1::2].unsqueeze(1) * weights  # (4, 9, latent)
        frames = model.mean_image(model.decode(path.reshape(-1, args.latent_dim)))
        viz.plot_interpolation(frames.reshape(4, 9, 1, 28, 28), out / "interpolation.png",
                               title="latent interpolation between test digits")

        if args.latent_dim == 2:
            # The decoder's mean over a grid of z in [-2.5, 2.5]^2 (about 99% of the prior's mass per axis).
            values = np.linspace(-2.5, 2.5, 15, dtype=np.float32)
            grid = np.stack(np.meshgrid(values, values[::-1]), axis=-1).reshape(-1, 2)
            images = model.mean_image(model.decode(minigen.tensor(grid, device=args.device)))
            viz.plot_latent_traversal(images.reshape(15, 15, 1, 28, 28), out / "manifold.png",
                                      row_labels=[f"z2={value:.2g}" for value in values[::-1]], values=values,
                                      title="decoder means over the 2-D latent plane")
            codes, _ = model.encode(minigen.tensor(test_images[:5000], device=args.device))
            viz.plot_latent_scatter(codes, test_labels[:5000], out / "latent_scatter.png",
                                    title="posterior means of test digits")
    print(f"wrote {out}/curves.png, samples.png, reconstructions.png, interpolation.png"
          + (", manifold.png, latent_scatter.png" if args.latent_dim == 2 else "") + ", metrics.json, checkpoint")


if __name__ == "__main__":
    main()
