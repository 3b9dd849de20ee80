"""Layers with PyTorch's names, arguments, defaults, parameter names and shapes."""
