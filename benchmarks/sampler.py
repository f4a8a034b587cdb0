"""Sampler speed: NTK samples per second, width 100, depth 4, 2 inputs, float64, CPU.

    python benchmarks/sampler.py

Compares, in one run:
  * fntk's sampler (batched ensembles, forward equations of docs/theory.md §1),
    end to end (``sample(..., tensors=["K", "Theta"])``, default chunk and options:
    Rao-Blackwellised estimators with control variates, no plain ones, so the last
    layer's weights are not drawn; estimators included) and the bare forward pass;
  * the straightforward alternative: per network (drawn with NumPy), tf.GradientTape
    Jacobians of the outputs with respect to all parameters (vectorised jacobian, in a
    tf.function traced once), contracted into the NTK  Theta = sum_mu lambda_mu J J^T;
  * plain tf.matmul throughput on this machine, for the achieved GFLOP/s.
Ends with ``speedup_vs_gradient_tape: X`` (end-to-end sampler vs GradientTape).
Times are medians of repeats (the machine may be shared).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

WIDTH, DEPTH, N0 = 100, 4, 2
X = np.array([(-0.9895229339599609, -0.5992491841316223), (-0.17877478897571564, 2.253682851791382)])


def ntk_flops_per_network(n=WIDTH, N=2, depth=DEPTH, n0=N0, skip_last=True):
    """Flops (2 x multiply-adds) of the GEMMs that the sampler runs per network for K and Theta.

    z: x W1^T, then sigma W^T per layer.  NTK (diagonals/traces only, engine's Jacobian mode):
    J^(l,k)_a = W_l (D_a J^(l-1,k)_a) for k = 1 .. l-2 (n_k wide), all inputs in one GEMM;
    the O(n^2) diagonals, scalings and the W D blocks (no GEMM) are not counted.  With
    Rao-Blackwellised estimators only (the default) layer L is not computed (skip_last).
    """
    top = depth - 1 if skip_last else depth
    f = 2 * N * n * n0 if top >= 1 else 0
    for _ in range(2, top + 1):
        f += 2 * N * n * n  # z
    for l in range(3, top + 1):
        f += 2 * N * n * n * (n * (l - 2))
    return f


def naive_ntk_flops_per_network(n=WIDTH, N=2, depth=DEPTH, n0=N0):
    """The same with the whole NTK matrices for all ordered input pairs (Y = Theta W^T, then W Y)."""
    f = 2 * N * n * n0
    for _ in range(2, depth + 1):
        f += 2 * N * n * n + 2 * (N * N) * (n * n * n) * 2
    return f


def _median(fn, repeat=5):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main() -> int:
    import tensorflow as tf

    from fntk_core import NetworkSpec, get_activation
    from fntk_core.sampling import sample
    from fntk_core.sampling.engine import Ensemble

    spec = NetworkSpec(n0=N0, depth=DEPTH, activation=get_activation("relu"), c_w=2.0)
    print(f"machine: {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, float64, width {WIDTH}, "
          f"depth {DEPTH}, {len(X)} inputs")

    # -- fntk sampler, end to end --------------------------------------------------
    # (the traced tf.function is cached between sample() calls with the same settings, like
    # the GradientTape function below; tracing is excluded from both by a warm-up call)
    E = 1024
    kw = dict(width=WIDTH, tensors=["K", "Theta"])
    r = sample(spec, X, networks=64, seed=0, **kw)  # warm-up (traces)
    t = _median(lambda: sample(spec, X, networks=E, seed=1, **kw), 5)
    rate_sampler = E / t
    print(f"fntk sampler (end to end, K+Theta with errors, chunk {r.meta['chunk']}): {rate_sampler:10.1f} networks/s")
    names = ["K", "Theta", "K1", "Theta1", "V", "D", "F", "A", "B"]
    sample(spec, X, networks=64, seed=0, width=WIDTH, tensors=names)
    t = _median(lambda: sample(spec, X, networks=256, seed=1, width=WIDTH, tensors=names), 3)
    print(f"fntk sampler (end to end, all 9 default tensors, whole NTK matrices): {256 / t:10.1f} networks/s")

    # -- bare forward equations (the features for K, Theta, no estimators) ---------------
    # (what sample() computes by default: Rao-Blackwellised features and the control variates'
    # layer-2 kernels, so layer L's weights are neither drawn nor multiplied)
    from fntk_core.sampling.api import wanted_features

    C = 64
    ens = Ensemble(spec.with_widths([WIDTH] * DEPTH), X, [WIDTH] * DEPTH, seed=0, dtype="float64", chunk=C,
                   blocks=8, need_ntk=True, need_dntk=False, control_variates=True,
                   features=wanted_features(["K", "Theta"], plain=False, control_variates=True))
    assert ens.skip_last
    fwd = tf.function(lambda e0: ens.fast_features(*ens.params(e0, C, layers=ens.drawn_layers))["rt2"],
                      input_signature=[tf.TensorSpec([], tf.int64)])
    fwd(tf.constant(0, tf.int64))
    reps = 8
    t = _median(lambda: [fwd(tf.constant(C * i, tf.int64)).numpy() for i in range(reps)], 5)
    rate_fwd = C * reps / t
    flops = ntk_flops_per_network()
    print(f"fntk forward equations only (chunk {C}):               {rate_fwd:10.1f} networks/s, "
          f"{rate_fwd * flops / 1e9:6.2f} GFLOP/s in GEMMs ({flops / 1e6:.1f} MFLOP per network, "
          f"{ntk_flops_per_network(skip_last=False) / 1e6:.1f} with layer L; whole NTK "
          f"matrices for all ordered pairs would be {naive_ntk_flops_per_network() / 1e6:.1f})")

    # -- straightforward alternative: GradientTape Jacobians per network --------------
    dims = [N0] + [WIDTH] * DEPTH
    x = tf.constant(X)
    rng = np.random.default_rng(0)

    @tf.function
    def tape_ntk(params):
        with tf.GradientTape() as tape:
            tape.watch(params)
            h = x
            for l in range(DEPTH):
                W, b = params[2 * l], params[2 * l + 1]
                z = tf.matmul(h, W, transpose_b=True) + b
                h = tf.nn.relu(z)
            out = tf.reshape(z, [-1])  # (N * n_L,)
        jac = tape.jacobian(out, params)  # vectorised (pfor)
        ntk = 0.0
        for l in range(DEPTH):
            Jw = tf.reshape(jac[2 * l], [out.shape[0], -1])
            ntk += (1.0 / dims[l]) * tf.matmul(Jw, Jw, transpose_b=True)  # lambda_W / n_{l-1}, lambda_b = 0
        return ntk

    def draw():
        ps = []
        for l in range(1, DEPTH + 1):
            ps.append(tf.constant(rng.normal(0, np.sqrt(2.0 / dims[l - 1]), (dims[l], dims[l - 1]))))
            ps.append(tf.constant(np.zeros(dims[l])))
        return ps

    tape_ntk(draw())  # traced once (tf.function), like the sampler's chunk function
    nt = 8
    t = _median(lambda: [tape_ntk(draw()).numpy() for _ in range(nt)], 5)  # drawing included, as in the sampler
    rate_tape = nt / t
    print(f"GradientTape Jacobians per network (tf.function):     {rate_tape:10.1f} networks/s")

    # -- plain matmul throughput ------------------------------------------------------
    a = tf.constant(rng.normal(size=(64, WIDTH, WIDTH)))
    mm = tf.function(lambda a: tf.matmul(a, a))
    mm(a)
    t = _median(lambda: [mm(a).numpy() for _ in range(20)], 5)
    gf_small = 20 * 64 * 2 * WIDTH**3 / t / 1e9
    big = tf.constant(rng.normal(size=(1500, 1500)))
    mm(big)
    t = _median(lambda: mm(big).numpy(), 5)
    gf_big = 2 * 1500**3 / t / 1e9
    print(f"plain tf.matmul float64: batched 64x{WIDTH}x{WIDTH}: {gf_small:6.2f} GFLOP/s; 1500x1500: {gf_big:6.2f} GFLOP/s")
    print(f"forward equations reach {100 * rate_fwd * flops / 1e9 / gf_small:.0f}% of batched matmul, "
          f"{100 * rate_fwd * flops / 1e9 / gf_big:.0f}% of large matmul")
    print(f"speedup_vs_gradient_tape: {rate_sampler / rate_tape:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
