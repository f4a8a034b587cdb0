"""Study 3 (docs/theory.md §7): the diagonal NTK correction of scale-invariant activations.

Bias-free four-layer networks with two outputs, C_W = 2 for ReLU and LeakyReLU
(alpha = 0.1), and exact GeLU at its critical C_W = 1.98305826 as the contrast, on the two
4-dimensional inputs of study 2.  Relative deviation of the sampled NTK mean from infinite
width vs width: zero on the diagonal for ReLU/LeakyReLU (Theorem 5.2), O(1/n) off it.
"""
from __future__ import annotations

import numpy as np

from ..activations import get_activation
from ..spec import NetworkSpec
from .base import Point, fmt_pm, md_table, new_figure, width_axis, parse_int_list, point_seed, save_figure, weighted_mean
from .finite_width import C_W as GELU_CW, INPUTS

NAME = "scale-invariant-diagonal"
DEPTH = 4
DEFAULTS = {"networks": 4000, "widths": "10,20,40,80,160,320", "activations": "relu,leaky_relu,gelu", "alpha": 0.1,
            "outputs": 2, "seed": 0, "dtype": "float64"}
PAPER = {"networks": 1000000}
ENTRIES = {"00": (0, 0), "11": (1, 1), "01": (0, 1)}
LABEL = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "gelu": "GeLU"}


def normalise(opts: dict) -> dict:
    o = dict(DEFAULTS)
    o.update({k: v for k, v in opts.items() if v is not None})
    o["widths"] = parse_int_list(o["widths"])
    acts = o["activations"]
    o["activations"] = [a.strip() for a in acts.split(",") if a.strip()] if isinstance(acts, str) else list(acts)
    for a in o["activations"]:
        if a not in LABEL:
            raise ValueError(f"scale-invariant-diagonal: activation {a!r} not one of {', '.join(LABEL)}")
    o["networks"], o["seed"], o["outputs"], o["alpha"] = int(o["networks"]), int(o["seed"]), int(o["outputs"]), float(o["alpha"])
    if not o["widths"]:
        raise ValueError("scale-invariant-diagonal: needs at least one width")
    return o


def _spec(act: str, o: dict) -> NetworkSpec:
    a = get_activation(act, alpha=o["alpha"]) if act == "leaky_relu" else get_activation(act)
    return NetworkSpec(n0=4, depth=DEPTH, activation=a, c_w=GELU_CW if act == "gelu" else 2.0)


def make_points(o: dict) -> list[Point]:
    t = ("K", "Theta", "K1", "Theta1")
    pts = []
    for act in o["activations"]:
        spec = _spec(act, o)
        for n in o["widths"]:
            key = f"{act}_n{n}"
            pts.append(Point(key, {"activation": act, "width": n}, spec, INPUTS, n, o["networks"],
                             point_seed(o["seed"], key), t, t, outputs=o["outputs"], dtype=o["dtype"]))
    return pts


def rel_dev(points: list[Point], idx):
    """width, relative deviation (sampled - inf)/inf, its SE, predicted Theta1/(n Theta)."""
    n = np.array([p.width for p in points], float)
    s = np.array([p.sampled.tensors["Theta"][-1][idx] for p in points])
    e = np.array([p.sampled.stderr["Theta"][-1][idx] for p in points])
    inf = np.array([p.predicted.tensors["Theta"][-1][idx] for p in points])
    c = np.array([p.predicted.tensors["Theta1"][-1][idx] for p in points])
    return n, (s - inf) / inf, e / np.abs(inf), c / inf


