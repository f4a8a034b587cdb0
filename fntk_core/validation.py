"""Theory against sampled networks: the curves of the app's validation panel and its exports.

Qt-free, so that the plotted numbers are checkable without a window. The sampler's
first-order tensors (V, D, F, A, B, P, Q, R-U, K1, Theta1) are n_{l-1} x cumulant, whose
infinite-width limit is the solver's value; the sampled K and Theta are finite-width means,
predicted to first order by K + K1/n_{l-1} (``finite_width_prediction``), and
n (sampled - infinite) tends to the coefficient K1 at large n (docs/theory.md §2).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .results import Result
from .solver import finite_width_prediction
from .spec import NetworkSpec
from .tensors import TENSORS

VIEWS = ("layers", "widths", "scaled")
VIEW_TITLES = {"layers": "per layer at one width", "widths": "across widths at one layer",
               "scaled": "n·(sampled − infinite width) across widths"}
FIRST = {"K": "K1", "Theta": "Theta1"}  # leading tensor -> its 1/n coefficient


@dataclass(frozen=True)
class Curve:
    """One plotted series: ``kind`` is "sampled" (with ``err``), "infinite", "first-order" or "coefficient"."""

    label: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    err: np.ndarray | None = None


def theory_tensors(name: str) -> list[str]:
    """The solver tensors that the predictions for the sampled ``name`` need."""
    return [name, FIRST[name]] if name in FIRST else [name]


def has_scaled_view(name: str) -> bool:
    """n (sampled - infinite) has a first-order prediction only for the leading tensors K, Theta."""
    return name in FIRST


def _at(arr, idx):
    return np.asarray(arr)[(slice(None),) + tuple(idx)]


def per_layer(name: str, idx, theory: Result | None, sampled: Result | None, width: int,
              spec: NetworkSpec | None = None) -> list[Curve]:
    """Sampled means (±1 s.e.) per layer at hidden width ``width``, the infinite-width value and,
    for K and Theta, the first-order corrected value K + K1/n."""
    out = []
    if sampled is not None and name in sampled.tensors:
        x = np.asarray(sampled.layers, float)
        err = _at(sampled.stderr[name], idx) if sampled.stderr and name in sampled.stderr else None
        out.append(Curve(f"sampled, n = {width}", "sampled", x, _at(sampled.tensors[name], idx), err))
    if theory is not None and name in theory.tensors:
        x = np.asarray(theory.layers, float)
        label = "infinite width" if TENSORS[name].order == 0 else "prediction (solver)"
        out.append(Curve(label, "infinite", x, _at(theory.tensors[name], idx)))
        if name in FIRST and FIRST[name] in theory.tensors:
            pred = finite_width_prediction(theory, spec or _spec_of(theory), width)[name]
            out.append(Curve(f"first-order, n = {width}", "first-order", x, _at(pred, idx)))
    return out


def across_widths(name: str, idx, layer: int, theory: Result | None, sampled: Mapping[int, Result],
                  *, scaled: bool = False, grid: int = 200) -> list[Curve]:
    """At one layer, over the hidden widths n that were sampled.

    ``scaled=False``: sampled means, the infinite-width value and (K, Theta) K + K1/n on a
    fine grid of n.  ``scaled=True`` (K, Theta only): n (sampled - infinite) with n x s.e.
    and the flat first-order coefficient K1 it should approach at large n.
    """
    widths = sorted(n for n, r in sampled.items() if r is not None and name in r.tensors)
    li = layer - 1
    inf = None
    if theory is not None and name in theory.tensors:
        inf = float(_at(theory.tensors[name], idx)[li])
    coef = None
    if theory is not None and name in FIRST and FIRST[name] in theory.tensors and layer >= 2:
        coef = float(_at(theory.tensors[FIRST[name]], idx)[li])
    elif theory is not None and name in FIRST and layer == 1:
        coef = 0.0  # layer 1 has no finite-width correction
    n = np.asarray(widths, float)
    y = np.array([_at(sampled[w].tensors[name], idx)[li] for w in widths], float)
    err = np.array([_at(sampled[w].stderr[name], idx)[li] if sampled[w].stderr else np.nan for w in widths], float)
    span = (n.min(), n.max()) if len(n) else (1.0, 2.0)
    dense = np.linspace(span[0], span[1], grid)
    out = []
    if scaled:
        if not has_scaled_view(name) or inf is None:
            raise ValueError(f"{name}: n (sampled - infinite width) has a first-order prediction only for "
                             f"K and Theta")
        out.append(Curve("n·(sampled − infinite)", "sampled", n, n * (y - inf), n * err))
        if coef is not None:
            out.append(Curve(f"{FIRST[name]} (first-order coefficient)", "coefficient", dense,
                             np.full_like(dense, coef)))
        return out
    out.append(Curve(f"sampled, layer {layer}", "sampled", n, y, err))
    if inf is not None:
        label = "infinite width" if TENSORS[name].order == 0 else "prediction (solver)"
        out.append(Curve(label, "infinite", dense, np.full_like(dense, inf)))
    if coef is not None:
        out.append(Curve("first-order: value + coefficient/n", "first-order", dense, inf + coef / dense))
    return out


def _spec_of(result: Result) -> NetworkSpec:
    return NetworkSpec.from_dict(result.meta["network"])


def curves_csv(curves: list[Curve], xname: str) -> str:
    """The curves as CSV: one block of rows per curve (curve, kind, x, y, stderr)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["curve", "kind", xname, "value", "stderr"])
    for c in curves:
        for i in range(len(c.x)):
            e = "" if c.err is None else repr(float(c.err[i]))
            w.writerow([c.label, c.kind, repr(float(c.x[i])), repr(float(c.y[i])), e])
    return buf.getvalue()


