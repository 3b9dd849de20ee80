"""Disentanglement of a learned code against known generating factors: the Mutual Information Gap.

MIG (Chen et al., 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders") asks, for each ground-truth factor v_k, how much more one latent
z_j knows about it than any other latent:

    MIG = (1 / K) sum_k ( I(z_j(k); v_k) - I(z_j'(k); v_k) ) / H(v_k)

where j(k) and j'(k) are the latents with the largest and second-largest mutual
information with v_k. Dividing by the entropy H(v_k) puts each term in [0, 1]:
1 when a single latent captures v_k completely and no other latent knows anything
about it, 0 when the information is spread evenly (or absent).

The mutual information is estimated as in Locatello et al.'s disentanglement_lib
("discretised MIG"): each latent (the posterior mean, one column of ``codes``) is
cut into ``bins`` (default 20) equal-width bins between its minimum and maximum,
the factors are discrete already, and I(a; b) is computed exactly from the
empirical joint histogram, in nats:

    I(a; b) = sum_{a,b} p(a, b) log( p(a, b) / (p(a) p(b)) ),   H(v) = -sum_v p(v) log p(v).

Two consequences of the binning to keep in mind when reading a score: a factor
with more values than there are bins cannot reach 1 even under a perfect code
(20 bins over 32 equally likely positions keep 0.85 of its entropy),
and the plug-in estimate is biased upwards by about (bins - 1)(values - 1) / (2N)
nats, so use many samples (disentanglement_lib uses 10,000). Equal-width bins
make the score invariant to permuting the latents and to any affine map of each
latent; ``binning="quantile"`` (equal-count bins) makes it invariant to any
strictly increasing map as well. Chen et al.'s own estimator (sampling q(z | x)
over the whole dataset) is not implemented here.

All of this is host-side NumPy: codes and factors may be NumPy arrays or Tensors
on any device, and are copied to the CPU.
"""

import numpy as np

from ..interop import to_numpy
from .scores import Score

BINNINGS = ("uniform", "quantile")


def _matrix(values, function, name, min_columns=1):
    array = to_numpy(values)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < min_columns:
        raise ValueError(f"{function}: {name} must be a 2-D array (N, D) with N >= 2 and D >= {min_columns}, "
                         f"got shape {tuple(array.shape)}")
    return array


def _discrete_columns(values, function, name):
    """Each column of an integer matrix relabelled 0..(distinct values - 1); returns (labels, counts of values)."""
    array = _matrix(values, function, name)
    if array.dtype.kind not in "iub":
        raise ValueError(f"{function}: {name} must hold discrete (integer) values, got dtype {array.dtype}; "
                         "discretize continuous codes first")
    columns = [np.unique(column, return_inverse=True) for column in array.T]
    labels = np.stack([inverse.reshape(-1) for _, inverse in columns], axis=1)
    return labels, [len(values) for values, _ in columns]


def discretize(codes, bins=20, binning="uniform"):
    """Bin each column of ``codes`` (N, D) into ``bins`` bins; returns int64 bin indices in [0, bins).

    ``"uniform"``: equal-width bins between the column's minimum and maximum (the
    maximum joins the last bin), as disentanglement_lib's histogram discretisation.
    ``"quantile"``: equal-count bins by rank; tied values share a bin, so a constant
    column lands in a single bin under either binning.
    """
    codes = _matrix(codes, "discretize", "codes").astype(np.float64)
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"discretize: bins must be an integer >= 2, got {bins!r}")
    if binning not in BINNINGS:
        raise ValueError(f"discretize: binning must be one of {', '.join(map(repr, BINNINGS))}, got {binning!r}")
    if not np.isfinite(codes).all():
        raise ValueError("discretize: codes contain NaN or infinite values")
    if binning == "uniform":
        low, high = codes.min(axis=0), codes.max(axis=0)
        width = np.where(high > low, high - low, 1.0)
        position = (codes - low) / width  # in [0, 1]
    else:
        # rank = how many values lie strictly below; ties get the same rank.
        position = np.stack([np.searchsorted(np.sort(column), column, side="left") for column in codes.T], axis=1)
        position = position / codes.shape[0]  # in [0, 1)
    return np.minimum((position * bins).astype(np.int64), bins - 1)


