"""Compile recursions once per number of inputs; evaluate them layer by layer.

Compilation is input-independent: every expectation factor of every term is
expanded over sample indices into canonical Gaussian keys (which sample indices
are distinct, which derivative orders sit where).  Components that share a key
(tensor symmetries, repeated inputs in a component) are computed once per layer.
Evaluation is then: one batch of Gaussian expectations, then per term one ``einsum``
for each choice of *patterns* of its factors (which field label each derivative-only
label equals): a factor is held dense over its field labels only, its derivative
labels become Kronecker deltas, applied by renaming einsum letters.
"""
from __future__ import annotations

import itertools
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from ..gaussian import expectations, quadrature_threads
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
BLOCK = 1 << 18  # components classified at once by the compiler (bounds its memory)
CONTRACT_THREADS_FROM = 8  # inputs from which the recursions of a layer are contracted side by side


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
        at = np.minimum(np.searchsorted(self._codes, code), max(len(self._codes) - 1, 0))
        known = self._codes[at] == code if len(self._codes) else np.zeros(len(code), bool)
        if not known.all():   # new keys: the only place a Python key is built
            uniq, first = np.unique(code[~known], return_index=True)
            rows = np.nonzero(~known)[0][first]
            ids, keys, groups, made = self._ids, self.keys, self._groups, []
            for row, d, g in zip(coords[:, rows].T.tolist(), distinct[rows].tolist(), gid[rows].tolist()):
                key = (tuple(row[:d]), groups[g])
                i = ids.setdefault(key, len(keys))
                if i == len(keys):
                    keys.append(key)
                made.append(i)
            made = np.array(made, np.intp)
            order = np.argsort(np.concatenate([self._codes, uniq]), kind="stable")
            self._codes = np.concatenate([self._codes, uniq])[order]
            self._code_ids = np.concatenate([self._code_ids, made])[order]
            at = np.searchsorted(self._codes, code)
        return self._code_ids[at]


