"""The one Gaussian-expectation engine: <prod_c g_c(z_c)>_K over <= 4 sample indices.

A *key* names one expectation: ``(coords, groups)`` where ``coords`` are distinct
sample indices (positions in K) and ``groups[i] = (orders, nderiv)`` says that the
function of z_{coords[i]} is D^nderiv prod_{m in orders} sigma^(m).  Smooth
activations use the trapezoidal rule in the kernel's eigenbasis (:mod:`.smooth`; over three
or four sample indices one coordinate is integrated out first, :mod:`.conditioned`),
or, for kernels far wider than the activation's own scale, Gauss-Legendre panels
graded at the kinks, with a node count that does not grow with the kernel
(:mod:`.graded`); the scale-invariant family is evaluated exactly, delta functions
included (:mod:`.piecewise`; float64 keys that share their groups are evaluated together,
as arrays, by :mod:`.piecewise_batch`).
"""
from __future__ import annotations

import itertools
import os
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .smooth import expect_smooth_batch

Key = tuple[tuple[int, ...], tuple[tuple[tuple[int, ...], int], ...]]


class Interrupted(Exception):
    """``poll`` asked the evaluation to stop (a cancelled job); nothing is returned."""


POLL_EVERY = 64  # closed-form keys evaluated between two polls
CLOSED_FORM_ROWS = 1 << 15  # sample-index sets whose closed forms are evaluated together (piecewise_batch)


MAX_THREADS = 8  # by default: array operations on a chunk are memory-bound beyond a few cores


def quadrature_threads() -> int:
    """Threads for the quadrature: the CPUs this process may use, at most MAX_THREADS (NumPy's
    array operations release the GIL, so sets of sample indices run side by side; each thread
    holds one chunk of nodes); FNTK_THREADS overrides."""
    env = os.environ.get("FNTK_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_THREADS))


def expectations(activation, K: np.ndarray, keys: list[Key], poll=None, progress=None) -> np.ndarray:
    """Evaluate many expectations under N(0, K); returns an array aligned with keys.

    ``poll`` (optional) is called between sets of sample indices (quadrature) or every
    POLL_EVERY keys (closed forms); when it returns True, :class:`Interrupted` is raised, so
    a cancelled solve stops within a layer. ``progress(done, total)`` (optional) is called
    at the same points, counting sets of sample indices (quadrature) or keys (closed forms)."""
    K = np.asarray(K)
    K = K if K.dtype == object else K.astype(float)  # object: mpmath entries (piecewise only)
    out = np.empty(len(keys), dtype=K.dtype)
    if activation.scale_invariant and K.dtype != object:
        from .piecewise_batch import expect_piecewise_many

        return expect_piecewise_many(K, keys, activation.slopes, poll=poll, progress=progress)
    if activation.scale_invariant:   # mpmath entries: key by key, at their precision
        from .piecewise import expect_piecewise

        for i, (coords, groups) in enumerate(keys):
            if i % POLL_EVERY == POLL_EVERY - 1:
                if progress is not None:
                    progress(i, len(keys))
                if poll is not None and poll():
                    raise Interrupted
            idx = np.array(coords)
            out[i] = expect_piecewise(K[np.ix_(idx, idx)], groups, activation.slopes)
        return out
    by_coords: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, (coords, _) in enumerate(keys):
        by_coords[coords].append(i)
    top = max((m + n for _, groups in keys for orders, n in groups for m in orders), default=0)
    for m in range(top + 1):
        activation.derivatives(m)   # built (SymPy) here, once, before any thread uses them

    def one_set(item):
        coords, positions = item
        idx = np.array(coords)
        return positions, expect_smooth_batch(activation, K[np.ix_(idx, idx)], [keys[p][1] for p in positions])

    threads = min(quadrature_threads(), len(by_coords))
    if threads <= 1:
        for done, item in enumerate(by_coords.items()):
            if progress is not None:
                progress(done, len(by_coords))
            if poll is not None and poll():
                raise Interrupted
            positions, vals = one_set(item)
            out[positions] = vals
        return out
    # at most ``threads`` sets in flight; results are consumed, and ``poll`` called, on this
    # thread, so after a cancel no new set starts and the ones in flight finish
    pending = iter(by_coords.items())
    with ThreadPoolExecutor(threads, thread_name_prefix="fntk-quadrature") as pool:
        running = deque(pool.submit(one_set, item) for item in itertools.islice(pending, threads))
        done = 0
        while running:
            positions, vals = running.popleft().result()
            out[positions] = vals
            done += 1
            if progress is not None:
                progress(done, len(by_coords))
            if poll is not None and poll():
                raise Interrupted
            item = next(pending, None)
            if item is not None:
                running.append(pool.submit(one_set, item))
    return out