def discrete_entropy(factors):
    """The empirical entropy H(v_k) in nats of each column of the discrete ``factors`` (N, K): a (K,) array."""
    labels, counts = _discrete_columns(factors, "discrete_entropy", "factors")
    entropies = []
    for column, count in zip(labels.T, counts):
        p = np.bincount(column, minlength=count) / labels.shape[0]
        entropies.append(-np.sum(p * np.log(p)))  # every value occurs, so p > 0
    return np.asarray(entropies)


def discrete_mutual_information(codes, factors):
    """The empirical mutual information I(z_j; v_k) in nats between discrete columns: a (D, K) matrix.

    ``codes`` (N, D) and ``factors`` (N, K) hold integer labels (bin indices from
    ``discretize`` and factor indices); the joint histogram of each pair is exact.
    """
    code_labels, code_counts = _discrete_columns(codes, "discrete_mutual_information", "codes")
    factor_labels, factor_counts = _discrete_columns(factors, "discrete_mutual_information", "factors")
    n = code_labels.shape[0]
    if factor_labels.shape[0] != n:
        raise ValueError(f"discrete_mutual_information: codes and factors must have the same number of rows, "
                         f"got {n} and {factor_labels.shape[0]}")
    bins = max(code_counts)
    code_marginals = np.stack([np.bincount(column, minlength=bins) for column in code_labels.T]) / n  # (D, bins)
    information = np.empty((code_labels.shape[1], factor_labels.shape[1]))
    for k, (factor, values) in enumerate(zip(factor_labels.T, factor_counts)):
        # One histogram for all latents at once: cell (j, bin, value) counts rows with z_j in bin and v_k = value.
        cells = (np.arange(code_labels.shape[1]) * bins + code_labels) * values + factor[:, None]
        joint = np.bincount(cells.reshape(-1), minlength=code_labels.shape[1] * bins * values)
        joint = joint.reshape(-1, bins, values) / n
        factor_marginal = np.bincount(factor, minlength=values) / n
        independent = code_marginals[:, :, None] * factor_marginal[None, None, :]
        occupied = joint > 0
        terms = np.zeros_like(joint)
        terms[occupied] = joint[occupied] * np.log(joint[occupied] / independent[occupied])
        information[:, k] = terms.sum(axis=(1, 2))
    return np.maximum(information, 0.0)  # rounding can leave -1e-17 for independent columns


def mutual_information_gap(codes, factors, bins=20, binning="uniform", factor_names=None):
    """The Mutual Information Gap of ``codes`` (N, D) against discrete ``factors`` (N, K), as a ``Score``.

    ``codes`` are continuous latents (use the posterior means), discretised into
    ``bins`` equal-width bins per latent (``binning="quantile"`` for equal-count
    bins); ``factors`` are integer factor indices. ``score.details`` holds the
    per-factor gaps (``"gaps"``, keyed by ``factor_names`` or ``"factor k"``), the
    normalised information matrix I(z_j; v_k) / H(v_k) (``"normalized_information"``,
    D x K), the factor entropies in nats and the latent chosen for each factor.
    """
    codes = _matrix(codes, "mutual_information_gap", "codes", min_columns=2)
    factors = _matrix(factors, "mutual_information_gap", "factors")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"mutual_information_gap: codes and factors must have the same number of rows, "
                         f"got {codes.shape[0]} and {factors.shape[0]}")
    names = [f"factor {k}" for k in range(factors.shape[1])] if factor_names is None else list(factor_names)
    if len(names) != factors.shape[1]:
        raise ValueError(f"mutual_information_gap: {len(names)} factor_names for {factors.shape[1]} factors")
    entropy = discrete_entropy(factors)
    constant = [name for name, value in zip(names, entropy) if value <= 0.0]
    if constant:
        raise ValueError(f"mutual_information_gap: {', '.join(constant)} take a single value in these samples; "
                         "a factor with zero entropy has no MIG")
    information = discrete_mutual_information(discretize(codes, bins, binning), factors) / entropy  # (D, K)
    ranked = np.sort(information, axis=0)
    gaps = ranked[-1] - ranked[-2]
    return Score(
        name="MIG",
        value=float(gaps.mean()),
        n_samples=(codes.shape[0],),
        details={"gaps": dict(zip(names, gaps.tolist())), "normalized_information": information,
                 "entropy": dict(zip(names, entropy.tolist())),
                 "top_latent": dict(zip(names, information.argmax(axis=0).tolist())),
                 "bins": bins, "binning": binning},
    )
