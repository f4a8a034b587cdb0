"""Time the full first-order solve as the number of inputs N grows: engine before vs now.

    python benchmarks/solver_inputs.py [--depth 10] [--old 2,4,8] [--new 2,4,8,16,32,64]
                                       [--activations tanh,gelu,relu] [--max-memory 24G]

Tensors K, Theta, V, K1, Theta1, D, F, A, B; C_W = 1 (ReLU: 2, its critical point), C_b = 0.1,
n0 = 4, Gaussian inputs (seed 0). "old" is the former Gaussian-expectation engine: for smooth
activations the full d-dimensional rule on every set of sample indices, built as a full cube
of nodes (``plain_nodes`` below), for the ReLU family one key at a time
(``scalar_piecewise``), run through the same recursions, so the two answers are compared
entry by entry. Before each
new solve the memory estimate is printed; a solve above --max-memory is reported, not run.
The last line is ``speedup_inputs_8_tanh: X`` when both engines ran N = 8 with tanh.
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fntk_core import NetworkSpec, get_activation  # noqa: E402
from fntk_core.gaussian import piecewise_batch, smooth  # noqa: E402
from fntk_core.gaussian.piecewise import expect_piecewise  # noqa: E402
from fntk_core.memory import MemoryLimitError, format_bytes, parse_bytes  # noqa: E402
from fntk_core.recursions.compiled import cached_plan  # noqa: E402
from fntk_core.solver import memory_estimate, solve  # noqa: E402


def plain_nodes(cov, refine=1.0, chunk=smooth.CHUNK):
    """The former node generator: meshgrid of the whole cube per chunk, then the ball."""
    cov = np.asarray(cov, dtype=float)
    d = cov.shape[0]
    evals, evecs = np.linalg.eigh(cov)
    scale = float(np.max(np.abs(evals))) if evals.size else 0.0
    keep = evals > smooth.EIGEN_CUTOFF * max(scale, 1e-300)
    k = int(np.sum(keep))
    if k == 0:
        yield np.zeros((1, d)), np.ones(1)
        return
    axes = [smooth._axis(lam, k, refine) for lam in evals[keep]]
    rest = int(np.prod([len(a[0]) for a in axes[1:]]))
    basis = evecs[:, keep] * np.sqrt(evals[keep])
    step = max(1, chunk // max(rest, 1))
    for lo in range(0, len(axes[0][0]), step):
        part = [(axes[0][0][lo:lo + step], axes[0][1][lo:lo + step])] + axes[1:]
        us = np.meshgrid(*[a[0] for a in part], indexing="ij")
        ws = np.meshgrid(*[a[1] for a in part], indexing="ij")
        u = np.stack([g.ravel() for g in us], axis=1)
        wts = np.prod(np.stack([g.ravel() for g in ws], axis=1), axis=1)
        inside = np.sum(u * u, axis=1) <= smooth.HALF_RANGE**2
        yield u[inside] @ basis.T, wts[inside]


def scalar_piecewise(K, keys, slopes, poll=None, progress=None):
    """The former ReLU-family engine: one key at a time (still the reference for degenerate kernels)."""
    return np.array([expect_piecewise(K[np.ix_(c, c)], g, slopes) for c, g in keys])


@contextmanager
def old_engine():
    saved = smooth.gauss_nodes, piecewise_batch.expect_piecewise_many, smooth.CONDITION_FROM
    smooth.gauss_nodes, piecewise_batch.expect_piecewise_many = plain_nodes, scalar_piecewise
    smooth.CONDITION_FROM = 1 << 30   # every set on the full rule, no coordinate integrated out first
    try:
        yield
    finally:
        smooth.gauss_nodes, piecewise_batch.expect_piecewise_many, smooth.CONDITION_FROM = saved


def _relative(a, b) -> float:
    """Largest |a - b| / |b| over entries, entries below 1e-12 of the largest counted at that floor."""
    floor = 1e-12 * float(np.max(np.abs(b))) + 1e-300
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _ints(text):
    return [int(t) for t in text.split(",") if t.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--old", type=_ints, default=[2, 4, 8])
    p.add_argument("--new", type=_ints, default=[2, 4, 8, 16, 32, 64])
    p.add_argument("--activations", default="tanh,gelu,relu")
    p.add_argument("--max-memory", type=parse_bytes, default=parse_bytes("24G"))
    args = p.parse_args(argv)
    x_all = np.random.default_rng(0).normal(size=(max(args.old + args.new), 4))
    speedup = None
    for name in args.activations.split(","):
        act = get_activation(name)
        c_w = 2.0 if act.scale_invariant else 1.0   # ReLU at criticality (at C_W = 1 its kernel collapses)
        spec = NetworkSpec(n0=4, depth=args.depth, activation=act, c_w=c_w, c_b=0.1)
        solve(NetworkSpec(n0=4, depth=2, activation=act, c_w=c_w, c_b=0.1), x_all[:2])  # warm-up
        old, old_s = {}, {}
        for n in args.old:
            with old_engine():
                cached_plan.cache_clear()  # both engines compile their plan inside the timing
                t = time.perf_counter()
                old[n] = solve(spec, x_all[:n], max_memory=None)
                old_s[n] = time.perf_counter() - t
            print(f"{name:5s} N={n:3d} old {old_s[n]:9.2f} s", flush=True)
        for n in args.new:
            est = memory_estimate(spec, x_all[:n])
            print(f"{name:5s} N={n:3d} new {est.describe()}", flush=True)
            try:
                cached_plan.cache_clear()
                t = time.perf_counter()
                res = solve(spec, x_all[:n], max_memory=args.max_memory)
                dt = time.perf_counter() - t
            except MemoryLimitError:
                print(f"{name:5s} N={n:3d} new not run: above {format_bytes(args.max_memory)}", flush=True)
                continue
            line = f"{name:5s} N={n:3d} new {dt:9.2f} s"
            if n in old:
                diff = max(_relative(res.tensors[k], old[n].tensors[k]) for k in res.tensors)
                of_scale = max(float(np.max(np.abs(res.tensors[k] - old[n].tensors[k])))
                               / max(float(np.max(np.abs(old[n].tensors[k]))), 1e-300)   # a tensor may vanish
                               for k in res.tensors)
                line += (f"   old/new {old_s[n] / dt:6.2f}   largest relative difference {diff:.1e}"
                         f" (of the largest entry: {of_scale:.1e})")
                if n == 8 and name == "tanh":
                    speedup = old_s[n] / dt
            print(line, flush=True)
    if speedup is not None:
        print(f"speedup_inputs_8_tanh: {speedup:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
