"""Study 1 (docs/theory.md §7): gradient stability of a bias-free ReLU MLP vs depth.

One ensemble of depth L_max per C_W gives every depth 1..L_max at once (layer l of a
deeper network is exactly a depth-l network), so a *point* is one C_W.
"""
from __future__ import annotations

import math

import numpy as np

from ..activations import get_activation
from ..spec import NetworkSpec
from ..tensors import DEFAULT_TENSORS, TENSORS
from .base import Point, fmt_pm, linear_fit, md_table, new_figure, parse_float_list, parse_int_list, point_seed, save_figure

NAME = "gradient-stability"
INPUTS = np.array([[-0.9895229339599609, -0.5992491841316223],
                   [-0.17877478897571564, 2.253682851791382]])
CRITICAL_CW = 2.0
# the four-point first-order tensors of the default set (V, D, F, A, B), sampled at criticality
FIRST_ORDER = tuple(n for n in DEFAULT_TENSORS if TENSORS[n].order == 1 and TENSORS[n].rank == 4)
DEFAULTS = {"networks": 500, "width": 200, "depths": "1-30", "c_w": "0.25,2,4", "seed": 0, "dtype": "float64",
            "first_order": True}
PAPER = {"networks": 1000}
ENTRIES = {"x0": (0, 0), "x1": (1, 1), "x0,x1": (0, 1)}


def normalise(opts: dict) -> dict:
    o = dict(DEFAULTS)
    o.update({k: v for k, v in opts.items() if v is not None})
    o["depths"] = parse_int_list(o["depths"])
    o["c_w"] = parse_float_list(o["c_w"])
    o["networks"], o["width"], o["seed"] = int(o["networks"]), int(o["width"]), int(o["seed"])
    if not o["depths"] or not o["c_w"]:
        raise ValueError("gradient-stability: needs at least one depth and one C_W")
    return o


def make_points(o: dict) -> list[Point]:
    L = max(o["depths"])
    pts = []
    for cw in o["c_w"]:
        key = f"cw{cw:g}_L{L}"
        crit = math.isclose(cw, CRITICAL_CW) and o["first_order"]
        spec = NetworkSpec(n0=2, depth=L, activation=get_activation("relu"), c_w=cw)
        tensors = ("K", "Theta") + (FIRST_ORDER if crit else ())
        pts.append(Point(key, {"c_w": cw, "depth": L}, spec, INPUTS, o["width"], o["networks"],
                         point_seed(o["seed"], key), tensors, tensors, dtype=o["dtype"]))
    return pts


def _series(p: Point, name: str, idx, depths):
    li = [p.sampled.layers.index(d) for d in depths]
    s = np.asarray(p.sampled.tensors[name])[(li,) + tuple(idx)]
    e = np.asarray(p.sampled.stderr[name])[(li,) + tuple(idx)]
    q = np.asarray(p.predicted.tensors[name])[(li,) + tuple(idx)]
    return s, e, q


