"""Baselines for codes: principal component analysis, and the linear probe that scores any code.

PCA is the optimal *linear* autoencoder (Eckart-Young): with the training images
as rows of X (N x D), centred by their mean m, and the thin SVD X - m = U S V^T
(V_k: the top k eigenvectors of the scatter matrix (X - m)^T (X - m)),
the k-dimensional code and its reconstruction

    z = V_k^T (x - m),        x^ = m + V_k z

minimise the summed squared reconstruction error over all rank-k linear maps; a
linear autoencoder trained with MSE reaches the same subspace, so a nonlinear
autoencoder is worth its cost only where it beats this figure at the same k
(Hinton and Salakhutdinov 2006). The fit runs on the host with NumPy: it is a
reference, not a model that trains.

``linear_probe`` measures how much of the labels a code makes linearly readable:
a softmax regression p(y | z) = softmax(W z' + b) on the frozen, standardised
codes z' = (z - mean) / std (train statistics), trained with minigen's Adam on
the cross-entropy, scored by its accuracy on held-out codes.
"""

import numpy as np

from .. import nn, optim
from ..creation import tensor
from ..data import DataLoader
from ..interop import to_numpy
from ..nn import functional as F
from ..tensor import no_grad


def _host(values, name, ndim=None):
    """``values`` (an array, or a Tensor on any device) as a host NumPy array, checked to have ``ndim`` axes."""
    array = to_numpy(values)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    return array


class PCA:
    """Principal component analysis with scikit-learn's method names: ``fit``, ``transform``, ``inverse_transform``.

    Accepts arrays or Tensors of any shape (N, ...); each example is flattened.
    After ``fit``: ``mean_`` (D,), ``components_`` (k, D) with orthonormal rows
    (the top right-singular vectors) and ``explained_variance_`` (k,).
    """

    def __init__(self, n_components):
        if n_components < 1:
            raise ValueError(f"PCA: n_components must be >= 1, got {n_components}")
        self.n_components = n_components

    def fit(self, data):
        rows = _host(data, "PCA.fit: data").reshape(len(data), -1).astype(np.float64)
        if not self.n_components <= min(rows.shape):
            raise ValueError(f"PCA.fit: n_components={self.n_components} exceeds min(N, D) for data of shape "
                             f"{rows.shape}")
        self.mean_ = rows.mean(0)
        centred = rows - self.mean_
        # V and S^2 of the thin SVD X - m = U S V^T, from the D x D scatter matrix (one GEMM, then eigh)
        squared_singular_values, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(squared_singular_values)[::-1][: self.n_components]
        total = max(float(squared_singular_values.clip(min=0).sum()), np.finfo(np.float64).tiny)
        self.components_ = vectors[:, order].T
        self.explained_variance_ = squared_singular_values[order] / max(len(rows) - 1, 1)
        self.explained_variance_ratio_ = squared_singular_values[order] / total
        return self

    def transform(self, data):
        """Codes z = V_k^T (x - m): float32 (N, k)."""
        rows = _host(data, "PCA.transform: data").reshape(len(data), -1)
        self._check_width(rows.shape[1], "transform")
        return ((rows - self.mean_) @ self.components_.T).astype(np.float32)

    def inverse_transform(self, codes):
        """Reconstructions m + V_k z: float32 (N, D)."""
        codes = _host(codes, "PCA.inverse_transform: codes", ndim=2)
        if codes.shape[1] != self.n_components:
            raise ValueError(f"PCA.inverse_transform: expected codes of width {self.n_components}, got {codes.shape}")
        return (self.mean_ + codes @ self.components_).astype(np.float32)

    def reconstruction_mse(self, data):
        """The mean squared error per pixel of reconstructing ``data`` from its k-dimensional code."""
        rows = _host(data, "PCA.reconstruction_mse: data").reshape(len(data), -1)
        return float(np.mean((self.inverse_transform(self.transform(rows)) - rows) ** 2))

    def _check_width(self, width, method):
        if not hasattr(self, "components_"):
            raise RuntimeError(f"PCA.{method}: call fit first")
        if width != self.components_.shape[1]:
            raise ValueError(f"PCA.{method}: expected {self.components_.shape[1]} values per example, got {width}")


def linear_probe(train_codes, train_labels, test_codes, test_labels, *, epochs=10, lr=1e-2, batch_size=256,
                 num_classes=None, seed=0, device="cpu"):
    """Accuracy of a softmax regression on frozen codes: {"train_accuracy", "test_accuracy"}.

    Codes are (N, k) arrays or Tensors, labels int arrays; the codes are
    standardised with the training codes' mean and standard deviation, so
    codes of different scales (PCA, sigmoid, ReLU) are probed alike.
    """
    train_codes, test_codes = _host(train_codes, "linear_probe: train_codes", 2), _host(test_codes,
                                                                                       "linear_probe: test_codes", 2)
    train_labels, test_labels = _host(train_labels, "linear_probe: train_labels", 1), _host(
        test_labels, "linear_probe: test_labels", 1)
    if len(train_codes) != len(train_labels) or len(test_codes) != len(test_labels):
        raise ValueError(f"linear_probe: {len(train_codes)} train codes for {len(train_labels)} labels, "
                         f"{len(test_codes)} test codes for {len(test_labels)} labels")
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(f"linear_probe: train codes have width {train_codes.shape[1]}, test codes "
                         f"{test_codes.shape[1]}")
    mean, std = train_codes.mean(0), train_codes.std(0)
    std = np.where(std > 1e-6, std, 1.0)  # a unit constant in training is centred, not blown up

    def standardised(codes):
        return ((codes - mean) / std).astype(np.float32)

    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    classifier = nn.Linear(train_codes.shape[1], num_classes).to(device)
    optimizer = optim.Adam(classifier.parameters(), lr=lr)
    loader = DataLoader((standardised(train_codes), train_labels.astype(np.int64)), batch_size=batch_size,
                        shuffle=True, seed=seed, device=device)
    for _ in range(epochs):
        for codes, labels in loader:
            loss = F.cross_entropy(classifier(codes), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def accuracy(codes, labels):
        with no_grad():
            predicted = classifier(tensor(standardised(codes), device=device)).argmax(dim=1)
            return float((predicted.cpu().numpy() == labels).mean())

    return {"train_accuracy": accuracy(train_codes, train_labels), "test_accuracy": accuracy(test_codes, test_labels)}
