"""The solver at many inputs: the same numbers as the plain constructions, block by block."""
import numpy as np
import pytest

from fntk_core import NetworkSpec, get_activation
from fntk_core.gaussian.smooth import HALF_RANGE, _axis, gauss_nodes
from fntk_core.solver import solve


def _plain_nodes(cov):
    """The uniform rule written out: the full cube of nodes in the eigenbasis, then the ball."""
    evals, evecs = np.linalg.eigh(cov)
    keep = evals > 1e-13 * np.max(np.abs(evals))
    axes = [_axis(lam, int(keep.sum()), 1.0) for lam in evals[keep]]
    u = np.stack([g.ravel() for g in np.meshgrid(*[a[0] for a in axes], indexing="ij")], axis=1)
    w = np.prod(np.stack([g.ravel() for g in np.meshgrid(*[a[1] for a in axes], indexing="ij")], axis=1), axis=1)
    inside = np.sum(u * u, axis=1) <= HALF_RANGE**2
    return u[inside] @ (evecs[:, keep] * np.sqrt(evals[keep])).T, w[inside]


def _canonical(z, w):
    order = np.lexsort(np.round(z, 9).T[::-1])
    return z[order], w[order]


@pytest.mark.parametrize("d, chunk", [(1, 1 << 18), (2, 1 << 18), (3, 1 << 18), (4, 1 << 18), (2, 300), (3, 3000)])
def test_nodes_are_the_plain_rule(d, chunk):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(d, d))
    cov = a @ a.T / d + 0.3 * np.eye(d)
    if d == 3:  # collinear inputs: one dimension drops
        cov[2], cov[:, 2] = cov[1], cov[1]
    parts = list(gauss_nodes(cov, chunk=chunk))
    z = np.concatenate([p[0] for p in parts])
    w = np.concatenate([p[1] for p in parts])
    zr, wr = _plain_nodes(cov)
    assert z.shape == zr.shape
    (z, w), (zr, wr) = _canonical(z, w), _canonical(zr, wr)
    np.testing.assert_allclose(z, zr, rtol=0, atol=1e-12 * np.max(np.abs(zr)))
    np.testing.assert_allclose(w, wr, rtol=1e-14)
    if chunk == 1 << 18:  # memory stays bounded: no chunk above the limit (every slice fits in one)
        assert max(len(p[1]) for p in parts) <= chunk


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_sub_blocks_equal_the_solve_of_those_inputs(act):
    x = np.random.default_rng(7).normal(size=(5, 3))
    spec = NetworkSpec(n0=3, depth=3, activation=get_activation(act), c_w=1.5, c_b=0.2)
    full = solve(spec, x)
    sub = [4, 1, 2]
    part = solve(spec, x[sub])
    for name, arr in part.tensors.items():
        block = full.tensors[name][np.ix_(*([np.arange(3)] + [sub] * (arr.ndim - 1)))]
        scale = np.max(np.abs(arr), axis=tuple(range(1, arr.ndim)), keepdims=True)
        np.testing.assert_allclose(block / np.where(scale > 0, scale, 1), arr / np.where(scale > 0, scale, 1),
                                   rtol=0, atol=1e-10, err_msg=name)


def test_batch_equals_one_key_at_a_time():
    """Shared prefixes and dot products give the sums of the products, key by key."""
    from fntk_core.gaussian.smooth import _batch_on_nodes, leibniz

    act = get_activation("tanh")
    rng = np.random.default_rng(3)
    z, w = rng.normal(size=(2000, 3)), rng.uniform(size=2000)
    choices = [((), 0), ((0,), 0), ((1,), 0), ((0, 1), 0), ((1,), 2), ((0, 2), 1), ((), 1)]
    keys = [tuple(choices[j] for j in rng.integers(len(choices), size=3)) for _ in range(60)]
    got = _batch_on_nodes(act, z, w, keys)
    for key, value in zip(keys, got):
        prod = w.copy()
        for c, (orders, nderiv) in enumerate(key):
            if orders or nderiv:
                g = sum(mult * np.prod([act.derivative(m)(z[:, c]) for m in t], axis=0)
                        for t, mult in leibniz(orders, nderiv)) if orders else 0.0
                prod = prod * g
        assert value == pytest.approx(float(np.sum(prod)), rel=1e-13, abs=1e-13 * float(np.sum(w)))


