"""Reading a data set of inputs (N x n0) from JSON, CSV or .npy, strictly.

The format follows the file's extension: ``.csv``, ``.npy``, anything else JSON
(docs/formats.md, "Inputs file"). Every failure is
an :class:`InputsFileError` whose message names the file and, for text formats, the line
or entry; nothing is guessed, and ``.npy`` files are read without pickle.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import FntkError

class InputsFileError(FntkError, ValueError):
    """An inputs file that cannot be read as N input vectors of one dimension."""


def read_inputs(path) -> np.ndarray:
    """The (N, n0) float array of an inputs file; raises InputsFileError naming ``path``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        x = _read_npy(p)
    else:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputsFileError(f"{p}: not a UTF-8 text file (expected {'CSV' if suffix == '.csv' else 'JSON'})") from None
        except OSError as exc:
            raise InputsFileError(f"{p}: {exc.strerror}") from None
        x = _parse_csv(p, text) if suffix == ".csv" else _parse_json(p, text)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise InputsFileError(f"{p}: no inputs (shape {x.shape}); expected N x n0 with N, n0 >= 1")
    if not np.all(np.isfinite(x)):
        row = int(np.nonzero(~np.all(np.isfinite(x), axis=1))[0][0])
        raise InputsFileError(f"{p}: input {row} contains NaN or infinity")
    return x


def _parse_json(p: Path, text: str) -> np.ndarray:
    """``{"inputs": [[...], ...]}`` or a bare list of lists."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputsFileError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    vectors = data.get("inputs") if isinstance(data, dict) else data
    if not isinstance(vectors, list) or not vectors or not all(isinstance(v, list) for v in vectors):
        raise InputsFileError(f'{p}: expected {{"inputs": [[x1, x2, ...], ...]}} or [[x1, x2, ...], ...]')
    for i, v in enumerate(vectors):
        bad = [e for e in v if isinstance(e, bool) or not isinstance(e, (int, float))]
        if bad:
            raise InputsFileError(f"{p}: input {i}: {json.dumps(bad[0])} is not a number")
        if len(v) != len(vectors[0]):
            raise InputsFileError(f"{p}: input {i} has {len(v)} numbers, input 0 has {len(vectors[0])}")
    return np.asarray(vectors, dtype=float).reshape(len(vectors), -1)


def _parse_csv(p: Path, text: str) -> np.ndarray:
    """One input per line, comma-separated numbers; blank lines and ``#`` comments are skipped,
    and a first line without any number is a header."""
    rows, width = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = [f.strip() for f in s.split(",")]
        values = []
        for k, f in enumerate(fields, 1):
            try:
                values.append(float(f) if f else None)
            except ValueError:
                values.append(f)
        if not rows and width is None and all(isinstance(v, str) or v is None for v in values):
            width = len(fields)  # header
            continue
        for k, v in enumerate(values, 1):
            if v is None:
                raise InputsFileError(f"{p}: line {lineno}, field {k} is empty")
            if isinstance(v, str):
                raise InputsFileError(f"{p}: line {lineno}, field {k}: {v!r} is not a number")
        expected = len(rows[0]) if rows else width
        if expected is not None and len(values) != expected:
            raise InputsFileError(f"{p}: line {lineno} has {len(values)} fields, expected {expected}")
        rows.append(values)
    if not rows:
        raise InputsFileError(f"{p}: no inputs (no line of numbers)")
    return np.asarray(rows, dtype=float)


def _read_npy(p: Path) -> np.ndarray:
    try:
        with open(p, "rb") as fh:
            magic = fh.read(6)
            fh.seek(0)
            a = np.load(fh, allow_pickle=False) if magic == b"\x93NUMPY" else None
    except OSError as exc:
        raise InputsFileError(f"{p}: {exc.strerror or exc}") from None
    except ValueError as exc:  # object arrays: pickle is refused
        why = "holds Python objects (pickle is never loaded)" if "allow_pickle" in str(exc) else str(exc)
        raise InputsFileError(f"{p}: not a numeric .npy array: {why}") from None
    if a is None:
        raise InputsFileError(f"{p}: not a .npy file (no NumPy header)")
    if a.dtype.kind not in "iuf":
        raise InputsFileError(f"{p}: dtype {a.dtype} is not real numbers")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InputsFileError(f"{p}: shape {a.shape}; expected N x n0 (two dimensions)")
    return a.astype(float)