def analyse(points: list[Point], o: dict) -> tuple[dict, str]:
    summary = {"activations": {}}
    rows = []
    for act in o["activations"]:
        pts = [p for p in points if p.coords["activation"] == act]
        d = summary["activations"][act] = {}
        for ent, idx in ENTRIES.items():
            n, r, re, pred = rel_dev(pts, idx)
            coef, coef_se, chi = weighted_mean(n * r, n * re)
            z = r / re
            d[ent] = {"coefficient": coef, "se": coef_se, "predicted": float(pred[0]), "z_zero": coef / coef_se,
                      "z_predicted": (coef - pred[0]) / coef_se, "max_abs_z_per_width": float(np.max(np.abs(z))),
                      "chi2_dof_zero": float(np.mean(z**2)), "per_width": [
                          {"width": int(w), "rel_dev": float(a), "se": float(b)} for w, a, b in zip(n, r, re)]}
            rows.append([LABEL[act], ent, f"{pred[0]:+.4f}", fmt_pm(coef, coef_se, 3), f"{coef / coef_se:+.1f}",
                         f"{(coef - pred[0]) / coef_se:+.1f}", f"{np.max(np.abs(z)):.1f}"])
    md = [f"# Diagonal NTK correction of scale-invariant activations (bias-free, L = {DEPTH}, {o['outputs']} outputs, "
          f"widths {', '.join(map(str, o['widths']))}; E = {o['networks']} networks per point, seed {o['seed']}, {o['dtype']})", "",
          "Relative deviation δ = (sampled − Θ)/Θ of the NTK mean at ℓ = 4. Coefficient: inverse-variance weighted "
          "mean of n·δ over widths, against the prediction Θ¹/Θ; z(0) tests it against zero; max |z| is the largest "
          "per-width |δ|/SE.", "",
          md_table(["activation", "entry", "predicted Θ¹/Θ", "fitted n·δ", "z(0)", "z(pred)", r"max \|z\| per width"], rows), ""]
    return summary, "\n".join(md)


def figures(points: list[Point], o: dict, out_dir, caption: str) -> list:
    fig, axes = new_figure(2, 3)
    nn = np.geomspace(min(o["widths"]), max(o["widths"]), 200)
    for c, (ent, idx) in enumerate(ENTRIES.items()):
        for j, act in enumerate(o["activations"]):
            pts = [p for p in points if p.coords["activation"] == act]
            n, r, re, pred = rel_dev(pts, idx)
            shift = 1 + 0.04 * (j - 1)  # spread the markers
            for row, (y, ye, curve) in enumerate(((r, re, pred[0] / nn), (n * r, n * re, pred[0] + 0 * nn))):
                ax = axes[row, c]
                ax.errorbar(n * shift, y, yerr=ye, fmt="o", ms=3.5, capsize=2, color=f"C{j}", label=f"{LABEL[act]} sampled")
                ax.plot(nn, curve, "-", lw=1, color=f"C{j}", label=f"{LABEL[act]} predicted")
        for row in range(2):
            ax = axes[row, c]
            ax.axhline(0, color="0.5", lw=0.6)
            width_axis(ax)
            kind = "diagonal" if ent[0] == ent[1] else "off-diagonal"
            if row == 0:
                ax.set_ylabel(rf"$\delta_{{{ent}}} = (\mathbb{{E}}\,\hat\Theta^{{(4)}}_{{{ent}}} - \Theta_{{{ent}}})/\Theta_{{{ent}}}$")
                ax.set_title(f"relative deviation, {kind} ({ent})")
            else:
                ax.set_ylabel(rf"$n\,\delta_{{{ent}}}$ (line: $\Theta^{{1}}_{{{ent}}}/\Theta_{{{ent}}}$)")
                ax.set_title(f"scaled by n, {kind} ({ent})")
            ax.legend(fontsize=6)
    return save_figure(fig, out_dir, "scale_invariant_diagonal", caption + "; error bars: 1 SE")


def caption(o: dict) -> str:
    return (f"Bias-free L = 4 MLPs, n_0 = 4, {o['outputs']} outputs; ReLU and LeakyReLU (α = {o['alpha']:g}) at C_W = 2, "
            f"GeLU at C_W = {GELU_CW}; {o['networks']} networks per point, seed {o['seed']}, {o['dtype']}")