@pytest.mark.parametrize("act, threads", [("tanh", 1), ("tanh", 2), ("relu", 1)])
def test_cancel_stops_within_a_layer(act, threads, monkeypatch):
    """A cancel that fires during a layer's expectations stops them at once (with several
    quadrature threads, only the sets already in flight finish; ReLU: only the batch of keys
    under way finishes); layers done stand."""
    import fntk_core.gaussian as gaussian
    from fntk_core.gaussian import piecewise_batch, smooth

    work = []
    for module, name in ((smooth, "expect_smooth_batch"), (piecewise_batch, "_one_batch")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: work.append(1) or _real(*a, **k))
    monkeypatch.setattr(gaussian, "expect_smooth_batch", smooth.expect_smooth_batch)
    monkeypatch.setenv("FNTK_THREADS", str(threads))
    x = np.random.default_rng(9).normal(size=(4, 3))
    spec = NetworkSpec(n0=3, depth=3, activation=get_activation(act), c_w=1.5, c_b=0.2)
    calls = []

    def cancel():
        calls.append(len(work))
        return len(calls) >= 3  # the first poll is between layers 1 and 2; the third is inside layer 2

    res = solve(spec, x, cancel=cancel)
    assert res.meta["cancelled"] is True and res.layers == [1]
    assert 0 < calls[-1] <= len(work) <= calls[-1] + threads - 1  # layer 2 had begun; nothing new followed
    full = solve(spec, x, tensors=["K"])
    np.testing.assert_array_equal(res.tensors["K"][0], full.tensors["K"][0])


def _expand_one_by_one(e, n, table):
    """The components of an expectation written out one index tuple at a time (the former compiler)."""
    import itertools

    labels = e.labels
    field_labels = list(dict.fromkeys(f.label for f in e.fields))
    deriv_only = [l for l in labels if l not in field_labels]
    out = []
    for fvals in itertools.product(range(n), repeat=len(field_labels)):
        coords = tuple(sorted(set(fvals)))
        for dvals in itertools.product(coords, repeat=len(deriv_only)):
            a = dict(zip(field_labels, fvals)) | dict(zip(deriv_only, dvals))
            groups = tuple((tuple(sorted(f.order for f in e.fields if a[f.label] == c)),
                            sum(1 for d in e.derivs if a[d] == c)) for c in coords)
            out.append((int(np.ravel_multi_index(tuple(a[l] for l in labels), (n,) * len(labels))), (coords, groups)))
    return sorted(out)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_compiled_components_are_those_of_the_index_by_index_expansion(n):
    """The array-wise compiler gives every component of every library expectation the same
    Gaussian key as expanding the index tuples one by one."""
    from fntk_core.recursions.compiled import KeyTable, _expand_expectation
    from fntk_core.recursions.library import get_recursion
    from fntk_core.tensors import TENSORS

    expectations = {e for name in TENSORS for t in get_recursion(name).terms for e in t.expectations}
    assert len(expectations) > 40   # every tensor of the registry, first and second order
    table = KeyTable(n)
    for e in sorted(expectations, key=repr):
        flat, kids = _expand_expectation(e, n, table)
        assert sorted(zip(flat.tolist(), (table.keys[k] for k in kids))) == _expand_one_by_one(e, n, table)
    assert len(table.keys) == len(set(table.keys))


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_progress_inside_a_layer_says_how_far_it_is(act, monkeypatch):
    """Besides one record per finished layer, a long layer reports how far its expectations
    are (done still counts finished layers; the stage carries the percentage)."""
    import fntk_core.solver as solver

    monkeypatch.setattr(solver, "WITHIN_LAYER_EVERY_S", 0.0)
    x = np.random.default_rng(4).normal(size=(5, 3))
    spec = NetworkSpec(n0=3, depth=3, activation=get_activation(act), c_w=1.5, c_b=0.2)
    seen = []
    res = solve(spec, x, progress=seen.append)
    inside = [p for p in seen if p.stage.startswith("solve (layer")]
    assert inside and all(p.partial is None and p.total == 3 for p in inside)
    for p in inside:
        layer, pct = (int(v) for v in p.stage[len("solve (layer "):-len(" %)")].split(": "))
        assert p.done == layer - 1 and 0 <= pct <= 100
    assert [p.done for p in seen if p.stage == "solve"] == [1, 2, 3]
    assert {int(p.stage.split()[2].rstrip(":")) for p in inside} == {2, 3}
    np.testing.assert_array_equal(res.tensors["V"], solve(spec, x).tensors["V"])


