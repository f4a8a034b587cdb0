"""Every recursion against an independent brute-force evaluation.

One layer step l -> l+1 with two inputs, random lower-layer tensors and a random
kernel: the compiled solver versus docs/theory.md §3 transcribed again here
component by component, with every Gaussian expectation done by SciPy's
adaptive cubature (in Cholesky coordinates) and derivatives expanded by an explicit product rule.
"""
import itertools

import numpy as np
import pytest

from bruteforce import brute_expect as _brute_expect
from fntk_core import get_activation
from fntk_core.recursions.compiled import cached_plan
from fntk_core.recursions.library import get_recursion

PARAMS = {"C_W": 1.3, "C_b": 0.2, "lambda_W": 0.7, "lambda_b": 0.1, "r": 1.6}
RNG = np.random.default_rng(7)
K = np.array([[0.9, 0.35], [0.35, 0.6]])
TH = np.array([[1.1, 0.4], [0.4, 0.8]])
LOWER = {
    "K1": RNG.normal(size=(2, 2)),
    "Theta1": RNG.normal(size=(2, 2)),
    **{n: RNG.normal(size=(2, 2, 2, 2)) for n in "VDFABPQ"},
}


def brute_expect(act, fields, derivs=()):
    """<d_derivs prod sigma^(m)(z_s)> for fields [(m, s)] under N(0, K), by cubature."""
    return _brute_expect(act.name, K, fields, derivs)


def omega_fields(a, b):
    """Omega_ab as [(coefficient, fields)]."""
    return [(PARAMS["lambda_W"], [(0, a), (0, b)]), (PARAMS["C_W"] * TH[a, b], [(1, a), (1, b)])]


def ex_omega(act, a, b, derivs=(), extra=()):
    return sum(c * brute_expect(act, f + list(extra), derivs) for c, f in omega_fields(a, b))


