"""Gaussian expectations for smooth activations by quadrature in the eigenbasis.

The integrand is a product of one-variable functions g_c(z_c), one per distinct
sample index c, each a derivative of a product of activation derivatives.  We
rotate into the eigenbasis of the sub-covariance, z = Q sqrt(lam) u with
u ~ N(0, I) (coinciding or collinear inputs simply drop a dimension, no NaN),
and use the trapezoidal rule in each u_k: for integrands analytic in a strip it
converges exponentially, and unlike a fixed Gauss-Hermite rule its step can
follow the scale of the activation, h_k ~ 1/sqrt(lam_k), so wide kernels
(large K) stay as accurate as narrow ones.  One node table serves every
expectation over the same set of sample indices.
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
CHUNK = 1 << 18  # nodes evaluated at once: bounds the memory of one batch
MAX_NODES = 1 << 31  # uniform rule only (activations without an asymptotic regime)


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
    basis = evecs[:, keep] * np.sqrt(evals[keep])
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
    tail_z = np.zeros((len(order), d))
    for c, (ix, (u_k, _)) in enumerate(zip(np.unravel_index(order, [len(a[0]) for a in axes[1:]]) if k > 1 else (),
                                           axes[1:]), 1):
        tail_z += np.multiply.outer(u_k[ix], basis[:, c])
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
                zs.append(tail_z[:m] + u0 * basis[:, 0])
                ws.append(w0 * tail_w[:m])
        if zs:
            yield np.concatenate(zs), np.concatenate(ws)
        lo = hi


def node_chunks(activation, cov: np.ndarray, refine: float = 1.0, method: str = "auto"):
    """The rule for this kernel: uniform, or graded when the kernel is wide (see :mod:`.graded`)."""
    if method not in ("auto", "uniform", "graded"):
        raise ValueError(f"method must be auto, uniform or graded, got {method!r}")
    wide = method == "graded" or (method == "auto" and refine == 1.0 and cov.size
                                  and float(np.max(np.linalg.eigvalsh(cov))) > GRADED_ABOVE)
    radius = feature_radius(activation) if wide else None  # probed once per activation
    if radius is not None:
        return graded_nodes(cov, radius)
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
    out = np.zeros(len(keys))
    for z, w in node_chunks(activation, cov, refine, method):
        out += _batch_on_nodes(activation, z, w, keys)
    return out


def _batch_on_nodes(activation, z: np.ndarray, w: np.ndarray, keys) -> np.ndarray:
    zt = np.ascontiguousarray(z.T)  # one contiguous row per coordinate
    top = [0] * zt.shape[0]   # the highest derivative order each coordinate needs
    for key in keys:
        for c, (orders, nderiv) in enumerate(key):
            if orders:
                top[c] = max(top[c], max(orders) + nderiv)
    cache: dict[int, list[np.ndarray]] = {}

    def column(c: int, m: int) -> np.ndarray:
        if c not in cache:
            cache[c] = activation.derivatives(top[c])(zt[c])   # every order at once, shared work once
        return cache[c][m]

    groups: dict[tuple[int, tuple[int, ...], int], np.ndarray] = {}

    def group(c: int, orders: tuple[int, ...], nderiv: int) -> np.ndarray:
        """g_c = D^nderiv prod sigma^(m) on the nodes, shared by every key that uses it."""
        if (c, orders, nderiv) not in groups:
            g = 0.0
            for t, mult in leibniz(orders, nderiv):
                col = column(c, t[0])
                for m in t[1:]:
                    col = col * column(c, m)
                g = g + mult * col
            groups[(c, orders, nderiv)] = g
        return groups[(c, orders, nderiv)]

    # w * g_0 * ... * g_j along the current prefix: keys in sorted order share them, and at
    # most one array per coordinate is held
    out = np.zeros(len(keys))
    todo = []
    for i, key in enumerate(keys):
        if not any(nderiv and not orders for orders, nderiv in key):
            todo.append((tuple((c, tuple(orders), nderiv) for c, (orders, nderiv) in enumerate(key) if orders), i))
    todo.sort()
    path: list[tuple[tuple, np.ndarray]] = []  # (factor, w * product of factors so far)
    for factors, i in todo:
        if not factors:
            out[i] = float(np.sum(w))
            continue
        head = factors[:-1]
        common = 0
        while common < min(len(path), len(head)) and path[common][0] == head[common]:
            common += 1
        del path[common:]
        for f in head[common:]:
            path.append((f, (path[-1][1] if path else w) * group(*f)))
        out[i] = float(np.dot(path[-1][1] if path else w, group(*factors[-1])))
    return out
