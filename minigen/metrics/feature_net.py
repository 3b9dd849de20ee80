"""The feature networks of the image metrics: minigen's own MNIST and Fashion-MNIST classifiers.

FID, KID and precision/recall compare two sets of images in the feature space
of a fixed classifier (Inception-v3's pool3 layer for ImageNet-sized images;
for 28 x 28 digits and clothes, the 128-d hidden layer of
``minigen.models.Classifier``). A score is only comparable with another score
computed with the same network, so each network is identified by

- its test accuracy on the dataset's 10,000 test images, and
- its fingerprint: the SHA-256 of its weights (``weights_fingerprint``: every
  tensor, by sorted name, as ``name:dtype:shape;`` then its little-endian bytes),

both recorded in the weights file at training time. ``feature_network`` checks
the fingerprint again on every load and refuses a file whose weights do not
match it. Every score carries this ``FeatureNetInfo``.

The weights ship with minigen in ``minigen/metrics/weights/{kind}_classifier.safetensors``
as float16 copies (the float32 weights are 1.7 MB; the float16 ones 0.84 MB).
They are loaded back into float32 layers, and the recorded test accuracy is
measured with the float16-rounded weights, so it is the accuracy of the network
you get. Where the shipped file is missing, the network is trained with minigen
itself (``train_feature_network`` with the settings of ``TRAINING``: Adam, lr 1e-3
decaying by 0.6 per epoch, batch 64, random 1-pixel shifts, 5 epochs, seed 0; about
five minutes on a CPU) and cached in ``$MINIGEN_DATA/feature_nets/``.
``benchmarks/train_feature_net.py`` produces the shipped files.

Use the *test* split as the real reference set, and always the same split. The
network has fit its training images (generated ones are, like test images, unseen),
and MNIST's two splits differ in themselves: with 2,000 vs 2,000 images,
FID(train, test) is 47 on MNIST while two halves of the test set give 6 (on
Fashion-MNIST: 3.2 and 2.5).
"""

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import backend, serialization
from ..data import DataLoader, data_root, load_mnist
from ..models.classifier import Classifier
from ..optim.lr_scheduler import ExponentialLR
from ..tensor import Tensor, no_grad

KINDS = ("mnist", "fashion-mnist")
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"
STORED_DTYPE = np.float16
# Plain Adam at 1e-3 leaves this classifier at 98.7-98.9% on MNIST after 2 or 3 epochs (PyTorch gets
# the same) because it overfits: random 1-pixel shifts of the training images, 5 epochs and a learning
# rate that decays by 0.6 per epoch take it past 99% (and Fashion-MNIST past 90%).
TRAINING = {"optimizer": "Adam", "lr": 1e-3, "lr_gamma_per_epoch": 0.6, "batch_size": 64, "epochs": 5,
            "max_shift_pixels": 1, "seed": 0}


class FeatureNetError(RuntimeError):
    pass


@dataclass(frozen=True)
class FeatureNetInfo:
    """What identifies a feature network: report it next to every score computed with it."""

    kind: str
    test_accuracy: float
    fingerprint: str
    path: str
    training: dict = field(default_factory=dict, compare=False)

    def __str__(self):
        return (f"{self.kind} classifier (test accuracy {100 * self.test_accuracy:.2f}%, "
                f"sha256 {self.fingerprint[:12]})")


class FeatureNetwork(NamedTuple):
    """A frozen, eval-mode ``Classifier`` and its ``FeatureNetInfo``; unpacks as ``classifier, info``."""

    classifier: Classifier
    info: FeatureNetInfo

    def features(self, images, batch_size=500, value_range=(0.0, 1.0)):
        """The (N, 128) hidden-layer features of ``images``, an array on the network's device."""
        return self._map(self.classifier.features, images, batch_size, value_range)

    def probabilities(self, images, batch_size=500, value_range=(0.0, 1.0)):
        """The (N, 10) class probabilities softmax(f(x)) of ``images``, an array on the network's device."""
        return self._map(lambda x: self.classifier(x).softmax(dim=1), images, batch_size, value_range)

    def _map(self, function, images, batch_size, value_range):
        device = next(self.classifier.parameters()).device
        with no_grad():
            outputs = [function(batch).data for batch in _image_batches(images, batch_size, value_range, device)]
        return backend.array_module(outputs[0]).concatenate(outputs)


