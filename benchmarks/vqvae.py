"""VQ-VAE on full MNIST: gradient codebook vs EMA codebook, and dead-code restarts on vs off.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.vqvae          # the full run: about 25 min on 2 CPU cores
    python -m benchmarks.vqvae --device cuda --epochs 5        # on a GPU

(Measured on the shared 2-core machine: 0.4 s per training step of 128 digits, so about 3 min per epoch and
variant; 3 variants x 2 epochs, then the test set.)

Each variant is the registered ``vqvae``/``vqvae_ema`` network (K = 512 codes
of size 64 on a 7x7 grid, 64 hidden channels) trained for ``--epochs`` epochs
(2 by default) on the 60,000 training digits with Adam at lr 1e-3 (the paper's
2e-4 needs many more steps than this budget), batch 128, seed 0:

- ``standard``: codebook learned by the codebook loss, dead codes restarted
  after 20 unused steps (the registered default);
- ``ema``: the EMA codebook (decay 0.99), with the same restarts;
- ``ema_no_restarts``: the EMA codebook of the paper, no restarts
  (``standard_no_restarts`` is available too).

On the 10,000 test digits (``--test-images``) it reports the reconstruction
MSE per pixel (pixels in [0, 1]) and PSNR = 10 log10(1 / MSE) in dB; the code
perplexity exp(entropy) of the codes picked by all 7x7 grid positions of all
test digits; and the code usage, the fraction of the K codes picked at least
once. Prints a table, writes the figures and per-epoch training means as JSON
to ``--out`` and a markdown page (command, machine, date, seed, sample counts)
to ``--markdown`` (default benchmarks/results/vqvae.md).
"""

import argparse
import time
from pathlib import Path

import minigen
from benchmarks import result_page
from benchmarks.machine import describe
from minigen.data import DataLoader, load_mnist
from minigen.models import get_spec
from minigen.training import fit

# name -> (registered spec, restart_after: codes unused this many steps move onto encoder outputs; None: never)
VARIANTS = {
    "standard": ("vqvae", 20),
    "standard_no_restarts": ("vqvae", None),
    "ema": ("vqvae_ema", 20),
    "ema_no_restarts": ("vqvae_ema", None),
}
FIGURES = (("test_reconstruction", "test MSE", "{:.5f}"), ("test_psnr", "PSNR dB", "{:.2f}"),
           ("test_code_perplexity", "perplexity", "{:.1f}"), ("test_code_usage", "usage", "{:.3f}"),
           ("train_seconds", "train s", "{:.0f}"))


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--variants", default="standard,ema,ema_no_restarts",
                        help="comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument("--num-embeddings", type=int, default=512)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--hidden-channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="the paper's 2e-4 needs many more steps")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmarks/vqvae.json")
    parser.add_argument("--markdown", default=str(result_page.RESULTS / "vqvae.md"))
    return parser.parse_args(argv)


def run(variant, train, test, args):
    """Train one variant with ``training.fit``, an epoch at a time; returns its test figures and timings."""
    spec_name, restart_after = VARIANTS[variant]
    spec = get_spec(spec_name)
    config = spec.config(seed=args.seed, num_embeddings=args.num_embeddings, embedding_dim=args.embedding_dim,
                         hidden_channels=args.hidden_channels, residual_channels=args.hidden_channels // 2,
                         restart_after=restart_after, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs)
    minigen.manual_seed(args.seed)
    model = spec.build(**config["model_arguments"]).to(args.device)
    optimizers, schedulers = spec.configure_optimizers(model, args.lr)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed, device=args.device)
    history, epochs, step, started = {}, [], 0, time.perf_counter()
    for epoch in range(args.epochs):
        epoch_started = time.perf_counter()
        fit(model, loader, optimizers, schedulers=schedulers, epochs=epoch + 1, start_epoch=epoch, step=step,
            history=history, out_dir=Path(args.out).with_suffix("") / variant, config=config, progress=False)
        means = {f"train_{name}": sum(values[step:]) / len(values[step:]) for name, values in history.items()}
        step = len(history["loss"])
        epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - epoch_started, **means})
        print(f"{variant}: epoch {epoch + 1}  " + "  ".join(f"{k} {v:.4g}" for k, v in means.items())
              + f"  ({epochs[-1]['seconds']:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    model.eval()
    metrics = model.evaluate(DataLoader(test, batch_size=500, device=args.device))
    return {**metrics, "train_seconds": seconds, "epochs": epochs, "restart_after": restart_after,
            "codebook": config["model_arguments"]["codebook"], "parameters": sum(p.numel() for p in model.parameters())}


def table(results):
    rows = [[f"{variant} ({figures['codebook']}, restarts {'off' if figures['restart_after'] is None else 'on'})"]
            + [text.format(figures[key]) for key, _, text in FIGURES] for variant, figures in results.items()]
    return result_page.table(["variant"] + [label for _, label, _ in FIGURES], rows)


def main(argv=None):
    args = parse_arguments(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    train = load_mnist("train", labels=False)[: args.limit]
    test = load_mnist("test", labels=False)[: args.test_images]
    started = time.perf_counter()
    results = {variant: run(variant, train, test, args) for variant in variants}
    wall = time.perf_counter() - started
    print(table(results))
    command = result_page.command_line("benchmarks.vqvae", argv)
    samples = f"{len(train)} MNIST training images x {args.epochs} epochs; {len(test)} test images"
    report = {"benchmark": "vqvae", "settings": {key: value for key, value in vars(args).items()
                                                 if key not in ("out", "markdown")},
              "command": command, "samples": samples, "results": results, "wall_seconds": wall, "machine": describe()}
    result_page.write_json(args.out, report)
    result_page.write_page(
        args.markdown, title="VQ-VAE on MNIST: codebooks and dead-code restarts", command=command, seed=args.seed,
        samples=samples, machine=report["machine"], sections=[table(results)],
        summary=f"K = {args.num_embeddings} codes of size {args.embedding_dim}, {args.hidden_channels} hidden "
                f"channels, Adam lr {args.lr:g}, batch {args.batch_size}, {args.device}; wall time {wall:.0f} s. "
                "Perplexity and usage count the codes picked by every 7x7 grid position of every test digit.")
    print(f"wrote {args.out} and {args.markdown} ({wall:.0f} s in all)")
    return report


if __name__ == "__main__":
    main()
