"""Criticality (docs/theory.md §6, PDLT ch. 5).

chi_par  = C_W <sigma' sigma' + sigma sigma''>_K   (growth of K along the diagonal)
chi_perp = C_W <sigma' sigma'>_K                   (growth of off-diagonal perturbations)
Critical initialisation: a fixed point K* = C_b + C_W <sigma sigma>_{K*} with
chi_par = chi_perp = 1.  With C_W = 1 / <sigma'^2>_{K*} the second condition is
<sigma sigma''>_{K*} = 0, a one-dimensional root search in K*.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from .activations import Activation
from .gaussian import expectations


def _single(act: Activation, K: float, groups) -> np.ndarray:
    keys = [((0,), (g,)) for g in groups]
    return expectations(act, np.array([[float(K)]]), keys)


def gaussian_moments(act: Activation, K: float) -> dict[str, float]:
    ss, s1s1, ss2 = _single(act, K, [((0, 0), 0), ((1, 1), 0), ((0, 2), 0)])
    return {"<s s>": ss, "<s' s'>": s1s1, "<s s''>": ss2}


def chi_perp(act: Activation, K: float, c_w: float) -> float:
    return c_w * gaussian_moments(act, K)["<s' s'>"]


def chi_parallel(act: Activation, K: float, c_w: float) -> float:
    m = gaussian_moments(act, K)
    return c_w * (m["<s' s'>"] + m["<s s''>"])


def find_critical(act: Activation, k_min: float = 1e-6, k_max: float = 1e3, grid: int = 400) -> dict:
    """All critical points (K*, C_b, C_W) with C_b >= 0, found on a log grid of K*.

    Scale-invariant activations have a line of fixed points (any K*): C_b = 0,
    C_W = 2 / (s_+^2 + s_-^2).  Activations with sigma(0) = 0 also have the K* -> 0
    critical point C_b = 0, C_W = 1 / sigma'(0)^2 (the tanh class).
    """
    points = []
    if act.scale_invariant:
        sp_, sm = act.slopes
        cw = 2.0 / (sp_**2 + sm**2)
        points.append({"K_star": "any", "C_b": 0.0, "C_W": cw, "chi_parallel": 1.0, "chi_perp": 1.0})
        return {"activation": act.describe(), "critical_points": points}

    def g(K):
        return gaussian_moments(act, K)["<s s''>"]

    ks = np.geomspace(k_min, k_max, grid)
    vals = np.array([g(k) for k in ks])
    for a, b, va, vb in zip(ks[:-1], ks[1:], vals[:-1], vals[1:]):
        if np.isfinite(va) and np.isfinite(vb) and va * vb < 0:
            k_star = brentq(g, a, b, xtol=1e-15, rtol=1e-14, maxiter=200)
            m = gaussian_moments(act, k_star)
            cw = 1.0 / m["<s' s'>"]
            cb = k_star - cw * m["<s s>"]
            if cb >= -1e-12:
                points.append({"K_star": k_star, "C_b": max(cb, 0.0), "C_W": cw,
                               "chi_parallel": chi_parallel(act, k_star, cw), "chi_perp": chi_perp(act, k_star, cw)})
    s0 = float(act.derivative(0)(np.array([0.0]))[0])
    s1 = float(act.derivative(1)(np.array([0.0]))[0])
    if abs(s0) < 1e-14 and s1 != 0 and math.isfinite(s1):
        points.append({"K_star": 0.0, "C_b": 0.0, "C_W": 1.0 / s1**2, "chi_parallel": 1.0, "chi_perp": 1.0})
    return {"activation": act.describe(), "critical_points": points}
