"""Datasets and batching: 2-D toy distributions, MNIST and Fashion-MNIST, procedural shapes, DataLoader."""

from .loader import DataLoader, TensorDataset
from .mnist import MNIST, MNISTArrays, data_root, download_mnist, load_mnist
from .shapes import ShapesDataset
from .toy import (
    TOY_DATASETS,
    Checkerboard,
    ConcentricCircles,
    GaussianMixture2D,
    GridOfGaussians,
    RingOfGaussians,
    SwissRoll,
    ToyDistribution,
    TwoMoons,
    toy_dataset,
)
from .transforms import bernoulli_binarize, dynamic_binarize

__all__ = [
    "DataLoader",
    "TensorDataset",
    "MNIST",
    "MNISTArrays",
    "data_root",
    "download_mnist",
    "load_mnist",
    "ShapesDataset",
    "TOY_DATASETS",
    "Checkerboard",
    "ConcentricCircles",
    "GaussianMixture2D",
    "GridOfGaussians",
    "RingOfGaussians",
    "SwissRoll",
    "ToyDistribution",
    "TwoMoons",
    "toy_dataset",
    "bernoulli_binarize",
    "dynamic_binarize",
]
