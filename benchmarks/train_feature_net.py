"""Train the feature networks of minigen.metrics and write the weights minigen ships.

For MNIST and Fashion-MNIST: minigen's ``Classifier`` trained on the 60,000
training images with the settings of ``minigen.metrics.feature_net.TRAINING``
(Adam, lr 1e-3 decaying by 0.6 per epoch, batch 64, random 1-pixel shifts,
5 epochs, seed 0), its test accuracy on the 10,000 test images measured in
float32 and again with the float16 weights that are stored, the time of each
epoch, and the weights written to
``minigen/metrics/weights/{kind}_classifier.safetensors`` with the accuracy and
SHA-256 fingerprint in their metadata.

Run: ``MINIGEN_DATA=../shared/data python benchmarks/train_feature_net.py [--kind mnist] [--device cuda]``.
"""

import argparse
import platform
from pathlib import Path

from minigen.metrics import feature_net

TARGETS = {"mnist": 0.99, "fashion-mnist": 0.90}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=feature_net.KINDS, action="append",
                        help="dataset to train on (repeatable; default: both)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=feature_net.TRAINING["epochs"])
    parser.add_argument("--out", type=Path, default=feature_net.SHIPPED_WEIGHTS)
    arguments = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, device {arguments.device}")
    for kind in arguments.kind or feature_net.KINDS:
        classifier, info = feature_net.train_feature_network(kind, device=arguments.device, epochs=arguments.epochs,
                                                             log=print)
        path = feature_net.save_feature_network(classifier, info, arguments.out / f"{kind}_classifier.safetensors")
        seconds = info.training["epoch_seconds"]
        verdict = "meets" if info.test_accuracy >= TARGETS[kind] else "MISSES"
        print(f"{kind}: test accuracy {info.training['test_accuracy_float32']:.4f} (float32), "
              f"{info.test_accuracy:.4f} (float16, stored; {verdict} the {TARGETS[kind]:.0%} target); "
              f"{sum(seconds) / len(seconds):.1f} s per epoch; {path} ({path.stat().st_size / 1e6:.3f} MB), "
              f"sha256 {info.fingerprint}")


if __name__ == "__main__":
    main()
