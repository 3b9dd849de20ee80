"""The MNIST CNN classifier built only from minigen parts, trained with Adam for one epoch.

Reports test accuracy and seconds per epoch (the nn/optim acceptance figure:
at least 98% after one epoch). Run: ``python benchmarks/mnist_classifier.py
[--device cuda] [--epochs 1]`` with ``MINIGEN_DATA`` pointing at the MNIST files.
"""

import argparse
import time

import minigen
from minigen.data import DataLoader, load_mnist
from minigen.models import Classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    minigen.manual_seed(args.seed)
    train, test = load_mnist("train"), load_mnist("test")
    model = Classifier().to(args.device)
    (optimizer,) = model.configure_optimizers(lr=1e-3)
    loader = DataLoader(tuple(train), batch_size=64, shuffle=True, seed=args.seed, device=args.device)
    for epoch in range(args.epochs):
        model.train()
        started = time.perf_counter()
        for batch in loader:
            model.training_step(batch, [optimizer])
        seconds = time.perf_counter() - started
        model.eval()
        accuracy = model.evaluate(DataLoader(tuple(test), batch_size=500, device=args.device))["test_accuracy"]
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f}, {seconds:.1f} s/epoch on {args.device}")


if __name__ == "__main__":
    main()
