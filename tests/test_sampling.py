"""Sampler: forward equations vs autodiff, reproducibility, streaming API, CLI (fast tests)."""
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from fntk_core import NetworkSpec, Result, get_activation
from fntk_core.errors import NonFiniteError
from fntk_core.jobs import Progress
from fntk_core.results import ResultMeta

X2 = np.array([[0.5, -1.0, 0.3], [1.2, 0.3, -0.4]])


def _tiny_spec(act="tanh"):
    return NetworkSpec(n0=3, depth=3, activation=get_activation(act), c_w=[1.5, 1.2, 0.8], c_b=[0.3, 0.2, 0.1],
                       lambda_w=[0.7, 1.3, 0.9], lambda_b=[0.2, 0.5, 0.3])


def _autodiff(ens, Ws, bs, e):
    """z, NTK and dNTK of network e of every layer by tf.GradientTape on a flat parameter vector."""
    import tensorflow as tf

    spec = ens.spec
    shapes, lam = [], []
    for l in range(1, spec.depth + 1):
        p = spec.layer_params(l)
        W, b = Ws[l - 1][e], bs[l - 1][e]
        shapes += [W.shape, b.shape]
        lam += [np.full(int(np.prod(W.shape)), p["lambda_W"] / ens.dims[l - 1]), np.full(int(b.shape[0]), p["lambda_b"])]
    lam = tf.constant(np.concatenate(lam))
    theta0 = tf.concat([tf.reshape(t, [-1]) for l in range(spec.depth) for t in (Ws[l][e], bs[l][e])], 0)
    sig = tf.nn.relu if spec.activation.slopes is not None else tf.tanh

    def net(theta):
        out, off, h = [], 0, ens.x
        for l in range(spec.depth):
            nw = int(np.prod(shapes[2 * l])); W = tf.reshape(theta[off:off + nw], shapes[2 * l]); off += nw
            nb = int(shapes[2 * l + 1][0]); b = theta[off:off + nb]; off += nb
            z = tf.matmul(h, W, transpose_b=True) + b  # (N, n)
            out.append(z)
            h = sig(z)
        return out

    res = []
    for l in range(spec.depth):
        with tf.GradientTape() as t2:
            t2.watch(theta0)
            with tf.GradientTape() as t1:
                t1.watch(theta0)
                z = tf.transpose(net(theta0)[l])  # (n, N)
            J = t1.jacobian(z, theta0)  # (n, N, P)
        H = t2.jacobian(J, theta0, unconnected_gradients=tf.UnconnectedGradients.ZERO)  # (n, N, P, P)
        ntk = tf.einsum("p,iap,jbp->abij", lam, J, J)
        dh = tf.einsum("p,q,iapq,jbp,kcq->abcijk", lam, lam, H, J, J)
        res.append((tf.transpose(z).numpy(), ntk.numpy(), dh.numpy()))
    return res


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_forward_equations_match_autodiff(act):
    import tensorflow as tf

    from fntk_core.sampling.engine import Ensemble

    spec = _tiny_spec(act)
    ens = Ensemble(spec, X2, [4, 3, 5], seed=7, dtype="float64", chunk=2, blocks=2, need_ntk=True, need_dntk=True)
    Ws, bs = ens.params(tf.constant(5, tf.int64), 2)
    layers = ens.forward(Ws, bs)
    for e in range(2):
        ref = _autodiff(ens, Ws, bs, e)
        for l, (z, ntk, dh) in enumerate(ref):
            np.testing.assert_allclose(layers[l]["z"][e].numpy(), z, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(layers[l]["theta"][e].numpy(), ntk, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(layers[l]["dH"][e].numpy(), dh, rtol=1e-9, atol=1e-11)
        assert np.abs(ref[-1][2]).max() > 1e-2  # the dNTK test is not vacuous


def test_import_does_not_load_tensorflow():
    code = ("import sys, fntk_core, fntk_core.sampling, fntk_core.sampling.command, fntk_core.sampling.estimators; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))


def _spec(act="tanh", depth=3, c_w=1.0):
    return NetworkSpec(n0=3, depth=depth, activation=get_activation(act), c_w=c_w)


def _same_for_two_chunk_sizes(T, networks, width, chunks):
    """Identical estimates and errors for two chunk sizes, one trace each; returns the first run."""
    from fntk_core.sampling import sample

    a, b = (sample(_spec(), X2, networks=networks, width=width, tensors=T, seed=11, chunk=c) for c in chunks)
    for k in T:
        np.testing.assert_allclose(a.tensors[k], b.tensors[k], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.stderr[k], b.stderr[k], rtol=1e-9, atol=1e-12)
    assert a.meta["tf_function_traces"] == 1 and b.meta["tf_function_traces"] == 1
    return a


def test_chunk_size_independence_and_no_retracing():
    from fntk_core.sampling import sample

    T = ["K", "Theta", "V", "D", "F", "A", "B", "P", "Q"]
    # 7 chunks (the last one padded) and 2 chunks
    a = _same_for_two_chunk_sizes(T, networks=100, width=5, chunks=(16, 64))
    c = sample(_spec(), X2, networks=100, width=5, tensors=T, seed=12, chunk=16)
    assert not np.allclose(a.tensors["V"], c.tensors["V"])


def test_chunk_size_independence_with_ddntk_tensors():
    from fntk_core.sampling import sample

    T = ["K", "P", "R", "S", "T", "U"]
    a = _same_for_two_chunk_sizes(T, networks=60, width=4, chunks=(8, 32))
    # requesting R-U does not change the networks: K, P as in a run without them
    c = sample(_spec(), X2, networks=60, width=4, tensors=["K", "P"], seed=11, chunk=8)
    for k in ("K", "P"):
        np.testing.assert_allclose(a.tensors[k], c.tensors[k], rtol=1e-9, atol=1e-12)


def test_float32_uses_the_same_networks():
    from fntk_core.sampling import sample

    a = sample(_spec(), X2, networks=64, width=6, tensors=["K", "Theta", "V"], seed=3)
    b = sample(_spec(), X2, networks=64, width=6, tensors=["K", "Theta", "V"], seed=3, dtype="float32")
    assert b.meta["dtype"] == "float32" and a.meta["dtype"] == "float64"
    for k in ("K", "Theta", "V"):
        np.testing.assert_allclose(a.tensors[k], b.tensors[k], rtol=1e-3, atol=1e-4)


def test_layer_one_first_order_exactly_zero_and_meta():
    from fntk_core.sampling import sample

    r = sample(_spec(), X2, networks=40, width=6, outputs=2, seed=1)
    assert isinstance(r, Result) and r.layers == [1, 2, 3]
    for k in ("K1", "Theta1", "V", "D", "F", "A", "B"):
        assert np.all(r.tensors[k][0] == 0) and np.all(r.stderr[k][0] == 0)
        assert r.tensors[k].shape == r.stderr[k].shape
    m = r.meta
    assert m["network"]["widths"] == [6, 6, 2]
    assert m["networks_used"] == 40 and m["nan_count"] == 0 and m["dtype"] == "float64"
    assert m["device"] == "CPU" and m["tensor_float_32"] is False
    for key in ("inputs", "seed", "chunk", "versions", "tensorflow", "variance_ratio"):
        assert key in m
    assert isinstance(m, ResultMeta) and m.source == "sampler" and m.networks == 40 and m.seconds > 0
    json.dumps(r.to_json_dict())  # serialisable


def test_rao_blackwell_and_plain_agree():
    from fntk_core.sampling import sample

    T = ["K", "Theta", "V", "D", "F", "A", "B"]
    # independent ensembles (different seeds), so that their standard errors add in quadrature
    a = sample(_spec(), X2, networks=600, width=8, tensors=T, seed=5, rao_blackwell=True, compare_plain=True)
    b = sample(_spec(), X2, networks=600, width=8, tensors=T, seed=6, rao_blackwell=False, compare_plain=True)
    same = sample(_spec(), X2, networks=600, width=8, tensors=T, seed=5, rao_blackwell=False)
    assert a.meta["estimator"] == "rao_blackwell" and b.meta["estimator"] == "plain"
    for k in T:
        se = np.sqrt(a.stderr[k] ** 2 + b.stderr[k] ** 2)
        assert np.all(np.abs(a.tensors[k] - b.tensors[k]) <= 4 * se + 1e-12), k
        # the reported ratio is Var(Rao-Blackwellised) / Var(plain) of the same networks, layers >= 2,
        # checked against the plain estimator's errors from a separate run on those networks
        want = float((a.stderr[k][1:] ** 2).sum() / (same.stderr[k][1:] ** 2).sum())
        assert a.meta["variance_ratio"][k] == pytest.approx(want, rel=1e-9)
    # conditioning on the layer below never increases the variance of these
    for k in ("K", "V", "F", "B"):
        assert a.meta["variance_ratio"][k] < 1.0


def test_nan_networks_are_counted_and_dropped():
    from fntk_core.sampling import sample

    # log(z + 3) is NaN where a first-layer preactivation falls below -3 (about 1 network in 8)
    spec = NetworkSpec(n0=3, depth=2, activation=get_activation("custom", formula="log(z + 3)"), c_w=3.0)
    with pytest.warns(RuntimeWarning, match="NaN or Inf"):
        r = sample(spec, X2, networks=200, width=6, tensors=["K", "Theta", "V"], seed=2, chunk=32)
    m = r.meta
    assert 0 < m["nan_count"] < 200
    assert m["networks_used"] + m["nan_count"] == 200
    for k in ("K", "Theta", "V"):
        assert np.all(np.isfinite(r.tensors[k])) and np.all(np.isfinite(r.stderr[k]))


def test_cancellation_keeps_partial_results():
    from fntk_core.sampling import sample

    ev = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.done >= 32:
            ev.set()

    r = sample(_spec(), X2, networks=1000, width=5, tensors=["K", "Theta", "V"], seed=1, chunk=16,
               progress=progress, cancel=ev)
    assert r.meta["cancelled"] is True
    assert r.meta["networks_used"] == 32 and seen == [Progress(16, 1000, "sample"), Progress(32, 1000, "sample")]
    assert np.all(np.isfinite(r.tensors["V"]))
    # a callable works too; cancelled before the first chunk: nothing estimated, no crash
    r0 = sample(_spec(), X2, networks=100, width=5, tensors=["K"], cancel=lambda: True)
    assert r0.meta["cancelled"] and r0.meta["networks_used"] == 0


def test_generator_yields_partial_results():
    from fntk_core.sampling import iter_sample, sample

    outs = list(iter_sample(_spec(), X2, networks=96, width=5, tensors=["K", "Theta", "V"], seed=4, every=32))
    assert [o.meta["networks_used"] for o in outs] == [32, 64, 96]
    assert [o.meta["partial"] for o in outs] == [True, True, False]
    full = sample(_spec(), X2, networks=96, width=5, tensors=["K", "Theta", "V"], seed=4, chunk=48)
    np.testing.assert_allclose(outs[-1].tensors["V"], full.tensors["V"], rtol=1e-9, atol=1e-12)
    # the first partial result is the estimate from the first 32 networks
    first = sample(_spec(), X2, networks=32, width=5, tensors=["K", "Theta", "V"], seed=4)
    np.testing.assert_allclose(outs[0].tensors["K"], first.tensors["K"], rtol=1e-9)


def test_ddntk_tensors_are_sampled_and_unknown_names_refused():
    from fntk_core.sampling import sample

    r = sample(_spec(), X2, networks=8, width=3, tensors=["R", "S", "T", "U"], seed=1)
    assert r.meta["rao_blackwellised"] == []
    for k in "RSTU":
        assert r.tensors[k].shape == r.stderr[k].shape == (3, 2, 2, 2, 2)
        assert np.all(r.tensors[k][0] == 0) and np.all(r.stderr[k][0] == 0)  # layer 1 exactly zero
        assert np.all(np.isfinite(r.tensors[k])) and np.abs(r.tensors[k][1:]).max() > 0
    with pytest.raises(ValueError, match="unknown tensor 'X'"):
        sample(_spec(), X2, networks=4, width=3, tensors=["X"])


def _autodiff_dd(ens, Ws, bs, e, sig):
    """dd_I H and dd_II H of network e, every layer, by tf.GradientTape on a flat parameter vector:
    Jacobian J, then the Hessian and third derivative contracted with V = Lambda J (as in
    tests/test_ddntk.py); returned as [d0, d1, d2, d3, i0, i1, i2, i3]."""
    import tensorflow as tf

    spec = ens.spec
    shapes, lam, flat = [], [], []
    for l in range(1, spec.depth + 1):
        p = spec.layer_params(l)
        for t, lm in ((Ws[l - 1][e].numpy(), p["lambda_W"] / ens.dims[l - 1]), (bs[l - 1][e].numpy(), p["lambda_b"])):
            shapes.append(t.shape)
            lam.append(np.full(t.size, lm))
            flat.append(t.ravel())
    lam = np.concatenate(lam)
    theta = tf.constant(np.concatenate(flat))

    def net(th, depth):
        i, h = 0, ens.x
        for l in range(depth):
            k = int(np.prod(shapes[2 * l])); W = tf.reshape(th[i:i + k], shapes[2 * l]); i += k  # noqa: E702
            k = int(np.prod(shapes[2 * l + 1])); b = th[i:i + k]; i += k  # noqa: E702
            z = tf.matmul(h, W, transpose_b=True) + b
            h = sig(z)
        return tf.reshape(z, [-1])  # index a * n + i

    zero = tf.UnconnectedGradients.ZERO
    res = []
    for depth in range(1, spec.depth + 1):
        with tf.GradientTape() as t1:
            t1.watch(theta)
            z = net(theta, depth)
        V = tf.constant(t1.jacobian(z, theta).numpy() * lam)
        with tf.GradientTape() as t3:
            t3.watch(theta)
            with tf.GradientTape() as t2:
                t2.watch(theta)
                with tf.GradientTape() as t1:
                    t1.watch(theta)
                    z = net(theta, depth)
                JV = tf.matmul(t1.jacobian(z, theta), V, transpose_b=True)
            K2 = t2.jacobian(JV, theta, unconnected_gradients=zero)  # [x, y, q] = sum_p H[x, p, q] V[y, p]
            K2V = tf.einsum("xyq,zq->xyz", K2, V)
        K3 = t3.jacobian(K2V, theta, unconnected_gradients=zero).numpy()
        K2, V = K2.numpy(), V.numpy()
        dd1 = np.einsum("xyzr,wr->xyzw", K3, V)
        dd2 = np.einsum("xzp,ywp,p->xyzw", K2, K2, lam)
        n, N = ens.dims[depth], ens.N
        res.append(tuple(t.reshape((N, n) * 4).transpose(0, 2, 4, 6, 1, 3, 5, 7) for t in (dd1, dd2)))
    return res


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_ddntk_forward_equations_match_autodiff(act):
    """dd_I H, dd_II H of the batched forward equations (sampling/ddntk.py) vs autodiff; depth 3
    exercises every term (dH and ddH of layer 2 feed layer 3), per-layer C_W, C_b, lambda_W, lambda_b."""
    import tensorflow as tf

    from fntk_core.sampling.ddntk import to_samples_first
    from fntk_core.sampling.engine import Ensemble

    sig = tf.tanh if act == "tanh" else (lambda z: 0.5 * z * (1.0 + tf.math.erf(z / np.sqrt(2.0))))
    spec = _tiny_spec(act)
    ens = Ensemble(spec, X2, [3, 4, 2], seed=7, dtype="float64", chunk=2, blocks=2, need_ntk=True,
                   need_dntk=False, need_ddntk=True)
    Ws, bs = ens.params(tf.constant(5, tf.int64), 2)
    layers = ens.forward(Ws, bs)
    ref = _autodiff_dd(ens, Ws, bs, 1, sig)
    for l, (r1, r2) in enumerate(ref):
        for name, r in (("dd1", r1), ("dd2", r2)):
            got = to_samples_first(layers[l][name], ens.N)[1].numpy()
            if l == 0:
                assert np.all(got == 0) and np.abs(r).max() < 1e-12  # layer 1: linear in its parameters
                continue
            scale = np.abs(r).max()
            assert scale > 1e-3, (l, name)  # not vacuous
            np.testing.assert_allclose(got, r, rtol=0, atol=1e-11 * scale, err_msg=f"layer {l + 1} {name}")
    # the features: n_{l-1} x these means are R, S, T, U (storage orders of docs/ddntk.md)
    feats = ens.derivative_features(layers)
    dd1, dd2 = (to_samples_first(layers[2][k], ens.N).numpy() for k in ("dd1", "dd2"))
    pairs = [(0, 1), (1, 0)]
    want = {"ddr4": sum(dd1[..., i, i, j, j] for i, j in pairs) / 2,
            "dds4": sum(dd2[..., i, i, j, j] for i, j in pairs) / 2,
            "ddt4": (sum(dd2[..., i, j, i, j] for i, j in pairs) / 2).transpose(0, 1, 3, 4, 2),
            "ddu4": (sum(dd2[..., i, j, j, i] for i, j in pairs) / 2).transpose(0, 1, 4, 2, 3)}
    for k, v in want.items():
        np.testing.assert_allclose(feats[k][:, 2].numpy(), v, rtol=1e-12, atol=1e-14, err_msg=k)


def test_cli_sample_writes_result(tmp_path, capsys):
    from fntk_core.cli import main

    out = tmp_path / "s.json"
    rc = main(["sample", "--activation", "tanh", "--cw", "1", "--depth", "2", "--width", "6", "--outputs", "3",
               "--networks", "48", "--chunk", "16", "--seed", "9", "--input=0.5,-1", "--input=1,0.2",
               "--tensors", "K,Theta,K1,V", "--out", str(out)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "48/48" in err
    r = Result.load(out)
    d = json.loads(out.read_text())
    assert "stderr" in d and set(d["tensors"]) == {"K", "Theta", "K1", "V"}
    assert r.meta["network"]["widths"] == [6, 3] and r.meta["seed"] == 9 and r.meta["chunk"] == 16
    assert r.meta["networks_used"] == 48
    assert r.meta["variance_ratio"] is None
    out2 = tmp_path / "s2.json"
    rc = main(["sample", "--activation", "tanh", "--cw", "1", "--depth", "2", "--width", "6", "--outputs", "3",
               "--networks", "48", "--chunk", "16", "--seed", "9", "--input=0.5,-1", "--input=1,0.2",
               "--tensors", "K,Theta,K1,V", "--out", str(out2), "--compare-plain"])
    assert rc == 0
    r2 = Result.load(out2)
    assert set(r2.meta["variance_ratio"]) == {"K", "Theta", "K1", "V"}
    np.testing.assert_allclose(r2.tensors["V"], r.tensors["V"], rtol=1e-9, atol=1e-12)


def test_control_variates_agree_and_reduce_variance():
    from fntk_core.sampling import sample

    spec = _spec("tanh", depth=4)
    a = sample(spec, X2, networks=800, width=8, tensors=["K", "Theta", "Theta1"], seed=8)
    b = sample(spec, X2, networks=800, width=8, tensors=["K", "Theta", "Theta1"], seed=8, control_variates=False)
    assert a.meta["control_variates"] is True and b.meta["control_variates"] is False
    for k in ("K", "Theta", "Theta1"):
        np.testing.assert_array_equal(a.tensors[k][:2], b.tensors[k][:2])  # layers 1, 2 untouched
        assert np.all(np.abs(a.tensors[k] - b.tensors[k]) <= 3 * b.stderr[k] + 1e-12)
    assert a.meta["variance_ratio_control_variates"]["Theta"] < 0.9


@pytest.mark.parametrize("act,N,widths,tensors", [
    ("tanh", 2, [4, 3, 5], ["K", "Theta", "V", "D", "F", "A", "B"]),  # whole NTK matrices (pair recursion)
    ("relu", 3, [5, 4, 6, 3], ["K", "Theta", "V", "D", "F", "A", "B"]),
    ("tanh", 3, [4, 6, 5, 3], ["K", "Theta"]),  # traces only (per-input Jacobians)
    ("relu", 2, [5, 5, 5, 5], ["K", "Theta", "D", "A"]),  # diagonals (Jacobians)
    ("tanh", 1, [4, 3, 5], ["Theta", "B"]),
    ("tanh", 2, [4, 3, 5], ["K", "V"]),  # no NTK
])
def test_fast_features_match_full_forward_equations(act, N, widths, tensors):
    """The engine's fast path (only what the requested tensors need, input pairs a <= b) gives the
    same per-network features as the whole forward equations (checked against autodiff above)."""
    import tensorflow as tf
    from sampling_reference import reference_features

    from fntk_core.sampling.api import wanted_features
    from fntk_core.sampling.engine import _NTK_FEATURES, Ensemble

    rng = np.random.default_rng(len(widths) + N)
    L = len(widths)
    spec = NetworkSpec(n0=3, depth=L, activation=get_activation(act), c_w=list(rng.uniform(0.5, 2, L)),
                       c_b=list(rng.uniform(0, 0.5, L)), lambda_w=list(rng.uniform(0.5, 1.5, L)),
                       lambda_b=list(rng.uniform(0, 0.5, L)))
    x = rng.normal(size=(N, 3))
    want = wanted_features(tensors)
    kw = dict(seed=3, dtype="float64", chunk=3, blocks=2, need_dntk=False, control_variates=True)
    fast = Ensemble(spec, x, widths, need_ntk=bool(want & _NTK_FEATURES), features=want, **kw)
    ref = Ensemble(spec, x, widths, need_ntk=True, **kw)
    Ws, bs = fast.params(tf.constant(2, tf.int64), 3)
    a = fast.fast_features(Ws, bs)
    b = reference_features(ref, ref.forward(Ws, bs))
    assert set(want) <= set(a) <= set(b)
    for k in a:
        scale = max(np.abs(b[k].numpy()).max(), 1.0)
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=0, atol=1e-12 * scale, err_msg=k)


def test_normals_are_those_of_stateless_random_normal():
    """The XLA Box-Muller on Philox bits reproduces StatelessRandomNormalV2 (same key, counter)."""
    import tensorflow as tf

    from fntk_core.sampling import rng

    if not rng.xla_available():
        pytest.skip("no XLA here: the engine uses StatelessRandomNormalV2 itself")
    shape = tf.constant([200002], tf.int64)
    for seed, ctr in ((0, 0), (11, 12345), (2**63 + 5, 2**40)):
        key = tf.constant([seed], tf.uint64)
        counter = tf.constant([ctr, 0], tf.uint64)
        a = rng._philox_normal_xla(shape, key, counter).numpy()
        b = tf.raw_ops.StatelessRandomNormalV2(shape=shape, key=key, counter=counter, alg=1, dtype=tf.float64).numpy()
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def test_traced_function_is_reused_across_runs_and_seeds():
    from fntk_core.sampling import engine, sample

    kw = dict(networks=40, width=5, tensors=["K", "Theta", "V"], chunk=16)
    a = sample(_spec(depth=2), X2, seed=21, **kw)
    ens = engine._CACHE[next(reversed(engine._CACHE))]
    b = sample(_spec(depth=2), X2, seed=22, **kw)
    assert engine._CACHE[next(reversed(engine._CACHE))] is ens
    assert a.meta["tf_function_traces"] == 1 and b.meta["tf_function_traces"] == 1
    assert not np.allclose(a.tensors["K"], b.tensors["K"])
    c = sample(_spec(depth=2), X2, seed=21, **kw)
    np.testing.assert_array_equal(a.tensors["K"], c.tensors["K"])


def test_rao_blackwell_only_skips_the_last_layer_and_matches_compare_plain():
    """Without compare_plain (the default) only Rao-Blackwellised features are computed and
    W^(L), b^(L) are not drawn; the networks below layer L and the estimates are the same as
    with compare_plain=True (which draws everything and reports the variance ratio)."""
    from fntk_core.sampling import sample

    T = ["K", "Theta", "K1", "Theta1", "V", "D", "A"]  # per-input Jacobian path
    for tensors, depth in ((T, 4), (T + ["F", "B"], 3)):  # and whole NTK matrices
        a = sample(_spec("tanh", depth=depth), X2, networks=90, width=5, tensors=tensors, seed=3, chunk=16)
        b = sample(_spec("tanh", depth=depth), X2, networks=90, width=5, tensors=tensors, seed=3, chunk=64,
                   compare_plain=True)
        assert a.meta["last_layer_drawn"] is False and b.meta["last_layer_drawn"] is True
        assert a.meta["variance_ratio"] is None and "compare_plain" in a.meta["variance_ratio_note"]
        assert set(b.meta["variance_ratio"]) == set(tensors)
        assert a.meta["control_variates"] is True and "variance_ratio_control_variates" in a.meta
        for k in tensors:
            np.testing.assert_allclose(a.tensors[k], b.tensors[k], rtol=1e-9, atol=1e-12, err_msg=k)
            np.testing.assert_allclose(a.stderr[k], b.stderr[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # a tensor without a Rao-Blackwellised estimator (P): everything is drawn
    c = sample(_spec(), X2, networks=8, width=4, tensors=["K", "P"], seed=3)
    assert c.meta["last_layer_drawn"] is True
    # the plain estimator alone: no Rao-Blackwellised features but the control variates' layer-2 kernels
    d = sample(_spec("tanh", depth=4), X2, networks=90, width=5, tensors=T, seed=3, rao_blackwell=False)
    e = sample(_spec("tanh", depth=4), X2, networks=90, width=5, tensors=T, seed=3, rao_blackwell=False,
               compare_plain=True)
    assert d.meta["last_layer_drawn"] is True and d.meta["variance_ratio"] is None
    for k in T:
        np.testing.assert_allclose(d.tensors[k], e.tensors[k], rtol=1e-9, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(d.stderr[k], e.stderr[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_head_of_each_networks_normals_is_the_same_stream():
    """draw(per=p): the first p normals of every network, from that network's own counter."""
    import tensorflow as tf

    from fntk_core.sampling.engine import Ensemble

    ens = Ensemble(_spec(depth=3), X2, [5, 4, 3], seed=2**63 + 7, dtype="float64", chunk=5, blocks=2,
                   need_ntk=True, need_dntk=False)
    full = ens.draw(tf.constant(3, tf.int64), 5).numpy()
    for per in (ens.layout[1][2], ens.layout[0][2], 7):
        head = ens.draw(tf.constant(3, tf.int64), 5, per=per).numpy()
        np.testing.assert_allclose(head[:, :per], full[:, :per], rtol=0, atol=1e-14)
    Ws, bs = ens.params(tf.constant(3, tf.int64), 5, layers=2)
    Wf, bf = ens.params(tf.constant(3, tf.int64), 5)
    assert len(Ws) == 2 and len(bs) == 2
    for u, v in zip(Ws + bs, Wf[:2] + bf[:2]):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("act,N,widths,tensors", [
    ("tanh", 2, [4, 3, 5], ["K", "Theta", "V", "D", "F", "A", "B"]),
    ("relu", 3, [5, 4, 6, 3], ["K", "Theta", "V", "D", "F", "A", "B"]),
    ("tanh", 3, [4, 6, 5, 3], ["K", "Theta", "Theta1"]),
    ("relu", 2, [5, 5, 5, 5], ["K", "Theta", "D", "A"]),
    ("tanh", 2, [4, 3], ["Theta", "V"]),
    ("tanh", 2, [4], ["K", "Theta"]),  # depth 1: nothing is drawn
])
def test_rao_blackwell_only_features_without_the_last_layer(act, N, widths, tensors):
    """Rao-Blackwellised features from layers 1 .. L-1 only (skip_last) equal those of the whole
    forward equations of the same networks."""
    import tensorflow as tf
    from sampling_reference import reference_features

    from fntk_core.sampling.api import wanted_features
    from fntk_core.sampling.engine import _NTK_FEATURES, Ensemble

    rng = np.random.default_rng(len(widths) + 10 * N)
    L = len(widths)
    spec = NetworkSpec(n0=3, depth=L, activation=get_activation(act), c_w=list(rng.uniform(0.5, 2, L)),
                       c_b=list(rng.uniform(0, 0.5, L)), lambda_w=list(rng.uniform(0.5, 1.5, L)),
                       lambda_b=list(rng.uniform(0, 0.5, L)))
    x = rng.normal(size=(N, 3))
    want = wanted_features(tensors, plain=False, control_variates=True)
    kw = dict(seed=5, dtype="float64", chunk=3, blocks=2, need_dntk=False, control_variates=True)
    fast = Ensemble(spec, x, widths, need_ntk=bool(want & _NTK_FEATURES), features=want, **kw)
    ref = Ensemble(spec, x, widths, need_ntk=True, **kw)
    assert fast.skip_last and fast.drawn_layers == L - 1
    Ws, bs = fast.params(tf.constant(4, tf.int64), 3, layers=fast.drawn_layers)
    a = fast.fast_features(Ws, bs)
    Wf, bf = ref.params(tf.constant(4, tf.int64), 3)
    b = reference_features(ref, ref.forward(Wf, bf))
    assert set(want) <= set(a) and not any(k in a for k in ("k2", "t2", "xk2", "xt2"))
    for k in a:
        scale = max(np.abs(b[k].numpy()).max(), 1.0)
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=0, atol=1e-12 * scale, err_msg=k)


def test_xla_probe_is_eager_even_inside_a_trace(monkeypatch):
    """The first xla_available() may come while a chunk function is traced; it must not
    silently fall back to the slow generator then."""
    import tensorflow as tf

    from fntk_core.sampling import rng

    eager = rng.xla_available()
    monkeypatch.setattr(rng, "_XLA", None)  # restored after the test: other tests keep the probe's answer
    seen = []
    tf.function(lambda: seen.append(rng.xla_available()) or tf.constant(0))()
    assert seen == [eager]


def test_slow_rng_fallback_warns(monkeypatch):
    from fntk_core.sampling import rng

    def broken():
        raise RuntimeError("no XLA here")

    monkeypatch.setattr(rng, "_XLA", None)
    monkeypatch.delenv("FNTK_SAMPLER_XLA_RNG", raising=False)
    monkeypatch.setattr(rng, "_xla_matches_reference", broken)
    with pytest.warns(RuntimeWarning, match="slower StatelessRandomNormalV2"):
        assert rng.xla_available() is False


def test_relu_dntk_values_are_flagged_as_almost_sure():
    """For ReLU, sigma'' = delta: the solver's P keeps the delta terms of the ensemble average,
    sampled networks see sigma'' = 0; the result says which one it is."""
    from fntk_core.sampling import sample

    spec = NetworkSpec(n0=2, depth=2, activation=get_activation("relu"), c_w=2.0)
    r = sample(spec, [[1.0, 0.5], [-0.3, 1.0]], networks=64, width=4, tensors=["P"], seed=1)
    assert "almost-sure" in r.meta["dntk_note"]
    assert np.all(r.tensors["P"] == 0.0)  # every P term carries sigma'' of the layer below
    assert "dntk_note" not in sample(NetworkSpec(2, 2, get_activation("tanh"), c_w=1.0), [[1.0, 0.5]],
                                     networks=16, width=4, tensors=["P"], seed=1).meta


def test_sampling_session_steps_snapshots_and_cancels():
    from fntk_core.sampling import SamplingSession, sample

    session = SamplingSession(_spec(), X2, networks=48, width=5, tensors=["K", "V"], seed=3, chunk=16)
    assert session.ens is None and not session.done  # nothing built before start()
    p = session.step()
    assert p == Progress(16, 48, "sample") and not session.done
    snap = session.snapshot()
    assert snap.meta.partial is True and snap.meta.networks_used == 16
    while not session.done:
        session.step()
    final = session.result()
    assert final.meta.partial is False and final.meta.cancelled is False
    np.testing.assert_allclose(final["V"], sample(_spec(), X2, networks=48, width=5, tensors=["K", "V"], seed=3,
                                                  chunk=16)["V"], rtol=1e-12)

    stopped = SamplingSession(_spec(), X2, networks=48, width=5, tensors=["K"], seed=3, chunk=16)
    stopped.step()
    stopped.cancel()
    assert stopped.done and stopped.step() == Progress(16, 48, "sample")  # no more networks drawn
    r = stopped.result()
    assert r.meta["cancelled"] is True and r.meta.networks_used == 16


def test_sampling_session_refuses_bad_arguments_before_tensorflow():
    from fntk_core.sampling import SamplingSession

    for kw, match in ((dict(networks=0), "networks"), (dict(tensors=[]), "tensors"),
                      (dict(tensors=["Nope"]), "unknown tensor"), (dict(chunk=0), "chunk")):
        args = dict(networks=8, width=4)
        args.update(kw)
        with pytest.raises(ValueError, match=match):
            SamplingSession(_spec(), X2, **args)


def test_sampler_nonfinite_is_a_clear_error():
    """Every network overflows (exp(exp(z)) of a large preactivation): a NonFiniteError, not NaN."""
    from fntk_core.sampling import sample

    spec = NetworkSpec(n0=3, depth=2, activation=get_activation("custom", formula="exp(exp(z))"), c_w=1.0)
    x = [[300.0, 300.0, 300.0], [-300.0, -300.0, -300.0]]
    with pytest.raises(NonFiniteError, match="inf or NaN"):
        sample(spec, x, networks=8, width=3, tensors=["K"], seed=1)
    with pytest.warns(RuntimeWarning, match="NaN or Inf"):
        r = sample(spec, x, networks=8, width=3, tensors=["K"], seed=1, allow_nonfinite=True)
    assert r.meta.networks_used == 0 and np.all(np.isnan(r["K"]))


@pytest.mark.parametrize("tensors", [["K", "Theta", "V", "D", "F", "P"], ["Theta", "A", "Q", "R"]])
def test_dntk_chunks_use_the_fast_path_for_z_and_ntk_features(tensors):
    """With dNTK tensors requested, the features of z and the NTK still come from the one fast
    implementation and equal the reference; P, Q, R from the forward equations."""
    import tensorflow as tf
    from sampling_reference import reference_features

    from fntk_core.sampling.api import wanted_features
    from fntk_core.sampling.engine import Ensemble
    from fntk_core.sampling.estimators import tensor_sources

    spec = _tiny_spec("tanh")
    want = wanted_features(tensors, control_variates=True)
    need_ddntk = "ddntk" in tensor_sources(tensors)
    kw = dict(seed=3, dtype="float64", chunk=2, blocks=2, need_ntk=True, need_dntk=True, control_variates=True)
    ens = Ensemble(spec, X2, [4, 3, 2], features=want, need_ddntk=need_ddntk, **kw)
    Ws, bs = ens.params(tf.constant(1, tf.int64), 2)
    got = ens.chunk_features(Ws, bs)
    layers = ens.forward(Ws, bs)
    ref = reference_features(ens, layers)
    ref.update(ens.derivative_features(layers))
    assert set(want) <= set(got)
    for k in got:
        scale = max(np.abs(ref[k].numpy()).max(), 1.0)
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=0, atol=1e-12 * scale, err_msg=k)


def test_feature_registry_gives_every_engine_set():
    from fntk_core.sampling import engine
    from fntk_core.sampling.estimators import FEATURES, NEEDS, RB_FEATURES

    sets = (engine._Z_FEATURES, engine._NTK_FEATURES, engine._DNTK_FEATURES, engine._DDNTK_FEATURES)
    assert set().union(*sets) == set(FEATURES) and sum(map(len, sets)) == len(FEATURES)
    assert engine._RB_ONLY == {"r" + f for f in RB_FEATURES} and engine._FULL_NTK_FEATURES == {"f4", "b4", "rf4", "rb4"}
    assert {f for feats in NEEDS.values() for f in feats} <= set(FEATURES)


def test_control_variates_fallback_warns(monkeypatch):
    """When the infinite-width solve fails, sampling goes on without control variates, visibly."""
    import fntk_core.solver as solver
    from fntk_core.sampling import sample

    def broken(*a, **k):
        raise ValueError("no solver today")

    monkeypatch.setattr(solver, "solve", broken)
    with pytest.warns(RuntimeWarning, match="control variates switched off.*no solver today"):
        r = sample(_spec("tanh", depth=3), X2, networks=16, width=4, tensors=["K"], seed=1)
    assert r.meta["control_variates"] is False and "no solver today" in r.meta["control_variates_note"]
