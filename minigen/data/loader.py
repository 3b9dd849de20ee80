"""Mini-batches of in-memory data as minigen Tensors.

``DataLoader(data, ...)`` serves one NumPy array, a tuple (or list) of arrays of
equal length, or a dataset object with ``__len__`` and ``__getitem__``. A dataset
that also has ``get_batch(indices)`` (``MNIST``, ``ShapesDataset``, ``TensorDataset``)
is asked for a whole batch at once; any other is indexed item by item and the items
are stacked.
"""

import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor
from .seeding import as_generator


def _as_array(array, position):
    if isinstance(array, Tensor):
        if array.device.type != "cpu":
            raise TypeError(
                f"DataLoader: array {position} is a tensor on {array.device}; the loader batches NumPy arrays "
                "and moves each batch to device=, so pass array.cpu()"
            )
        return array.data
    return np.asarray(array)


class TensorDataset:
    """Arrays of equal length indexed together: item ``i`` is ``(array[i] for each array)``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array")
        self.arrays = tuple(_as_array(array, position) for position, array in enumerate(arrays))
        lengths = [len(array) if array.ndim else None for array in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(array.shape) for array in self.arrays)
            raise ValueError(f"TensorDataset: arrays must share their first dimension, got shapes {shapes}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return self.get_batch(index)

    def get_batch(self, indices):
        return tuple(array[indices] for array in self.arrays)


def _stack(items):
    """Items (arrays, numbers, or tuples of them) stacked into a batch of the same structure."""
    if isinstance(items[0], (tuple, list)):
        return tuple(np.stack([np.asarray(item[k]) for item in items]) for k in range(len(items[0])))
    return np.stack([np.asarray(item) for item in items])


def _converted(array, device):
    """A batch array as a Tensor on ``device``: integers int64, floats the default float dtype."""
    array = np.asarray(array)
    if array.dtype.kind in "iu":
        array = array.astype(np.int64, copy=False)
    elif array.dtype.kind == "f":
        array = array.astype(backend.get_default_dtype(), copy=False)
    elif array.dtype.kind != "b":
        raise TypeError(f"DataLoader: cannot batch arrays of dtype {array.dtype}; expected numbers or booleans")
    return Tensor(backend.to_device(array, device))


class DataLoader:
    """Batches of ``data`` as Tensors on ``device``: a Tensor for one array, a tuple for several.

    With ``shuffle=True`` each epoch (each ``iter(loader)``) visits the data in a new
    permutation drawn from ``numpy.random.default_rng([seed, epoch])``, so a run is
    reproducible for a given ``seed``; ``seed=None`` draws one from minigen's global
    generator (``minigen.manual_seed``) when the loader is built. ``epoch`` counts the
    iterations started; set it to resume a run at a given epoch. ``transform`` is applied
    to each batch's NumPy arrays before they become Tensors (see ``minigen.data.transforms``).
    Integer arrays become int64, floating arrays the default float dtype (float32).
    """

    def __init__(self, data, batch_size=1, shuffle=False, drop_last=False, seed=None, transform=None, device="cpu"):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
            raise TypeError(f"DataLoader: seed must be an integer or None, got {type(seed).__name__}")
        # One array yields a Tensor per batch; several arrays or a dataset yield what an item holds.
        self._single = isinstance(data, (np.ndarray, Tensor))
        if self._single:
            data = TensorDataset(data)
        elif isinstance(data, (tuple, list)):
            data = TensorDataset(*data)
        elif not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise TypeError(
                f"DataLoader: expected an array, a tuple of arrays or a dataset with __len__ and __getitem__, "
                f"got {type(data).__name__}"
            )
        self.dataset = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(as_generator(None).integers(2**63)) if seed is None else int(seed)
        self.transform = transform
        self.device = backend.Device(device)
        self.epoch = 0

    def __len__(self):
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or not rest else full + 1

    def __iter__(self):
        # The epoch advances when iteration starts, not lazily at the first batch.
        order = self._order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order):
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch(order[start:start + self.batch_size])

    def _order(self, epoch):
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
        return np.arange(len(self.dataset))

    def _batch(self, indices):
        if hasattr(self.dataset, "get_batch"):
            batch = self.dataset.get_batch(indices)
        else:
            batch = _stack([self.dataset[int(index)] for index in indices])
        if self._single and isinstance(batch, tuple):
            batch = batch[0]
        if self.transform is not None:
            batch = self.transform(batch)
        if isinstance(batch, tuple):
            return tuple(_converted(array, self.device) for array in batch)
        return _converted(batch, self.device)