def brute_component(act, name, idx):
    cw, lw, r = PARAMS["C_W"], PARAMS["lambda_W"], PARAMS["r"]
    ex = lambda fields, derivs=(): brute_expect(act, fields, derivs)  # noqa: E731
    s = lambda a: (0, a)  # noqa: E731
    s1 = lambda a: (1, a)  # noqa: E731
    s2 = lambda a: (2, a)  # noqa: E731
    B = list(itertools.product(range(2), repeat=4))
    B2 = list(itertools.product(range(2), repeat=2))
    V, D, F, A, Bt, P, Q = (LOWER[n] for n in "VDFABPQ")
    if name == "V":
        a1, a2, a3, a4 = idx
        new = cw**2 * (ex([s(a1), s(a2), s(a3), s(a4)]) - ex([s(a1), s(a2)]) * ex([s(a3), s(a4)]))
        return new + r * cw**2 / 4 * sum(V[b] * ex([s(a1), s(a2)], b[:2]) * ex([s(a3), s(a4)], b[2:]) for b in B)
    if name == "K1":
        a1, a2 = idx
        return r * cw * (0.5 * sum(LOWER["K1"][b] * ex([s(a1), s(a2)], b) for b in B2)
                         + 0.125 * sum(V[b] * ex([s(a1), s(a2)], b) for b in B))
    if name == "Theta1":
        a1, a2 = idx
        return r * (cw * ex([s1(a1), s1(a2)]) * LOWER["Theta1"][a1, a2]
                    + 0.5 * sum(LOWER["K1"][b] * ex_omega(act, a1, a2, b) for b in B2)
                    + 0.125 * sum(V[b] * ex_omega(act, a1, a2, b) for b in B)
                    + cw / 2 * sum(ex([s1(a1), s1(a2)], b) * D[b[0], b[1], a1, a2] for b in B2)
                    + cw * sum(ex([s1(a1), s1(a2)], b) * F[b[0], a1, b[1], a2] for b in B2))
    if name == "F":  # idx = (1, 3, 2, 4)
        a1, a3, a2, a4 = idx
        return (cw**2 * ex([s(a1), s(a2), s1(a3), s1(a4)]) * TH[a3, a4]
                + r * cw**2 * sum(ex([s(a1), s1(a3)], (b1,)) * ex([s(a2), s1(a4)], (b2,)) * F[b1, a3, b2, a4]
                                  for b1, b2 in B2))
    if name == "D":
        a1, a2, a3, a4 = idx
        new = cw * (ex_omega(act, a3, a4, extra=[s(a1), s(a2)]) - ex([s(a1), s(a2)]) * ex_omega(act, a3, a4))
        return new + r * (cw / 4 * sum(V[b] * ex([s(a1), s(a2)], b[:2]) * ex_omega(act, a3, a4, b[2:]) for b in B)
                          + cw**2 / 2 * sum(D[b1, b2, a3, a4] * ex([s(a1), s(a2)], (b1, b2)) * ex([s1(a3), s1(a4)])
                                            for b1, b2 in B2))
    if name == "A":
        a1, a2, a3, a4 = idx
        both = sum(c1 * c2 * ex(f1 + f2) for c1, f1 in omega_fields(a1, a2) for c2, f2 in omega_fields(a3, a4))
        new = both - ex_omega(act, a1, a2) * ex_omega(act, a3, a4)
        return new + r * (0.25 * sum(V[b] * ex_omega(act, a1, a2, b[:2]) * ex_omega(act, a3, a4, b[2:]) for b in B)
                          + cw / 2 * sum(D[b1, b2, a3, a4] * ex_omega(act, a1, a2, (b1, b2)) * ex([s1(a3), s1(a4)])
                                         + D[b1, b2, a1, a2] * ex_omega(act, a3, a4, (b1, b2)) * ex([s1(a1), s1(a2)])
                                         for b1, b2 in B2)
                          + cw**2 * ex([s1(a1), s1(a2)]) * ex([s1(a3), s1(a4)]) * A[a1, a2, a3, a4])
    if name == "B":  # idx = (1, 3, 2, 4)
        a1, a3, a2, a4 = idx
        return (cw**2 * ex([s1(a1), s1(a2), s1(a3), s1(a4)]) * TH[a1, a2] * TH[a3, a4]
                + r * cw**2 * ex([s1(a1), s1(a3)]) * ex([s1(a2), s1(a4)]) * Bt[a1, a3, a2, a4])
    if name == "P":
        d0, d1, d2, d3 = idx
        return (cw**2 * ex([s2(d0), s1(d1), s1(d2), s(d3)]) * TH[d0, d1] * TH[d0, d2]
                + r * cw**2 * ex([s1(d1), s1(d2)]) * (ex([s2(d0), s(d3)]) * Bt[d0, d0, d1, d2]
                                                        + sum(ex([s1(d0), s(d3)], (b,)) * P[d0, d1, d2, b] for b in range(2))))
    if name == "Q":
        d0, d1, d2, d3 = idx
        new = (lw * cw * TH[d0, d2] * ex([s1(d0), s(d1), s1(d2), s(d3)])
               + cw**2 * TH[d0, d1] * TH[d0, d2] * ex([s2(d0), s1(d1), s1(d2), s(d3)]))
        prop = sum(F[b1, d0, b2, d2] * (lw * cw * ex([s1(d0), s(d1)], (b1,))
                                        + cw**2 * TH[d0, d1] * ex([s2(d0), s1(d1)], (b1,)))
                   * ex([s1(d2), s(d3)], (b2,)) for b1, b2 in B2)
        prop += cw**2 * ex([s1(d0), s1(d1)]) * sum(Q[d0, d1, d2, b] * ex([s1(d2), s(d3)], (b,)) for b in range(2))
        return new + r * prop
    raise KeyError(name)


COMPONENTS = {
    "V": [(0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 1, 1)],
    "K1": [(0, 1), (1, 1)],
    "Theta1": [(0, 1), (0, 0)],
    "F": [(0, 1, 1, 0), (0, 0, 1, 1)],
    "D": [(0, 1, 1, 1), (0, 0, 0, 1)],
    "A": [(0, 1, 0, 1), (1, 1, 0, 0)],
    "B": [(0, 1, 1, 0), (0, 0, 1, 1)],
    "P": [(0, 1, 1, 0), (1, 0, 0, 1)],
    "Q": [(0, 1, 1, 0), (1, 0, 1, 1)],
}


@pytest.mark.parametrize("act_name", ["tanh", "gelu"])
@pytest.mark.parametrize("name", list(COMPONENTS))
def test_recursion_matches_brute_force(act_name, name):
    act = get_activation(act_name)
    plan = cached_plan((get_recursion(name),), 2)
    got = plan.compiled[name].evaluate(
        _values(plan, act), TH, LOWER, PARAMS)
    for idx in COMPONENTS[name]:
        want = brute_component(act, name, idx)
        assert got[idx] == pytest.approx(want, rel=1e-8, abs=1e-10), (name, idx)


def _values(plan, act):
    from fntk_core.gaussian import expectations

    return expectations(act, K, plan.table.keys)
