"""Per-batch transforms for ``DataLoader(..., transform=...)``.

A transform receives the batch as the loader would yield it, as NumPy arrays: a
single array when the loader serves one array, a tuple when it serves several
(images first, then labels or factors). It returns the same structure.
"""

import numpy as np

from .seeding import as_generator


def bernoulli_binarize(grey, generator):
    """A Bernoulli draw of grey levels in [0, 1]: each pixel is 1 with probability equal to its value."""
    grey = np.asarray(grey)
    if grey.size and (grey.min() < 0 or grey.max() > 1):
        raise ValueError(
            f"binarize: expected grey levels in [0, 1], got values in [{grey.min()}, {grey.max()}]; "
            "load the images with scale='unit'"
        )
    uniform = generator.random(grey.shape, dtype=np.float32)
    return (uniform < grey).astype(np.float32)


def dynamic_binarize(generator=None):
    """A transform that redraws a Bernoulli binarisation of the images in every batch.

    Dynamic binarisation (Salakhutdinov and Murray, 2008) acts as data augmentation:
    each epoch sees a fresh binary sample of each grey-level image. Only the first
    array of a tuple batch (the images) is binarised; labels pass through. The draws
    follow ``generator`` (None for minigen's global generator, a seed, or a NumPy
    ``Generator``), so a seeded loader with a seeded transform is reproducible.
    """
    generator = as_generator(generator)

    def transform(batch):
        if isinstance(batch, tuple):
            return (bernoulli_binarize(batch[0], generator),) + batch[1:]
        return bernoulli_binarize(batch, generator)

    return transform
