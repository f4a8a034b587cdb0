"""The layer recursions of theory.md section 3, transcribed as data.

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


_BUILDERS = {
    "K": _K, "Theta": _Theta, "V": _V, "K1": _K1, "Theta1": _Theta1,
    "F": _F, "D": _D, "A": _A, "B": _B, "P": _P, "Q": _Q,
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
