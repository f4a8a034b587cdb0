"""Gaussian expectations for smooth activations by quadrature in the eigenbasis.

The integrand is a product of one-variable functions g_c(z_c), one per distinct
sample index c, each a derivative of a product of activation derivatives.  We
rotate into the eigenbasis of the sub-covariance, z = Q sqrt(lam) u with
u ~ N(0, I) (coinciding or collinear inputs simply drop a dimension, no NaN),
and use the trapezoidal rule in each u_k: for integrands analytic in a strip it
converges exponentially, and unlike a fixed Gauss-Hermite rule its step can
follow the scale of the activation, h_k ~ 1/sqrt(lam_k), so wide kernels
(large K) stay as accurate as narrow ones.  One node table serves every
expectation over the same set of sample indices.  Over three or four sample indices
one coordinate is integrated out first (:mod:`.conditioned`), on the same kind of rule.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from .graded import feature_radius, graded_nodes

# Step in u at unit variance, per effective dimension, and the radius in u.
# Chosen so that tanh and GeLU expectations converge to ~1e-12 in one to three
# dimensions and ~1e-10 in four (tests/test_gaussian.py measures it).
STEP = {1: 0.16, 2: 0.22, 3: 0.3, 4: 0.38}
MAX_STEP = 0.6  # Gaussian aliasing error exp(-2 pi^2 / h^2) < 1e-23
HALF_RANGE = 8.6  # exp(-8.6^2/2) ~ 1e-16, enough even for quartic growth
EIGEN_CUTOFF = 1e-13
# Above this kernel eigenvalue, activations with a finite feature radius switch to the
# graded rule (bounded node count); below it the uniform rule is cheaper.
GRADED_ABOVE = 100.0
CHUNK = 1 << 15  # nodes evaluated at once: bounds the memory of one batch
MAX_NODES = 1 << 31  # uniform rule only (activations without an asymptotic regime)
CONDITION_FROM = 3  # sets of this many sample indices or more: one integrated out (.conditioned)


def _axis(lam: float, d: int, refine: float) -> tuple[np.ndarray, np.ndarray]:
    h = min(MAX_STEP, STEP[d] / np.sqrt(max(lam, 0.5))) / refine
    m = int(np.ceil(HALF_RANGE / h))
    u = h * np.arange(-m, m + 1)
    return u, h * np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)


def gauss_nodes(cov: np.ndarray, refine: float = 1.0, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Uniform-rule nodes z (points x d) and weights for z ~ N(0, cov), cov PSD, in chunks.

    ``refine`` > 1 shrinks the steps (used by the convergence tests).
    """
    cov = np.asarray(cov, dtype=float)
    d = cov.shape[0]
    evals, evecs = np.linalg.eigh(cov)
    scale = float(np.max(np.abs(evals))) if evals.size else 0.0
    keep = evals > EIGEN_CUTOFF * max(scale, 1e-300)
    k = int(np.sum(keep))
    if k == 0:
        yield np.zeros((1, d)), np.ones(1)
        return
    axes = [_axis(lam, k, refine) for lam in evals[keep]]
    if int(np.prod([len(a[0]) for a in axes])) > MAX_NODES:
        raise ValueError(f"a kernel of scale {scale:.3g} needs more than {MAX_NODES} quadrature nodes for "
                         "an activation that keeps structure at every |z| (no asymptotic regime)")
    for zt, w, _ in ball_nodes(evecs[:, keep] * np.sqrt(evals[keep]), axes, chunk):
        yield zt.T, w


