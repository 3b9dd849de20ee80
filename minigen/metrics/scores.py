"""Sample-quality scores on feature vectors: FID, KID, precision/recall, classifier score, class coverage.

Every function takes NumPy or CuPy arrays (or Tensors) of features, probabilities
or labels, computes in float64 on the arrays' device, and returns a ``Score``
that states the value, its standard error where one exists, the sample counts
and the feature network (pass ``feature_net=network.info``; ``evaluate_images``
does it for you). A score means nothing without its sample count and feature
network: FID in particular is biased upwards at small N (Chong and Forsyth,
2020), so only compare FIDs computed with the same N and the same network.
"""

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import backend
from ..tensor import Tensor

if TYPE_CHECKING:
    from .feature_net import FeatureNetInfo


@dataclass(frozen=True)
class Score:
    """One score: ``value`` (``float(score)``), its ``stderr`` (or None), the sample counts and feature net."""

    name: str
    value: float
    stderr: float | None = None
    n_samples: tuple = ()
    feature_net: "FeatureNetInfo | None" = None
    details: dict = field(default_factory=dict)

    def __float__(self):
        return self.value

    def __str__(self):
        spread = "" if self.stderr is None else f" ± {self.stderr:.4g}"
        counts = " vs ".join(str(count) for count in self.n_samples)
        network = "" if self.feature_net is None else f"; features of the {self.feature_net}"
        return f"{self.name} {self.value:.4g}{spread} ({counts} samples{network})"


# --- input handling ---------------------------------------------------------------------------------------


def _array(values):
    """The raw NumPy/CuPy array behind ``values`` (a Tensor, an array or a nested list)."""
    if isinstance(values, Tensor):
        return values.data
    return values if hasattr(values, "__array__") and hasattr(values, "ndim") else np.asarray(values)


def _features(values, function, name="features", min_rows=2):
    array = _array(values)
    if array.ndim != 2 or array.shape[0] < min_rows:
        raise ValueError(f"{function}: {name} must be a 2-D array (N, D) with N >= {min_rows}, "
                         f"got shape {tuple(array.shape)}")
    return array.astype(np.float64)


