"""Sample-quality and likelihood metrics.

- Image scores in a classifier's feature space (``feature_network``): ``fid``,
  ``kid``, ``precision_recall``, and on its predictions ``classifier_score`` (the
  Inception Score) and ``class_coverage``; ``evaluate_images`` computes them all.
  Each returns a ``Score`` that names its sample counts and feature network.
- ``mode_coverage`` of 2-D toy samples (the VEEGAN protocol).
- ``mutual_information_gap`` (MIG) of a learned code against known generating factors.
- ``log_mean_exp`` (IWAE bounds) and nats <-> bits/dim conversions.
"""

from .feature_net import (
    FeatureNetError,
    FeatureNetInfo,
    FeatureNetwork,
    feature_network,
    train_feature_network,
    weights_fingerprint,
)
from .disentanglement import discrete_entropy, discrete_mutual_information, discretize, mutual_information_gap
from .likelihood import bits_per_dim_to_nats, log_mean_exp, nats_to_bits_per_dim
from .scores import (
    Score,
    class_coverage,
    classifier_score,
    evaluate_images,
    fid,
    frechet_distance,
    kid,
    mean_and_covariance,
    precision_recall,
)
from .toy import mode_coverage

__all__ = [
    "FeatureNetError", "FeatureNetInfo", "FeatureNetwork", "feature_network", "train_feature_network",
    "weights_fingerprint", "Score", "fid", "frechet_distance", "mean_and_covariance", "kid", "precision_recall",
    "classifier_score", "class_coverage", "evaluate_images", "mode_coverage", "log_mean_exp",
    "nats_to_bits_per_dim", "bits_per_dim_to_nats",
    "mutual_information_gap", "discretize", "discrete_mutual_information", "discrete_entropy",
]
