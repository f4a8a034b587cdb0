"""Canonical form of recursions, so that two can be compared term by term.

A term's canonical key fixes what is arbitrary in how it was written: names of
summed labels, order of factors, order of fields and derivatives inside an
expectation, orientation of Theta, and the index symmetries of the lower-layer
tensor (derived from rules.STATISTICS).  Omega is already expanded by the
builder algebra.  Like terms are merged; zero coefficients dropped.

(Could live in recursions/terms.py as ``Recursion.canonical()``; kept here
because this module owns only diagrams/.)
"""
from __future__ import annotations

import itertools

import sympy as sp

from ..recursions.terms import Recursion, Term
from .rules import STATISTICS, tensor_symmetries


def term_key(term: Term, external: tuple[str, ...]) -> tuple:
    dummies = [l for l in term.labels() if l not in external]
    syms = tensor_symmetries(term.tensor.name) if term.tensor and term.tensor.name in STATISTICS else [None]
    best = None
    for perm in itertools.permutations(range(len(dummies))):
        ren = {d: f"_{perm[i]}" for i, d in enumerate(dummies)}
        f = lambda l: ren.get(l, l)  # noqa: E731
        thetas = tuple(sorted(tuple(sorted((f(a), f(b)))) for a, b in term.thetas))
        exps = tuple(sorted((tuple(sorted(f(x) for x in e.derivs)),
                             tuple(sorted((fl.order, f(fl.label)) for fl in e.fields)))
                            for e in term.expectations))
        for sym in syms:
            tensor = None
            if term.tensor is not None:
                labs = [f(l) for l in term.tensor.labels]
                if sym is not None:
                    labs = [labs[i] for i in sym]
                tensor = (term.tensor.name, tuple(labs))
            key = (thetas, exps, tensor)
            if best is None or repr(key) < repr(best):
                best = key
    return best


def canonical(rec: Recursion) -> dict:
    """{canonical term key: coefficient}, like terms merged."""
    out: dict = {}
    for t in rec.terms:
        k = term_key(t, rec.labels)
        out[k] = sp.expand(out.get(k, 0) + t.coeff)
    return {k: v for k, v in out.items() if v != 0}


def same_recursion(a: Recursion, b: Recursion) -> bool:
    return a.labels == b.labels and canonical(a) == canonical(b)


def difference(a: Recursion, b: Recursion) -> dict:
    """Canonical terms where a and b differ: {key: (coeff in a, coeff in b)}."""
    ca, cb = canonical(a), canonical(b)
    return {k: (ca.get(k, 0), cb.get(k, 0)) for k in set(ca) | set(cb) if sp.expand(ca.get(k, 0) - cb.get(k, 0)) != 0}
