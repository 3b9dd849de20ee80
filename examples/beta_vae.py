"""A beta-VAE on procedural shapes: train it, score its disentanglement (MIG) and look at latent traversals.

    python examples/beta_vae.py                    # beta 4, 5,000 images, 5 epochs: about 5 minutes on 1 core
    python examples/beta_vae.py --beta 1           # the plain VAE on the same data, for comparison
    python examples/beta_vae.py --limit 20000 --epochs 30 --device cuda    # the registered settings

The model is the registered ``beta_vae`` (minigen/models/vae.py): a conv VAE
(4x4 stride-2 convolutions 32-32-64-64, 10-d latent, Bernoulli decoder) trained
on -E_q[log p(x | z)] + beta_t KL(q(z | x) || N(0, I)), with the KL warm-up
beta_t = beta * min(1, epoch / warmup_epochs). Higgins et al. (2017): beta > 1
presses the posterior toward the factorised prior, so each latent tends to pick
up one generating factor of the images (position, scale, shape, rotation).

The shapes (minigen.data.ShapesDataset) come with their true factors, so the
script measures how disentangled the code is with the Mutual Information Gap
(minigen.metrics.mutual_information_gap, Chen et al. 2018: the posterior means
discretised into 20 equal-width bins, as in disentanglement_lib). It prints MIG,
which latent captures which factor, and the KL of each latent (a latent with a
KL near 0 is unused: an inactive unit). Writes to --out (default runs/beta_vae):
curves.png, reconstructions.png, samples.png, traversal_<i>.png (each latent
swept over [-3, 3] from the posterior mean of a test image, rows sorted by KL),
metrics.json and a checkpoint that ``minigen sample`` and ``minigen eval`` read.

Expect little from the quick default: the loss sits on a plateau (a blurred mean
shape, about 550 nats) for the first ~250 steps, and 5 epochs of 5,000 images
end with blurred blobs in roughly the right place and MIG near 0.04.
benchmarks/beta_vae_mig.py trains longer and compares beta = 1 with beta = 4.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

import minigen
from minigen import viz
from minigen.data import DataLoader, ShapesDataset
from minigen.metrics import mutual_information_gap
from minigen.models import get_spec
from minigen.models.vae import ACTIVE_UNIT_THRESHOLD, kl_normal_standard
from minigen.training import fit

SPEC = get_spec("beta_vae")
TRAVERSAL_VALUES = np.linspace(-3.0, 3.0, 11, dtype=np.float32)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beta", type=float, default=SPEC.hyperparameters["beta"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--warmup-epochs", type=int,
                        help="KL warm-up length (default: the registered third of the run, "
                             f"{SPEC.hyperparameters['warmup_epochs']} of {SPEC.hyperparameters['epochs']} epochs)")
    parser.add_argument("--limit", type=int, default=5000, help="training images to draw")
    parser.add_argument("--test-images", type=int, default=2000, help="held-out images for MIG and the test loss")
    parser.add_argument("--latent-dim", type=int, default=SPEC.hyperparameters["latent_dim"])
    parser.add_argument("--batch-size", type=int, default=SPEC.hyperparameters["batch_size"])
    parser.add_argument("--lr", type=float, default=SPEC.hyperparameters["lr"])
    parser.add_argument("--traversals", type=int, default=2, help="test images to traverse from")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", default="runs/beta_vae")
    return parser.parse_args(argv)


def config_from(args):
    """The run config: the registered hyperparameters with this run's beta, warm-up, latent size and schedule."""
    registered = SPEC.hyperparameters
    warmup = args.warmup_epochs
    if warmup is None:
        warmup = round(args.epochs * registered["warmup_epochs"] / registered["epochs"])
    return SPEC.config(seed=args.seed, beta=args.beta, warmup_epochs=warmup, latent_dim=args.latent_dim,
                       epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)


def traversal(model, code, order, device):
    """Decoded images (len(order), steps, C, H, W): latent order[i] swept over TRAVERSAL_VALUES from ``code``."""
    grid = np.tile(code, (len(order), len(TRAVERSAL_VALUES), 1))  # (rows, steps, latent)
    for row, latent in enumerate(order):
        grid[row, :, latent] = TRAVERSAL_VALUES
    with minigen.no_grad():
        images = model.mean_image(model.decode(minigen.tensor(grid.reshape(-1, code.shape[0]), device=device)))
    return images.reshape(len(order), len(TRAVERSAL_VALUES), *model.image_shape)


def save_framed_grid(images, path, nrow, title):
    """An image grid with grey borders: the shapes sit on black, where black padding would hide the tiles."""
    grid = viz.make_grid(images, nrow=nrow, pad_value=0.5)  # (H, W, C)
    viz.save_image_grid(grid.transpose(2, 0, 1)[None], path, padding=0, title=title)


