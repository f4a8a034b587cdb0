"""Study 2 (docs/theory.md §7): finite-width corrections of a bias-free GeLU MLP.

Four layers (three hidden layers of width n), C_W = 1.98305826, the two 4-dimensional
inputs of the paper.  A point is one width n.  Sampled means of the NTK and NNGP kernel
(averaged over output channels: the sampler's estimator averages over neurons) are
compared with infinite width (Theta, K) and with the first-order prediction
Theta + Theta1/n, K + K1/n; the scaling view n (sampled - infinite) with Theta1, K1.
"""
from __future__ import annotations

import numpy as np

from ..activations import get_activation
from ..spec import NetworkSpec
from .base import Point, fmt_pm, linear_fit, md_table, new_figure, width_axis, parse_int_list, point_seed, save_figure, weighted_mean

NAME = "finite-width-corrections"
INPUTS = np.array([[0.6540248765053858, -1.3592788739383235, -0.3791179316445409, 0.34191025226280697],
                   [-0.6786403121150224, -0.12161213502515096, 0.21716372787141658, -1.4709063616118982]])
C_W = 1.98305826
DEPTH = 4
DEFAULTS = {"networks": 20000, "widths": "6,8,10,14,20,28,40,56,80,110,160,220", "seed": 0, "dtype": "float64",
            "fit_min": 20}
PAPER = {"networks": 100000}
ENTRIES = {"00": (0, 0), "11": (1, 1), "01": (0, 1)}
PAIRS = (("Theta", "Theta1"), ("K", "K1"))
TEX = {"Theta": r"\Theta", "K": "K", "Theta1": r"\Theta^{1}", "K1": "K^{1}"}


def normalise(opts: dict) -> dict:
    o = dict(DEFAULTS)
    o.update({k: v for k, v in opts.items() if v is not None})
    o["widths"] = parse_int_list(o["widths"])
    o["networks"], o["seed"], o["fit_min"] = int(o["networks"]), int(o["seed"]), int(o["fit_min"])
    if not o["widths"]:
        raise ValueError("finite-width-corrections: needs at least one width")
    return o


def make_points(o: dict) -> list[Point]:
    spec = NetworkSpec(n0=4, depth=DEPTH, activation=get_activation("gelu"), c_w=C_W)
    t = ("K", "Theta", "K1", "Theta1")
    return [Point(f"n{n}", {"width": n}, spec, INPUTS, n, o["networks"], point_seed(o["seed"], f"n{n}"), t, t,
                  dtype=o["dtype"]) for n in o["widths"]]


def table(points: list[Point], lead: str, idx):
    """Per width at the last layer: width, sampled, SE, infinite, coefficient (predicted)."""
    first = lead + "1"
    n = np.array([p.width for p in points], float)
    s = np.array([p.sampled.tensors[lead][-1][idx] for p in points])
    e = np.array([p.sampled.stderr[lead][-1][idx] for p in points])
    inf = np.array([p.predicted.tensors[lead][-1][idx] for p in points])
    coef = np.array([p.predicted.tensors[first][-1][idx] for p in points])
    return n, s, e, inf, coef


def fit_coefficient(n, y, ye, fit_min):
    """n (sampled - infinite) -> c (+ d/n): the first-order coefficient from samples."""
    m = n >= fit_min
    if m.sum() >= 3:
        (c, d), (ce, de), chi = linear_fit(1 / n[m], y[m], ye[m])
        return {"fitted": c, "se": ce, "slope_1_over_n": d, "chi2_dof": chi, "model": "c + d/n", "widths": int(m.sum())}
    c, ce, chi = weighted_mean(y[m], ye[m]) if m.any() else (np.nan, np.nan, np.nan)
    return {"fitted": c, "se": ce, "chi2_dof": chi, "model": "weighted mean", "widths": int(m.sum())}


