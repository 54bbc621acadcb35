"""The NIR file format: HDF5 <-> nested dicts, with the limits of untrusted input (spec/nir.md section 1).

A `.nir` file (PyPI `nir`, `nir.write`) is an HDF5 file with a string dataset `version`
and a group `node` holding the graph: datasets for a node's fields (`type`, `weight`, ...),
groups for nested nodes (`nodes`, a subgraph, `metadata`). This module reads and writes
that layout with h5py alone, so sncc needs neither the `nir` package nor its readers,
which trust the file (they read every dataset whole and assert on malformed graphs).

    >>> from sncc.nir_format import write_nir_dict, read_nir_dict   # doctest: +SKIP
    >>> write_nir_dict("g.nir", {"type": "NIRGraph", "nodes": {}, "edges": []})  # doctest: +SKIP
    >>> read_nir_dict("g.nir")["type"]                               # doctest: +SKIP
    'NIRGraph'
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from sncc.errors import SnccError
from sncc.limits import MAX_ELEMENTS, short

# The NIR version whose node definitions spec/nir.md follows; written into exported files.
NIR_VERSION = "1.0.8"

# Bounds on a hostile file (spec/nir.md section 1): subgraph nesting, HDF5 objects visited
# (hard links can make a small file name the same group many times), strings in one dataset.
MAX_DEPTH = 32
MAX_OBJECTS = 1_000_000
MAX_STRINGS = 1_000_000


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency of sncc
        raise SnccError("reading and writing NIR files needs h5py: pip install h5py") from None
    return h5py


def read_nir_dict(path) -> dict:
    """The `node` group of a `.nir` file as nested dicts: str for strings, numpy arrays
    (or numpy scalars) for numbers, lists of str for string arrays such as `edges`."""
    h5py = _h5py()
    p = Path(os.fspath(path))
    if not p.exists():
        raise SnccError(f"NIR file '{p}' does not exist")
    try:
        f = h5py.File(p, "r")
    except Exception as e:  # OSError for a file that is not HDF5 or is truncated
        raise SnccError(f"'{p}' is not a readable NIR file (HDF5): {_first_line(e)}") from None
    with f:
        if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink) \
                or not isinstance(f["node"], h5py.Group):
            raise SnccError(f"'{p}' is an HDF5 file without a NIR graph (no group 'node')")
        counter = [0]
        try:
            return _read_group(h5py, f["node"], "node", 0, counter)
        except SnccError as e:
            raise SnccError(f"'{p}': {e}") from None
        except Exception as e:  # h5py raises OSError/KeyError/ValueError on damaged objects
            raise SnccError(f"'{p}' is a damaged NIR file: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_group(h5py, g, where: str, depth: int, counter: list) -> dict:
    if depth > MAX_DEPTH:
        raise SnccError(f"'{short(where, 80)}' nests more than {MAX_DEPTH} levels of groups")
    out = {}
    for key in g.keys():
        counter[0] += 1
        if counter[0] > MAX_OBJECTS:
            raise SnccError(f"the file holds more than {MAX_OBJECTS} HDF5 objects")
        name = f"{where}/{key}"
        link = g.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):  # soft and external links can point anywhere, even other files
            raise SnccError(f"'{short(name, 80)}' is a {type(link).__name__}; NIR files hold no links")
        item = g[key]
        if isinstance(item, h5py.Group):
            out[key] = _read_group(h5py, item, name, depth + 1, counter)
        elif isinstance(item, h5py.Dataset):
            out[key] = _read_dataset(h5py, item, name)
        else:  # a committed datatype
            raise SnccError(f"'{short(name, 80)}' is not a dataset or group")
    return out


def _read_dataset(h5py, ds, where: str):
    # The declared shape is checked before reading: a compressed dataset of a few bytes
    # can declare terabytes.
    n = 1
    for d in ds.shape or ():
        n *= int(d)
    if n > MAX_ELEMENTS:
        raise SnccError(f"'{short(where, 80)}' declares {n} elements, more than the {MAX_ELEMENTS} sncc supports")
    if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind in "SO":
        if n > MAX_STRINGS:
            raise SnccError(f"'{short(where, 80)}' holds {n} strings, more than {MAX_STRINGS}")
        if h5py.check_string_dtype(ds.dtype) is None:
            raise SnccError(f"'{short(where, 80)}' holds {ds.dtype} objects; NIR stores numbers and strings")
        value = ds[()]
        return _decode(value, where)
    if ds.dtype.kind not in "biuf":
        raise SnccError(f"'{short(where, 80)}' holds {ds.dtype} values; NIR stores real numbers and strings")
    return ds[()]


def _decode(value, where):
    def one(b):
        if isinstance(b, bytes):
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                raise SnccError(f"'{short(where, 80)}' holds a string that is not UTF-8") from None
        return str(b)

    if isinstance(value, np.ndarray):
        return np.vectorize(one, otypes=[object])(value).tolist() if value.size else value.tolist()
    return one(value)


def write_nir_dict(path, graph: dict, version: str = NIR_VERSION) -> None:
    """Write a graph dict in `nir.write`'s layout, byte-identical for identical graphs:
    no timestamps (HDF5 records object times unless told not to), fixed creation order,
    no compression."""
    from sncc.driver import write_atomically

    h5py = _h5py()
    buf = io.BytesIO()
    # libver "earliest" keeps the file readable by every h5py/HDF5 the NIR tools use.
    with h5py.File(buf, "w", libver="earliest", track_order=False) as f:
        _dataset(h5py, f, "version", version)
        _write_group(h5py, f.create_group("node", track_order=False), graph)
    write_atomically(Path(path), buf.getvalue(), "NIR file")


def _write_group(h5py, g, d: dict) -> None:
    for k in d:  # dicts keep insertion order; HDF5 lists names sorted either way
        v = d[k]
        if isinstance(v, dict):
            _write_group(h5py, _group(h5py, g, k), v)
        else:
            _dataset(h5py, g, k, v)


def _group(h5py, parent, name):
    gid = h5py.h5g.create(parent.id, name.encode("utf-8"), gcpl=_gcpl(h5py))
    return h5py.Group(gid)


def _gcpl(h5py):
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return gcpl


def _dataset(h5py, g, name: str, v) -> None:
    if isinstance(v, str):
        g.create_dataset(name, data=v, dtype=h5py.string_dtype(), track_times=False)
    elif isinstance(v, list):  # a list of strings or of string pairs (edges)
        arr = np.array(v, dtype=object).reshape((len(v), 2) if v and isinstance(v[0], (list, tuple)) else (len(v),))
        g.create_dataset(name, data=arr, dtype=h5py.string_dtype(), track_times=False)
    else:
        g.create_dataset(name, data=np.asarray(v), track_times=False)
