"""Minimal safetensors reader and writer (numpy only).

Written here because the `safetensors` pip package is not available on the
project's machines. Layout: 8-byte little-endian header length N, N bytes of
JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, optional
"__metadata__": {str: str}}, then the raw little-endian data; offsets count
from the first byte after the header.
"""

import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}

# Refuse absurd headers early instead of trying to allocate them.
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _bf16_to_f32(raw):
    u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


class Reader:
    """Reads tensors one at a time so a caller copying them elsewhere never
    holds the whole file in memory (keeps the peers' peak RSS honest)."""

    def __init__(self, path):
        self.path = path
        self._f = open(path, "rb")
        try:
            self._parse_header()
        except Exception:
            self._f.close()
            raise

    def _parse_header(self):
        path = self.path
        self._f.seek(0, 2)
        size = self._f.tell()
        self._f.seek(0)
        head = self._f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > _MAX_HEADER or 8 + hlen > size:
            raise SafetensorsError(
                f"{path}: header length {hlen} exceeds the file ({size} bytes)")
        try:
            header = json.loads(self._f.read(hlen).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SafetensorsError(f"{path}: header is not JSON: {e}") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{path}: header is not a JSON object")
        self._data_start = 8 + hlen
        data_len = size - self._data_start
        self.metadata = header.pop("__metadata__", {}) or {}
        self.entries = {}
        for name, info in header.items():
            try:
                dtype_name = info["dtype"]
                shape = [int(d) for d in info["shape"]]
                begin, end = (int(x) for x in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise SafetensorsError(
                    f"{path}: tensor {name!r}: entry needs dtype, shape, data_offsets") from None
            count = 1
            for d in shape:
                if d < 0:
                    raise SafetensorsError(f"{path}: tensor {name!r}: negative dim in {shape}")
                count *= d
            if dtype_name == "BF16":
                itemsize = 2
            elif dtype_name in _DTYPES:
                itemsize = _DTYPES[dtype_name].itemsize
            else:
                raise SafetensorsError(
                    f"{path}: tensor {name!r}: unsupported dtype {dtype_name}")
            if not 0 <= begin <= end <= data_len or end - begin != count * itemsize:
                raise SafetensorsError(
                    f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] do not hold "
                    f"{count} x {dtype_name} within {data_len} data bytes")
            self.entries[name] = (dtype_name, shape, begin, end)

    def names(self):
        return list(self.entries)

    def shape(self, name):
        return list(self.entries[name][1])

    def get(self, name):
        """The tensor as a numpy array (BF16 widened to float32)."""
        dtype_name, shape, begin, end = self.entries[name]
        self._f.seek(self._data_start + begin)
        raw = self._f.read(end - begin)
        if dtype_name == "BF16":
            arr = _bf16_to_f32(raw)
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dtype_name]).copy()
        return arr.reshape(shape)

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read(path):
    """Return (dict name -> numpy array in file order, metadata dict)."""
    with Reader(path) as r:
        return {n: r.get(n) for n in r.names()}, dict(r.metadata)


def write(path, tensors, metadata=None):
    """Write an ordered mapping name -> numpy array (insertion order kept)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    arrays = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.newbyteorder("<") not in _NAMES:
            raise SafetensorsError(f"tensor {name!r}: unsupported dtype {a.dtype}")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        nbytes = a.nbytes
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        arrays.append(a)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data starts 8-byte aligned (allowed by the format).
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for a in arrays:
            f.write(a.tobytes())
