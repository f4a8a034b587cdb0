"""Compile recursions once per number of inputs; evaluate them layer by layer.

Compilation is input-independent: every expectation factor of every term is
expanded over sample indices into canonical Gaussian keys (which sample indices
are distinct, which derivative orders sit where).  Components that share a key
(tensor symmetries, repeated inputs in a component) are computed once per layer.
Evaluation is then: one batch of Gaussian expectations, then one ``einsum`` per
term.
"""
from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from ..gaussian import expectations
from .terms import SYMBOLS, Expectation, Recursion

_ORDER = tuple(SYMBOLS)  # C_W, C_b, lambda_W, lambda_b, r


def _poly(coeff: sp.Expr) -> tuple[tuple[tuple[int, ...], float], ...]:
    """A coefficient as (exponents, value) pairs, evaluated without eval/lambdify."""
    poly = sp.Poly(coeff, *[SYMBOLS[k] for k in _ORDER])
    return tuple((m, float(c)) for m, c in poly.terms())


def _eval_poly(poly, params: dict[str, float]) -> float:
    vals = [params[k] for k in _ORDER]
    total = 0.0
    for m, c in poly:
        for v, e in zip(vals, m):
            c *= v**e
        total += c
    return total


class KeyTable:
    """Registry of distinct Gaussian keys used by a set of compiled recursions."""

    def __init__(self):
        self.keys: list = []
        self._ids: dict = {}

    def id(self, key) -> int:
        if key not in self._ids:
            self._ids[key] = len(self.keys)
            self.keys.append(key)
        return self._ids[key]


def _expand_expectation(e: Expectation, n: int, table: KeyTable):
    """All nonzero components of <d...(prod fields)> over n inputs: (flat index, key id) arrays."""
    labels = e.labels
    field_labels = list(dict.fromkeys(f.label for f in e.fields))
    deriv_only = [l for l in labels if l not in field_labels]
    flat, kids = [], []
    shape = (n,) * len(labels)
    for fvals in itertools.product(range(n), repeat=len(field_labels)):
        assign = dict(zip(field_labels, fvals))
        coords = tuple(sorted(set(fvals)))
        for dvals in itertools.product(coords, repeat=len(deriv_only)):
            a = dict(assign, **dict(zip(deriv_only, dvals)))
            groups = []
            for c in coords:
                orders = tuple(sorted(f.order for f in e.fields if a[f.label] == c))
                nder = sum(1 for d in e.derivs if a[d] == c)
                groups.append((orders, nder))
            if any(a[d] not in coords for d in e.derivs):
                continue
            flat.append(np.ravel_multi_index(tuple(a[l] for l in labels), shape))
            kids.append(table.id((coords, tuple(groups))))
    return np.array(flat, dtype=np.intp), np.array(kids, dtype=np.intp)


@dataclass
class _CompiledTerm:
    poly: tuple
    expect: list  # (shape, flat, kids, letters)
    thetas: list  # letters
    tensor: tuple | None  # (name, letters)
    free_out: list  # letters of output labels that no factor carries
    subscripts: str
    path: list | None = None
    key_ids: np.ndarray | None = None  # every Gaussian key this term reads

    def active(self, lower: dict[str, np.ndarray], params: dict[str, float]) -> bool:
        """False when the term vanishes identically: zero coefficient or zero lower tensor.

        At layer 1 every first-order tensor is exactly zero; skipping those terms keeps
        expectations that diverge there (delta functions at collinear inputs) unevaluated.
        """
        if _eval_poly(self.poly, params) == 0.0:
            return False
        return self.tensor is None or bool(np.any(lower[self.tensor[0]]))


class CompiledRecursion:
    def __init__(self, rec: Recursion, n: int, table: KeyTable):
        self.recursion = rec
        self.n = n
        letters = {}
        pool = iter(string.ascii_letters)

        def L(label):
            if label not in letters:
                letters[label] = next(pool)
            return letters[label]

        out = "".join(L(l) for l in rec.labels)
        self.terms: list[_CompiledTerm] = []
        for t in rec.terms:
            ops = []
            expect = []
            for e in t.expectations:
                flat, kids = _expand_expectation(e, n, table)
                lets = "".join(L(l) for l in e.labels)
                expect.append(((n,) * len(e.labels), flat, kids, lets))
                ops.append(lets)
            thetas = [L(a) + L(b) for a, b in t.thetas]
            ops += thetas
            tensor = None
            if t.tensor is not None:
                tensor = (t.tensor.name, "".join(L(l) for l in t.tensor.labels))
                ops.append(tensor[1])
            carried = set("".join(ops))
            free = [c for c in out if c not in carried]
            ops += free
            subscripts = ",".join(ops) + "->" + out
            dummy = [np.empty((n,) * len(o)) for o in ops]
            path = np.einsum_path(subscripts, *dummy, optimize="greedy")[0]
            kids = np.unique(np.concatenate([e[2] for e in expect])) if expect else np.zeros(0, np.intp)
            self.terms.append(_CompiledTerm(_poly(t.coeff), expect, thetas, tensor, free, subscripts, path, kids))

    def evaluate(self, values: np.ndarray, theta: np.ndarray, lower: dict[str, np.ndarray],
                 params: dict[str, float]) -> np.ndarray:
        n = self.n
        total = np.zeros((n,) * len(self.recursion.labels), dtype=values.dtype)
        for ct in self.terms:
            if not ct.active(lower, params):
                continue
            c = _eval_poly(ct.poly, params)
            operands = []
            for shape, flat, kids, _ in ct.expect:
                arr = np.zeros(int(np.prod(shape)), dtype=values.dtype)
                arr[flat] = values[kids]
                operands.append(arr.reshape(shape))
            operands += [theta] * len(ct.thetas)
            if ct.tensor is not None:
                operands.append(lower[ct.tensor[0]])
            operands += [np.ones(n)] * len(ct.free_out)
            total += c * np.einsum(ct.subscripts, *operands, optimize=ct.path if n > 3 else False)
        return total


class Plan:
    """Compiled recursions for a set of tensors and a number of inputs."""

    def __init__(self, recursions: dict[str, Recursion], n: int):
        self.table = KeyTable()
        self.compiled = {name: CompiledRecursion(rec, n, self.table) for name, rec in recursions.items()}

    def step(self, activation, K, theta, lower, params, engine=expectations, poll=None) -> dict[str, np.ndarray]:
        """Layer l -> l+1 for every compiled tensor.

        ``engine(activation, K, keys)`` evaluates the Gaussian keys (swappable so that
        benchmarks can time another integrator on exactly the same integrals); ``poll`` is
        handed to it (``engine(..., poll=poll)``) when given: see gaussian.expectations.
        """
        needed = [ct.key_ids for c in self.compiled.values() for ct in c.terms if ct.active(lower, params)]
        ids = np.unique(np.concatenate(needed)) if needed else np.zeros(0, np.intp)
        values = np.full(len(self.table.keys), np.nan, dtype=np.asarray(K).dtype)
        if len(ids):
            keys = [self.table.keys[i] for i in ids]
            values[ids] = engine(activation, K, keys) if poll is None else engine(activation, K, keys, poll=poll)
        return {name: c.evaluate(values, theta, lower, params) for name, c in self.compiled.items()}


@lru_cache(maxsize=32)
def cached_plan(recursions: tuple[Recursion, ...], n: int) -> Plan:
    return Plan({r.name: r for r in recursions}, n)
