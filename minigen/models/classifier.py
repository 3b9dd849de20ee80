"""A small CNN classifier for 28x28 digits and clothes, and the feature network of the metrics.

    loss = cross_entropy(f(x), y) = -log softmax(f(x))_y

Two 3x3 conv blocks (32 and 64 channels, ReLU, 2x2 max-pool), a 128-unit
hidden layer and a linear read-out. ``features(x)`` returns the 128-d hidden
layer: the space in which FID, KID and precision/recall compare sample sets
(as Inception's pool3 features do for ImageNet-sized images).
"""

from .. import nn
from ..nn import functional as F
from ..tensor import no_grad
from .base import GenerativeModel, ModelSpec, register


class Classifier(GenerativeModel):
    def __init__(self, *, in_channels=1, num_classes=10, image_size=28, hidden=128):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.hidden = nn.Linear(64 * (image_size // 4) ** 2, hidden)
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.hidden(x.flatten(1)))

    def forward(self, x):
        return self.head(self.features(x))

    def loss(self, batch):
        images, labels = batch
        logits = self(images)
        with no_grad():
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "accuracy": accuracy}


register(ModelSpec(
    name="classifier",
    build=Classifier,
    dataset="mnist",
    description="CNN classifier (2 conv blocks + MLP); also the feature net of FID/KID/PR",
    hyperparameters={"lr": 1e-3, "batch_size": 64, "epochs": 1},
))