def analyse(points: list[Point], o: dict) -> tuple[dict, str]:
    summary = {"coefficients": {}, "per_width": []}
    rows = []
    chi_inf = np.zeros(len(points))
    chi_fo = np.zeros(len(points))
    for lead, first in PAIRS:
        for ent, idx in ENTRIES.items():
            n, s, e, inf, coef = table(points, lead, idx)
            y, ye = n * (s - inf), n * e
            fit = fit_coefficient(n, y, ye, o["fit_min"])
            fit["predicted"] = float(coef[0])
            fit["z"] = float((fit["fitted"] - coef[0]) / fit["se"]) if np.isfinite(fit["se"]) else np.nan
            summary["coefficients"][f"{first}_{ent}"] = fit
            rows.append([f"{first}_{{{ent}}}", f"{coef[0]:.4g}", fmt_pm(fit["fitted"], fit["se"], 4),
                         f"{fit['z']:+.2f}", f"{fit['chi2_dof']:.2f}", fit["model"]])
            chi_inf += ((s - inf) / e) ** 2
            chi_fo += ((s - inf - coef / n) / e) ** 2
    wrows = []
    for i, p in enumerate(points):
        _, s, e, inf, coef = table([p], "Theta", (0, 0))
        summary["per_width"].append({"width": p.width, "chi2_infinite": float(chi_inf[i]),
                                     "chi2_first_order": float(chi_fo[i]), "entries": 6})
        wrows.append([p.width, fmt_pm(s[0], e[0], 5), f"{inf[0]:.5g}", f"{inf[0] + coef[0] / p.width:.5g}",
                      f"{chi_inf[i]:.1f}", f"{chi_fo[i]:.1f}"])
    md = [f"# Finite-width corrections (bias-free GeLU, C_W = {C_W}, L = {DEPTH}, widths "
          f"{', '.join(map(str, o['widths']))}; E = {o['networks']} networks per width, seed {o['seed']}, {o['dtype']})", "",
          "## First-order coefficients: predicted vs fitted from samples",
          f"Fitted from n·(sampled − infinite width) over widths n ≥ {o['fit_min']} (model c + d/n when ≥ 3 widths, "
          "d absorbs O(1/n²)); z = (fitted − predicted)/SE.", "",
          md_table(["coefficient", "predicted (recursion)", "fitted (samples)", "z", "χ²/dof", "model"], rows), "",
          "## Per width: Θ_00 and the χ² of the 6 entries (Θ, K: 00, 11, 01) against both predictions", "",
          md_table(["n", "sampled Θ_00", "infinite Θ_00", "Θ_00 + Θ¹_00/n", "χ² infinite", "χ² first order"], wrows), ""]
    return summary, "\n".join(md)


def figures(points: list[Point], o: dict, out_dir, caption: str) -> list:
    files = []
    nn = np.geomspace(min(o["widths"]), max(o["widths"]), 200)
    fig, axes = new_figure(2, 3)
    for r, (lead, first) in enumerate(PAIRS):
        for c, (ent, idx) in enumerate(ENTRIES.items()):
            ax = axes[r, c]
            n, s, e, inf, coef = table(points, lead, idx)
            lt = TEX[lead] + "_{" + ent + "}"
            ax.errorbar(n, s, yerr=e, fmt="o", ms=3.5, capsize=2, color="k", label="sampled mean")
            ax.axhline(inf[0], color="C0", lw=1, label=rf"infinite width ${lt}$")
            ax.plot(nn, inf[0] + coef[0] / nn, color="C3", lw=1.2,
                    label=rf"first order ${lt} + {TEX[first]}_{{{ent}}}/n$")
            width_axis(ax)
            ax.set_ylabel(rf"$\mathbb{{E}}\,\hat{{{TEX[lead]}}}^{{(4)}}_{{{ent}}}$" if lead == "Theta"
                          else rf"$\mathbb{{E}}[z_{{{ent[0]}}} z_{{{ent[1]}}}]$ at $\ell = 4$")
            ax.set_title(("NTK " if lead == "Theta" else "NNGP ") + ("diagonal" if ent[0] == ent[1] else "off-diagonal")
                         + f" ({ent})")
            ax.legend(fontsize=6.5)
    files += save_figure(fig, out_dir, "finite_width_corrections", caption + "; error bars: 1 SE")
    fig, axes = new_figure(2, 3)
    for r, (lead, first) in enumerate(PAIRS):
        for c, (ent, idx) in enumerate(ENTRIES.items()):
            ax = axes[r, c]
            n, s, e, inf, coef = table(points, lead, idx)
            y, ye = n * (s - inf), n * e
            ax.errorbar(n, y, yerr=ye, fmt="o", ms=3.5, capsize=2, color="k", label=r"$n\,(\mathrm{sampled} - \mathrm{infinite})$")
            ax.axhline(coef[0], color="C3", lw=1.2, label=rf"predicted ${TEX[first]}_{{{ent}}}$")
            ax.axhline(0, color="0.6", lw=0.6)
            fit = fit_coefficient(n, y, ye, o["fit_min"])
            if np.isfinite(fit["fitted"]):
                ax.axhspan(fit["fitted"] - fit["se"], fit["fitted"] + fit["se"], color="C2", alpha=0.25,
                           label=f"fit n ≥ {o['fit_min']}: {fmt_pm(fit['fitted'], fit['se'], 3)}")
            width_axis(ax)
            ax.set_ylabel(rf"$n\,(\mathbb{{E}}\,\hat{{{TEX[lead]}}}_{{{ent}}} - {TEX[lead]}_{{{ent}}})$" if lead == "Theta"
                          else rf"$n\,(\mathbb{{E}}[z_{{{ent[0]}}}z_{{{ent[1]}}}] - K_{{{ent}}})$")
            ax.set_title(f"scaling view, {first}_{{{ent}}}")
            ax.legend(fontsize=6.5)
    files += save_figure(fig, out_dir, "finite_width_scaling", caption + "; error bars: 1 SE; band: fitted coefficient ± 1 SE")
    return files


def caption(o: dict) -> str:
    return (f"Bias-free exact-GeLU MLP, n_0 = 4, L = 4, C_W = {C_W}, {o['networks']} networks per width, "
            f"seed {o['seed']}, {o['dtype']}")
