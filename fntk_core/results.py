"""Results of the solver and the sampler, and their one JSON schema (``fntk-result``).

A tensor is an array with the layer axis first, then its sample indices in the
order written in docs/theory.md §2 (``V[l, a1, a2, a3, a4]`` is V_{(a1a2)(a3a4)}
at layer ``layers[l]``).  Sampled results also carry ``stderr`` of the same shape.
"""
from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import FntkError
from .files import atomic_write_chunks
from .tensors import RANKS, TENSORS

RESULT_FORMAT = "fntk-result"
RESULT_VERSION = 1

# derived from the one registry (fntk_core.tensors); kept here for older imports
TENSOR_RANKS = RANKS


class ResultError(FntkError, ValueError):
    """A results file that cannot be read."""


# keys of older files (and of the sampler before ResultMeta) -> ResultMeta fields
_LEGACY_KEYS = {"elapsed_s": "seconds", "library_versions": "versions", "networks_requested": "networks"}


@dataclass
class ResultMeta(Mapping):
    """Where a Result comes from; the same fields for solver, sampler and studies.

    Engine-specific details (chunk, estimator, variance ratios ...) live in ``extra``.
    Mapping-style access (``meta["cancelled"]``, ``meta.get("seed")``) reaches fields and
    ``extra`` alike; in JSON the fields and ``extra`` are written side by side.
    """

    source: str | None = None  # "solver" | "sampler" | "study"
    network: dict | None = None  # NetworkSpec.to_dict()
    inputs: list | None = None
    dtype: str | None = None
    device: str | None = None
    seed: int | None = None
    networks: int | None = None  # requested (sampler)
    networks_used: int | None = None  # finite networks in the estimates (sampler)
    seconds: float | None = None
    versions: dict | None = None
    cancelled: bool = False
    partial: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping | None) -> ResultMeta:
        if isinstance(d, ResultMeta):
            return d
        out = cls()
        for k, v in dict(d or {}).items():
            out[k] = v
        return out

    def __getitem__(self, key: str):
        key = _LEGACY_KEYS.get(key, key)
        if key in _FIELDS:
            value = getattr(self, key)
            if value is None:
                raise KeyError(key)
            return value
        return self.extra[key]

    def __setitem__(self, key: str, value) -> None:
        key = _LEGACY_KEYS.get(key, key)
        if key == "kind":  # the sampler's old marker
            self.source = self.source or ("sampler" if value == "sampled" else str(value))
        elif key in _FIELDS:
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __iter__(self):
        for name in _FIELDS:
            if getattr(self, name) is not None:
                yield name
        yield from self.extra

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def to_dict(self) -> dict:
        return {k: self[k] for k in self}

    __eq__ = Mapping.__eq__


_FIELDS = tuple(f for f in ResultMeta.__dataclass_fields__ if f != "extra")


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


