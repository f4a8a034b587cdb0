"""Streaming estimators (NumPy only; no TensorFlow here).

Per-network features (see engine.Ensemble.fast_features) are summed into a fixed number of
blocks; network e goes to block e mod G.  Memory is G x (size of the features) however
many networks are drawn.  Every statistic is a smooth function of feature means
(cumulants are differences of products of means), so its standard error comes from the
delete-one-block jackknife over the G blocks; the point estimate uses all networks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tensors import TENSORS


@dataclass(frozen=True)
class Feature:
    """One per-network statistic the engine computes (definitions: engine.Ensemble.fast_features, derivative_features)."""

    name: str
    source: str  # forward quantities it is computed from: "z", "ntk", "dntk" or "ddntk"
    rao_blackwellised: bool = False  # closed form in layer l-1 quantities ("r" + plain name)
    full_ntk: bool = False  # needs whole n x n NTK matrices, not only their diagonals


# The one registry of features; the engine's and the sampler's feature sets derive from it.
FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("k2", "z"), Feature("v4", "z"),
    Feature("t2", "ntk"), Feature("d4", "ntk"), Feature("a4", "ntk"),
    Feature("f4", "ntk", full_ntk=True), Feature("b4", "ntk", full_ntk=True),
    Feature("p4", "dntk"), Feature("q4", "dntk"),
    Feature("ddr4", "ddntk"), Feature("dds4", "ddntk"), Feature("ddt4", "ddntk"), Feature("ddu4", "ddntk"),
    Feature("rk2", "z", True), Feature("rv4", "z", True),
    Feature("rt2", "ntk", True), Feature("rd4", "ntk", True), Feature("ra4", "ntk", True),
    Feature("rf4", "ntk", True, full_ntk=True), Feature("rb4", "ntk", True, full_ntk=True),
)}


def features_from(source: str) -> frozenset[str]:
    return frozenset(n for n, f in FEATURES.items() if f.source == source)


# plain features that also have a Rao-Blackwellised estimator; P, Q, R-U have none
RB_FEATURES = frozenset(n[1:] for n, f in FEATURES.items() if f.rao_blackwellised)
# which plain features each tensor's estimate needs (the Rao-Blackwellised ones add "r")
NEEDS = {
    "K": ("k2",), "K1": ("k2",), "Theta": ("t2",), "Theta1": ("t2",),
    "V": ("v4", "k2"), "D": ("d4", "k2", "t2"), "A": ("a4", "t2"),
    "F": ("f4",), "B": ("b4",), "P": ("p4",), "Q": ("q4",),
    "R": ("ddr4",), "S": ("dds4",), "T": ("ddt4",), "U": ("ddu4",),
}
assert set(NEEDS) == {n for n, t in TENSORS.items() if t.sampler}, "fntk_core.tensors and NEEDS disagree"
# tensors whose plain estimator needs two distinct neurons at the layer (undefined at width 1)
PAIR_TENSORS = tuple(n for n, feats in NEEDS.items() if FEATURES[feats[0]].name.endswith("4"))
PLAIN_ONLY = tuple(n for n, feats in NEEDS.items() if feats[0] not in RB_FEATURES)
DDNTK_TENSORS = tuple(n for n, feats in NEEDS.items() if FEATURES[feats[0]].source == "ddntk")


def tensor_sources(names) -> set[str]:
    """The forward quantities ("z", "ntk", "dntk", "ddntk") the estimates of ``names`` need."""
    return {FEATURES[f].source for name in names for f in NEEDS[name]}


class Accumulator:
    """Running block sums of per-network features (merged chunk by chunk)."""

    def __init__(self, blocks: int):
        self.blocks = blocks
        self.sums: dict[str, np.ndarray] | None = None
        self.counts = np.zeros(blocks, dtype=np.int64)
        self.bad = 0
        self.drawn = 0

    def add(self, sums: dict, counts: np.ndarray, bad: int, drawn: int) -> None:
        if self.sums is None:
            self.sums = {k: np.array(v, dtype=np.float64) for k, v in sums.items()}
        else:
            for k, v in sums.items():
                self.sums[k] += v
        self.counts += counts
        self.bad += bad
        self.drawn += drawn

    def state(self) -> dict:
        """The block sums as plain JSON data (to resume an interrupted job later)."""
        return {"blocks": self.blocks, "counts": self.counts.tolist(), "bad": self.bad, "drawn": self.drawn,
                "sums": None if self.sums is None else {k: v.tolist() for k, v in self.sums.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Accumulator:
        acc = cls(int(state["blocks"]))
        acc.counts = np.array(state["counts"], dtype=np.int64)
        acc.bad, acc.drawn = int(state["bad"]), int(state["drawn"])
        if state["sums"] is not None:
            acc.sums = {k: np.array(v, dtype=np.float64) for k, v in state["sums"].items()}
        if acc.counts.shape != (acc.blocks,):
            raise ValueError("accumulator state: counts do not match the number of blocks")
        return acc

    @property
    def used(self) -> int:
        return int(self.counts.sum())

    def means(self):
        """(full means, leave-one-block-out means with a leading axis over nonempty blocks)."""
        total = self.used
        full = {k: v.sum(0) / total for k, v in self.sums.items()}
        nz = np.flatnonzero(self.counts)
        rest = (total - self.counts[nz]).astype(float)
        loo = {}
        if len(nz) >= 2:
            for k, v in self.sums.items():
                tot = v.sum(0)
                sel = v[nz]
                loo[k] = (tot[None] - sel) / rest.reshape((-1,) + (1,) * (sel.ndim - 1))
        return full, loo, len(nz)


def _outer(a, b):
    return a[..., :, :, None, None] * b[..., None, None, :, :]


def _with_control_variate(m, y_key, cv, mu):
    """Mean of y corrected with the control variate c (known mean mu), coefficient
    beta = Cov(y, c) / Var(c) per component, fitted on the same networks; layers >= 3."""
    y = m[y_key].copy()
    c, c2, yc = m[cv], m[cv + "2"], m["x" + y_key]
    var = c2 - c * c
    cov = yc - y * c
    beta = np.divide(cov, var, out=np.zeros_like(cov), where=var > 0)
    corr = y - beta * (c - mu)
    y[..., 2:, :, :] = corr[..., 2:, :, :]
    return y


def estimate(m: dict, names, nprev: np.ndarray, *, rb: bool, k_inf=None, theta_inf=None,
             layer_widths=None, control_variates=False) -> dict[str, np.ndarray]:
    """Tensors (layer axis after any leading batch axes) from feature means ``m``."""
    def get(key):
        key = "r" + key if rb and key in RB_FEATURES else key
        if control_variates and key in ("k2", "rk2") and "cvk" in m and k_inf is not None:
            return _with_control_variate(m, key, "cvk", k_inf[1])
        if control_variates and key in ("t2", "rt2") and "cvt" in m and theta_inf is not None:
            return _with_control_variate(m, key, "cvt", theta_inf[1])
        return m[key]

    L = len(nprev)

    def scale(a):  # n_{l-1} x cumulant, zero at layer 1
        shape = (L,) + (1,) * 4
        out = a * nprev.reshape(shape)
        out[..., 0, :, :, :, :] = 0.0
        return out

    out = {}
    for name in names:
        if name == "K":
            out[name] = get("k2").copy()
        elif name == "Theta":
            out[name] = get("t2").copy()
        elif name in ("K1", "Theta1"):
            inf = k_inf if name == "K1" else theta_inf
            mean = get("k2" if name == "K1" else "t2")
            v = (mean - inf) * nprev.reshape((L, 1, 1))
            v[..., 0, :, :] = 0.0
            out[name] = v
        elif name == "V":
            k = get("k2")
            out[name] = scale(get("v4") - _outer(k, k))
        elif name == "D":
            out[name] = scale(get("d4") - _outer(get("k2"), get("t2")))
        elif name == "A":
            t = get("t2")
            out[name] = scale(get("a4") - _outer(t, t))
        elif name in ("F", "B", "P", "Q"):
            out[name] = scale(get(name.lower() + "4").copy())
        elif name in DDNTK_TENSORS:  # n_{l-1} x mean of dd_I H / dd_II H over their neuron pattern
            out[name] = scale(get(NEEDS[name][0]).copy())
        if layer_widths is not None and name in PAIR_TENSORS and not (rb and name not in PLAIN_ONLY):
            for li, n in enumerate(layer_widths):
                if n < 2 and li > 0:
                    out[name][..., li, :, :, :, :] = np.nan
    return out


def jackknife(full: dict, loo: dict, groups: int) -> dict[str, np.ndarray]:
    """Standard errors from leave-one-block-out estimates."""
    se = {}
    for k, v in full.items():
        if groups < 2:
            se[k] = np.full_like(v, np.nan)
            continue
        d = loo[k] - loo[k].mean(0)
        se[k] = np.sqrt((groups - 1) / groups * (d * d).sum(0))
    return se


def estimate_with_errors(acc: Accumulator, names, nprev, *, rb, k_inf=None, theta_inf=None, layer_widths=None,
                         control_variates=False):
    full_m, loo_m, g = acc.means()
    kw = dict(rb=rb, k_inf=k_inf, theta_inf=theta_inf, layer_widths=layer_widths, control_variates=control_variates)
    full = estimate(full_m, names, nprev, **kw)
    loo = estimate(loo_m, names, nprev, **kw) if g >= 2 else {}
    return full, jackknife(full, loo, g)