def analyse(points: list[Point], o: dict) -> tuple[dict, str]:
    depths = np.array(o["depths"])
    sq = (INPUTS**2).sum(1) / 2  # |x|^2 / n0
    summary = {"critical_slope": {}, "growth_factor": {}, "first_order": {}}
    rows_lin, rows_exp, rows_fo = [], [], []
    for p in points:
        cw = p.coords["c_w"]
        for ent, idx in ENTRIES.items():
            s, e, q = _series(p, "Theta", idx, depths)
            if math.isclose(cw, CRITICAL_CW):
                (a, b), (ae, be), chi = linear_fit(depths, s, e, correlated=True, ols=True)
                (aq, bq), _, _ = linear_fit(depths, q, e, ols=True)
                closed = float(sq[idx[0]]) if idx[0] == idx[1] else None
                summary["critical_slope"][ent] = {"fitted": b, "se": be, "predicted_fit": bq, "closed_form": closed,
                                                  "intercept": a, "intercept_se": ae}
                rows_lin.append([ent, fmt_pm(b, be, 5), f"{bq:.5g}", "—" if closed is None else f"{closed:.5g}",
                                 f"{(b - bq) / be:+.2f}"])
            else:
                ok = (s > 0) & (q > 0) & (depths >= 2)
                if ok.sum() < 2:
                    continue
                y, ye = np.log(s[ok] / depths[ok]), e[ok] / s[ok]
                (a, lg), (_, lge), _ = linear_fit(depths[ok] - 1, y, ye, correlated=True, ols=True)
                (_, lq), _, _ = linear_fit(depths[ok] - 1, np.log(q[ok] / depths[ok]), ye, ols=True)
                g, ge, gq = math.exp(lg), math.exp(lg) * lge, math.exp(lq)
                summary["growth_factor"].setdefault(f"{cw:g}", {})[ent] = {
                    "fitted": g, "se": ge, "predicted_fit": gq, "c_w_over_2": cw / 2}
                rows_exp.append([f"{cw:g}", ent, fmt_pm(g, ge, 5), f"{gq:.5g}", f"{cw / 2:g}"])
        if math.isclose(cw, CRITICAL_CW) and "V" in p.sampled.tensors:
            L = max(depths)
            for name in ("K",) + FIRST_ORDER:
                idx = (0, 0) if name == "K" else (0, 0, 0, 0)
                s, e, q = _series(p, name, idx, [L])
                summary["first_order"][name] = {"depth": int(L), "sampled": float(s[0]), "se": float(e[0]),
                                                "predicted": float(q[0])}
                rows_fo.append([name + ("_{00}" if name == "K" else "_{0000}"), int(L), fmt_pm(s[0], e[0], 4),
                                f"{q[0]:.4g}", f"{(s[0] - q[0]) / e[0]:+.2f}" if e[0] > 0 else "—"])
    md = [f"# Gradient stability (bias-free ReLU MLP, n = {o['width']}, depths {min(depths)}–{max(depths)}, "
          f"E = {o['networks']} networks per C_W, seed {o['seed']})", ""]
    if rows_lin:
        md += ["## Critical C_W = 2: linear growth Θ^(ℓ) = s ℓ",
               "Fitted slope s from the sampled means (least squares a + s ℓ over all depths; the uncertainty is the "
               "conservative bound for fully correlated depths, which share networks). The recursion's slope is "
               "fitted the same way; for one input it is exactly |x|²/n₀.", "",
               md_table(["entry", "fitted slope (samples)", "slope of the recursion", r"closed form \|x\|²/n₀",
                         "(fit − recursion)/SE"], rows_lin), ""]
    if rows_exp:
        md += ["## C_W ≠ 2: exponential growth Θ^(ℓ) ∝ ℓ g^(ℓ−1)",
               "Growth factor g per layer from a fit of log(Θ/ℓ) vs ℓ (depths ≥ 2); for ReLU g = C_W/2.", "",
               md_table(["C_W", "entry", "fitted g (samples)", "g of the recursion", "C_W/2"], rows_exp), ""]
    if rows_fo:
        md += ["## NNGP and first-order tensors at criticality (deepest layer, input x0)",
               "Sampled values carry O(ℓ/n) finite-width corrections of their own.", "",
               md_table(["tensor", "depth", "sampled", "predicted", "z"], rows_fo), ""]
    return summary, "\n".join(md)