@dataclass(repr=False)
class Result:
    """Per-layer tensors over sample indices (numpy arrays), with the metadata that produced them."""

    layers: list[int]
    tensors: dict[str, np.ndarray]
    meta: ResultMeta = field(default_factory=ResultMeta)
    stderr: dict[str, np.ndarray] | None = None

    def __post_init__(self):
        self.layers = [int(x) for x in self.layers]
        self.tensors = {k: np.asarray(v, dtype=float) for k, v in self.tensors.items()}
        if self.stderr is not None:
            self.stderr = {k: np.asarray(v, dtype=float) for k, v in self.stderr.items()}
        self.meta = ResultMeta.from_dict(self.meta)

    def __repr__(self) -> str:
        n = next(iter(self.tensors.values())).shape[1] if self.tensors and self.layers else 0
        flags = "".join(f", {f}" for f in ("cancelled", "partial") if self.meta.get(f))
        layers = f"{self.layers[0]}..{self.layers[-1]}" if self.layers else "none"
        return (f"<Result {self.meta.get('source', '?')}: {', '.join(self.tensors)}; layers {layers}; "
                f"{n} inputs{', with stderr' if self.stderr is not None else ''}{flags}>")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    @property
    def axes(self) -> dict[str, tuple[str, ...]]:
        """The meaning of each axis of each tensor: ("layer", then the registry's sample indices)."""
        return {name: ("layer",) + (TENSORS[name].axes if name in TENSORS else ()) for name in self.tensors}

    def at_layer(self, name: str, layer: int) -> np.ndarray:
        """Tensor ``name`` at network layer ``layer`` (1-based, as in ``layers``)."""
        if layer not in self.layers:
            raise KeyError(f"layer {layer} not in this result (layers {self.layers[0]}..{self.layers[-1]})"
                           if self.layers else f"layer {layer}: this result has no layers")
        return self.tensors[name][self.layers.index(layer)]

    def to_json_dict(self, arrays: bool = True) -> dict:
        """The fntk-result JSON as a dict (``arrays=False``: without tensors and stderr)."""
        d = {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "meta": _encode_meta(self.meta.to_dict()),
            "layers": list(map(int, self.layers)),
        }
        if arrays:
            d["tensors"] = {k: _encode(v) for k, v in self.tensors.items()}
            if self.stderr is not None:
                d["stderr"] = {k: _encode(v) for k, v in self.stderr.items()}
        return d

    def json_chunks(self):
        """The fntk-result JSON text in pieces, one row of numbers at a time: the JSON of
        64-input four-index tensors is gigabytes, never held whole."""
        arrays = {"tensors": self.tensors, **({"stderr": self.stderr} if self.stderr is not None else {})}
        return _json_chunks(self.to_json_dict(arrays=False), arrays)

    def save(self, path) -> None:
        """Write the fntk-result JSON atomically (a crash never leaves half a file), streamed."""
        atomic_write_chunks(path, (t.encode() for t in self.json_chunks()))

    @classmethod
    def from_json_dict(cls, d) -> Result:
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
        return cls(layers, tensors, ResultMeta.from_dict(d.get("meta", {})), stderr)

    @classmethod
    def load(cls, path) -> Result:
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_json_dict(d)


# JSON has no inf/NaN: they are written as the strings "inf", "-inf", "nan" (kept apart);
# reading also accepts null (files of fntk before 0.2) as NaN.
_NONFINITE_TEXT = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _json_chunks(head: dict, groups: dict):
    """The text of {**head, group: {name: array}} in pieces: one row of numbers per piece."""
    yield json.dumps(head, indent=1, allow_nan=False)[:-2]   # without the closing "\n}"
    for group, arrays in groups.items():
        yield f',\n "{group}": {{'
        for i, (name, a) in enumerate(arrays.items()):
            yield f'{"," if i else ""}\n  {json.dumps(name)}: '
            yield from _array_chunks(np.asarray(a, dtype=float))
        yield "\n }"
    yield "\n}\n"


def _array_chunks(a: np.ndarray):
    if a.ndim <= 1:
        yield json.dumps(_encode_value(a.tolist()), allow_nan=False)
        return
    yield "["
    for i, row in enumerate(a):
        if i:
            yield ",\n" if a.ndim == 2 else ","
        yield from _array_chunks(row)
    yield "]"


def _encode(a: np.ndarray):
    return _encode_value(np.asarray(a, dtype=float).tolist())


def _encode_value(x):
    if isinstance(x, list):
        return [_encode_value(v) for v in x]
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _encode_meta(x):
    """Meta values (variance ratios, ...) may be non-finite floats or numpy values too."""
    if isinstance(x, Mapping):
        return {str(k): _encode_meta(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_encode_meta(v) for v in x]
    if isinstance(x, np.ndarray):
        return _encode_meta(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return _encode_value(float(x))
    return x


def _decode(name: str, v, n_layers: int) -> np.ndarray:
    a = np.array(_decode_value(v), dtype=float)
    if name in TENSOR_RANKS and a.ndim != TENSOR_RANKS[name] + 1:
        raise ValueError(f"tensor {name!r} has {a.ndim} axes, expected {TENSOR_RANKS[name] + 1}")
    if a.shape[0] != n_layers:
        raise ValueError(f"tensor {name!r} has {a.shape[0]} layers, 'layers' lists {n_layers}")
    return a


def _decode_value(x):
    if isinstance(x, list):
        return [_decode_value(v) for v in x]
    if x is None:
        return math.nan
    if isinstance(x, str) and x in _NONFINITE_TEXT:
        return _NONFINITE_TEXT[x]
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise ValueError(f"non-numeric entry {x!r}")
    return x
