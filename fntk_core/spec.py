"""NetworkSpec: the one description of an MLP that feeds both the solver and the sampler."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import FntkError
from .activations import Activation, activation_from_description, get_activation


class SpecError(FntkError, ValueError):
    """An invalid network description; the message names the field."""


def _per_layer(name: str, value, depth: int, *, positive: bool = False) -> tuple[float, ...]:
    values = [value] * depth if np.isscalar(value) else list(value)
    if len(values) != depth:
        raise SpecError(f"{name}: expected one value or {depth} (one per layer), got {len(values)}")
    out = []
    for i, v in enumerate(values, start=1):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise SpecError(f"{name} (layer {i}): not a number: {v!r}") from None
        if not math.isfinite(f):
            raise SpecError(f"{name} (layer {i}): must be finite, got {v!r}")
        if f < 0 or (positive and f == 0):
            raise SpecError(f"{name} (layer {i}): must be {'> 0' if positive else '>= 0'}, got {f}")
        out.append(f)
    return tuple(out)


@dataclass(frozen=True)
class NetworkSpec:
    """A fully connected network: x (n0) -> z^(1) -> ... -> z^(L).

    widths: hidden widths n_1..n_{L-1} (one int for all), optionally followed by the
      output width n_L; ``None`` means equal hidden widths (r = 1) for the solver.
      The solver needs only the ratios r = n_l / n_{l-1} of hidden widths; the
      sampler needs actual widths (it is given them at sampling time if absent).
    c_w, c_b, lambda_w, lambda_b: per layer l = 1..L (one value for all).  Defaults
      are the paper's convention: C_b = lambda_b = 0, lambda_W = 1.
    """

    n0: int
    depth: int
    activation: Activation = field(default_factory=lambda: get_activation("relu"))
    c_w: Sequence[float] | float = 1.0
    c_b: Sequence[float] | float = 0.0
    lambda_w: Sequence[float] | float = 1.0
    lambda_b: Sequence[float] | float = 0.0
    widths: Sequence[int] | int | None = None

    def __post_init__(self):
        for name in ("n0", "depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SpecError(f"{name}: must be an integer >= 1, got {v!r}")
        object.__setattr__(self, "n0", int(self.n0))
        object.__setattr__(self, "depth", int(self.depth))
        if not isinstance(self.activation, Activation):
            raise SpecError(f"activation: expected an Activation, got {self.activation!r}")
        L = self.depth
        object.__setattr__(self, "c_w", _per_layer("c_w", self.c_w, L, positive=True))
        object.__setattr__(self, "c_b", _per_layer("c_b", self.c_b, L))
        object.__setattr__(self, "lambda_w", _per_layer("lambda_w", self.lambda_w, L))
        object.__setattr__(self, "lambda_b", _per_layer("lambda_b", self.lambda_b, L))
        if self.widths is not None:
            w = [self.widths] * max(L - 1, 1) if np.isscalar(self.widths) else list(self.widths)
            if len(w) not in (L - 1, L) and not (L == 1 and len(w) == 1):
                raise SpecError(f"widths: expected one value, {L - 1} hidden widths or {L} (with the output width), got {len(w)}")
            for i, n in enumerate(w, start=1):
                if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                    raise SpecError(f"widths (layer {i}): must be an integer >= 1, got {n!r}")
            object.__setattr__(self, "widths", tuple(int(n) for n in w))

    # -- layer parameters (l counts from 1, as in theory.md) -------------------
    def hidden_width(self, layer: int) -> int | None:
        """n_layer for 1 <= layer <= L-1 (None if widths are not given)."""
        if self.widths is None:
            return None
        return self.widths[layer - 1]

    def output_width(self, default: int | None = None) -> int | None:
        if self.widths is not None and len(self.widths) == self.depth:
            return self.widths[-1]
        return default

    def ratio(self, layer: int) -> float:
        """r = n_layer / n_{layer-1} entering the recursion layer -> layer+1.

        Only hidden layers enter (layer >= 2: the first-order tensors at layer 1 vanish).
        """
        if self.widths is None or layer < 2:
            return 1.0
        return self.widths[layer - 1] / self.widths[layer - 2]

    def layer_params(self, layer: int) -> dict[str, float]:
        i = layer - 1
        return {"C_W": self.c_w[i], "C_b": self.c_b[i], "lambda_W": self.lambda_w[i], "lambda_b": self.lambda_b[i]}

    def with_widths(self, widths) -> "NetworkSpec":
        return NetworkSpec(self.n0, self.depth, self.activation, self.c_w, self.c_b, self.lambda_w, self.lambda_b, widths)

    # -- serialisation -----------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "n0": self.n0,
            "depth": self.depth,
            "activation": self.activation.describe(),
            "c_w": list(self.c_w),
            "c_b": list(self.c_b),
            "lambda_w": list(self.lambda_w),
            "lambda_b": list(self.lambda_b),
            "widths": None if self.widths is None else list(self.widths),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkSpec":
        try:
            return cls(
                n0=d["n0"],
                depth=d["depth"],
                activation=activation_from_description(d["activation"]),
                c_w=d["c_w"],
                c_b=d.get("c_b", 0.0),
                lambda_w=d.get("lambda_w", 1.0),
                lambda_b=d.get("lambda_b", 0.0),
                widths=d.get("widths"),
            )
        except KeyError as exc:
            raise SpecError(f"network spec: missing field {exc.args[0]!r}") from None


def check_inputs(inputs, n0: int | None = None) -> np.ndarray:
    """Validate inputs as an (N, n0) float array: finite, at least one row."""
    try:
        x = np.asarray(inputs, dtype=float)
    except (TypeError, ValueError):
        raise SpecError("inputs: not a list of numeric vectors") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise SpecError(f"inputs: expected a list of vectors, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SpecError("inputs: contain NaN or infinity")
    if n0 is not None and x.shape[1] != n0:
        raise SpecError(f"inputs: vectors have dimension {x.shape[1]}, the network's n0 is {n0}")
    return x
