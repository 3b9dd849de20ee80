"""Metrics: FID/KID/precision-recall against direct float64 formulas and known cases, the classifier
score's bounds, mode coverage on the VEEGAN toys, log-mean-exp and bits/dim, and the shipped
feature networks on MNIST (FID ordering on real, noisy and blurred images)."""

import math
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, shapes, tensor
from minigen import metrics
from minigen.data import GridOfGaussians, RingOfGaussians, load_mnist
from minigen.metrics import feature_net
from minigen.models import Classifier


def gaussian_features(n, dimension, seed, shift=0.0):
    """n samples of a correlated D-dim Gaussian (the same covariance for every seed), shifted by ``shift``."""
    mixing = np.random.default_rng(1234).standard_normal((dimension, dimension)) / math.sqrt(dimension)
    return np.random.default_rng(seed).standard_normal((n, dimension)) @ mixing + shift


def reference_fid(a, b):
    """FID straight from its definition, with Tr (S_a S_b)^(1/2) as the sum of the square roots of the
    (real, non-negative) eigenvalues of the product S_a S_b."""
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    covariance_a, covariance_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    eigenvalues = np.linalg.eigvals(covariance_a @ covariance_b).real
    trace_root = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    return ((mean_a - mean_b) ** 2).sum() + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_root


# --- Fréchet distance -----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dimension", [1, 8, 32])
def test_fid_matches_the_direct_formula(device, dimension):
    a = gaussian_features(400, dimension, seed=0)
    b = gaussian_features(300, dimension, seed=1, shift=0.3) * 1.5
    score = metrics.fid(minigen.tensor(a, device=device), minigen.tensor(b, device=device))
    assert score.value == pytest.approx(reference_fid(a, b), rel=1e-6, abs=1e-8)
    assert score.n_samples == (400, 300) and score.feature_net is None
    assert metrics.fid(b, a).value == pytest.approx(score.value, rel=1e-9)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    s1, s2 = rng.uniform(0.1, 3, 10), rng.uniform(0.1, 3, 10)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_rotated_covariances_and_of_a_gaussian_with_itself():
    # N(0, R diag(s) R^T) vs N(0, diag(s)) for a rotation R: a non-commuting pair with a known answer
    # in 2-D, where Tr (S1 S2)^(1/2) = sqrt(Tr(S1 S2) + 2 sqrt(det(S1 S2))).
    angle = 0.7
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    sigma2 = np.diag([4.0, 0.25])
    sigma1 = rotation @ sigma2 @ rotation.T
    trace_root = math.sqrt(np.trace(sigma1 @ sigma2) + 2 * math.sqrt(np.linalg.det(sigma1 @ sigma2)))
    expected = np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root
    assert metrics.frechet_distance(np.zeros(2), sigma1, np.zeros(2), sigma2) == pytest.approx(expected, rel=1e-10)
    assert metrics.frechet_distance(np.ones(2), sigma1, np.ones(2), sigma1) == pytest.approx(0.0, abs=1e-10)


def test_fid_with_singular_covariances_stays_finite_and_non_negative():
    # Fewer samples than dimensions: rank-deficient covariances, where sqrtm-based code goes complex.
    a, b = gaussian_features(20, 64, seed=0), gaussian_features(20, 64, seed=1)
    value = metrics.fid(a, b).value
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(reference_fid(a, b), rel=1e-5)
    assert metrics.fid(a, a).value == pytest.approx(0.0, abs=1e-8)


def test_fid_rejects_mismatched_features():
    with pytest.raises(ValueError, match=r"fid: the two feature sets differ in dimension \(3 != 4\)"):
        metrics.fid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="fid: features_a must be a 2-D array"):
        metrics.fid(np.zeros(5), np.zeros((5, 4)))


# --- KID --------------------------------------------------------------------------------------------------


