"""Expectations over three or four sample indices with one coordinate integrated out first.

Given the other coordinates, z_r = m + s v with m = b . z_rest and v ~ N(0, 1) independent
of them, so

    E[prod_c g_c(z_c)] = E[prod_{c != r} g_c(z_c) F(m)],   F(m) = E_v[g_r(m + s v)].

The rule for z_rest = L u, u ~ N(0, I), takes its first axis along m (m = |c| u_1) and the
others orthogonal to it, principal within the rest; so m takes only the values of the
first axis' grid, and F is computed there, once per set of sample indices, by the
one-dimensional trapezoidal rule in v: nothing is interpolated. The trapezoidal rule then
runs over d - 1 dimensions, with steps that resolve both the coordinates and m along each
axis: for four indices some 10 times fewer nodes than the full rule, and as accurate.

r is the coordinate that the others determine least (largest conditional variance s^2):
that leaves the rule the smallest volume.
"""
from __future__ import annotations

import numpy as np

from .smooth import CHUNK, EIGEN_CUTOFF, _axis, ball_nodes, batch_on_columns, group_values


def split(cov: np.ndarray) -> tuple[int, float, np.ndarray]:
    """(r, s^2, b): the least determined coordinate, its conditional variance given the others
    (0 when they determine it), and b with E[z_r | z_rest] = b . z_rest."""
    d = cov.shape[0]
    scale = max(float(np.max(np.diag(cov))), 1e-300)
    best = None
    for r in range(d):
        rest = [c for c in range(d) if c != r]
        b = np.linalg.pinv(cov[np.ix_(rest, rest)], rcond=1e-13, hermitian=True) @ cov[rest, r]
        s2 = float(cov[r, r] - cov[r, rest] @ b)
        if best is None or s2 > best[1]:
            best = (r, s2, b)
    r, s2, b = best
    return r, (s2 if s2 > EIGEN_CUTOFF * scale else 0.0), b


def rule(cov_rest: np.ndarray, b: np.ndarray):
    """(basis L, axes, |c|) for z_rest = L u with b . z_rest = |c| u_1: steps per axis resolve
    each coordinate and m (the column norm of L, and |c| on the first axis), as the
    eigenbasis rule of :mod:`.smooth` does with sqrt(lambda)."""
    evals, evecs = np.linalg.eigh(cov_rest)
    keep = evals > EIGEN_CUTOFF * max(float(np.max(np.abs(evals))), 1e-300)
    L0 = evecs[:, keep] * np.sqrt(evals[keep])
    if not keep.any():
        return np.zeros((len(b), 1)), [(np.zeros(1), np.ones(1))], 0.0
    c = L0.T @ b
    size = float(np.linalg.norm(c))
    if size <= EIGEN_CUTOFF * max(float(np.linalg.norm(b)) * np.sqrt(float(np.max(evals))), 1e-300):
        basis, size = L0, 0.0    # m does not vary: F is one number
    else:
        q = np.linalg.qr(np.column_stack([c / size, np.eye(len(c))]))[0]   # q[:, 0] = +-c/|c|
        q[:, 0] = c / size
        if len(c) > 1:
            u, sv, _ = np.linalg.svd(L0 @ q[:, 1:], full_matrices=False)
            basis = np.column_stack([L0 @ q[:, 0], u * sv])
        else:
            basis = L0 @ q[:, :1]
    scales = np.sum(basis**2, axis=0)
    scales[0] = max(scales[0], size**2)
    return basis, [_axis(s, len(scales), 1.0) for s in scales], size


def expect_conditioned(activation, cov: np.ndarray, keys) -> np.ndarray:
    """E[prod_c g_c(z_c)] for each key, as :func:`.smooth.expect_smooth_batch` (d >= 2)."""
    d = cov.shape[0]
    r, s2, b = split(cov)
    rest = [c for c in range(d) if c != r]
    basis, axes, size = rule(cov[np.ix_(rest, rest)], b)
    wanted = sorted({(tuple(k[r][0]), k[r][1]) for k in keys if k[r][0]})
    if wanted:   # F on the first axis' grid
        top = max(max(o) + n for o, n in wanted)
        m = size * axes[0][0]
        if s2 > 0.0:
            v, wv = _axis(s2, 1, 1.0)
            vals = group_values(activation, (m[:, None] + np.sqrt(s2) * v[None, :]).ravel(), wanted, top)
            table = {g: vals[g].reshape(len(m), len(v)) @ wv for g in wanted}
        else:
            table = group_values(activation, m, wanted, top)
    out = np.zeros(len(keys))
    for zt, w, first in ball_nodes(basis, axes, CHUNK):
        columns = [None] * d
        for i, c in enumerate(rest):
            columns[c] = zt[i]
        given = {(r,) + g: table[g][first] for g in wanted}
        out += batch_on_columns(activation, columns, w, keys, given)
    return out
