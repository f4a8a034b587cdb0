"""Results of the solver and the sampler, and their one JSON schema (``fntk-result``).

A tensor is an array with the layer axis first, then its sample indices in the
order written in theory.md section 2 (``V[l, a1, a2, a3, a4]`` is V_{(a1a2)(a3a4)}
at layer ``layers[l]``).  Sampled results also carry ``stderr`` of the same shape.
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import FntkError

RESULT_FORMAT = "fntk-result"
RESULT_VERSION = 1

# Every statistic fntk knows, with its number of sample indices (theory.md section 2).
TENSOR_RANKS = {
    "K": 2, "Theta": 2, "K1": 2, "Theta1": 2,
    "V": 4, "D": 4, "F": 4, "A": 4, "B": 4,
    "P": 4, "Q": 4, "R": 4, "S": 4, "T": 4, "U": 4,
}
LEADING = ("K", "Theta")
FIRST_ORDER = tuple(n for n in TENSOR_RANKS if n not in LEADING)


class ResultError(FntkError, ValueError):
    """A results file that cannot be read."""


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("fntk", "numpy", "scipy", "sympy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return dict(out)


@dataclass
class Result:
    """Per-layer tensors over sample indices, with the metadata that produced them."""

    layers: list[int]
    tensors: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    stderr: dict[str, np.ndarray] | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    def at_layer(self, name: str, layer: int) -> np.ndarray:
        return self.tensors[name][self.layers.index(layer)]

    def to_json_dict(self) -> dict:
        d = {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "meta": self.meta,
            "layers": list(map(int, self.layers)),
            "tensors": {k: _encode(v) for k, v in self.tensors.items()},
        }
        if self.stderr is not None:
            d["stderr"] = {k: _encode(v) for k, v in self.stderr.items()}
        return d

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_json_dict(), indent=1, allow_nan=False))

    @classmethod
    def from_json_dict(cls, d) -> "Result":
        if not isinstance(d, dict) or d.get("format") != RESULT_FORMAT:
            raise ResultError(f"not an {RESULT_FORMAT} file (missing or wrong 'format')")
        if d.get("version") != RESULT_VERSION:
            raise ResultError(f"unsupported {RESULT_FORMAT} version {d.get('version')!r} (this fntk reads {RESULT_VERSION})")
        try:
            layers = [int(x) for x in d["layers"]]
            tensors = {k: _decode(k, v, len(layers)) for k, v in d["tensors"].items()}
            stderr = {k: _decode(k, v, len(layers)) for k, v in d["stderr"].items()} if "stderr" in d else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultError(f"malformed {RESULT_FORMAT} file: {exc}") from None
        return cls(layers, tensors, dict(d.get("meta", {})), stderr)

    @classmethod
    def load(cls, path) -> "Result":
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_json_dict(d)


def _encode(a: np.ndarray):
    # JSON has no NaN/inf: write them as null so that the file stays valid.
    return _nan_to_none(np.asarray(a, dtype=float).tolist())


def _nan_to_none(x):
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if not math.isfinite(x) else x


def _decode(name: str, v, n_layers: int) -> np.ndarray:
    a = np.array(_none_to_nan(v), dtype=float)
    if name in TENSOR_RANKS and a.ndim != TENSOR_RANKS[name] + 1:
        raise ValueError(f"tensor {name!r} has {a.ndim} axes, expected {TENSOR_RANKS[name] + 1}")
    if a.shape[0] != n_layers:
        raise ValueError(f"tensor {name!r} has {a.shape[0]} layers, 'layers' lists {n_layers}")
    return a


def _none_to_nan(x):
    if isinstance(x, list):
        return [_none_to_nan(v) for v in x]
    if x is None:
        return math.nan
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise ValueError(f"non-numeric entry {x!r}")
    return x