def _image_batches(images, batch_size, value_range, device):
    """Tensors of float32 images in [0, 1], shape (B, 1, 28, 28), on ``device``.

    ``images``: (N, 28, 28) or (N, 1, 28, 28), a NumPy/CuPy array or a Tensor; floats
    in ``value_range`` (e.g. (-1, 1) for a tanh generator) or uint8 grey levels 0..255.
    """
    array = images.data if isinstance(images, Tensor) else images
    if not hasattr(array, "ndim"):
        array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1:] != (1, 28, 28) or array.shape[0] == 0:
        raise ValueError(f"feature network: expected a non-empty batch of 28x28 grey images, shape (N, 28, 28) "
                         f"or (N, 1, 28, 28), got {tuple(array.shape)}")
    if array.dtype == np.uint8:
        low, high = 0.0, 255.0
    elif array.dtype.kind == "f":
        low, high = (float(bound) for bound in value_range)
    else:
        raise TypeError(f"feature network: images must be floating point or uint8, got {array.dtype}")
    for start in range(0, array.shape[0], batch_size):
        batch = backend.to_device(array[start:start + batch_size], device).astype(np.float32)
        yield Tensor((batch - np.float32(low)) * np.float32(1.0 / (high - low)))


def weights_fingerprint(state_dict):
    """SHA-256 (hex) of a state dict: each tensor by sorted name as ``name:dtype:shape;`` + little-endian bytes."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        array = backend.to_device(state_dict[name].data, "cpu")
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(f"{name}:{array.dtype.str}:{list(array.shape)};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _weights_path(kind):
    """Where ``feature_network`` finds ``kind``'s weights: the shipped file, else the cache (which may not exist)."""
    _check_kind(kind)
    shipped = SHIPPED_WEIGHTS / f"{kind}_classifier.safetensors"
    return shipped if shipped.exists() else _cache_path(kind)


def feature_network(kind="mnist", device="cpu"):
    """The frozen feature network of ``kind`` on ``device``, as ``FeatureNetwork(classifier, info)``.

    Loads the shipped weights (or the cached ones), checks their fingerprint, and
    trains (on ``device``) and caches a network when neither exists.
    """
    path = _weights_path(kind)
    if not path.exists():
        warnings.warn(f"feature_network: no weights for '{kind}' at {SHIPPED_WEIGHTS} or {path}; training one "
                      "with minigen (several minutes on a CPU) and caching it", stacklevel=2)
        classifier, info = train_feature_network(kind, device=device)
        save_feature_network(classifier, info, path)
    classifier, info = load_feature_network(path)
    classifier.to(device)
    return FeatureNetwork(classifier, info)


def load_feature_network(path):
    """A frozen eval-mode Classifier and its info from a weights file; raises ``FeatureNetError`` on a bad file."""
    try:
        stored = serialization.load(path)
        state_dict, metadata = stored["state_dict"], stored["info"]
        kind, accuracy, recorded = metadata["kind"], metadata["test_accuracy"], metadata["fingerprint"]
    except (serialization.CheckpointError, KeyError, TypeError) as error:
        raise FeatureNetError(f"feature_network: '{path}' is not a feature-network weights file ({error}); "
                              "delete it to retrain, or reinstall minigen") from None
    actual = weights_fingerprint(state_dict)
    if actual != recorded:
        raise FeatureNetError(f"feature_network: the weights in '{path}' do not match their recorded fingerprint "
                              f"(sha256 {actual} != recorded {recorded}); the file is corrupt or was modified. "
                              "Delete it to retrain, or reinstall minigen.")
    classifier = Classifier()
    classifier.load_state_dict(state_dict)
    classifier.eval().requires_grad_(False)
    info = FeatureNetInfo(kind=kind, test_accuracy=float(accuracy), fingerprint=recorded, path=str(path),
                          training=metadata.get("training", {}))
    return classifier, info