def test_kid_single_subset_matches_the_unbiased_mmd_sum():
    a, b = gaussian_features(6, 3, seed=0), gaussian_features(6, 3, seed=1, shift=0.5)
    kernel = lambda x, y: (x @ y / 3 + 1) ** 3  # noqa: E731
    m = len(a)
    within = sum(kernel(a[i], a[j]) + kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(kernel(a[i], b[j]) for i in range(m) for j in range(m))
    expected = within / (m * (m - 1)) - 2 * across / m**2
    score = metrics.kid(a, b, subsets=3, subset_size=m)
    assert score.value == pytest.approx(expected, rel=1e-10)
    assert score.stderr is None  # every subset is the whole set


@pytest.mark.parametrize("device", DEVICES)
def test_kid_is_zero_for_one_distribution_and_positive_for_a_shifted_one(device):
    sample = gaussian_features(4000, 16, seed=0)
    first, second = (minigen.tensor(half, device=device) for half in (sample[:2000], sample[2000:]))
    same = metrics.kid(first, second, subsets=50, subset_size=500)
    assert same.stderr > 0
    assert abs(same.value) < 3 * same.stderr
    shifted = metrics.kid(first, minigen.tensor(sample[2000:] + 0.3, device=device), subsets=50, subset_size=500)
    assert shifted.value > 10 * shifted.stderr
    assert shifted.details["subset_size"] == 500 and shifted.n_samples == (2000, 2000)


# --- precision and recall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_precision_recall_of_identical_distributions_is_near_one(device):
    real = minigen.tensor(gaussian_features(1000, 8, seed=0), device=device)
    fake = minigen.tensor(gaussian_features(1000, 8, seed=1), device=device)
    precision, recall = metrics.precision_recall(real, fake, k=3, batch_size=300)
    assert precision.value > 0.85 and recall.value > 0.85


def test_precision_recall_of_disjoint_and_collapsed_distributions():
    real = gaussian_features(600, 8, seed=0)
    precision, recall = metrics.precision_recall(real, gaussian_features(600, 8, seed=1, shift=50.0))
    assert precision.value == 0 and recall.value == 0
    # Two well-separated clusters of real data; the fakes come from one of them only (mode collapse):
    # every fake looks real (precision ~1) but half of the real data is not covered (recall ~1/2).
    two_clusters = np.concatenate([real[:300], real[300:] + 50.0])
    precision, recall = metrics.precision_recall(two_clusters, gaussian_features(300, 8, seed=2))
    assert precision.value > 0.9
    assert 0.4 < recall.value < 0.55


def test_precision_recall_matches_a_direct_loop_on_a_small_set():
    real, fake = gaussian_features(30, 2, seed=0), gaussian_features(25, 2, seed=1, shift=0.5)

    def radii(points, k):
        return np.array([np.sort(np.linalg.norm(points - p, axis=1))[k] for p in points])

    def share_inside(points, manifold, radius):
        return np.mean([np.any(np.linalg.norm(manifold - p, axis=1) <= radius) for p in points])

    precision, recall = metrics.precision_recall(real, fake, k=3, batch_size=7)
    assert precision.value == pytest.approx(share_inside(fake, real, radii(real, 3)))
    assert recall.value == pytest.approx(share_inside(real, fake, radii(fake, 3)))


# --- classifier score and class coverage ------------------------------------------------------------------


def test_classifier_score_bounds():
    constant = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (1000, 1))
    assert metrics.classifier_score(constant).value == pytest.approx(1.0)
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    score = metrics.classifier_score(confident_uniform, splits=10)
    assert score.value == pytest.approx(10.0) and score.details["std"] == pytest.approx(0.0, abs=1e-9)
    random = np.random.default_rng(1).dirichlet(np.full(10, 0.3), size=1000)
    assert 1.0 < metrics.classifier_score(random).value < 10.0


def test_classifier_score_rejects_logits():
    with pytest.raises(ValueError, match="classifier_score: each row of probabilities must be non-negative"):
        metrics.classifier_score(np.random.default_rng(0).standard_normal((100, 10)))


