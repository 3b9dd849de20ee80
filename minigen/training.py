"""The one training loop and checkpoint format that every model shares.

``fit`` runs ``model.training_step`` over a loader for some epochs with a
progress bar (loss terms and throughput), saves a checkpoint every
``checkpoint_every`` seconds and at the end of each epoch, and saves one more
when interrupted with Ctrl-C before re-raising, so ``--resume`` continues
where it stopped. Learning-rate schedulers passed as ``schedulers`` are
stepped after each epoch (a per-epoch schedule such as Burda et al.'s stages).
A checkpoint holds the model, the optimizers, the schedulers, the epoch, the
per-step history of every loss term and the run's config (model name and
hyperparameters), which is all ``minigen sample`` and ``minigen eval`` need
to rebuild the model.
"""

import time
from pathlib import Path

from tqdm import tqdm

from . import serialization
from .models.base import images_of

CHECKPOINT_NAME = "checkpoint.safetensors"


def save_checkpoint(path, model, optimizers, *, epoch, step, history, config, schedulers=()):
    serialization.save({
        "model": model.state_dict(),
        "optimizers": [optimizer.state_dict() for optimizer in optimizers],
        "schedulers": [scheduler.state_dict() for scheduler in schedulers],
        "epoch": epoch,
        "step": step,
        "history": history,
        "config": config,
    }, path)


def load_checkpoint(path, map_location="cpu"):
    checkpoint = serialization.load(path, map_location=map_location)
    if not isinstance(checkpoint, dict) or not {"model", "config"} <= set(checkpoint):
        raise ValueError(f"'{path}' is not a minigen training checkpoint (it has no model and config)")
    return checkpoint


def restore(checkpoint, model, optimizers, schedulers=()):
    """Load a checkpoint's weights, optimizer and scheduler states; returns (epoch, step, history)."""
    model.load_state_dict(checkpoint["model"])
    for kind, objects in (("optimizers", optimizers), ("schedulers", schedulers)):
        saved = checkpoint.get(kind, [])
        if len(saved) != len(objects):
            raise ValueError(f"checkpoint has {len(saved)} {kind[:-1]} states but the run uses {len(objects)}")
        for target, state in zip(objects, saved):  # optimizers first: a scheduler's state refers to their rates
            target.load_state_dict(state)
    return checkpoint["epoch"], checkpoint["step"], checkpoint["history"]


def fit(model, loader, optimizers, *, epochs, out_dir, config, schedulers=(), start_epoch=0, step=0, history=None,
        checkpoint_every=300.0, progress=True):
    """Train ``model`` from ``start_epoch`` to ``epochs``, stepping ``schedulers`` after each epoch; returns the
    history of every logged term."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    history = {} if history is None else history
    epoch = start_epoch
    last_save = time.monotonic()

    def checkpoint():
        save_checkpoint(checkpoint_path, model, optimizers, epoch=epoch, step=step, history=history, config=config,
                        schedulers=schedulers)

    model.train()
    try:
        while epoch < epochs:
            model.on_epoch_start(epoch)
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False,
                       dynamic_ncols=True)
            started, seen = time.perf_counter(), 0
            for batch in bar:
                terms = model.training_step(batch, optimizers)
                step += 1
                seen += images_of(batch).shape[0]
                for name, value in terms.items():
                    history.setdefault(name, []).append(value)
                rate = seen / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix({**{k: f"{v:.4g}" for k, v in terms.items()}, "samples/s": f"{rate:.0f}"})
                if time.monotonic() - last_save > checkpoint_every:
                    checkpoint()
                    last_save = time.monotonic()
            epoch += 1
            for scheduler in schedulers:
                scheduler.step()
            checkpoint()
            last_save = time.monotonic()
    except KeyboardInterrupt:
        checkpoint()
        print(f"\ninterrupted: checkpoint saved to {checkpoint_path} (epoch {epoch}, step {step}); "
              "continue with --resume", flush=True)
        raise
    return history