def test_only_the_layers_asked_for_are_kept():
    """layers= stores a subset (every layer is still computed): the same numbers as the full solve
    at those layers, less storage in the estimate, and iter_solve yields only when a kept layer is done."""
    from fntk_core.solver import iter_solve, memory_estimate

    x = np.random.default_rng(5).normal(size=(4, 3))
    spec = NetworkSpec(n0=3, depth=4, activation=get_activation("tanh"), c_w=1.5, c_b=0.2)
    full = solve(spec, x)
    some = solve(spec, x, layers=[4, 2])
    assert some.layers == [2, 4]
    for name in full.tensors:
        np.testing.assert_array_equal(some.tensors[name], full.tensors[name][[1, 3]])
    assert [r.layers for r in iter_solve(spec, x, layers=[2, 4])] == [[2], [2, 4]]
    all_layers, last = memory_estimate(spec, x), memory_estimate(spec, x, layers=[4])
    assert last.storage * 4 == all_layers.storage and last.working == all_layers.working
    for bad in ([0], [5], [], ["x"]):
        with pytest.raises(ValueError, match="layers"):
            solve(spec, x, layers=bad)


def test_cancelled_before_the_first_kept_layer_gives_an_empty_result():
    from fntk_core.solver import iter_solve

    x = np.random.default_rng(6).normal(size=(3, 2))
    spec = NetworkSpec(n0=2, depth=4, activation=get_activation("tanh"), c_w=1.5, c_b=0.2)
    calls = []
    res = solve(spec, x, layers=[4], cancel=lambda: calls.append(1) or len(calls) > 1)
    assert res.meta["cancelled"] is True and res.layers == [] and res.tensors["K"].shape == (0, 3, 3)
    assert len(list(iter_solve(spec, x, layers=[3], cancel=lambda: True))) == 1


def test_a_delta_between_output_labels_lands_on_the_diagonal():
    """X_12 = C_W <d_2 sigma_1> = C_W delta_12 <sigma'_1>: the pattern "2 equals 1" of the
    factor identifies two output labels, so its contraction fills the output's diagonal; the
    same for Y_123 = <d_3 (sigma_1 sigma_2)> = delta_31 <sigma'_1 sigma_2> + delta_32 <sigma_1 sigma'_2>."""
    from fntk_core.gaussian.smooth import expect_smooth_batch
    from fntk_core.recursions.compiled import Plan
    from fntk_core.recursions.terms import C_W, E, recursion, sig

    act = get_activation("tanh")
    n = 4
    x = np.random.default_rng(5).normal(size=(n, 3))
    K = x @ x.T / 3 + 0.2
    recs = {"X": recursion("X", ("1", "2"), C_W * E(sig(0, "1"), "2")),
            "Y": recursion("Y", ("1", "2", "3"), E(sig(0, "1") * sig(0, "2"), "3"))}
    out = Plan(recs, n).step(act, K, K, {"K": K}, {"C_W": 1.5, "C_b": 0.0, "lambda_W": 1.0, "lambda_b": 0.0, "r": 1.0})
    one = [expect_smooth_batch(act, K[i:i + 1, i:i + 1], [(((1,), 0),)])[0] for i in range(n)]
    np.testing.assert_allclose(out["X"], 1.5 * np.diag(one), rtol=1e-12, atol=1e-15)
    Y = np.zeros((n, n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                Y[i, i, i] = expect_smooth_batch(act, K[i:i + 1, i:i + 1], [(((0, 1), 0),)])[0]
            else:
                cov = K[np.ix_([i, j], [i, j])]
                Y[i, j, i], Y[i, j, j] = expect_smooth_batch(act, cov, [(((1,), 0), ((0,), 0)), (((0,), 0), ((1,), 0))])
    np.testing.assert_allclose(out["Y"], Y, rtol=1e-12, atol=1e-15)