def test_class_coverage():
    labels = np.array([0, 0, 3, 3, 7, 7])
    score = metrics.class_coverage(labels, num_classes=10)
    assert score.value == 3
    assert score.details["class_share"][3] == pytest.approx(1 / 3)
    assert score.details["kl_to_uniform"] == pytest.approx(math.log(10 / 3))
    assert metrics.class_coverage(labels, 10, min_count=3).value == 0
    assert metrics.class_coverage(np.arange(50) % 10, 10).details["kl_to_uniform"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"class_coverage: labels must lie in \[0, 5\)"):
        metrics.class_coverage(labels, num_classes=5)


# --- mode coverage on the 2-D toys ------------------------------------------------------------------------


@pytest.mark.parametrize("mixture", [RingOfGaussians(), GridOfGaussians()], ids=["ring8", "grid25"])
def test_true_samples_cover_every_mode(mixture):
    result = metrics.mode_coverage(mixture.sample(2500, seed=0), mixture.modes, mixture.std)
    assert result["modes_covered"] == result["num_modes"] == len(mixture.modes)
    # Within 3 std in 2-D with probability 1 - exp(-9/2) = 0.989.
    assert result["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert sum(result["samples_per_mode"]) == round(result["high_quality_fraction"] * 2500)


@pytest.mark.parametrize("mixture", [RingOfGaussians(), GridOfGaussians()], ids=["ring8", "grid25"])
def test_samples_of_one_mode_cover_one(mixture):
    samples = mixture.modes[3] + mixture.std * np.random.default_rng(0).standard_normal((2500, 2))
    result = metrics.mode_coverage(samples, mixture.modes, mixture.std)
    assert result["modes_covered"] == 1 and result["samples_per_mode"][3] > 2400
    far = metrics.mode_coverage(samples + 0.5, mixture.modes, mixture.std)
    assert far["modes_covered"] == 0 and far["high_quality_fraction"] == 0


# --- likelihood helpers -----------------------------------------------------------------------------------


def test_log_mean_exp_is_stable_at_large_magnitudes():
    values = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [1000.0, -1000.0]])
    expected = [1000.0, -1000.0, 1000.0 - math.log(2)]
    np.testing.assert_allclose(metrics.log_mean_exp(values, dim=1), expected, rtol=1e-12)
    result = metrics.log_mean_exp(minigen.tensor(values, requires_grad=True), dim=1)
    np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-6)
    assert metrics.log_mean_exp(np.full((2, 3), -np.inf), dim=0).tolist() == [-np.inf] * 3
    assert metrics.log_mean_exp(values, dim=0, keepdim=True).shape == (1, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_log_mean_exp_gradient_is_the_softmax(device):
    values = minigen.tensor([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1000.5]], device=device,
                            requires_grad=True, dtype=minigen.float64)
    (gradient,) = minigen.grad(metrics.log_mean_exp(values, dim=1).sum(), [values])
    data = values.detach().numpy()
    softmax = np.exp(data - data.max(axis=1, keepdims=True))
    np.testing.assert_allclose(gradient.numpy(), softmax / softmax.sum(axis=1, keepdims=True), rtol=1e-10)


@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_log_mean_exp_gradcheck(shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    values = tensor(shape, seed, low=-3.0, high=3.0)
    check_gradients(lambda v: metrics.log_mean_exp(v, dim, keepdim=keepdim), [values])
    expected = np.log(np.exp(values.detach().numpy()).mean(axis=dim, keepdims=keepdim))
    result = metrics.log_mean_exp(values, dim, keepdim=keepdim).detach().numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-10)


def test_bits_per_dim_conversion():
    dims = 784
    # A uniform distribution over 256 grey levels: D ln 256 nats = 8 bits per dimension.
    assert metrics.nats_to_bits_per_dim(dims * math.log(256), dims) == pytest.approx(8.0)
    assert metrics.bits_per_dim_to_nats(metrics.nats_to_bits_per_dim(123.4, dims), dims) == pytest.approx(123.4)
    per_example = minigen.tensor([dims * math.log(2), 2 * dims * math.log(2)])
    np.testing.assert_allclose(metrics.nats_to_bits_per_dim(per_example, dims).numpy(), [1.0, 2.0], rtol=1e-6)