def save_feature_network(classifier, info, path):
    """Write the float16 weights with the info as metadata (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"kind": info.kind, "test_accuracy": info.test_accuracy, "fingerprint": info.fingerprint,
                "training": info.training}
    serialization.save({"state_dict": _stored_state_dict(classifier), "info": metadata}, path)
    return path


def train_feature_network(kind, *, device="cpu", epochs=TRAINING["epochs"], data=None, log=None):
    """Train ``kind``'s classifier with the settings of ``TRAINING``; returns ``(classifier, info)``.

    ``data``: ``(train_images, train_labels, test_images, test_labels)`` NumPy arrays
    (images float32 in [0, 1], shape (N, 1, 28, 28)); ``minigen.data.load_mnist`` when None.
    ``log``: called with one line per epoch. The classifier comes back with its weights
    rounded to float16 (what is stored), and the info's accuracy is theirs. Seeds
    minigen's global generator (``manual_seed(TRAINING["seed"])``) so that the initial
    weights, and with them the whole run on one machine, are reproducible.
    """
    _check_kind(kind)
    train_images, train_labels, test_images, test_labels = _load_data(kind) if data is None else data
    seed = TRAINING["seed"]
    backend.manual_seed(seed)
    classifier = Classifier().to(device)
    optimizers = classifier.configure_optimizers(TRAINING["lr"])
    schedule = ExponentialLR(optimizers[0], gamma=TRAINING["lr_gamma_per_epoch"])
    loader = DataLoader((train_images, train_labels), batch_size=TRAINING["batch_size"], shuffle=True, seed=seed,
                        transform=_random_shifts(TRAINING["max_shift_pixels"], seed), device=device)
    epoch_seconds = []
    for epoch in range(epochs):
        classifier.train()
        started = time.perf_counter()
        for batch in loader:
            classifier.training_step(batch, optimizers)
        schedule.step()
        epoch_seconds.append(time.perf_counter() - started)
        if log is not None:
            accuracy = classifier_accuracy(classifier, test_images, test_labels)
            log(f"{kind} epoch {epoch + 1}/{epochs}: {epoch_seconds[-1]:.1f} s, test accuracy {accuracy:.4f}")
    float32_accuracy = classifier_accuracy(classifier, test_images, test_labels)
    classifier.load_state_dict(_stored_state_dict(classifier))
    classifier.eval().requires_grad_(False)
    training = {**TRAINING, "epochs": epochs, "device": str(device), "train_size": len(train_images),
                "test_size": len(test_images), "stored_dtype": "float16", "test_accuracy_float32": float32_accuracy,
                "epoch_seconds": epoch_seconds}
    info = FeatureNetInfo(kind=kind, test_accuracy=classifier_accuracy(classifier, test_images, test_labels),
                          fingerprint=weights_fingerprint(_stored_state_dict(classifier)), path="",
                          training=training)
    return classifier, info


def _random_shifts(max_shift, seed):
    """A DataLoader transform that moves each image by up to ``max_shift`` pixels along each axis (zero fill)."""
    generator = np.random.default_rng(seed)

    def transform(batch):
        images, labels = batch
        count, height, width = images.shape[0], images.shape[2], images.shape[3]
        padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (height, width), axis=(2, 3))
        rows, columns = generator.integers(0, 2 * max_shift + 1, size=(2, count))
        return windows[np.arange(count), :, rows, columns], labels

    return transform


def classifier_accuracy(classifier, images, labels, batch_size=1000):
    """Share of ``images`` whose argmax class is ``labels``, evaluated in eval mode under no_grad."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    predicted = []
    with no_grad():
        for batch in _image_batches(images, batch_size, (0.0, 1.0), device):
            predicted.append(backend.to_device(classifier(batch).argmax(dim=1).data, "cpu"))
    classifier.train(was_training)
    correct = int((np.concatenate(predicted) == np.asarray(labels)).sum())
    return correct / len(images)


def _stored_state_dict(classifier):
    return {name: Tensor(backend.to_device(value.data, "cpu").astype(STORED_DTYPE))
            for name, value in classifier.state_dict().items()}


def _load_data(kind):
    train, test = load_mnist("train", kind=kind), load_mnist("test", kind=kind)
    return train.images, train.labels, test.images, test.labels


def _cache_path(kind):
    return data_root() / "feature_nets" / f"{kind}_classifier.safetensors"


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"feature_network: kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
