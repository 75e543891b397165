"""A reader for the safetensors format, enough for static embedding models.

The format: an 8-byte little-endian header length, a JSON header mapping each tensor's
name to its dtype, shape and byte range, then the raw little-endian tensor data. Reading
it takes a few lines, so Chatmina does not depend on the ``safetensors`` package (nor on
torch) for it.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
}
# A header is a small JSON object; a huge length means the file is not safetensors at all.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """The file is not a readable safetensors file; the message says what is wrong."""


def read_header(data: bytes) -> tuple[dict[str, Any], int]:
    """The header's tensor entries and the offset where tensor data begins."""
    if len(data) < 8:
        raise SafetensorsError("the file is too short to be a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES or 8 + size > len(data):
        raise SafetensorsError("the header length does not fit the file")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SafetensorsError("the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise SafetensorsError("the header is not a JSON object")
    header.pop("__metadata__", None)
    return header, 8 + size


def read_tensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor in the file, as read-only numpy arrays over the file's bytes."""
    data = path.read_bytes()
    header, start = read_header(data)
    body = len(data) - start
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header.items():
        tensors[name] = _tensor(data, start, body, name, entry)
    return tensors


def _tensor(data: bytes, start: int, body: int, name: str, entry: Any) -> npt.NDArray[Any]:
    try:
        dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
    except (TypeError, KeyError, ValueError):
        raise SafetensorsError(f"tensor {name!r} has a malformed header entry") from None
    if dtype_name not in DTYPES:
        supported = ", ".join(DTYPES)
        raise SafetensorsError(f"tensor {name!r} has dtype {dtype_name}; supported: {supported}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise SafetensorsError(f"tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= body):
        raise SafetensorsError(f"tensor {name!r} points outside the file")
    dtype = DTYPES[dtype_name]
    count = math.prod(shape)
    if count * dtype.itemsize != end - begin:
        raise SafetensorsError(
            f"tensor {name!r}: shape {shape} of {dtype_name} needs {count * dtype.itemsize} "
            f"bytes but the header gives it {end - begin}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start + begin)
    return array.reshape(shape)
