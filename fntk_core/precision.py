"""Extended precision for the ReLU family when two inputs are nearly parallel.

Near rho = 1 the delta-function expectations grow like (1 - rho^2)^(-k/2) (up to k = 3
for <delta'(z1) delta'(z2)>) and the lower-layer tensors they multiply have components,
in the direction that separates the two inputs, which vanish like the same powers: the
products are O(1) but only after cancellation.  In float64 the stored K, V, D, ... carry
that information only to 1e-16 of their size, so the result is lost like
1e-16 (1 - rho^2)^(-5/2) (Theta1 off by 10 at 1 - rho^2 = 1e-7), whatever the formulas.
No rewrite of single expectations can fix it; the whole recursion must carry more
digits.  So when some pair comes closer than THRESHOLD at some layer, the solver runs
every layer in mpmath, starting from the exact Gram matrix of the float64 inputs, with
enough digits for the worst pair; exactly parallel inputs never get here (see
:mod:`fntk_core.homogeneous`).
"""
from __future__ import annotations

import math

import mpmath
import numpy as np

from .recursions.compiled import cached_plan
from .recursions.library import get_recursion

THRESHOLD = 1e-2  # 1 - rho^2 below which float64 loses more than ~1e-10 of the natural scale
TARGET_DIGITS = 16  # digits kept after the worst cancellation
FLOOR = 1e-40  # smallest 1 - rho^2 planned for (below: rounded inputs, treated alike)


def working_digits(spec, x: np.ndarray) -> int | None:
    """Decimal digits for the solve, or None when float64 suffices (float pass on K only)."""
    act = spec.activation
    if not act.scale_invariant or act.slopes[0] == act.slopes[1] or len(x) < 2:
        return None
    plan = cached_plan((get_recursion("K"),), len(x))
    K = spec.c_b[0] + spec.c_w[0] * (x @ x.T) / spec.n0
    worst = 1.0
    for layer in range(1, spec.depth + 1):
        d = np.sqrt(np.diag(K))
        with np.errstate(all="ignore"):
            rho = K / np.outer(d, d)
        off = ~np.eye(len(x), dtype=bool) & (rho > 0) & np.isfinite(rho)
        if off.any():
            worst = min(worst, float(np.min(1 - rho[off] ** 2)))
        if layer < spec.depth:
            params = dict(spec.layer_params(layer + 1), r=spec.ratio(layer))
            K = plan.step(act, K, K, {"K": K}, params)["K"]
    if worst >= THRESHOLD:
        return None
    return TARGET_DIGITS + 10 + math.ceil(2.5 * math.log10(1 / max(worst, FLOOR)))


def extended_gram(x: np.ndarray, n0: int, digits: int) -> np.ndarray:
    """x x^T / n0, exact for float64 inputs, as numbers of a private mpmath context at
    ``digits``: all later arithmetic on them (solver, engine, einsum) keeps that precision."""
    ctx = mpmath.MPContext()
    ctx.dps = 2 * digits + 40  # float products and sums are exact at this precision
    xe = np.vectorize(ctx.mpf, otypes=[object])(x)
    g = xe @ xe.T / n0
    ctx.dps = digits
    return np.vectorize(lambda v: +v, otypes=[object])(g)
