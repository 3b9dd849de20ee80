"""Checkpoints: ``save`` and ``load`` in the safetensors format, never pickle.

A file is the safetensors layout: an 8-byte little-endian header length, a
JSON header naming each tensor's dtype, shape and byte range, then the raw
bytes. Any other structure around the tensors (an optimizer's nested state,
epoch numbers, a config dict) is kept as JSON in the header's
``__metadata__`` with a placeholder where each tensor goes, so the same file
holds a model, its optimizer and plain metadata, and other safetensors
readers still see every tensor by name.

Writes are atomic (a temporary file in the same folder, then a rename), so an
interrupted save never leaves a half-written checkpoint under the real name.
"""

import json
import os
import struct
import tempfile

import numpy as np

from . import backend
from .tensor import Tensor

_DTYPE_CODES = {
    "float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
    "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL",
}
_CODE_DTYPES = {code: np.dtype(name) for name, code in _DTYPE_CODES.items()}
_STRUCTURE_KEY = "minigen.structure"


class CheckpointError(RuntimeError):
    pass


def _encode(value, tensors, path):
    """Turn nested containers into JSON, moving each tensor into ``tensors`` under a dotted name."""
    if isinstance(value, Tensor):
        name = path or "tensor"
        if name in tensors:
            raise ValueError(f"save: two tensors would be stored under the same name '{name}'")
        tensors[name] = backend.to_device(value.data, "cpu")
        return {"__tensor__": name}
    if isinstance(value, dict):
        return {"__dict__": [[key, _encode(item, tensors, f"{path}.{key}" if path else str(key))]
                             for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, tensors, f"{path}.{index}" if path else str(index)) for index, item in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"save: cannot store a {type(value).__name__} at '{path}' (tensors, numbers, strings, "
                    "lists, tuples and dicts only; minigen never pickles)")


def _decode(value, tensors):
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(_decode(item, tensors) for item in value["__tuple__"])
        return {key: _decode(item, tensors) for key, item in value["__dict__"]}
    return value


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(obj, path):
    """Write ``obj`` (a state dict, or nested dicts/lists of tensors and plain values) to ``path``."""
    arrays = {}
    structure = _encode(obj, arrays, "")
    header = {"__metadata__": {_STRUCTURE_KEY: json.dumps(structure)}}
    offset = 0
    for name, array in arrays.items():
        if array.dtype.name not in _DTYPE_CODES:
            raise TypeError(f"save: tensor '{name}' has unsupported dtype {array.dtype}")
        header[name] = {"dtype": _DTYPE_CODES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)  # the format aligns the data to 8 bytes
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(struct.pack("<Q", len(header_bytes)))
            file.write(header_bytes)
            for array in arrays.values():
                file.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from other users
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load(path, map_location=None):
    """Read a file written by ``save`` (or any safetensors file) onto ``map_location`` (default CPU)."""
    path = os.fspath(path)
    device = backend.Device(map_location or "cpu")
    try:
        with open(path, "rb") as file:
            content = file.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no checkpoint at '{path}'") from None
    if len(content) < 8:
        raise CheckpointError(f"load: '{path}' is truncated or not a checkpoint ({len(content)} bytes)")
    (header_length,) = struct.unpack("<Q", content[:8])
    if 8 + header_length > len(content):
        raise CheckpointError(f"load: '{path}' is truncated: its header claims {header_length} bytes but the file "
                              f"has {len(content)}")
    try:
        header = json.loads(content[8 : 8 + header_length])
    except ValueError as error:
        raise CheckpointError(f"load: '{path}' has a corrupt header ({error})") from None
    data = memoryview(content)[8 + header_length :]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = _CODE_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise CheckpointError(f"load: '{path}': tensor '{name}' has unsupported dtype {entry['dtype']}")
        expected = int(np.prod(entry["shape"], dtype=np.int64)) * dtype.itemsize
        if end > len(data) or end - begin != expected:
            raise CheckpointError(f"load: '{path}' is truncated or corrupt: tensor '{name}' needs bytes "
                                  f"{begin}..{begin + expected} of a {len(data)}-byte data section")
        array = np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(entry["shape"])
        tensors[name] = Tensor(backend.to_device(array, device))
    if _STRUCTURE_KEY in metadata:
        return _decode(json.loads(metadata[_STRUCTURE_KEY]), tensors)
    return tensors
