"""Exact piecewise-linear expectations for many keys at once (float64).

The recursion of :mod:`.piecewise` (a delta conditioned away, a power lowered by Stein's
lemma, what is left a sum of sign moments) depends on the numbers only where a kernel is
degenerate: a zero variance, a correlation of +-1 after round-off.  In general position
its shape is fixed by the atoms alone.  So the keys that share their groups run through
the recursion together, each step one array operation over all their covariances.

The scalar engine stays the reference and owns every special case: an element that meets
a degenerate case anywhere in its recursion is flagged and recomputed by
:func:`.piecewise.expect_piecewise` (which also raises its errors), and a four-variable
sign moment whose Gauss-Legendre rules do not settle to 1e-14 by 192 points is recomputed
by the scalar adaptive rule.  A test compares the two engines key by key.
"""
from __future__ import annotations

import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import combinations, product

import numpy as np

from .piecewise import _TOL, _compositions, _deriv, _deriv_n, _group_atoms, expect_piecewise
from . import CLOSED_FORM_ROWS as ROWS   # sets evaluated together: bounds the memo (128 MiB measured)
from . import quadrature_threads
from .piecewise import _sign4 as _sign4_scalar

__all__ = ["expect_piecewise_many"]

# A four-variable sign moment is accepted when two successive Gauss-Legendre rules of this
# ladder agree to SETTLED (sign moments are at most 1 in size): 24 and 32 points settle ~95 %
# of the elements of a data set's kernels (24 and 48 cost half as much again, for the same),
# the rest go on up to 192 points, then the scalar adaptive rule takes over.
GL_NODES = (24, 32, 64, 128, 192)
SETTLED = 1e-14
_PAIRS = tuple(combinations(range(4), 2))


@lru_cache(maxsize=8)
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n Gauss-Legendre points on [0, 1] mapped by s -> 1 - (1 - s)^3: a nearly singular
    correlation puts a square-root singularity at the upper end of the Plackett integral,
    which this mapping smooths (1e-14 with 48 points where the plain rule needs ~1500)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x, w = (x + 1) / 2, w / 2
    return 1 - (1 - x) ** 3, w * 3 * (1 - x) ** 2


class _Batch:
    """Covariances (B, d, d) of one node of the recursion, the elements still in general
    position there, and the memo of what was computed on it."""

    def __init__(self, cov: np.ndarray, ok: np.ndarray):
        self.cov = cov
        self.var = np.einsum("bii->bi", cov)
        self.ok = ok & np.all(self.var > 0, axis=1)   # a zero variance: the scalar rules
        self.memo: dict = {}
        self.kids: dict = {}

    def sub(self, keep: tuple[int, ...]) -> _Batch:
        if ("sub", keep) not in self.kids:
            idx = np.array(keep, dtype=np.intp)
            self.kids[("sub", keep)] = _Batch(self.cov[:, idx][:, :, idx], self.ok)
        return self.kids[("sub", keep)]

    def condition(self, a: int) -> tuple[_Batch, np.ndarray]:
        """The covariance of the others given z_a = 0, and k = cov[rest, a] / var[a]."""
        if ("given", a) not in self.kids:
            rest = np.array([b for b in range(self.cov.shape[1]) if b != a], dtype=np.intp)
            s2 = np.where(self.ok, self.var[:, a], 1.0)
            ca = self.cov[:, rest, a]
            k = ca / s2[:, None]
            S = self.cov[:, rest][:, :, rest] - ca[:, :, None] * ca[:, None, :] / s2[:, None, None]
            S = (S + np.swapaxes(S, 1, 2)) / 2
            # the scalar engine zeroes a conditional variance this small (round-off of a zero)
            small = np.einsum("bii->bi", S) <= _TOL * self.var[:, rest]
            self.kids[("given", a)] = (_Batch(S, self.ok & ~small.any(axis=1)), k)
        return self.kids[("given", a)]

    def correlation(self) -> tuple[np.ndarray, np.ndarray]:
        if "corr" not in self.memo:
            sd = np.sqrt(np.where(self.ok[:, None], self.var, 1.0))
            R = np.clip(self.cov / (sd[:, :, None] * sd[:, None, :]), -1.0, 1.0)
            d = R.shape[1]
            off = ~np.eye(d, dtype=bool)
            snapped = np.any((1 - R**2 <= _TOL) & off, axis=(1, 2))   # the scalar engine snaps these to +-1
            R[:, np.arange(d), np.arange(d)] = 1.0
            self.memo["corr"] = (R, self.ok & ~snapped)
        return self.memo["corr"]