def _expand_expectation(e: Expectation, n: int, table: KeyTable):
    """All nonzero components of <d...(prod fields)> over n inputs: (flat index, key id) arrays.

    A component's key depends only on its *pattern* (which labels share a sample index, and
    in which order those indices come) and on the distinct indices themselves, so the n^L
    components are classified with array operations, a block of values of the first label at a time."""
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
    rest = np.indices((n,) * (F - 1)).reshape(F - 1, -1) if F > 1 else np.zeros((0, 1), np.intp)
    per = max(1, BLOCK // rest.shape[1])   # values of the first label per block of rows
    for first in range(0, n, per):
        firsts = np.arange(first, min(n, first + per))
        fv = np.vstack([np.repeat(firsts, rest.shape[1]), np.tile(rest, len(firsts))])   # F x rows: field indices
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


def _split_by_pattern(e: Expectation, n: int, flat: np.ndarray, kids: np.ndarray):
    """An expectation factor as a sum over *patterns*: which field label each derivative-only
    label equals (the first one with its sample index).  Each pattern's part is dense over the
    field labels alone (n^fields), the derivative-only labels become Kronecker deltas, so the
    factor is never materialised over all its labels (n^6 entries for <d^4 (sigma sigma)>,
    of which only ~16 n^2 are nonzero).  Returns [(pattern, flat indices over the fields, key ids)]."""
    labels = e.labels
    fields = [labels.index(l) for l in dict.fromkeys(f.label for f in e.fields)]
    derivs = [i for i in range(len(labels)) if i not in fields]
    if not labels:
        return [((), flat, kids)]
    if not len(flat):   # no nonzero component (derivatives without a field)
        return []
    v = np.array(np.unravel_index(flat, (n,) * len(labels)))
    fv = v[fields]
    code = np.zeros(len(flat), np.int64)
    for i in derivs:   # the first field label holding this derivative label's index
        code = code * len(fields) + np.argmax(fv == v[i], axis=0)
    parts = []
    for c in np.unique(code):
        rows = np.nonzero(code == c)[0]
        pattern = tuple(int(c) // len(fields) ** (len(derivs) - 1 - j) % len(fields) for j in range(len(derivs)))
        parts.append((pattern, np.ravel_multi_index(tuple(fv[:, rows]), (n,) * len(fields)), kids[rows]))
    return parts


@dataclass
class _CompiledTerm:
    """One term: its expectation factors split by pattern, and one contraction per choice of a
    pattern for every factor, with the Kronecker deltas applied by renaming letters."""
    poly: tuple
    factors: list        # per expectation factor: [(number of fields, flat, kids)] by pattern
    contractions: list   # (pattern choice per factor, subscripts, path, output index or None)
    n_thetas: int
    tensor: str | None
    n_free: int          # output labels no factor carries (broadcast with ones)
    key_ids: np.ndarray  # every Gaussian key this term reads

    def active(self, lower: dict[str, np.ndarray], params: dict[str, float]) -> bool:
        """False when the term vanishes identically: zero coefficient or zero lower tensor.

        At layer 1 every first-order tensor is exactly zero; skipping those terms keeps
        expectations that diverge there (delta functions at collinear inputs) unevaluated.
        """
        if _eval_poly(self.poly, params) == 0.0:
            return False
        return self.tensor is None or bool(np.any(lower[self.tensor]))


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

        out = [L(l) for l in rec.labels]
        self.terms: list[_CompiledTerm] = []
        for t in rec.terms:
            factors, split = [], []
            for e in t.expectations:
                flat, kids = _expand_expectation(e, n, table)
                field_labels = list(dict.fromkeys(f.label for f in e.fields))
                parts = _split_by_pattern(e, n, flat, kids)
                factors.append([(len(field_labels), f, k) for _, f, k in parts])
                split.append(([L(l) for l in field_labels], [L(l) for l in e.labels if l not in field_labels],
                              [p for p, _, _ in parts]))
            thetas = [(L(a), L(b)) for a, b in t.thetas]
            tensor = [L(l) for l in t.tensor.labels] if t.tensor is not None else None
            carried = {c for f, d, _ in split for c in f + d} | {c for th in thetas for c in th} | set(tensor or ())
            free = [c for c in out if c not in carried]
            contractions = []
            for choice in itertools.product(*[range(len(p)) for _, _, p in split]):
                same = {}   # union-find over letters: a delta identifies two labels

                def root(c):
                    while same.get(c, c) != c:
                        c = same[c]
                    return c

                for (fields, derivs, patterns), k in zip(split, choice):
                    for d, j in zip(derivs, patterns[k]):
                        a, b = root(d), root(fields[j])
                        if a != b:
                            same[a] = b
                ops = ["".join(root(c) for c in f) for f, _, _ in split]
                ops += [root(a) + root(b) for a, b in thetas]
                ops += ["".join(root(c) for c in tensor)] if tensor else []
                ops += [root(c) for c in free]
                target = [root(c) for c in out]
                unique = "".join(dict.fromkeys(target))
                subscripts = ",".join(ops) + "->" + unique
                dummy = [np.empty((n,) * len(o)) for o in ops]
                path = np.einsum_path(subscripts, *dummy, optimize="greedy")[0]
                # a repeated output letter: the result lands on a diagonal of the output
                where = None if len(unique) == len(target) else tuple(
                    np.arange(n).reshape([n if i == unique.index(c) else 1 for i in range(len(unique))])
                    for c in target)
                contractions.append((choice, subscripts, path, where))
            kids = [k for f in factors for _, _, k in f]
            key_ids = np.unique(np.concatenate(kids)) if kids else np.zeros(0, np.intp)
            self.terms.append(_CompiledTerm(_poly(t.coeff), factors, contractions, len(thetas),
                                            t.tensor.name if t.tensor is not None else None, len(free), key_ids))

    def evaluate(self, values: np.ndarray, theta: np.ndarray, lower: dict[str, np.ndarray],
                 params: dict[str, float]) -> np.ndarray:
        n = self.n
        total = np.zeros((n,) * len(self.recursion.labels), dtype=values.dtype)
        for ct in self.terms:
            if not ct.active(lower, params):
                continue
            c = _eval_poly(ct.poly, params)
            parts: dict[tuple[int, int], np.ndarray] = {}
            for choice, subscripts, path, where in ct.contractions:
                operands = []
                for i, k in enumerate(choice):
                    if (i, k) not in parts:
                        nf, flat, kids = ct.factors[i][k]
                        arr = np.zeros(n**nf, dtype=values.dtype)
                        arr[flat] = values[kids]
                        parts[(i, k)] = arr.reshape((n,) * nf)
                    operands.append(parts[(i, k)])
                operands += [theta] * ct.n_thetas
                if ct.tensor is not None:
                    operands.append(lower[ct.tensor])
                operands += [np.ones(n)] * ct.n_free
                r = np.einsum(subscripts, *operands, optimize=path if n > 3 else False)
                if where is None:
                    total += c * r
                else:
                    total[where] += c * r
        return total


class Plan:
    """Compiled recursions for a set of tensors and a number of inputs."""

    def __init__(self, recursions: dict[str, Recursion], n: int):
        self.table = KeyTable(n)
        self.compiled = {name: CompiledRecursion(rec, n, self.table) for name, rec in recursions.items()}
        self._keys: tuple[bytes, list] = (b"", [])   # (ids, the keys they name), from the last step

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
            if self._keys[0] != ids.tobytes():   # the same keys every layer after the first
                self._keys = (ids.tobytes(), [self.table.keys[i] for i in ids])
            keys = self._keys[1]
            extra = {k: v for k, v in (("poll", poll), ("progress", progress)) if v is not None}
            values[ids] = engine(activation, K, keys, **extra)
        threads = min(quadrature_threads(), len(self.compiled))
        if threads <= 1 or self.table.n < CONTRACT_THREADS_FROM:
            return {name: c.evaluate(values, theta, lower, params) for name, c in self.compiled.items()}
        with ThreadPoolExecutor(threads, thread_name_prefix="fntk-contract") as pool:   # einsum releases the GIL
            done = {name: pool.submit(c.evaluate, values, theta, lower, params) for name, c in self.compiled.items()}
            return {name: f.result() for name, f in done.items()}


@lru_cache(maxsize=32)
def cached_plan(recursions: tuple[Recursion, ...], n: int) -> Plan:
    return Plan({r.name: r for r in recursions}, n)