def read_curves_csv(text: str) -> dict[str, dict[str, np.ndarray]]:
    """{curve label: {"x", "y", "err"}} from :func:`curves_csv` output (tests, scripts)."""
    out: dict[str, dict[str, list]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        c = out.setdefault(row["curve"], {"x": [], "y": [], "err": []})
        c["x"].append(float(row[next(k for k in row if k not in ("curve", "kind", "value", "stderr"))]))
        c["y"].append(float(row["value"]))
        c["err"].append(float(row["stderr"]) if row["stderr"] else np.nan)
    return {k: {kk: np.asarray(vv) for kk, vv in v.items()} for k, v in out.items()}


STYLE = {"sampled": dict(color="#1f77b4", marker="o", ls="none"),
         "infinite": dict(color="#7f7f7f", ls="--", lw=1.2),
         "first-order": dict(color="#d62728", ls="-", lw=1.5),
         "coefficient": dict(color="#d62728", ls="-", lw=1.5)}


def figure(curves: list[Curve], *, title: str, xlabel: str, ylabel: str, size=(4.2, 3.2)):
    """A publication-style matplotlib Figure (object-oriented API, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    for c in curves:
        st = dict(STYLE.get(c.kind, {}))
        if c.kind == "sampled":
            ax.errorbar(c.x, c.y, yerr=c.err, capsize=2.5, ms=4, elinewidth=1, label=c.label, **st)
        else:
            ax.plot(c.x, c.y, label=c.label, **st)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(direction="in", top=True, right=True)
    ax.legend(frameon=False, fontsize=8)
    return fig


def save_figure(fig, path) -> None:
    """PNG, PDF or SVG by the file's suffix, written atomically."""
    from pathlib import Path

    from .errors import FntkError
    from .files import atomic_write_bytes

    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf", "svg"):
        raise FntkError(f"figure: the file must end in .png, .pdf or .svg, got {Path(path).name!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=200)
    atomic_write_bytes(path, buf.getvalue())
