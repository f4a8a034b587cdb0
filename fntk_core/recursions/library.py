"""The layer recursions of docs/theory.md §3, transcribed as data.

Labels "1".."4" (and "d0".."d3" for the dNTK tensors) are external sample
indices in storage order; "b1".."b4" are summed.  Each function returns a
:class:`~fntk_core.recursions.terms.Recursion`.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .terms import C_W, C_b, E, Recursion, T, lambda_W, lambda_b, omega, r, recursion, sig, theta

half, quarter, eighth = sp.Rational(1, 2), sp.Rational(1, 4), sp.Rational(1, 8)
B1, B2, B3, B4 = "b1", "b2", "b3", "b4"


def s(a):  # sigma_a
    return sig(0, a)


def s1(a):  # sigma'_a
    return sig(1, a)


def s2(a):  # sigma''_a
    return sig(2, a)


def s3(a):  # sigma'''_a
    return sig(3, a)


def _K() -> Recursion:
    return recursion("K", ("1", "2"), C_b + C_W * E(s("1") * s("2")))


def _Theta() -> Recursion:
    return recursion("Theta", ("1", "2"), lambda_b + E(omega("1", "2")))


def _V() -> Recursion:
    new = C_W**2 * (E(s("1") * s("2") * s("3") * s("4")) - E(s("1") * s("2")) * E(s("3") * s("4")))
    prop = r * C_W**2 * quarter * T("V", B1, B2, B3, B4) * E(s("1") * s("2"), B1, B2) * E(s("3") * s("4"), B3, B4)
    return recursion("V", ("1", "2", "3", "4"), new + prop)


def _K1() -> Recursion:
    expr = r * C_W * (
        half * T("K1", B1, B2) * E(s("1") * s("2"), B1, B2)
        + eighth * T("V", B1, B2, B3, B4) * E(s("1") * s("2"), B1, B2, B3, B4)
    )
    return recursion("K1", ("1", "2"), expr)


def _Theta1() -> Recursion:
    expr = r * (
        C_W * E(s1("1") * s1("2")) * T("Theta1", "1", "2")
        + half * T("K1", B1, B2) * E(omega("1", "2"), B1, B2)
        + eighth * T("V", B1, B2, B3, B4) * E(omega("1", "2"), B1, B2, B3, B4)
        + C_W * half * E(s1("1") * s1("2"), B1, B2) * T("D", B1, B2, "1", "2")
        + C_W * E(s1("1") * s1("2"), B1, B2) * T("F", B1, "1", B2, "2")
    )
    return recursion("Theta1", ("1", "2"), expr)


def _F() -> Recursion:
    # storage order F_{1324}: z-legs 1, 2; NTK samples 3, 4; neuron pairs (1,3), (2,4)
    new = C_W**2 * E(s("1") * s("2") * s1("3") * s1("4")) * theta("3", "4")
    prop = r * C_W**2 * E(s("1") * s1("3"), B1) * E(s("2") * s1("4"), B2) * T("F", B1, "3", B2, "4")
    return recursion("F", ("1", "3", "2", "4"), new + prop)


def _D() -> Recursion:
    new = C_W * (E(s("1") * s("2") * omega("3", "4")) - E(s("1") * s("2")) * E(omega("3", "4")))
    prop = r * (
        C_W * quarter * T("V", B1, B2, B3, B4) * E(s("1") * s("2"), B1, B2) * E(omega("3", "4"), B3, B4)
        + C_W**2 * half * T("D", B1, B2, "3", "4") * E(s("1") * s("2"), B1, B2) * E(s1("3") * s1("4"))
    )
    return recursion("D", ("1", "2", "3", "4"), new + prop)


def _A() -> Recursion:
    new = E(omega("1", "2") * omega("3", "4")) - E(omega("1", "2")) * E(omega("3", "4"))
    prop = r * (
        quarter * T("V", B1, B2, B3, B4) * E(omega("1", "2"), B1, B2) * E(omega("3", "4"), B3, B4)
        + C_W * half * T("D", B1, B2, "3", "4") * E(omega("1", "2"), B1, B2) * E(s1("3") * s1("4"))
        + C_W * half * T("D", B1, B2, "1", "2") * E(omega("3", "4"), B1, B2) * E(s1("1") * s1("2"))
        + C_W**2 * E(s1("1") * s1("2")) * E(s1("3") * s1("4")) * T("A", "1", "2", "3", "4")
    )
    return recursion("A", ("1", "2", "3", "4"), new + prop)


def _B() -> Recursion:
    # storage order B_{1324}: first NTK has samples (1, 2), second (3, 4)
    new = C_W**2 * E(s1("1") * s1("2") * s1("3") * s1("4")) * theta("1", "2") * theta("3", "4")
    prop = r * C_W**2 * E(s1("1") * s1("3")) * E(s1("2") * s1("4")) * T("B", "1", "3", "2", "4")
    return recursion("B", ("1", "3", "2", "4"), new + prop)


def _P() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    new = C_W**2 * E(s2(d0) * s1(d1) * s1(d2) * s(d3)) * theta(d0, d1) * theta(d0, d2)
    prop = r * C_W**2 * E(s1(d1) * s1(d2)) * (
        E(s2(d0) * s(d3)) * T("B", d0, d0, d1, d2) + E(s1(d0) * s(d3), B1) * T("P", d0, d1, d2, B1)
    )
    return recursion("P", (d0, d1, d2, d3), new + prop)


def _Q() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    new = (
        lambda_W * C_W * theta(d0, d2) * E(s1(d0) * s(d1) * s1(d2) * s(d3))
        + C_W**2 * theta(d0, d1) * theta(d0, d2) * E(s2(d0) * s1(d1) * s1(d2) * s(d3))
    )
    prop = r * (
        lambda_W * C_W * T("F", B1, d0, B2, d2) * E(s1(d0) * s(d1), B1) * E(s1(d2) * s(d3), B2)
        + C_W**2 * theta(d0, d1) * T("F", B1, d0, B2, d2) * E(s2(d0) * s1(d1), B1) * E(s1(d2) * s(d3), B2)
        + C_W**2 * E(s1(d0) * s1(d1)) * T("Q", d0, d1, d2, B1) * E(s1(d2) * s(d3), B1)
    )
    return recursion("Q", (d0, d1, d2, d3), new + prop)


# ddNTK means (PDLT section 11.2; derivation and checks in docs/ddntk.md):
#   E[dd_I H_{i0i1i2i3}]  = (1/n)[d_{i0i1}d_{i2i3} R_{0123} + d_{i0i2}d_{i3i1} R_{0231} + d_{i0i3}d_{i1i2} R_{0312}]
#   E[dd_II H_{i1i2i3i4}] = (1/n)[d_{i1i2}d_{i3i4} S_{1234} + d_{i1i3}d_{i4i2} T_{1342} + d_{i1i4}d_{i2i3} U_{1423}]
# Labels "d0".."d3" are the sample indices of the legs in the order of the definitions
# (dd_I: legs i0..i3; dd_II: legs i1..i4 -> d0..d3).  Storage order is docs/theory.md §2's, so
# T is stored with labels (d0, d2, d3, d1) and U with (d0, d3, d1, d2).
def _X(a, b):
    """X_ab = lambda_W sigma'_a sigma_b + C_W Theta_ab sigma''_a sigma'_b."""
    return lambda_W * s1(a) * s(b) + C_W * theta(a, b) * s2(a) * s1(b)


def _R() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    # Y_01 = lambda_W sigma''_0 sigma_1 + C_W Theta_01 sigma'''_0 sigma'_1
    Y = lambda_W * s2(d0) * s(d1) + C_W * theta(d0, d1) * s3(d0) * s1(d1)
    new = C_W * theta(d0, d2) * theta(d0, d3) * E(Y * s1(d2) * s1(d3))
    prop = r * C_W * E(s1(d2) * s1(d3)) * (
        E(Y) * T("B", d0, d0, d2, d3)
        + E(_X(d0, d1), B1) * T("P", d0, d2, d3, B1)
        + C_W * E(s1(d0) * s1(d1)) * T("R", d0, d1, d2, d3)
    )
    return recursion("R", (d0, d1, d2, d3), new + prop)


def _S() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    # Z_12 = lambda_W sigma'_1 sigma'_2 + C_W Theta_12 sigma''_1 sigma''_2
    Z = lambda_W * s1(d0) * s1(d1) + C_W * theta(d0, d1) * s2(d0) * s2(d1)
    new = C_W * theta(d0, d2) * theta(d1, d3) * E(Z * s1(d2) * s1(d3))
    prop = r * C_W * E(s1(d2) * s1(d3)) * (
        E(Z) * T("B", d0, d1, d2, d3) + C_W * E(s1(d0) * s1(d1)) * T("S", d0, d1, d2, d3)
    )
    return recursion("S", (d0, d1, d2, d3), new + prop)


def _T() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    new = theta(d0, d1) * E(_X(d0, d2) * _X(d1, d3))
    prop = r * (
        T("F", B1, d0, B2, d1) * E(_X(d0, d2), B1) * E(_X(d1, d3), B2)
        + C_W * E(s1(d1) * s1(d3)) * T("Q", d1, d3, d0, B1) * E(_X(d0, d2), B1)
        + C_W * E(s1(d0) * s1(d2)) * T("Q", d0, d2, d1, B1) * E(_X(d1, d3), B1)
        + C_W**2 * E(s1(d0) * s1(d2)) * E(s1(d1) * s1(d3)) * T("T", d0, d2, d3, d1)
    )
    return recursion("T", (d0, d2, d3, d1), new + prop)


def _U() -> Recursion:
    d0, d1, d2, d3 = "d0", "d1", "d2", "d3"
    new = C_W**2 * theta(d0, d1) * theta(d0, d2) * theta(d1, d3) * E(s2(d0) * s2(d1) * s1(d2) * s1(d3))
    prop = r * C_W**2 * E(s1(d0) * s1(d3)) * E(s1(d1) * s1(d2)) * T("U", d0, d3, d1, d2)
    return recursion("U", (d0, d3, d1, d2), new + prop)


_BUILDERS = {
    "K": _K, "Theta": _Theta, "V": _V, "K1": _K1, "Theta1": _Theta1,
    "F": _F, "D": _D, "A": _A, "B": _B, "P": _P, "Q": _Q,
    "R": _R, "S": _S, "T": _T, "U": _U,
}
IMPLEMENTED = tuple(_BUILDERS)


@lru_cache(maxsize=None)
def get_recursion(name: str) -> Recursion:
    if name not in _BUILDERS:
        raise ValueError(f"no recursion for {name!r}; implemented: {', '.join(IMPLEMENTED)}")
    return _BUILDERS[name]()


def closure(names, source: dict | None = None) -> list[str]:
    """The tensors needed to compute ``names``, in an order that respects dependencies.

    ``source`` may override built-in recursions by name (e.g. diagram-generated ones).
    """
    needed: list[str] = []
    source = source or {}

    def visit(n):
        if n in needed:
            return
        rec = source.get(n) or get_recursion(n)
        for dep in sorted(rec.dependencies() - {n}):
            visit(dep)
        needed.append(n)

    for n in ("K", "Theta", *names):
        visit(n)
    return needed
