"""The computation graph of a tensor as Graphviz DOT text, and rendering it with ``dot``.

Boxes are Functions (their name and output shape), ellipses are leaf tensors:
filled when they require grad (Parameters carry their names), dashed grey when
they do not. A tensor cut from the graph with ``detach()`` is such a dashed
leaf, which is how the picture shows where a gradient stops (the target of a
GAN's discriminator loss, a stop-gradient in VQ-VAE's commitment term).
"""

import shutil
import subprocess
from pathlib import Path

from ..nn.module import Parameter
from ..tensor import Tensor
from ._common import atomic_write

__all__ = ["graph_to_dot", "render_dot"]

_HEADER = [
    "digraph minigen {",
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [color="gray30", arrowsize=0.6];',
]
_FUNCTION_STYLE = 'shape=box, style="rounded,filled", fillcolor="lightgray"'
_OUTPUT_STYLE = 'shape=box, style="rounded,filled", fillcolor="palegreen", peripheries=2'
_FREED_STYLE = 'shape=box, style="rounded,dashed", color="firebrick"'
_GRAD_LEAF_STYLE = 'shape=ellipse, style="filled", fillcolor="lightblue"'
_NO_GRAD_LEAF_STYLE = 'shape=ellipse, style="dashed", color="gray50", fontcolor="gray35"'


def _quote(text):
    """A DOT string literal (newlines become DOT's \\n line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shape):
    return str(tuple(int(size) for size in shape))


class _DotBuilder:
    """Collects numbered nodes and edges; one node per Function or leaf tensor, however often it is reached."""

    def __init__(self, show_shapes, names):
        self.show_shapes = show_shapes
        self.names = names
        self.node_ids = {}
        self.lines = list(_HEADER)

    def _add_node(self, key, label, style):
        node_id = f"n{len(self.node_ids)}"
        self.node_ids[key] = node_id
        self.lines.append(f"  {node_id} [label={_quote(label)}, {style}];")
        return node_id

    def leaf(self, tensor):
        """The node of a leaf tensor, added on first sight."""
        if id(tensor) in self.node_ids:
            return self.node_ids[id(tensor)]
        name = self.names.get(id(tensor), "Parameter" if isinstance(tensor, Parameter) else None)
        parts = [name] if name else []
        if self.show_shapes:
            parts.append(_shape_text(tensor.shape))
        if tensor.requires_grad:
            parts.append("requires_grad")
            style = _GRAD_LEAF_STYLE
        else:
            parts.append("no grad (constant or detached)")
            style = _NO_GRAD_LEAF_STYLE
        return self._add_node(id(tensor), "\n".join(parts), style)

    def function(self, function, is_output):
        """The node of a Function, added on first sight; returns (node id, whether it is new)."""
        if function in self.node_ids:
            return self.node_ids[function], False
        if function.released:  # backward without retain_graph cleared its inputs
            return self._add_node(function, f"{function.name}\n(freed by backward)", _FREED_STYLE), True
        parts = [function.name]
        if self.show_shapes:
            parts.append(", ".join(_shape_text(shape) for shape, _ in function._output_meta))
        style = _OUTPUT_STYLE if is_output else _FUNCTION_STYLE
        return self._add_node(function, "\n".join(parts), style), True

    def edge(self, source, target, label=None):
        attributes = f" [label={_quote(label)}, fontsize=8]" if label is not None else ""
        self.lines.append(f"  {source} -> {target}{attributes};")

    def text(self):
        return "\n".join(self.lines + ["}"]) + "\n"


def graph_to_dot(tensor, path=None, show_shapes=True, names=None, model=None):
    """The graph that computed ``tensor`` (or a list of tensors) as Graphviz DOT text.

    One node per Function and per leaf tensor, an edge from each input to the
    Function that consumed it (an edge per input slot, so ``x * x`` draws
    two). Parameters are labelled by ``names`` (``{id(param): name}``) or by
    ``model.named_parameters()``. The walk is iterative, so graphs of any depth
    work. Writes the text to ``path`` too when one is given.
    """
    roots = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    names = dict(names or {})
    if model is not None:
        names.update({id(parameter): name for name, parameter in model.named_parameters()})
    builder = _DotBuilder(show_shapes, names)
    output_functions = {root.creator for root in roots if root.creator is not None}
    pending = []
    for root in roots:
        if root.creator is None:
            builder.leaf(root)
            continue
        node_id, is_new = builder.function(root.creator, is_output=True)
        if is_new and not root.creator.released:
            pending.append((root.creator, node_id))
    while pending:
        function, node_id = pending.pop()
        for tensor_input in function.inputs:
            parent = tensor_input.creator
            if parent is None:
                builder.edge(builder.leaf(tensor_input), node_id)
                continue
            parent_id, is_new = builder.function(parent, is_output=parent in output_functions)
            if is_new and not parent.released:
                pending.append((parent, parent_id))
            several_outputs = not parent.released and len(parent._output_meta) > 1
            builder.edge(parent_id, node_id, f"out {tensor_input.output_index}" if several_outputs else None)
    text = builder.text()
    if path is not None:
        atomic_write(path, lambda temporary: Path(temporary).write_text(text))
    return text


_RENDER_FORMATS = ("svg", "png", "pdf")


def render_dot(dot_text, path):
    """Draw DOT text to ``path`` (.svg, .png or .pdf) with Graphviz's ``dot`` executable.

    Without Graphviz it writes the text to ``path`` with a .dot suffix and
    raises a RuntimeError that says so.
    """
    path = Path(path)
    image_format = path.suffix.lower().lstrip(".")
    if image_format not in _RENDER_FORMATS:
        raise ValueError(f"render_dot: cannot tell the format of {path}; use a .svg, .png or .pdf suffix")
    executable = shutil.which("dot")
    if executable is None:
        dot_path = atomic_write(path.with_suffix(".dot"), lambda temporary: Path(temporary).write_text(dot_text))
        raise RuntimeError(
            f"render_dot: Graphviz is not installed (no 'dot' executable on PATH), so {path} was not drawn; "
            f"the DOT text was written to {dot_path}. Install Graphviz (apt install graphviz, brew install "
            "graphviz or conda install graphviz) and call render_dot again, or open the .dot file in any "
            "Graphviz viewer."
        )

    def draw(temporary):
        result = subprocess.run([executable, f"-T{image_format}", "-o", temporary], input=dot_text,
                                text=True, capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"render_dot: dot exited with status {result.returncode}: {result.stderr.strip()}")

    return atomic_write(path, draw)
