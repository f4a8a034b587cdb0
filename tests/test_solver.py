"""The recursion solver: closed forms, Theorem 5.2, exact linear networks, symmetries, inputs."""
import warnings

import numpy as np
import pytest

from fntk_core import NetworkSpec, SpecError, get_activation
from fntk_core.errors import NonFiniteError
from fntk_core.jobs import Progress
from fntk_core.results import ResultMeta
from fntk_core.solver import finite_width_prediction, iter_solve, solve

ALL = ["K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B"]
X_PAPER = [[-0.9895229339599609, -0.5992491841316223], [-0.17877478897571564, 2.253682851791382]]


def relu_spec(depth, **kw):
    return NetworkSpec(n0=3, depth=depth, activation=get_activation("relu"), c_w=2.0, **kw)


def test_relu_critical_closed_forms_depths_1_to_10():
    """theory.md section 5, every tensor, to 1e-8 relative."""
    x = np.array([[0.3, -1.2, 0.5]])
    res = solve(relu_spec(10), x, tensors=ALL)
    K = 2 * float(np.sum(x * x)) / 3
    for i, l in enumerate(res.layers):
        expected = {
            "K": K, "Theta": l * K / 2, "V": 5 * (l - 1) * K**2, "F": 0.5 * l * (l - 1) * K**2,
            "D": 1.5 * l * (l - 1) * K**2, "B": l * (l - 1) * (2 * l - 1) / 12 * K**2,
            "A": K**2 * sum((7 * m * m + m) / 4 for m in range(1, l)), "K1": 0.0, "Theta1": 0.0,
        }
        for name, want in expected.items():
            got = res.tensors[name][i].item()
            assert got == pytest.approx(want, rel=1e-8, abs=1e-12), (name, l)


@pytest.mark.parametrize("act", [get_activation("relu"), get_activation("leaky_relu", alpha=0.1)])
def test_theorem_5_2_diagonal_theta1_vanishes_for_scale_invariant(act):
    x = np.array(X_PAPER + [[0.5, 0.4]])
    cw = 2.0 / (1 + act.slopes[1] ** 2)
    res = solve(NetworkSpec(2, 6, act, c_w=cw), x, tensors=["Theta1"])
    for i, l in enumerate(res.layers):
        th1 = res.tensors["Theta1"][i]
        assert np.max(np.abs(np.diag(th1))) < 1e-10, l
        if l >= 5:
            off = th1[~np.eye(3, dtype=bool)]
            assert np.min(np.abs(off)) > 1e-2, l  # off-diagonal entries do not vanish


def test_theorem_5_2_fails_for_gelu():
    res = solve(NetworkSpec(2, 5, get_activation("gelu"), c_w=1.98305826), np.array(X_PAPER), tensors=["Theta1"])
    assert np.min(np.abs(np.diag(res.tensors["Theta1"][-1]))) > 1e-2