def _feature_pair(features_a, features_b, function, names=("features_a", "features_b"), min_rows=2):
    a = _features(features_a, function, names[0], min_rows)
    b = _features(features_b, function, names[1], min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{function}: the two feature sets differ in dimension ({a.shape[1]} != {b.shape[1]})")
    if backend.device_of(a) != backend.device_of(b):
        raise ValueError(f"{function}: the two feature sets are on different devices "
                         f"({backend.device_of(a)} and {backend.device_of(b)})")
    return a, b


def _to_cpu(array):
    return backend.to_device(array, "cpu")


# --- Fréchet distance -------------------------------------------------------------------------------------


def mean_and_covariance(features):
    """The float64 mean (D,) and unbiased covariance (D, D) of (N, D) features, as NumPy arrays."""
    array = _to_cpu(_features(features, "mean_and_covariance"))
    mean = array.mean(axis=0)
    centred = array - mean
    return mean, centred.T @ centred / (array.shape[0] - 1)


def _symmetric_sqrt(matrix):
    """The PSD square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """The squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

        d^2 = |mu1 - mu2|^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))

    (Dowson and Landau, 1982; the FID of Heusel et al., 2017). sigma1 sigma2 is not
    symmetric, so its square root is not taken directly (scipy's sqrtm goes complex on
    near-singular covariances); instead Tr((sigma1 sigma2)^(1/2)) = Tr((s sigma2 s)^(1/2))
    with s = sigma1^(1/2), because s sigma2 s is similar to sigma1 sigma2. s sigma2 s is
    symmetric positive semi-definite, so the trace is the sum of the square roots of its
    eigenvalues (``eigvalsh``, rounding negatives clipped to 0). All in float64.
    """
    mu1, mu2 = (np.asarray(_to_cpu(_array(mu)), dtype=np.float64) for mu in (mu1, mu2))
    sigma1, sigma2 = (np.asarray(_to_cpu(_array(sigma)), dtype=np.float64) for sigma in (sigma1, sigma2))
    dimension = mu1.shape[0]
    if mu1.shape != (dimension,) or mu2.shape != (dimension,) or sigma1.shape != (dimension, dimension) \
            or sigma2.shape != (dimension, dimension):
        raise ValueError(f"frechet_distance: expected means (D,) and covariances (D, D), got {mu1.shape}, "
                         f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    root1 = _symmetric_sqrt(sigma1)
    product = root1 @ sigma2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)).sum()
    difference = mu1 - mu2
    distance = difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root
    # d^2 >= 0; only rounding can take it below.
    return max(float(distance), 0.0)


def fid(features_a, features_b, *, feature_net=None):
    """Fréchet Inception Distance on features (Heusel et al., 2017, "GANs trained by a two time-scale update rule").

        FID = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    with the feature means mu and unbiased covariances S of the two sets (see
    ``frechet_distance``). Lower is better; 0 for identical statistics. Biased
    upwards at small N: compare only at equal sample counts.
    """
    a, b = _feature_pair(features_a, features_b, "fid")
    mean_a, covariance_a = mean_and_covariance(a)
    mean_b, covariance_b = mean_and_covariance(b)
    value = frechet_distance(mean_a, covariance_a, mean_b, covariance_b)
    details = {"mean_term": float(((mean_a - mean_b) ** 2).sum()), "feature_dim": a.shape[1]}
    return Score("fid", value, None, (a.shape[0], b.shape[0]), feature_net, details)


# --- Kernel Inception Distance -----------------------------------------------------------------------------


def _polynomial_kernel(x, y):
    """k(x, y) = (x . y / d + 1)^3 for every pair of rows."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x, y):
    """Unbiased MMD^2 of two equal-size samples under the cubic polynomial kernel."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    # Sums over i != j: drop the diagonals of the within-set Gram matrices.
    within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))
    return within - 2.0 * k_xy.sum() / (m * m)


def kid(features_a, features_b, subsets=100, subset_size=1000, seed=0, *, feature_net=None):
    """Kernel Inception Distance (Bińkowski et al., 2018, "Demystifying MMD GANs").

    The unbiased estimate of the squared maximum mean discrepancy with the kernel
    k(x, y) = (x . y / d + 1)^3 (d the feature dimension),

        MMD^2 = 1/(m(m-1)) sum_{i != j} [k(a_i, a_j) + k(b_i, b_j)] - 2/m^2 sum_{i, j} k(a_i, b_j),

    averaged over ``subsets`` random subsets of m = min(subset_size, N_a, N_b) points
    of each set (drawn without replacement within a subset, independently across
    subsets, from ``numpy.random.default_rng(seed)``). Unbiased, so it can be slightly
    negative and is ~0 for two samples of one distribution, at any N.

    ``details["std"]`` is the spread of the subset estimates (what papers report as
    "±"). ``stderr`` is the standard error of the mean: subsets overlap whenever
    subsets * m > N, so their estimates are correlated, and the std is divided by the
    square root of the number of *disjoint* subsets the data holds,
    min(subsets, N_min // m), not of ``subsets`` (a conservative choice). It is None
    when m = N_min, where every subset is the whole set.
    """
    a, b = _feature_pair(features_a, features_b, "kid")
    size = min(subset_size, a.shape[0], b.shape[0])
    xp = backend.array_module(a)
    generator = np.random.default_rng(seed)
    estimates = []
    for _ in range(subsets):
        rows_a = generator.choice(a.shape[0], size, replace=False)
        rows_b = generator.choice(b.shape[0], size, replace=False)
        estimates.append(_unbiased_mmd2(a[xp.asarray(rows_a)], b[xp.asarray(rows_b)]))
    estimates = _to_cpu(xp.stack(estimates))
    disjoint = min(subsets, min(a.shape[0], b.shape[0]) // size)
    std = float(estimates.std(ddof=1)) if subsets > 1 else 0.0
    stderr = std / math.sqrt(disjoint) if size < min(a.shape[0], b.shape[0]) and subsets > 1 else None
    details = {"std": std, "subsets": subsets, "subset_size": size, "kernel": "(x.y/d + 1)^3"}
    return Score("kid", float(estimates.mean()), stderr, (a.shape[0], b.shape[0]), feature_net, details)


# --- precision and recall ------------------------------------------------------------------------------------


def _squared_distances(x, y):
    """|x_i - y_j|^2 for every pair of rows, float64, clipped at 0 against rounding."""
    squared = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    return backend.array_module(squared).maximum(squared, 0.0)


def _kth_neighbour_squared_radii(features, k, batch_size):
    """Squared distance from each row to its k-th nearest other row."""
    xp = backend.array_module(features)
    radii = []
    for start in range(0, features.shape[0], batch_size):
        distances = _squared_distances(features[start:start + batch_size], features)
        # Index k, not k - 1: each row's nearest neighbour in its own set is itself, at distance 0.
        radii.append(xp.partition(distances, k, axis=1)[:, k])
    return xp.concatenate(radii)


def _share_inside_manifold(points, manifold, squared_radii, batch_size):
    """Share of ``points`` inside some ball B(manifold_i, radius_i)."""
    inside = 0
    for start in range(0, points.shape[0], batch_size):
        distances = _squared_distances(points[start:start + batch_size], manifold)
        inside += int((distances <= squared_radii[None, :]).any(axis=1).sum())
    return inside / points.shape[0]


def precision_recall(real_features, fake_features, k=3, batch_size=1000, *, feature_net=None):
    """Improved precision and recall (Kynkäänniemi et al., 2019, "Improved precision and recall metric
    for assessing generative models"); returns ``(precision, recall)`` Scores.

    Each set's manifold is the union of balls centred on its samples with radius the
    distance to the sample's k-th nearest neighbour in the same set:

        f(x, S) = 1 if |x - s| <= |s - NN_k(s, S)| for some s in S, else 0
        precision = mean over fake x of f(x, real)    (how many fakes look real)
        recall    = mean over real x of f(x, fake)    (how much of the real data the fakes cover)

    The paper uses k = 3 and equal numbers of real and fake samples. Distances are
    computed in float64 in blocks of ``batch_size`` rows (memory batch_size x N).

    Precision trusts every real sample's ball, so a few real outliers with wide balls can
    swallow a whole cluster of bad fakes: with minigen's Fashion-MNIST feature net, 2,000
    uniform-noise images score precision 0.92 (and recall 0) against 2,000 test images,
    their features falling into the balls of a handful of outlying real images. Read
    precision together with recall and FID (Naeem et al., 2020, discuss this failure).
    """
    real, fake = _feature_pair(real_features, fake_features, "precision_recall", ("real_features", "fake_features"),
                               min_rows=k + 1)
    real_radii = _kth_neighbour_squared_radii(real, k, batch_size)
    fake_radii = _kth_neighbour_squared_radii(fake, k, batch_size)
    counts, details = (real.shape[0], fake.shape[0]), {"k": k}
    precision = _share_inside_manifold(fake, real, real_radii, batch_size)
    recall = _share_inside_manifold(real, fake, fake_radii, batch_size)
    return (Score("precision", precision, None, counts, feature_net, details),
            Score("recall", recall, None, counts, feature_net, details))


# --- scores of a classifier's predictions ----------------------------------------------------------------------


def classifier_score(probabilities, splits=10, *, feature_net=None):
    """The Inception Score (Salimans et al., 2016, "Improved techniques for training GANs") with any classifier.

        score = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = E_x p(y|x),

    computed on each of ``splits`` contiguous parts of the (N, C) ``probabilities``
    (p(y) per part, as the original) and averaged. 1 when every sample gets the same
    prediction; C when predictions are confident (one-hot) and the classes balanced.
    ``details["std"]`` is the std over splits (the paper's "±"); ``stderr`` is
    std(ddof=1) / sqrt(splits).
    """
    p = _to_cpu(_features(probabilities, "classifier_score", "probabilities", min_rows=splits))
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("classifier_score: each row of probabilities must be non-negative and sum to 1 "
                         "(pass softmax outputs, not logits)")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0)
        # 0 log 0 = 0: classes a sample gives no mass contribute nothing to its KL.
        log_ratio = np.log(np.where(part > 0, part, 1.0)) - np.log(np.where(part > 0, marginal, 1.0))
        scores.append(math.exp((part * log_ratio).sum(axis=1).mean()))
    scores = np.asarray(scores)
    stderr = float(scores.std(ddof=1) / math.sqrt(splits)) if splits > 1 else None
    details = {"std": float(scores.std()), "splits": splits, "num_classes": p.shape[1]}
    return Score("classifier_score", float(scores.mean()), stderr, (p.shape[0],), feature_net, details)


def class_coverage(predicted_labels, num_classes, min_count=1, *, feature_net=None):
    """How the samples spread over classes, as for Stacked MNIST (Metz et al., 2017; Srivastava et al., 2017).

        share_c = #{i : label_i = c} / N
        covered = #{c : N share_c >= min_count}          (the Score's value)
        KL(share || uniform) = sum_c share_c log(C share_c) = log C - H(share)

    A model that drops modes covers fewer classes and moves away from uniform
    (for datasets with balanced classes, as MNIST and Fashion-MNIST nearly are).
    """
    labels = _to_cpu(_array(predicted_labels))
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
        raise ValueError(f"class_coverage: predicted_labels must be a non-empty 1-D integer array, got "
                         f"shape {tuple(labels.shape)} and dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"class_coverage: labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    counts = np.bincount(labels, minlength=num_classes)
    share = counts / labels.size
    nonzero = share[share > 0]
    details = {"class_share": share.tolist(), "num_classes": num_classes, "min_count": min_count,
               "kl_to_uniform": float((nonzero * np.log(num_classes * nonzero)).sum())}
    return Score("class_coverage", float((counts >= min_count).sum()), None, (labels.size,), feature_net, details)


# --- everything at once on images --------------------------------------------------------------------------------


def evaluate_images(real_images, fake_images, network, *, batch_size=500, value_range=(0.0, 1.0),
                    kid_subsets=100, kid_subset_size=1000, k=3, splits=10):
    """Every score of ``fake_images`` against ``real_images`` with a ``FeatureNetwork``, as a dict of Scores.

    Keys: fid, kid, precision, recall (features of both sets), classifier_score and
    class_coverage (the network's predictions on the fakes). Images: (N, 28, 28) or
    (N, 1, 28, 28) arrays or Tensors with values in ``value_range`` (or uint8).

    Take ``real_images`` from the test split: the feature network was trained on the
    training split and maps those images differently from images it has never seen,
    as a generator's are (see ``minigen.metrics.feature_net``).
    """
    info = network.info
    real = network.features(real_images, batch_size, value_range)
    fake = network.features(fake_images, batch_size, value_range)
    probabilities = network.probabilities(fake_images, batch_size, value_range)
    precision, recall = precision_recall(real, fake, k=k, feature_net=info)
    return {
        "fid": fid(real, fake, feature_net=info),
        "kid": kid(real, fake, kid_subsets, kid_subset_size, feature_net=info),
        "precision": precision,
        "recall": recall,
        "classifier_score": classifier_score(probabilities, splits, feature_net=info),
        "class_coverage": class_coverage(probabilities.argmax(axis=1), probabilities.shape[1], feature_net=info),
    }