def _expect(node: _Batch, atoms: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(E[prod_a atoms[a](z_a)] for every element, the elements where that is exact here)."""
    if atoms in node.memo:
        return node.memo[atoms]
    node.memo[atoms] = out = _expect_new(node, atoms)
    return out


def _expect_new(node: _Batch, atoms: tuple) -> tuple[np.ndarray, np.ndarray]:
    B, d = node.cov.shape[:2]
    if d == 0:
        return np.ones(B), node.ok
    # 1. constants (the scalar engine's zero variances are flagged in _Batch)
    factor, keep = 1.0, []
    for a, h in enumerate(atoms):
        if h[0] == "M" and h[1] == 0 and h[2] == h[3]:
            factor *= h[2]
        else:
            keep.append(a)
    if len(keep) < d:
        if factor == 0.0:
            return np.zeros(B), node.ok
        val, ok = _expect(node.sub(tuple(keep)), tuple(atoms[a] for a in keep))
        return factor * val, ok

    # 2. a delta: condition on its coordinate
    deltas = [a for a, h in enumerate(atoms) if h[0] == "D"]
    if deltas:
        a = deltas[0]
        _, j, c = atoms[a]
        s2 = np.where(node.ok, node.var[:, a], 1.0)
        given, k = node.condition(a)
        others = atoms[:a] + atoms[a + 1:]
        total, ok = np.zeros(B), given.ok
        for i in range(j + 1):
            m = j - i
            if m % 2:
                continue
            density = (-1) ** (m // 2) * math.prod(range(m - 1, 0, -2)) / s2 ** (m // 2) / np.sqrt(2 * np.pi * s2)
            val, ok_i = _directional(given, k, others, i)
            total += math.comb(j, i) * density * val
            ok = ok & ok_i
        return (-1) ** j * c * total, ok

    # 3. a power of z: Stein's lemma E[z_a F] = sum_c K_ac E[d_c F]
    a = max(range(d), key=lambda b: atoms[b][1])
    _, q, cp, cm = atoms[a]
    if q:
        base = list(atoms)
        base[a] = ("M", q - 1, cp, cm)
        total, ok = np.zeros(B), node.ok
        for c in range(d):
            h = _deriv(base[c])
            if h is not None:
                val, ok_c = _expect(node, tuple(base[:c] + [h] + base[c + 1:]))
                total += node.cov[:, a, c] * val
                ok = ok & ok_c
        return total, ok

    # 4. step functions: c+ Theta(z) + c- Theta(-z) = avg + half * sign(z)
    R, ok = node.correlation()
    avg = [(h[2] + h[3]) / 2 for h in atoms]
    half = [(h[2] - h[3]) / 2 for h in atoms]
    total = np.zeros(B)
    for n in range(0, d + 1, 2):
        for T in combinations(range(d), n):
            w = math.prod(half[b] if b in T else avg[b] for b in range(d))
            if w:
                total += w * _sign_moment(node, T)
    return total, ok


def _directional(node: _Batch, k: np.ndarray, atoms: tuple, i: int) -> tuple[np.ndarray, np.ndarray]:
    """E_w[(k . grad)^i prod_b atoms[b](w_b)] (multinomial theorem); a zero k_b weighs 0."""
    B = node.cov.shape[0]
    total, ok = np.zeros(B), node.ok
    for alpha in _compositions(i, len(atoms)):
        new, coef = list(atoms), float(math.factorial(i))
        for b, n in enumerate(alpha):
            if n:
                new[b] = _deriv_n(new[b], n)
                if new[b] is None:
                    break
                coef = coef * k[:, b] ** n / math.factorial(n)
        else:
            val, ok_a = _expect(node, tuple(new))
            total = total + coef * val
            ok = ok & ok_a
    return total, ok


def _sign_moment(node: _Batch, T: tuple[int, ...]) -> np.ndarray:
    """E[prod_{a in T} sign(z_a)] for every element of the node."""
    if ("sign", T) in node.memo:
        return node.memo[("sign", T)]
    R, ok = node.correlation()
    B = R.shape[0]
    if len(T) == 0:
        out = np.ones(B)
    elif len(T) == 2:
        out = 2 / np.pi * np.arcsin(R[:, T[0], T[1]])
    elif len(T) == 4:
        idx = np.array(T)
        out = _sign4(R[:, idx][:, :, idx], ok)
    else:
        out = np.zeros(B)
    node.memo[("sign", T)] = out
    return out


def _plackett(R: np.ndarray, n: int, chunk: int = 1024) -> np.ndarray:
    """The Plackett integrals of piecewise._sign4, summed over the six pairs, by the n-point rule.

    Along R(t) = I + t (R - I), with a = t r = sin(theta), the conditional covariance of
    (z_k, z_l) given z_i = z_j = 0 is, times cos^2(theta), c2 - t^2 (r_ki^2 + r_kj^2 -
    2 a r_ki r_kj) and so on: the products of R's entries are formed once per element."""
    if len(R) > chunk:   # temporaries that stay in cache: ~2x faster than all rows at once
        parts = [R[lo:lo + chunk] for lo in range(0, len(R), chunk)]
        threads = min(quadrature_threads(), len(parts))
        if threads <= 1:
            return np.concatenate([_plackett(p, n, chunk) for p in parts])
        with ThreadPoolExecutor(threads, thread_name_prefix="fntk-plackett") as pool:   # ufuncs release the GIL
            return np.concatenate(list(pool.map(lambda p: _plackett(p, n, chunk), parts)))
    x, w = _nodes(n)
    total = np.zeros(R.shape[0])
    for i, j in _PAIRS:
        k, l = (b for b in range(4) if b not in (i, j))
        r = R[:, i, j]
        rki, rkj, rli, rlj, rkl = R[:, k, i], R[:, k, j], R[:, l, i], R[:, l, j], R[:, k, l]
        top = np.arcsin(r)
        inv = np.where(r == 0, 0.0, 1 / np.where(r == 0, 1.0, r))[:, None]   # r = 0: an empty interval
        theta = top[:, None] * x
        a = np.sin(theta)
        c2 = 1.0 - a * a
        t = a * inv
        t2 = t * t
        skl = t * rkl[:, None] * c2 - t2 * ((rki * rli + rkj * rlj)[:, None] - a * (rki * rlj + rkj * rli)[:, None])
        skk = c2 - t2 * ((rki * rki + rkj * rkj)[:, None] - 2 * a * (rki * rkj)[:, None])
        sll = c2 - t2 * ((rli * rli + rlj * rlj)[:, None] - 2 * a * (rli * rlj)[:, None])
        den = skk * sll
        f = np.arcsin(np.clip(skl / np.sqrt(np.where(den > 0, den, 1.0)), -1, 1))
        total += top * (np.where(den > 0, f, 0.0) @ w)
    return 4 / np.pi**2 * total


def _sign4(R: np.ndarray, ok: np.ndarray) -> np.ndarray:
    todo = np.nonzero(ok)[0]
    out = np.zeros(R.shape[0])
    coarse = _plackett(R[todo], GL_NODES[0])
    for n in GL_NODES[1:]:
        fine = _plackett(R[todo], n)
        out[todo] = fine
        unsettled = ~(np.abs(fine - coarse) <= SETTLED)
        todo, coarse = todo[unsettled], fine[unsettled]
        if not len(todo):
            return out
    for b in todo:   # nearly singular correlations: the scalar adaptive rule
        out[b] = _sign4_scalar(R[b])
    return out


def expect_piecewise_many(K: np.ndarray, keys: list, slopes, poll=None, progress=None) -> np.ndarray:
    """The values of many keys (see gaussian.expectations) under N(0, K), K float64.

    Keys with the same groups are one batch; ``poll`` and ``progress(done, total)`` are
    called before each batch and between scalar fallbacks, counting keys."""
    from . import Interrupted

    K = np.asarray(K, dtype=float)
    out = np.empty(len(keys))
    slopes = tuple(float(s) for s in slopes)
    scale = float(np.max(np.abs(np.diag(K)))) if K.size else 0.0
    sane = bool(np.all(np.isfinite(K))) and np.allclose(K, K.T, rtol=0.0, atol=1e-12 * max(scale, 1e-300))
    scalar: list[int] = []   # keys the scalar engine evaluates (and raises for, if it must)
    done = 0
    for group in _batches(keys):
        coords = group[0][1]
        for lo in range(0, len(coords), ROWS):
            root = _root(K, coords[lo:lo + ROWS]) if sane else None
            for groups, _, positions in group:
                if progress is not None:
                    progress(done, len(keys))
                if poll is not None and poll():
                    raise Interrupted
                rows = positions[lo:lo + ROWS]
                done += len(rows)
                if root is None:
                    scalar += rows.tolist()
                    continue
                values, ok = _one_batch(root, groups, slopes)
                out[rows] = values
                scalar += rows[~ok].tolist()
            del root
    for n, p in enumerate(scalar):
        if n % 64 == 63 and poll is not None and poll():
            raise Interrupted
        coords, groups = keys[p]
        idx = np.array(coords)
        out[p] = expect_piecewise(K[np.ix_(idx, idx)], groups, slopes)
    return out


_last_batches: tuple = ((), [])   # (keys, their batches): a solve asks for the same keys every layer
CACHE_UP_TO = 1 << 20   # keys; the batches of longer lists (~40 bytes a key) are not kept between calls


def _batches(keys: list) -> list:
    """Keys with the same groups form a batch, sorted by its sample-index sets; batches over
    the same sets are listed together, to run one after another on one root (sharing its
    memo): [[(groups, coords, positions), ...], ...]."""
    global _last_batches
    key_tuple = tuple(keys)
    cached_keys, cached = _last_batches
    if key_tuple == cached_keys:   # the same key objects: compared by identity, fast
        return cached
    batches: dict[tuple, list[int]] = defaultdict(list)
    for i, (_, groups) in enumerate(keys):
        batches[tuple(groups)].append(i)
    same_sets: dict[tuple, list] = defaultdict(list)
    for groups, positions in batches.items():
        coords = np.array([keys[p][0] for p in positions])
        order = np.lexsort(coords.T[::-1])
        coords = coords[order]
        same_sets[(coords.shape, coords.tobytes())].append((groups, coords, np.array(positions)[order]))
    found = list(same_sets.values())
    if len(keys) <= CACHE_UP_TO:
        _last_batches = (key_tuple, found)
    return found


def _root(K: np.ndarray, coords: np.ndarray) -> _Batch:
    """The covariances of the sample-index sets ``coords`` (rows), flagged where not PSD."""
    cov = K[coords[:, :, None], coords[:, None, :]]
    cov = (cov + np.swapaxes(cov, 1, 2)) / 2
    scale = np.maximum(np.max(np.abs(np.einsum("bii->bi", cov)), axis=1), 1e-300)
    psd = np.linalg.eigvalsh(cov)[:, 0] >= -1e-10 * scale   # otherwise the scalar engine raises
    return _Batch(cov, psd)


def _one_batch(root: _Batch, groups, slopes) -> tuple[np.ndarray, np.ndarray]:
    """Values of the keys (root's sample-index sets, groups) and where they are exact."""
    total, ok = np.zeros(len(root.cov)), root.ok
    per_coord = [_group_atoms(g, *slopes) for g in groups]
    with np.errstate(all="ignore"):   # flagged elements compute garbage, never used
        for combo in product(*per_coord):
            val, ok_c = _expect(root, combo)
            total += val
            ok = ok & ok_c
    return total, ok