def figures(points: list[Point], o: dict, out_dir, caption: str) -> list:
    depths = np.array(o["depths"])
    files = []
    fig, axes = new_figure(1, len(points))
    colors = {"x0": "C0", "x1": "C1", "x0,x1": "C2"}
    for ax, p in zip(axes[0], points):
        cw = p.coords["c_w"]
        crit = math.isclose(cw, CRITICAL_CW)
        for ent, idx in ENTRIES.items():
            s, e, q = _series(p, "Theta", idx, depths)
            lab = {"x0": r"$\Theta_{00}$ (one input $x_0$)", "x1": r"$\Theta_{11}$ (one input $x_1$)",
                   "x0,x1": r"$\Theta_{01}$ (two inputs)"}[ent]
            m = np.ones_like(s, bool) if crit else (s > 0)
            lo = e[m] if crit else np.minimum(e[m], 0.9 * s[m])  # keep log-axis error bars above zero
            ax.errorbar(depths[m], s[m], yerr=(lo, e[m]), fmt="o", ms=3, capsize=2, color=colors[ent],
                        label=lab + " sampled")
            ax.plot(depths, q if crit else np.where(q > 0, q, np.nan), "-", color=colors[ent], lw=1,
                    label="recursion" if ent == "x0" else None)
        if crit:
            sq = (INPUTS**2).sum(1) / 2
            ax.plot(depths, depths * sq[0], "k:", lw=1, label=r"$\ell\,|x_0|^2/n_0$")
            ax.plot(depths, depths * sq[1], "k--", lw=0.8, label=r"$\ell\,|x_1|^2/n_0$")
        else:
            ax.set_yscale("log")
        ax.set_title(rf"$C_W = {cw:g}$" + (" (critical)" if crit else ""))
        ax.set_xlabel(r"depth $\ell$ (number of layers)")
        ax.set_ylabel(r"NTK mean $\mathbb{E}\,\hat\Theta^{(\ell)}_{\alpha_1\alpha_2}$ (dimensionless)")
        ax.legend(fontsize=6.5)
    files += save_figure(fig, out_dir, "gradient_stability", caption + "; error bars: 1 SE; entries ≤ 0 omitted on log axes")
    crit = [p for p in points if math.isclose(p.coords["c_w"], CRITICAL_CW) and "V" in p.sampled.tensors]
    if crit:
        p = crit[0]
        fig, axes = new_figure(2, 3)
        comps = {"K": {"(00)": (0, 0), "(11)": (1, 1), "(01)": (0, 1)}}
        for n in FIRST_ORDER:
            comps[n] = {"(0000)": (0, 0, 0, 0), "(1111)": (1, 1, 1, 1), "(0011)": (0, 0, 1, 1)}
        tex = {"K": r"NNGP kernel $K^{(\ell)}_{\alpha_1\alpha_2}$", "V": r"$V^{(\ell)}_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)}$",
               "D": r"$D^{(\ell)}_{\alpha_1\alpha_2\alpha_3\alpha_4}$", "F": r"$F^{(\ell)}_{\alpha_1\alpha_3\alpha_2\alpha_4}$",
               "A": r"$A^{(\ell)}_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)}$", "B": r"$B^{(\ell)}_{\alpha_1\alpha_3\alpha_2\alpha_4}$"}
        for ax, name in zip(axes.ravel(), ("K",) + FIRST_ORDER):
            for j, (lab, idx) in enumerate(comps[name].items()):
                s, e, q = _series(p, name, idx, depths)
                ax.errorbar(depths, s, yerr=e, fmt="o", ms=3, capsize=2, color=f"C{j}", label=f"{lab} sampled")
                ax.plot(depths, q, "-", color=f"C{j}", lw=1, label="recursion" if j == 0 else None)
            ax.set_xlabel(r"depth $\ell$ (number of layers)")
            ax.set_ylabel(tex[name] + ("" if name == "K" else r" ($\times 1/n_{\ell-1}$)"))
            ax.set_title(f"{name} at criticality, C_W = 2")
            ax.legend(fontsize=6.5)
        files += save_figure(fig, out_dir, "gradient_stability_first_order",
                             caption + "; first-order tensors are n_{ℓ-1} × cumulant; error bars: 1 SE (jackknife)")
    return files


def caption(o: dict) -> str:
    return (f"Bias-free ReLU MLP, n_0 = 2, hidden width n = {o['width']}, C_W ∈ {{{', '.join(f'{c:g}' for c in o['c_w'])}}}, "
            f"{o['networks']} networks per C_W, seed {o['seed']}, {o['dtype']}")