def ball_nodes(basis: np.ndarray, axes, chunk: int = CHUNK):
    """Nodes z = basis @ u of the product rule ``axes`` (u_k, w_k) inside |u| <= HALF_RANGE, in
    chunks: (z.T, w, i), z.T a contiguous row per coordinate, i each node's position on the
    first axis."""
    d = basis.shape[0]
    # The trailing axes once, sorted by |u|^2: a ball, not a cube (the corners weigh nothing),
    # so the nodes inside for a first coordinate u0 are a prefix, |u_tail|^2 <= R^2 - u0^2.
    tail_r2, tail_w = np.zeros(()), np.ones(())
    for u_k, w_k in axes[1:]:
        tail_r2 = np.add.outer(tail_r2, u_k * u_k)
        tail_w = np.multiply.outer(tail_w, w_k)
    tail_r2 = tail_r2.ravel()
    order = np.argsort(tail_r2, kind="stable")
    order = order[tail_r2[order] <= HALF_RANGE**2]
    tail_r2, tail_w = tail_r2[order], tail_w.ravel()[order]
    tail_zt = np.zeros((d, len(order)))
    for c, (ix, (u_k, _)) in enumerate(zip(np.unravel_index(order, [len(a[0]) for a in axes[1:]])
                                           if len(axes) > 1 else (), axes[1:]), 1):
        tail_zt += np.multiply.outer(basis[:, c], u_k[ix])
    counts = np.searchsorted(tail_r2, HALF_RANGE**2 - axes[0][0] ** 2, side="right")
    lo = 0
    while lo < len(counts):
        hi = lo + 1
        total = int(counts[lo])
        while hi < len(counts) and total + counts[hi] <= chunk:
            total += int(counts[hi])
            hi += 1
        zs, ws = [], []
        for u0, w0, m in zip(axes[0][0][lo:hi], axes[0][1][lo:hi], counts[lo:hi]):
            if m:
                zs.append(tail_zt[:, :m] + (u0 * basis[:, 0])[:, None])
                ws.append(w0 * tail_w[:m])
        if zs:
            yield np.concatenate(zs, axis=1), np.concatenate(ws), np.repeat(np.arange(lo, hi), counts[lo:hi])
        lo = hi


def node_chunks(activation, cov: np.ndarray, refine: float = 1.0, method: str = "auto"):
    """The rule for this kernel: uniform, or graded when the kernel is wide (see :mod:`.graded`)."""
    if method not in ("auto", "uniform", "graded"):
        raise ValueError(f"method must be auto, uniform or graded, got {method!r}")
    wide = method == "graded" or (method == "auto" and refine == 1.0 and cov.size
                                  and float(np.max(np.linalg.eigvalsh(cov))) > GRADED_ABOVE)
    radius = feature_radius(activation) if wide else None  # probed once per activation
    if radius is not None:
        return graded_nodes(cov, radius, CHUNK)
    if method == "graded":
        raise ValueError(f"activation {activation.name!r} has no finite feature radius; use the uniform rule")
    return gauss_nodes(cov, refine)