def test_linear_network_exact():
    """Deep linear, C_W = 1, lambda_W = 1, no biases: every tensor in closed form."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4))
    G = x @ x.T / 4
    res = solve(NetworkSpec(4, 7, get_activation("linear"), c_w=1.0), x, tensors=ALL)
    S = np.einsum("ac,bd->abcd", G, G) + np.einsum("ad,bc->abcd", G, G)  # G13 G24 + G14 G23
    GG = np.einsum("ab,cd->acbd", G, G)  # storage order (1,3,2,4) of G12 G34
    for i, l in enumerate(res.layers):
        want = {
            "K": G, "Theta": l * G, "K1": 0 * G, "Theta1": 0 * G,
            "V": (l - 1) * S, "D": l * (l - 1) / 2 * S, "A": (l - 1) * l * (2 * l - 1) / 6 * S,
            "F": l * (l - 1) / 2 * GG, "B": (l - 1) * l * (2 * l - 1) / 6 * GG,
        }
        for name, w in want.items():
            np.testing.assert_allclose(res.tensors[name][i], w, rtol=1e-10, atol=1e-12, err_msg=f"{name} l={l}")


def test_tensor_symmetries():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2))
    res = solve(NetworkSpec(2, 4, get_activation("gelu"), c_w=1.7, c_b=0.1, lambda_b=0.3, lambda_w=0.8), x,
                tensors=ALL)
    T = {k: v[-1] for k, v in res.tensors.items()}
    for name in ("K", "Theta", "K1", "Theta1"):
        np.testing.assert_allclose(T[name], T[name].T, rtol=1e-12, atol=1e-14)
    for name in ("V", "A"):
        np.testing.assert_allclose(T[name], T[name].transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(T[name], T[name].transpose(2, 3, 0, 1), rtol=1e-10, atol=1e-13)
    D = T["D"]
    np.testing.assert_allclose(D, D.transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(D, D.transpose(0, 1, 3, 2), rtol=1e-10, atol=1e-13)
    # F_{1324} = F_{2413}; B_{1324} = B_{3142} = B_{2413}
    np.testing.assert_allclose(T["F"], T["F"].transpose(2, 3, 0, 1), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(T["B"], T["B"].transpose(1, 0, 3, 2), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(T["B"], T["B"].transpose(2, 3, 0, 1), rtol=1e-10, atol=1e-13)


def test_coinciding_inputs_copy_rows_without_nan():
    x = np.array(X_PAPER)
    for act in (get_activation("relu"), get_activation("tanh")):
        spec = NetworkSpec(2, 4, act, c_w=2.0)
        a = solve(spec, x, tensors=ALL)
        b = solve(spec, np.array([x[0], x[1], x[0]]), tensors=ALL)
        for name in ALL:
            assert np.all(np.isfinite(b.tensors[name]))
            sub = b.tensors[name][(slice(None),) + (slice(0, 2),) * (b.tensors[name].ndim - 1)]
            np.testing.assert_allclose(sub, a.tensors[name], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.tensors["V"][:, 2, 2, 2, 2], a.tensors["V"][:, 0, 0, 0, 0], rtol=1e-12)


def test_collinear_inputs_smooth_activation_finite():
    x = np.array([[1.0, 0.5], [2.0, 1.0], [-1.0, -0.5]])
    res = solve(NetworkSpec(2, 3, get_activation("tanh"), c_w=1.0), x, tensors=ALL)
    for name in ALL:
        assert np.all(np.isfinite(res.tensors[name])), name


def test_eight_inputs_work():
    x = np.random.default_rng(5).normal(size=(8, 3))
    res = solve(relu_spec(3), x, tensors=["K", "Theta", "K1", "Theta1"])
    assert res.tensors["Theta1"].shape == (3, 8, 8)
    assert np.max(np.abs(np.diag(res.tensors["Theta1"][-1]))) < 1e-10


def test_finite_width_prediction_and_ratios():
    spec = NetworkSpec(4, 4, get_activation("gelu"), c_w=1.98305826)
    x = np.array([[0.65, -1.36, -0.38, 0.34], [-0.68, -0.12, 0.22, -1.47]])
    res = solve(spec, x, tensors=["K", "Theta", "K1", "Theta1"])
    pred = finite_width_prediction(res, spec, width=50)
    np.testing.assert_allclose(pred["Theta"][-1], res["Theta"][-1] + res["Theta1"][-1] / 50)
    np.testing.assert_allclose(pred["K"][0], res["K"][0])  # no correction at layer 1
    # first-order tensors scale linearly in r when all hidden widths are doubled layer to layer
    wide = solve(spec.with_widths([10, 20, 40]), x, tensors=["V"])
    equal = solve(spec, x, tensors=["V"])
    assert wide["V"][1] == pytest.approx(equal["V"][1])  # r is n_1/n_0: unused at l = 2
    assert not np.allclose(wide["V"][2], equal["V"][2])


def test_cancel_keeps_finished_layers():
    calls = []
    res = solve(relu_spec(6), [[1.0, 0.0, 0.0]], cancel=lambda: len(calls) >= 3,
                progress=calls.append)
    assert res.meta["cancelled"] is True and res.meta.cancelled is True
    assert res.layers == [1, 2, 3]
    assert calls == [Progress(1, 6, "solve"), Progress(2, 6, "solve"), Progress(3, 6, "solve")]
    assert solve(relu_spec(3), [[1.0, 0.0, 0.0]]).meta["cancelled"] is False


def test_iter_solve_yields_each_layer_and_stops_between_layers():
    x = [[1.0, 0.0, 0.0], [0.2, 0.5, -1.0]]
    full = solve(relu_spec(4), x, tensors=["K", "V"])
    steps = list(iter_solve(relu_spec(4), x, tensors=["K", "V"]))
    assert [s.layers for s in steps] == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]
    assert [s.meta.partial for s in steps] == [True, True, True, False]
    np.testing.assert_array_equal(steps[-1]["V"], full["V"])
    np.testing.assert_array_equal(steps[1]["K"], full["K"][:2])

    seen = []
    gen = iter_solve(relu_spec(4), x, cancel=lambda: len(seen) >= 2)
    for r in gen:
        seen.append(r)
    assert [s.layers for s in seen] == [[1], [1, 2], [1, 2]]
    assert seen[-1].meta["cancelled"] is True and not seen[0].meta["cancelled"]


def test_solver_meta_is_typed():
    m = solve(relu_spec(2), [[1.0, 0.0, 0.0]], tensors=["K"]).meta
    assert isinstance(m, ResultMeta) and m.source == "solver" and m.dtype == "float64"
    assert m.inputs == [[1.0, 0.0, 0.0]] and m.network["depth"] == 2 and m.seconds >= 0
    assert "numpy" in m.versions and m["order"] == 1


@pytest.mark.parametrize("activation, kw, x, depth", [
    ("tanh", {}, [[1e308, 1e308]], 2),  # the gram matrix overflows at layer 1
    ("tanh", {}, [[1e308, 1e308]], 1),
    ("custom", {"formula": "1/z"}, [[1.0, 2.0]], 3),
    ("custom", {"formula": "z**1000"}, [[1.0, 2.0]], 3),
    ("custom", {"formula": "exp(exp(z))"}, [[1.0, 2.0]], 3),
])
def test_nonfinite_results_are_a_clear_error(activation, kw, x, depth):
    spec = NetworkSpec(2, depth, get_activation(activation, **kw), c_w=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may leak
        with pytest.raises(NonFiniteError, match=r"(K|Theta) at layer \d is (inf|NaN)") as info:
            solve(spec, x, tensors=["K", "Theta", "V"])
        assert info.value.tensor in ("K", "Theta") and 1 <= info.value.layer <= depth
        res = solve(spec, x, tensors=["K", "Theta", "V"], allow_nonfinite=True)
    assert res.layers == list(range(1, depth + 1))
    assert not np.all(np.isfinite(res["K"]))


@pytest.mark.parametrize("bad, match", [
    (dict(inputs=[[np.nan, 1.0, 0.0]]), "NaN"),
    (dict(inputs=[[1.0, 2.0]]), "dimension"),
    (dict(tensors=["Nope"]), "unknown tensor"),
])
def test_bad_solver_input(bad, match):
    kw = dict(inputs=[[1.0, 0.0, 0.0]], tensors=["K"])
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        solve(relu_spec(2), kw.pop("inputs"), **kw)


def test_zero_input_relu_is_a_clear_error():
    with pytest.raises(ValueError, match="kernel vanishes"):
        solve(relu_spec(3), [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    res = solve(NetworkSpec(3, 3, get_activation("relu"), c_w=2.0, c_b=0.1), [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.all(np.isfinite(res.tensors["Theta1"]))


@pytest.mark.parametrize("kw, field", [
    (dict(c_w=-1.0), "c_w"), (dict(c_b=float("nan")), "c_b"), (dict(widths=0), "widths"),
    (dict(depth=0), "depth"), (dict(lambda_w=[1.0, 2.0]), "lambda_w"),
])
def test_spec_errors_name_the_field(kw, field):
    args = dict(n0=2, depth=3, activation=get_activation("relu"), c_w=2.0)
    args.update(kw)
    with pytest.raises(SpecError, match=field):
        NetworkSpec(**args)


@pytest.mark.slow
def test_eight_inputs_full_set_consistent_with_subsets():
    """N = 8 (three- and four-dimensional Gaussian integrals everywhere): every component
    depends only on its own inputs, so sub-blocks equal the solves of those inputs alone."""
    x = np.random.default_rng(11).normal(size=(8, 3))
    spec = NetworkSpec(3, 3, get_activation("tanh"), c_w=1.0, c_b=0.1)
    full = solve(spec, x, tensors=ALL)
    for subset in ([1, 3, 4, 6], [2, 5]):
        part = solve(spec, x[subset], tensors=ALL)
        for name in ALL:
            arr = full.tensors[name]
            sub = arr[np.ix_(*([np.arange(arr.shape[0])] + [subset] * (arr.ndim - 1)))]
            np.testing.assert_allclose(sub, part.tensors[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_cli_overflow_is_a_one_line_error(capsys):
    """`fntk solve --activation tanh --cw 1 --depth 2 --input=1e308,1e308` used to end in a traceback."""
    from fntk_core.cli import main

    rc = main(["solve", "--activation", "tanh", "--cw", "1", "--depth", "2", "--input=1e308,1e308"])
    err = capsys.readouterr().err
    assert rc == 2 and "K at layer 1 is inf" in err and "Traceback" not in err
