"""The benchmark workloads, each written once against the framework interface of ``benchmarks.frameworks``.

A workload module defines:

- ``make_batch(rng)``: the fixed batch and noise as NumPy arrays, fed to every backend;
- ``make_models(framework)``: its modules, freshly initialised (the harness then
  copies minigen's initial weights into the PyTorch ones);
- ``make_train_step(framework, models, batch)``: a closure doing one training
  step (forward, backward, optimizer update) and returning its losses by name;
- optionally ``SAMPLING_STEPS`` and ``make_sampler(framework, models, rng)``:
  the starting noise and a closure ``sample_step(x, i)`` doing sampling step i.
"""

import importlib

NAMES = ("mlp_vae", "dcgan", "wgan_gp", "unet_ddpm", "dit_tiny", "conv2d")


def load(name):
    """The workload module called ``name``."""
    if name not in NAMES:
        raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


def has_sampler(name):
    return hasattr(load(name), "make_sampler")