@lru_cache(maxsize=4096)
def leibniz(orders: tuple[int, ...], nderiv: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """D^nderiv of prod_k sigma^(orders[k]) as ((sorted orders), multiplicity) pairs."""
    terms = {tuple(sorted(orders)): 1}
    for _ in range(nderiv):
        nxt: dict[tuple[int, ...], int] = {}
        for t, c in terms.items():
            for i in range(len(t)):
                s = tuple(sorted(t[:i] + (t[i] + 1,) + t[i + 1:]))
                nxt[s] = nxt.get(s, 0) + c
        terms = nxt
    return tuple(terms.items())


def expect_smooth_batch(activation, cov: np.ndarray, keys, refine: float = 1.0,
                        method: str = "auto") -> np.ndarray:
    """E[prod_c g_c(z_c)] for many keys sharing the same covariance.

    Each key is a tuple over the coordinates of ``cov`` of (orders, nderiv):
    g_c = D^nderiv prod_{m in orders} sigma^(m).  Nodes come in chunks, so memory
    stays bounded whatever the rule's node count.
    """
    cov = np.asarray(cov, dtype=float)
    if not np.all(np.isfinite(cov)):   # an inf or NaN kernel (allow_nonfinite): no value, not a guess
        return np.full(len(keys), np.nan)
    if method == "auto" and refine == 1.0 and cov.shape[0] >= CONDITION_FROM \
            and float(np.max(np.linalg.eigvalsh(cov))) <= GRADED_ABOVE:
        from .conditioned import expect_conditioned

        return expect_conditioned(activation, cov, keys)
    out = np.zeros(len(keys))
    for z, w in node_chunks(activation, cov, refine, method):
        out += _batch_on_nodes(activation, z, w, keys)
    return out


def leibniz_values(cols, orders: tuple[int, ...], nderiv: int):
    """D^nderiv prod_m sigma^(m), given cols[m] = sigma^(m) on the nodes (a single sigma^(m)
    is cols[m] itself, not a copy)."""
    g = None
    for t, mult in leibniz(tuple(orders), nderiv):
        col = cols[t[0]]
        for m in t[1:]:
            col = col * cols[m]
        term = col if mult == 1 else mult * col
        g = term if g is None else g + term
    return g


def group_values(activation, z: np.ndarray, wanted, top: int) -> dict:
    """{(orders, nderiv): its function at z} for each wanted group (nonempty orders); the
    derivatives up to ``top`` are computed once, in one pass."""
    cols = activation.derivatives(top)(z)
    return {(tuple(orders), nderiv): leibniz_values(cols, orders, nderiv) for orders, nderiv in wanted}


def _batch_on_nodes(activation, z: np.ndarray, w: np.ndarray, keys) -> np.ndarray:
    """Sum of w * prod_c g_c(z_c) over the nodes z (points x d), for each key."""
    return batch_on_columns(activation, list(np.ascontiguousarray(z.T)), w, keys)


def batch_on_columns(activation, columns, w: np.ndarray, keys, given=None) -> np.ndarray:
    """Sum of w * prod_c g_c(z_c) for each key, ``columns[c]`` the nodes' z_c. ``given`` maps
    (c, orders, nderiv) to a factor already known on these nodes (a coordinate integrated
    out by :mod:`.conditioned`, whose column is then None)."""
    top = [0] * len(columns)   # the highest derivative order each coordinate needs
    for key in keys:
        for c, (orders, nderiv) in enumerate(key):
            if orders:
                top[c] = max(top[c], max(orders) + nderiv)
    cache: dict[int, list[np.ndarray]] = {}
    groups: dict[tuple[int, tuple[int, ...], int], np.ndarray] = dict(given or {})

    def group(c: int, orders: tuple[int, ...], nderiv: int) -> np.ndarray:
        """g_c = D^nderiv prod sigma^(m) on the nodes, shared by every key that uses it."""
        if (c, orders, nderiv) not in groups:
            if c not in cache:   # every order at once, shared work once
                cache[c] = activation.derivatives(top[c])(columns[c])
            groups[(c, orders, nderiv)] = leibniz_values(cache[c], orders, nderiv)
        return groups[(c, orders, nderiv)]

    # Each key is (product over the first half of the coordinates) x (over the second half):
    # the distinct halves are built once, and one matrix product sums every pairing.
    half = (len(columns) + 1) // 2
    out = np.zeros(len(keys))
    split: list[tuple[int, tuple, tuple]] = []
    for i, key in enumerate(keys):
        if not any(nderiv and not orders for orders, nderiv in key):   # D^n of a constant: 0
            factors = [(c, tuple(orders), nderiv) for c, (orders, nderiv) in enumerate(key) if orders]
            split.append((i, tuple(f for f in factors if f[0] < half), tuple(f for f in factors if f[0] >= half)))
    if not split:
        return out
    lefts = {f: j for j, f in enumerate(dict.fromkeys(s[1] for s in split))}
    rights = {f: j for j, f in enumerate(dict.fromkeys(s[2] for s in split))}
    L = np.empty((len(lefts), len(w)))
    for f, j in lefts.items():
        L[j] = w
        for factor in f:
            L[j] *= group(*factor)
    R = np.empty((len(rights), len(w)))
    for f, j in rights.items():
        R[j] = 1.0
        for factor in f:
            R[j] *= group(*factor)
    M = L @ R.T
    for i, lf, rf in split:
        out[i] = M[lefts[lf], rights[rf]]
    return out