# --- the shipped feature networks -------------------------------------------------------------------------


def box_blur(images, radius):
    """Each pixel replaced by the mean of its (2r+1)^2 neighbourhood (edges repeated)."""
    padded = np.pad(images, ((0, 0), (0, 0), (radius, radius), (radius, radius)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1), axis=(2, 3))
    return windows.mean(axis=(-2, -1)).astype(np.float32)


def shipped_network(kind):
    """The shipped feature network; fails (instead of training one for minutes) when its file is missing."""
    path = feature_net.SHIPPED_WEIGHTS / f"{kind}_classifier.safetensors"
    assert path.exists(), f"{path} is missing: run benchmarks/train_feature_net.py"
    return metrics.feature_network(kind)


@pytest.fixture(scope="module")
def mnist_network():
    return shipped_network("mnist")


@pytest.fixture(scope="module")
def mnist_features(mnist_network):
    """Features of 2,000 train and 2,000 test images, and of 1,000 noise and blurred test images."""
    train, test = load_mnist("train"), load_mnist("test")
    test_images = test.images[:2000]
    noise = np.random.default_rng(0).uniform(0, 1, (1000, 1, 28, 28)).astype(np.float32)
    extract = mnist_network.features
    return {
        "train": extract(train.images[:2000]),
        "test": extract(test_images),
        "noise": extract(noise),
        "blur": [extract(box_blur(test_images[:1000], radius)) for radius in (1, 2, 3)],
        "probabilities": mnist_network.probabilities(test_images),
        "labels": test.labels[:2000],
    }


@pytest.mark.parametrize("kind", feature_net.KINDS)
def test_shipped_weights_are_small_verified_and_accurate(kind):
    classifier, info = shipped_network(kind)
    path = feature_net.SHIPPED_WEIGHTS / f"{kind}_classifier.safetensors"
    assert path.stat().st_size < 1_000_000
    assert info.fingerprint == metrics.weights_fingerprint(minigen.load(path)["state_dict"])
    assert info.test_accuracy >= {"mnist": 0.98, "fashion-mnist": 0.88}[kind]
    assert not classifier.training and not any(p.requires_grad for p in classifier.parameters())


def test_mnist_feature_network_accuracy_agrees_with_its_record(mnist_network, mnist_features):
    predicted = mnist_features["probabilities"].argmax(axis=1)
    accuracy = (predicted == mnist_features["labels"]).mean()
    assert accuracy == pytest.approx(mnist_network.info.test_accuracy, abs=0.015)
    assert mnist_features["train"].shape == (2000, 128)


def test_fid_on_mnist_orders_real_noise_and_blur(mnist_network, mnist_features):
    info = mnist_network.info
    real = metrics.fid(mnist_features["train"], mnist_features["test"], feature_net=info)
    noise = metrics.fid(mnist_features["train"], mnist_features["noise"], feature_net=info)
    blurred = [metrics.fid(mnist_features["train"], features).value for features in mnist_features["blur"]]
    clean = metrics.fid(mnist_features["train"], mnist_features["test"][:1000]).value
    assert real.feature_net is info and real.n_samples == (2000, 2000)
    assert real.value < 0.05 * noise.value
    assert clean < blurred[0] < blurred[1] < blurred[2]
    assert "2000 vs 2000 samples" in str(real) and info.fingerprint[:12] in str(real)


