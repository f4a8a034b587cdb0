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


MAX_INDICES = 4  # distinct sample indices one Gaussian key may have (the engine's limit)


class KeyTable:
    """Registry of distinct Gaussian keys used by a set of compiled recursions (n inputs).

    A key is (its distinct sample indices, sorted; its groups).  ``ids`` looks up many
    components at once through an integer code of the two, so compiling for many inputs
    builds a Python key only once per distinct key."""

    def __init__(self, n: int):
        self.n = n
        self.keys: list = []
        self._ids: dict = {}
        self._codes = np.zeros(0, np.int64)      # sorted codes of the keys so far, and their ids
        self._code_ids = np.zeros(0, np.intp)
        self._group_ids: dict[tuple, int] = {}
        self._groups: list[tuple] = []

    def id(self, key) -> int:
        if key not in self._ids:
            self._ids[key] = len(self.keys)
            self.keys.append(key)
        return self._ids[key]

    def group_id(self, groups: tuple) -> int:
        if groups not in self._group_ids:
            self._group_ids[groups] = len(self._groups)
            self._groups.append(groups)
        return self._group_ids[groups]

    def ids(self, gid: np.ndarray, coords: np.ndarray, distinct: np.ndarray) -> np.ndarray:
        """Key ids of components given their groups' ids, their distinct indices (rows of
        ``coords``, padded with n) and how many there are."""
        code = gid.astype(np.int64)
        for k in range(MAX_INDICES):
            code = code * (self.n + 1) + (coords[k] if k < len(coords) else self.n)
        uniq, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        at = np.searchsorted(self._codes, uniq)
        known = at < len(self._codes)
        known[known] = self._codes[at[known]] == uniq[known]
        if not known.all():   # new keys: the only place a Python key is built
            fresh = np.nonzero(~known)[0]
            made = np.array([self.id((tuple(int(v) for v in coords[:distinct[i], i]), self._groups[gid[i]]))
                             for i in first[fresh].tolist()], np.intp)
            order = np.argsort(np.concatenate([self._codes, uniq[fresh]]), kind="stable")
            self._codes = np.concatenate([self._codes, uniq[fresh]])[order]
            self._code_ids = np.concatenate([self._code_ids, made])[order]
            at = np.searchsorted(self._codes, uniq)
        return self._code_ids[at][inverse.ravel()]


def _expand_expectation(e: Expectation, n: int, table: KeyTable):
    """All nonzero components of <d...(prod fields)> over n inputs: (flat index, key id) arrays.

    A component's key depends only on its *pattern* (which labels share a sample index, and
    in which order those indices come) and on the distinct indices themselves, so the n^L
    components are classified with array operations, one slice of the first label at a time."""
    labels = e.labels
    field_labels = list(dict.fromkeys(f.label for f in e.fields))
    deriv_only = [l for l in labels if l not in field_labels]
    if not field_labels:   # no field: only the constant <1> (no derivative) is nonzero
        return (np.zeros(1, np.intp), np.array([table.id(((), ()))], np.intp)) if not labels else (
            np.zeros(0, np.intp), np.zeros(0, np.intp))
    F, D = len(field_labels), len(deriv_only)
    if F > MAX_INDICES:
        raise ValueError(f"an expectation over {F} sample indices; the Gaussian engine takes at most {MAX_INDICES}")
    position = {l: i for i, l in enumerate(labels)}
    gid_of: dict[tuple[int, ...], int] = {}   # pattern (rank of each label) -> id of its groups

    def group_id(ranks: tuple[int, ...]) -> int:
        if ranks not in gid_of:
            a = dict(zip(labels, ranks))
            gid_of[ranks] = table.group_id(tuple(
                (tuple(sorted(f.order for f in e.fields if a[f.label] == c)), sum(1 for d in e.derivs if a[d] == c))
                for c in range(max(ranks) + 1)))
        return gid_of[ranks]

    flats, kids = [], []
    rest = np.indices((n,) * (F - 1)).reshape(F - 1, -1)
    for first in range(n):
        fv = np.vstack([np.full(rest.shape[1], first), rest])               # F x rows: the field labels' indices
        new = np.array([np.all([fv[k] != fv[j] for j in range(k)], axis=0) if k else np.ones(fv.shape[1], bool)
                        for k in range(F)])                                  # first occurrence of its index
        rank = np.array([np.sum(new & (fv < fv[j]), axis=0) for j in range(F)])   # position among the distinct
        distinct = new.sum(axis=0)
        coords = np.full((F, fv.shape[1]), n)                                # sorted distinct indices, padded
        for k in range(F):
            rows = np.nonzero(new[k])[0]
            coords[rank[k, rows], rows] = fv[k, rows]
        for dr in itertools.product(range(F), repeat=D):                    # derivative-only labels: ranks < distinct
            ok = np.all([distinct > r for r in dr], axis=0) if D else np.ones(fv.shape[1], bool)
            if not ok.any():
                continue
            r_all = np.zeros((len(labels), int(ok.sum())), np.intp)
            v_all = np.zeros_like(r_all)
            for j, l in enumerate(field_labels):
                r_all[position[l]], v_all[position[l]] = rank[j, ok], fv[j, ok]
            for j, l in enumerate(deriv_only):
                r_all[position[l]] = dr[j]
                v_all[position[l]] = coords[dr[j], ok]
            pattern = np.zeros(r_all.shape[1], np.int64)
            for i in range(len(labels)):
                pattern = pattern * F + r_all[i]
            seen, where = np.unique(pattern, return_index=True)              # a handful of patterns
            gids = np.array([group_id(tuple(int(r) for r in r_all[:, i])) for i in where], np.int64)
            flats.append(np.ravel_multi_index(tuple(v_all), (n,) * len(labels)))
            kids.append(table.ids(gids[np.searchsorted(seen, pattern)], coords[:, ok], distinct[ok]))
    return np.concatenate(flats).astype(np.intp), np.concatenate(kids).astype(np.intp)


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
        self.table = KeyTable(n)
        self.compiled = {name: CompiledRecursion(rec, n, self.table) for name, rec in recursions.items()}

    def step(self, activation, K, theta, lower, params, engine=expectations, poll=None,
             progress=None) -> dict[str, np.ndarray]:
        """Layer l -> l+1 for every compiled tensor.

        ``engine(activation, K, keys)`` evaluates the Gaussian keys (swappable so that
        benchmarks can time another integrator on exactly the same integrals); ``poll`` and
        ``progress`` are handed to it (``engine(..., poll=poll)``) when given: see
        gaussian.expectations.
        """
        needed = [ct.key_ids for c in self.compiled.values() for ct in c.terms if ct.active(lower, params)]
        ids = np.unique(np.concatenate(needed)) if needed else np.zeros(0, np.intp)
        values = np.full(len(self.table.keys), np.nan, dtype=np.asarray(K).dtype)
        if len(ids):
            keys = [self.table.keys[i] for i in ids]
            extra = {k: v for k, v in (("poll", poll), ("progress", progress)) if v is not None}
            values[ids] = engine(activation, K, keys, **extra)
        return {name: c.evaluate(values, theta, lower, params) for name, c in self.compiled.items()}


@lru_cache(maxsize=32)
def cached_plan(recursions: tuple[Recursion, ...], n: int) -> Plan:
    return Plan({r.name: r for r in recursions}, n)