def report(score, kl_per_latent, active):
    """Print MIG, the factor each latent captures, and the KL of each latent."""
    print(f"\n{score}; gap per factor (normalised by its entropy):")
    information = score.details["normalized_information"]
    for k, (name, gap) in enumerate(score.details["gaps"].items()):
        top = score.details["top_latent"][name]
        print(f"  {name:9s} gap {gap:.3f}  best latent z[{top}] (I/H {information[top, k]:.3f})")
    print("\nI(z_j; v_k) / H(v_k) per latent, and its KL in nats (mean over test images):")
    print("  latent  " + " ".join(f"{name:>8s}" for name in score.details["gaps"]) + "       KL  active")
    for j, row in enumerate(information):
        print(f"  z[{j}]    " + " ".join(f"{value:8.3f}" for value in row)
              + f" {kl_per_latent[j]:8.3f}  {'yes' if active[j] else 'no'}")


def main(argv=None):
    args = parse_arguments(argv)
    out = Path(args.out)
    # The same config as `minigen train beta_vae`, so `minigen sample` and `minigen eval` read the checkpoint.
    config = config_from(args)
    settings = config["settings"]
    minigen.manual_seed(args.seed)
    dataset = ShapesDataset()
    train_images, _ = dataset.sample(args.limit, args.seed)
    test_images, test_factors = dataset.sample(args.test_images, args.seed + 1)
    model = SPEC.build(**config["model_arguments"]).to(args.device)

    loader = DataLoader((train_images,), batch_size=settings["batch_size"], shuffle=True, seed=args.seed,
                        device=args.device)
    optimizers, schedulers = SPEC.configure_optimizers(model, settings["lr"])
    started = time.perf_counter()
    history = fit(model, loader, optimizers, schedulers=schedulers, epochs=args.epochs, out_dir=out, config=config,
                  progress=not args.quiet)
    seconds = time.perf_counter() - started
    print(f"trained beta={args.beta:g} (warm-up {settings['warmup_epochs']} epochs) for {args.epochs} epochs on "
          f"{args.limit} images in {seconds:.0f} s")
    viz.plot_curves({"loss": history["loss"], "reconstruction": history["reconstruction"], "KL": history["kl"]},
                    out / "curves.png", log_y=True, smooth=0.9)

    model.eval()
    test = model.evaluate(DataLoader((test_images,), batch_size=250, device=args.device))
    test_tensor = minigen.tensor(test_images, device=args.device)
    mu, log_variance = model.posterior_parameters(test_tensor, batch_size=250)
    kl_per_latent = kl_normal_standard(mu, log_variance).mean(0).cpu().numpy()  # nats per latent, mean over images
    _, variances = model.active_units(test_tensor, batch_size=250)
    active = variances.cpu().numpy() > ACTIVE_UNIT_THRESHOLD
    mu = mu.cpu().numpy()
    score = mutual_information_gap(mu, test_factors, factor_names=ShapesDataset.factor_names)
    print(f"test reconstruction {test['test_reconstruction']:.1f} nats, KL {test['test_kl']:.2f} nats, "
          f"ELBO {test['test_elbo']:.1f} nats ({args.test_images} held-out images); "
          f"{int(active.sum())} of {args.latent_dim} latents active")
    report(score, kl_per_latent, active)

    with minigen.no_grad():
        originals = minigen.tensor(test_images[:16], device=args.device)
        save_framed_grid(minigen.cat([originals, model.reconstruct(originals)]), out / "reconstructions.png", nrow=16,
                         title="top: test shapes, bottom: decoded posterior means")
        save_framed_grid(model.sample(64), out / "samples.png", nrow=8, title=f"samples, beta={args.beta:g}")
    order = np.argsort(-kl_per_latent)  # the most informative latents first
    labels = [f"z[{j}] KL {kl_per_latent[j]:.2f}" for j in order]
    for index in range(args.traversals):
        viz.plot_latent_traversal(traversal(model, mu[index], order, args.device), out / f"traversal_{index}.png",
                                  row_labels=labels, values=TRAVERSAL_VALUES,
                                  title=f"beta={args.beta:g}: each latent swept from test image {index}")

    metrics = {"beta": args.beta, "warmup_epochs": settings["warmup_epochs"], "epochs": args.epochs,
               "train_images": args.limit, "test_images": args.test_images, "latent_dim": args.latent_dim,
               "seed": args.seed, "device": str(args.device), "train_seconds": seconds, **test,
               "mig": score.value, "mig_bins": score.details["bins"], "mig_gaps": score.details["gaps"],
               "normalized_information": score.details["normalized_information"].tolist(),
               "kl_per_latent": kl_per_latent.tolist(), "active_units": int(active.sum())}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"\nwrote {out}/curves.png, reconstructions.png, samples.png, traversal_*.png, metrics.json")
    return metrics


if __name__ == "__main__":
    main()