def test_kid_and_precision_recall_on_mnist(mnist_features):
    test = mnist_features["test"]
    same = metrics.kid(test[:1000], test[1000:], subsets=20, subset_size=500)
    assert abs(same.value) < 3 * same.stderr
    noise = metrics.kid(test[:1000], mnist_features["noise"], subsets=20, subset_size=500)
    assert noise.value > 10 * noise.stderr
    precision, recall = metrics.precision_recall(test[:1000], test[1000:])
    assert precision.value > 0.8 and recall.value > 0.8
    # Precision alone can be fooled by noise that lands in the wide balls of a few outlying real
    # images (see the docstring), but noise features form one tight cluster that covers no real digit.
    precision, recall = metrics.precision_recall(test[:1000], mnist_features["noise"])
    assert recall.value < 0.01


def test_classifier_score_and_coverage_of_real_digits(mnist_features):
    probabilities = mnist_features["probabilities"]
    assert metrics.classifier_score(probabilities).value > 8.0
    assert metrics.class_coverage(probabilities.argmax(axis=1), 10).value == 10


def test_evaluate_images_reports_every_score_with_the_network(mnist_network):
    images = load_mnist("test").images
    scores = metrics.evaluate_images(images[:300], images[300:600], mnist_network, kid_subset_size=100)
    assert set(scores) == {"fid", "kid", "precision", "recall", "classifier_score", "class_coverage"}
    assert all(score.feature_net is mnist_network.info for score in scores.values())
    symmetric = metrics.evaluate_images(images[:300] * 2 - 1, images[300:600] * 2 - 1, mnist_network,
                                        value_range=(-1, 1), kid_subset_size=100)
    assert symmetric["fid"].value == pytest.approx(scores["fid"].value, rel=1e-4)


def test_a_tampered_weights_file_is_refused(tmp_path):
    path = tmp_path / "mnist_classifier.safetensors"
    shutil.copy(feature_net.SHIPPED_WEIGHTS / path.name, path)
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF  # one byte of the last tensor's data
    path.write_bytes(bytes(content))
    with pytest.raises(metrics.FeatureNetError, match="do not match their recorded fingerprint"):
        feature_net.load_feature_network(path)


def test_training_is_deterministic_and_round_trips_through_the_weights_file(tmp_path):
    train, test = load_mnist("train"), load_mnist("test")
    data = (train.images[:320], train.labels[:320], test.images[:100], test.labels[:100])
    classifier, info = feature_net.train_feature_network("mnist", epochs=1, data=data)
    assert feature_net.train_feature_network("mnist", epochs=1, data=data)[1].fingerprint == info.fingerprint
    assert info.test_accuracy == feature_net.classifier_accuracy(classifier, test.images[:100], test.labels[:100])
    assert info.training["train_size"] == 320 and info.training["stored_dtype"] == "float16"
    path = feature_net.save_feature_network(classifier, info, tmp_path / "mnist_classifier.safetensors")
    loaded, loaded_info = feature_net.load_feature_network(path)
    assert (loaded_info.fingerprint, loaded_info.test_accuracy) == (info.fingerprint, info.test_accuracy)
    with minigen.no_grad():
        images = minigen.tensor(test.images[:8])
        np.testing.assert_array_equal(loaded.features(images).numpy(), classifier.features(images).numpy())


def test_a_missing_network_is_trained_and_cached(tmp_path, monkeypatch):
    def train_stub(kind, device):
        classifier = Classifier()
        stored = feature_net._stored_state_dict(classifier)
        return classifier, metrics.FeatureNetInfo(kind, 0.5, metrics.weights_fingerprint(stored), "", {"stub": 1})

    monkeypatch.setattr(feature_net, "SHIPPED_WEIGHTS", tmp_path / "none")
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    monkeypatch.setattr(feature_net, "train_feature_network", train_stub)
    with pytest.warns(UserWarning, match="training one with minigen"):
        network = metrics.feature_network("fashion-mnist")
    cached = tmp_path / "feature_nets" / "fashion-mnist_classifier.safetensors"
    assert network.info.path == str(cached) and cached.exists()
    assert network.info.kind == "fashion-mnist" and network.info.training == {"stub": 1}
    assert metrics.feature_network("fashion-mnist").info == network.info  # loaded from the cache, no warning
