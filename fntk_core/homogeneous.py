"""Exactly parallel inputs under bias-free ReLU-family networks, by homogeneity.

Without biases a piecewise-linear network is positively homogeneous: for x_b = a x_r
(a > 0) every preactivation obeys z(x_b) = a z(x_r) in every network, and every
parameter derivative scales the same way (dz/dW carries one sigma(z), degree 1;
masks sigma' are degree 0).  So every tensor component is the component of the ray's
representative times one factor a per sample index.  The recursions themselves cannot
see this: their delta-function expectations diverge like 1/sin(angle) while the lower
tensors they multiply carry exact zeros, so parallel inputs are solved once per ray
here and the components are scaled back.
"""
from __future__ import annotations

import numpy as np

# |x_b - a x_r| below this many ulps of |x_b| counts as exactly parallel (a rounded copy).
PARALLEL_ULPS = 8.0


def rays(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Group inputs by ray: (ray of each input, scale a of each input, parallel pairs).

    Input b joins the ray of an earlier input r when x_b = a x_r, a > 0, to rounding;
    the first input on a ray is its representative (a = 1).  Zero vectors get their own ray.
    """
    n = x.shape[0]
    ray = np.arange(n)
    scale = np.ones(n)
    pairs = []
    norms = np.linalg.norm(x, axis=1)
    for b in range(n):
        for r in range(b):
            if ray[r] != r or norms[r] == 0.0 or norms[b] == 0.0:
                continue
            a = float(x[b] @ x[r]) / norms[r] ** 2
            if a > 0 and np.linalg.norm(x[b] - a * x[r]) <= PARALLEL_ULPS * np.finfo(float).eps * norms[b]:
                ray[b], scale[b] = r, a
                pairs.append((r, b))
                break
    return ray, scale, pairs


def expand(arr: np.ndarray, ray: np.ndarray, scale: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Components of all inputs from the representatives' (layer axis first).

    ``order`` maps each representative to its position in ``arr``'s sample axes.
    """
    rank = arr.ndim - 1
    pos = order[ray]
    out = arr[np.ix_(*([np.arange(arr.shape[0])] + [pos] * rank))]
    for axis in range(1, rank + 1):
        shape = [1] * arr.ndim
        shape[axis] = len(ray)
        out = out * scale.reshape(shape)
    return out
