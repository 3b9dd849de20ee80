"""The Mutual Information Gap and its estimators: hand-computed values, limiting codes, invariances, errors."""

import math

import numpy as np
import pytest

import minigen
from minigen.data import ShapesDataset
from minigen.metrics import discrete_entropy, discrete_mutual_information, discretize, mutual_information_gap

N = 10_000
# At most 16 values per factor, so 20 equal-width bins can separate every value of a perfect code.
DATASET = ShapesDataset(num_rotations=10, num_positions=16)


def _factors(seed=0, n=N):
    return DATASET.sample_factors(n, seed)


def _perfect_code(factors, noise_dims=5, seed=1):
    """The factors themselves, slightly jittered, followed by pure-noise latents."""
    rng = np.random.default_rng(seed)
    return np.concatenate([factors + rng.normal(0.0, 0.01, factors.shape),
                           rng.normal(size=(len(factors), noise_dims))], axis=1)


def _entropy(labels):
    _, counts = np.unique(labels, axis=0, return_counts=True)
    p = counts / counts.sum()
    return -np.sum(p * np.log(p))


# ---- the estimators -----------------------------------------------------------------------------------------------

def test_mutual_information_matches_hand_computed_value():
    a = np.array([[0], [0], [0], [1]])
    b = np.array([[0], [0], [1], [1]])
    # p(a, b): (0, 0) 1/2, (0, 1) 1/4, (1, 1) 1/4; p(a) = (3/4, 1/4), p(b) = (1/2, 1/2)
    expected = 0.5 * math.log(0.5 / (0.75 * 0.5)) + 0.25 * math.log(0.25 / (0.75 * 0.5)) \
        + 0.25 * math.log(0.25 / (0.25 * 0.5))
    assert discrete_mutual_information(a, b)[0, 0] == pytest.approx(expected, abs=1e-12)
    assert discrete_mutual_information(b, b)[0, 0] == pytest.approx(math.log(2), abs=1e-12)
    independent = np.array([[0], [0], [1], [1]]), np.array([[0], [1], [0], [1]])
    assert discrete_mutual_information(*independent)[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_mutual_information_matrix_equals_entropy_identity():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(500, 3)) * 7 - 3  # arbitrary integer labels
    factors = np.stack([codes[:, 0] // 2 + rng.integers(0, 2, 500), rng.integers(0, 4, 500)], axis=1)
    information = discrete_mutual_information(codes, factors)
    assert information.shape == (3, 2)
    for j in range(3):
        for k in range(2):
            # I(a; b) = H(a) + H(b) - H(a, b)
            pair = np.stack([codes[:, j], factors[:, k]], axis=1)
            expected = _entropy(codes[:, [j]]) + _entropy(factors[:, [k]]) - _entropy(pair)
            assert information[j, k] == pytest.approx(expected, abs=1e-10)


def test_entropy_of_uniform_and_skewed_factors():
    factors = np.array([[0, 5], [1, 5], [2, 5], [3, 9]])
    assert discrete_entropy(factors) == pytest.approx([math.log(4), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])


def test_uniform_binning_by_hand():
    codes = np.array([[0.0, 3.0], [0.5, 3.0], [1.0, 3.0], [0.25, 3.0], [0.74, 3.0]])
    bins = discretize(codes, bins=2)
    # edges 0, 0.5, 1 for the first column; the maximum joins the last bin; a constant column is one bin
    assert bins[:, 0].tolist() == [0, 1, 1, 0, 1] and bins[:, 1].tolist() == [0] * 5
    assert discretize(codes, bins=4)[:, 0].tolist() == [0, 2, 3, 1, 2]
    assert bins.dtype == np.int64


def test_quantile_binning_is_equal_count_with_ties_together():
    codes = np.array([[5.0], [1.0], [3.0], [3.0], [0.0], [9.0]])
    # ranks (values strictly below): 4, 1, 2, 2, 0, 5 -> bin floor(rank * 3 / 6)
    assert discretize(codes, bins=3, binning="quantile")[:, 0].tolist() == [2, 0, 1, 1, 0, 2]


# ---- MIG on codes whose answer is known ---------------------------------------------------------------------------

def test_code_that_is_the_factors_scores_one():
    factors = _factors()
    score = mutual_information_gap(_perfect_code(factors), factors, factor_names=DATASET.factor_names)
    assert score.value > 0.98 and score.n_samples == (N,)
    assert score.details["top_latent"] == {name: k for k, name in enumerate(DATASET.factor_names)}
    assert str(score).startswith("MIG 0.9") and "10000 samples" in str(score)


def test_binning_caps_a_perfect_code_when_a_factor_has_more_values_than_bins():
    factors = ShapesDataset().sample_factors(N, 0)  # x and y have 32 values, rotation 40
    gaps = mutual_information_gap(_perfect_code(factors), factors, factor_names=ShapesDataset.factor_names)
    gaps = gaps.details["gaps"]
    assert gaps["shape"] > 0.98 and gaps["scale"] > 0.98
    # 20 equal-width bins over positions 0..31: 12 bins hold two positions, 8 hold one
    binned = np.bincount(np.minimum(np.arange(32) * 20 // 31, 19)) / 32
    assert gaps["x"] == pytest.approx(-np.sum(binned * np.log(binned)) / math.log(32), abs=0.015)
    more_bins = mutual_information_gap(_perfect_code(factors), factors, bins=40)
    assert more_bins.value > 0.98


def test_random_code_scores_zero():
    score = mutual_information_gap(np.random.default_rng(3).normal(size=(N, 10)), _factors())
    assert 0.0 <= score.value < 0.01


def test_mixing_two_factors_into_each_latent_lowers_the_score():
    factors = _factors()
    code = _perfect_code(factors)
    perfect = mutual_information_gap(code, factors, factor_names=DATASET.factor_names)
    x, y = code[:, 3].copy(), code[:, 4].copy()
    code[:, 3], code[:, 4] = x + y, x - y  # x and y now share two latents equally
    mixed = mutual_information_gap(code, factors, factor_names=DATASET.factor_names)
    assert mixed.details["gaps"]["x"] < 0.1 and mixed.details["gaps"]["y"] < 0.1
    assert mixed.details["gaps"]["shape"] == pytest.approx(perfect.details["gaps"]["shape"])
    assert mixed.value < 0.65 < perfect.value
    one_latent = _perfect_code(factors)
    one_latent[:, 3] = x + 16 * y  # one latent holds both, the other nothing
    one_latent[:, 4] = np.random.default_rng(5).normal(size=N)
    assert mutual_information_gap(one_latent, factors).value < perfect.value - 0.1


def test_invariant_to_permuting_latents():
    factors = _factors()
    code = _perfect_code(factors) + np.random.default_rng(2).normal(0.0, 0.5, (N, 10))
    reference = mutual_information_gap(code, factors)
    permutation = np.random.default_rng(4).permutation(10)
    assert mutual_information_gap(code[:, permutation], factors).value == pytest.approx(reference.value, abs=1e-12)


@pytest.mark.parametrize("scale, shift", [(3.0, -1.5), (-2.0, 10.0), (1e-3, 0.0)])
def test_uniform_bins_are_invariant_to_affine_maps(scale, shift):
    factors = _factors()
    code = _perfect_code(factors) + np.random.default_rng(2).normal(0.0, 0.5, (N, 10))
    reference = mutual_information_gap(code, factors).value
    assert mutual_information_gap(scale * code + shift, factors).value == pytest.approx(reference, abs=1e-3)


def test_quantile_bins_are_invariant_to_increasing_maps():
    factors = _factors()
    code = _perfect_code(factors) + np.random.default_rng(2).normal(0.0, 0.5, (N, 10))
    reference = mutual_information_gap(code, factors, binning="quantile").value
    warped = np.concatenate([np.exp(code[:, :5]), code[:, 5:] ** 3], axis=1)
    assert mutual_information_gap(warped, factors, binning="quantile").value == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_accepts_tensors_on_any_device(device):
    factors = _factors(n=1000)
    code = _perfect_code(factors).astype(np.float32)
    expected = mutual_information_gap(code, factors).value
    tensors = minigen.tensor(code, device=device), minigen.tensor(factors, device=device)
    assert mutual_information_gap(*tensors).value == pytest.approx(expected, abs=1e-12)


# ---- errors -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codes, factors, arguments, message", [
    (np.zeros(10), np.zeros((10, 2), int), {}, r"codes must be a 2-D array \(N, D\).*got shape \(10,\)"),
    (np.zeros((10, 1)), np.zeros((10, 2), int), {}, r"codes must be .* D >= 2, got shape \(10, 1\)"),
    (np.zeros((10, 3)), np.zeros(10, int), {}, r"factors must be a 2-D array"),
    (np.zeros((10, 3)), np.zeros((9, 2), int), {}, "same number of rows, got 10 and 9"),
    (np.zeros((10, 3)), np.zeros((10, 2)), {}, "factors must hold discrete .* got dtype float64"),
    (np.zeros((4, 3)), np.array([[0, 1], [1, 1], [0, 1], [1, 1]]), {}, "factor 1 take a single value"),
    (np.zeros((4, 3)), np.array([[0], [1], [0], [1]]), {"factor_names": ["a", "b"]}, "2 factor_names for 1 factors"),
    (np.zeros((4, 3)), np.array([[0], [1], [0], [1]]), {"bins": 1}, "bins must be an integer >= 2, got 1"),
    (np.zeros((4, 3)), np.array([[0], [1], [0], [1]]), {"binning": "kmeans"}, "binning must be one of"),
    (np.full((4, 3), np.nan), np.array([[0], [1], [0], [1]]), {}, "NaN or infinite"),
])
def test_bad_inputs_are_named(codes, factors, arguments, message):
    with pytest.raises(ValueError, match=message):
        mutual_information_gap(codes, factors, **arguments)
