"""Nearly parallel inputs under ReLU and LeakyReLU (issue 9, part 1).

The ε-scan of the issue, x1 = s x0 + ε d (d a unit vector orthogonal to x0), and a second
one with another x0, scale and LeakyReLU slope: smooth down to 1 - ρ² = 1e-16, equal to
the engine of before where that engine was accurate, and tending to the exactly parallel
(homogeneous) solution.
"""
import numpy as np
import pytest

import fntk_core.solver as solver_module
from fntk_core import NetworkSpec, get_activation
from fntk_core.gaussian.piecewise import expect_piecewise
from fntk_core.precision import extended_gram
from fntk_core.solver import solve

ALL = ["K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B"]
CASES = {  # x0, the vector made orthogonal to x0 for d, scale s, activation, alpha, C_W
    "relu": ([-0.747832, -0.280407, -1.066028, -2.350911, 1.942741], [1.0, 0, 0, 0, 0], 0.8, "relu", None, 2.0),
    "leaky": ([0.31, -1.27, 0.58, 0.9, -0.44], [0, 1.0, 0, 0, 0], 1.7, "leaky_relu", 0.2, 2.0 / 1.04),
}
# Layer 3 of the engine before this change (commit 141a4d3), components (0,1) of
# Theta1, K1 and (0,1,0,1) of D, F, A, B, V.  Its error grew like 1e-16 (1 - rho^2)^(-5/2):
# they are a reference only within that.
BEFORE = {
    "relu": {
        0.1: [0.04345036832104654, -8.567427656203108e-07, 113.09445230850574, 37.734464486548525,
              118.99124059430356, 30.92433144868169, 125.67754280117802],
        0.03: [0.012809338510852086, -6.978090993925434e-09, 113.05034517901177, 37.68676196502456,
               119.21730815757331, 31.24835819482673, 125.61303407519449],
        0.01: [0.0042179648379345736, 3.3591618375794496e-10, 113.04647299912959, 37.68252730153799,
               119.28917978619214, 31.34959015914215, 125.60736345808064]},
    "leaky": {
        0.1: [0.012901206319811285, -1.484572157513989e-07, 33.54990873785144, 11.495720042701679,
              36.31789666244998, 9.839085670466403, 36.23266238019772],
        0.03: [0.003821733318425083, -1.2004995288459841e-09, 33.53422326600623, 11.483980763691612,
               36.363176110192626, 9.915497819626886, 36.21746430496694],
        0.01: [0.001272744128538232, -5.3550326566227547e-11, 33.53200724011673, 11.482941459622914,
               36.37814070562299, 9.939442475651873, 36.21612789411297]},
}


def setup(case):
    x0, v, s, act, alpha, cw = CASES[case]
    x0, v = np.array(x0), np.array(v)
    d = v - v @ x0 / (x0 @ x0) * x0
    return x0, d / np.linalg.norm(d), s, NetworkSpec(5, 3, get_activation(act, alpha=alpha), c_w=cw)


def natural_scales(t):
    """max|K|^2 for K1, V; max|K| max|Theta| for Theta1, D, F; max|Theta|^2 for A, B."""
    k, th = np.max(np.abs(t["K"])), np.max(np.abs(t["Theta"]))
    return {"K": k, "Theta": th, "K1": k * k, "V": k * k, "Theta1": k * th, "D": k * th, "F": k * th,
            "A": th * th, "B": th * th}


@pytest.mark.parametrize("case", CASES)
def test_agrees_with_the_previous_engine_where_it_was_accurate(case):
    x0, d, s, spec = setup(case)
    for eps, before in BEFORE[case].items():
        res = solve(spec, [x0, s * x0 + eps * d], tensors=ALL)
        t = {k: v[-1] for k, v in res.tensors.items()}
        rho2 = 1 - t["K"][0, 1] ** 2 / (t["K"][0, 0] * t["K"][1, 1])
        tol = max(1e-12, 1e-17 * rho2 ** -2.5)
        scale = natural_scales(t)
        got = [t["Theta1"][0, 1], t["K1"][0, 1]] + [t[n][0, 1, 0, 1] for n in ("D", "F", "A", "B", "V")]
        for name, g, b in zip(["Theta1", "K1", "D", "F", "A", "B", "V"], got, before):
            assert abs(g - b) <= tol * scale[name], (case, eps, name, g, b)


@pytest.mark.parametrize("case", CASES)
def test_scan_is_smooth_down_to_rounding_and_tends_to_the_parallel_limit(case):
    x0, d, s, spec = setup(case)
    norm = s * np.linalg.norm(x0)
    epsilons = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, norm * 1e-8]  # last: 1 - rho^2 = 1e-16
    limit = solve(spec, [x0, s * x0], tensors=ALL)  # exactly parallel: homogeneous closed form
    slopes = []
    for eps in epsilons:
        res = solve(spec, [x0, s * x0 + eps * d], tensors=ALL)
        scale = natural_scales({k: v[-1] for k, v in res.tensors.items()})
        for name in ALL:  # every entry within O(eps) of the limit, at every layer
            diff = np.max(np.abs(res.tensors[name] - limit.tensors[name]))
            assert diff <= 10 * eps / norm * scale[name], (case, eps, name, diff)
        slopes.append(res.tensors["Theta1"][-1][0, 1] / eps)
    # Theta1_01 = c eps + O(eps^2): the slope settles smoothly (the previous engine: -9.4 at 1e-3)
    slopes = np.array(slopes)
    assert np.all(np.abs(slopes - slopes[-1]) <= 20 * np.array(epsilons) / norm * abs(slopes[-1]) + 1e-9)
    assert abs(slopes[-1]) > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_more_digits_change_nothing(case):
    """Every entry is converged in the working precision (to 1e-12 of its natural scale)."""
    x0, d, s, spec = setup(case)
    x = [x0, s * x0 + 1e-6 * d]
    base = solve(spec, x, tensors=ALL)
    assert base.meta["working_digits"] > 16
    digits = solver_module.working_digits
    try:
        solver_module.working_digits = lambda spec, x: digits(spec, x) + 30
        more = solve(spec, x, tensors=ALL)
    finally:
        solver_module.working_digits = digits
    scale = natural_scales({k: v[-1] for k, v in base.tensors.items()})
    for name in ALL:
        assert np.max(np.abs(base.tensors[name] - more.tensors[name])) <= 1e-12 * scale[name], name


def test_extended_engine_at_one_minus_rho_squared_1e_minus_20():
    """The exact engine in extended precision: closed forms far below float64's resolution."""
    x = np.array([[1.0, 0.0], [1.0, 1e-10]])
    K = extended_gram(x, 1, 40)
    ctx = K[0, 0].context
    det = K[0, 0] * K[1, 1] - K[0, 1] ** 2  # (1e-10)^2, exact
    delta_delta = expect_piecewise(K, [((2,), 0), ((2,), 0)], (1.0, 0.0))
    assert float(delta_delta * 2 * ctx.pi * ctx.sqrt(det)) == pytest.approx(1.0, rel=1e-25)
    theta = ctx.atan(ctx.sqrt(det) / K[0, 1])  # the angle, 1e-10
    arc0 = expect_piecewise(K, [((1,), 0), ((1,), 0)], (1.0, 0.0))
    # asin(rho) near rho = 1 keeps ~half the 40 digits: 1e-28 is 1e-17 of the angle term
    assert float((0.5 - theta / (2 * ctx.pi)) - arc0) == pytest.approx(0.0, abs=1e-28)
