"""Model families, one file each, all behind the ``GenerativeModel`` interface."""

from . import classifier, iwae, vae
from .base import REGISTRY, GenerativeModel, ModelSpec, get_spec, register
from .classifier import Classifier
from .iwae import IWAE
from .vae import VAE
from .vqvae import VQVAE, VectorQuantizer, VectorQuantizerEMA
from .autoencoder import Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder
from .pca import PCA, linear_probe
