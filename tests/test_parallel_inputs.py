"""Exactly parallel and antiparallel inputs under ReLU and LeakyReLU (issue 9, part 2)."""
import numpy as np
import pytest

from fntk_core import NetworkSpec, get_activation
from fntk_core.solver import solve

ALL = ["K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B"]
X = np.array([0.9, -0.4, 1.3])
SCALES = np.array([1.0, 2.0, 0.5])


def single_input_closed_form(l, K):
    """docs/theory.md §5: ReLU, C_W = 2, no biases, one input of kernel K."""
    return {"K": K, "Theta": l * K / 2, "V": 5 * (l - 1) * K**2, "F": 0.5 * l * (l - 1) * K**2,
            "D": 1.5 * l * (l - 1) * K**2, "B": l * (l - 1) * (2 * l - 1) / 12 * K**2,
            "A": K**2 * sum((7 * m * m + m) / 4 for m in range(1, l)), "K1": 0.0, "Theta1": 0.0}


def test_issue_command_parallel_relu_is_solved():
    spec = NetworkSpec(3, 4, get_activation("relu"), c_w=2.0)
    res = solve(spec, [[0.9, -0.4, 1.3], [1.8, -0.8, 2.6]], tensors=ALL)
    for name in ALL:
        assert np.all(np.isfinite(res.tensors[name])), name
    np.testing.assert_array_equal(res.tensors["K1"][:, 0, 1], 0.0)
    np.testing.assert_array_equal(res.tensors["Theta1"][:, 0, 1], 0.0)


def test_parallel_relu_matches_homogeneous_closed_form():
    """x, 2x, x/2 (and an unrelated input): each component is the single-input closed form
    times one scale per sample index; K1 = Theta1 = 0 between the parallel inputs."""
    other = np.array([[0.2, 1.1, -0.7]])
    x = np.vstack([np.outer(SCALES, X), other])
    res = solve(NetworkSpec(3, 6, get_activation("relu"), c_w=2.0), x, tensors=ALL)
    K = 2 * float(X @ X) / 3
    for i, l in enumerate(res.layers):
        for name, value in single_input_closed_form(l, K).items():
            block = res.tensors[name][i][np.ix_(*[range(3)] * res.tensors[name][i].ndim)]
            want = value * np.einsum(",".join("abcd"[:block.ndim]) + "->" + "abcd"[:block.ndim],
                                     *[SCALES] * block.ndim)
            np.testing.assert_allclose(block, want, rtol=1e-8, atol=1e-12 * max(1.0, abs(value)),
                                       err_msg=f"{name} layer {l}")
    assert np.max(np.abs(res.tensors["Theta1"][-1][:3, 3])) > 1e-3  # the unrelated input still couples


@pytest.mark.parametrize("act", [get_activation("relu"), get_activation("leaky_relu", alpha=0.2)])
def test_parallel_inputs_scale_like_a_single_input(act):
    cw = 2.0 / (1 + act.slopes[1] ** 2)
    spec = NetworkSpec(3, 5, act, c_w=cw, lambda_w=0.7)
    one = solve(spec, [X], tensors=ALL)
    many = solve(spec, np.outer(SCALES, X), tensors=ALL)
    for name in ALL:
        for i in range(len(one.layers)):
            rank = many.tensors[name][i].ndim
            want = one.tensors[name][i].item() * np.einsum(
                ",".join("abcd"[:rank]) + "->" + "abcd"[:rank], *[SCALES] * rank)
            np.testing.assert_allclose(many.tensors[name][i], want, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("act", [get_activation("relu"), get_activation("leaky_relu", alpha=0.2)])
def test_antiparallel_inputs_are_solved_and_homogeneous(act):
    """(x, -a x): components carry a factor a per index of the second input, and they are
    the limit of nearly antiparallel inputs (a stable regime of the exact engine)."""
    cw = 2.0 / (1 + act.slopes[1] ** 2)
    spec = NetworkSpec(3, 4, act, c_w=cw)
    unit = solve(spec, [X, -X], tensors=ALL)
    scaled = solve(spec, [X, -2.5 * X], tensors=ALL)
    for name in ALL:
        arr = unit.tensors[name]
        factor = np.ones(arr.shape[1:])
        for axis in range(arr.ndim - 1):
            shape = [1] * (arr.ndim - 1)
            shape[axis] = 2
            factor = factor * np.array([1.0, 2.5]).reshape(shape)
        np.testing.assert_allclose(scaled.tensors[name], arr * factor, rtol=1e-10, atol=1e-12, err_msg=name)
    d = np.array([0.4, 0.9, 0.0])
    d -= d @ X / (X @ X) * X
    near = solve(spec, [X, -X + 1e-7 * d / np.linalg.norm(d)], tensors=ALL)
    for name in ALL:
        np.testing.assert_allclose(near.tensors[name], unit.tensors[name], rtol=1e-5, atol=1e-5, err_msg=name)
    if act.slopes[1] == 0.0:  # ReLU: sigma(z) sigma(-z) = 0, so the kernel decouples at layer 2
        assert unit.tensors["K"][1, 0, 1] == 0.0


def test_undefined_cases_name_the_inputs():
    relu = get_activation("relu")
    with pytest.raises(ValueError, match=r"Input 1: its kernel vanishes"):
        solve(NetworkSpec(3, 3, relu, c_w=2.0), [X, 0 * X])
    with pytest.raises(ValueError, match=r"Inputs 0 and 1 .*parallel.*lambda_b"):
        solve(NetworkSpec(3, 3, relu, c_w=2.0, lambda_b=0.1), [X, 3 * X])
    # a bias in layer 1 separates parallel inputs: nothing is degenerate
    res = solve(NetworkSpec(3, 3, relu, c_w=2.0, c_b=0.1, lambda_b=0.1), [X, 3 * X], tensors=ALL)
    assert all(np.all(np.isfinite(res.tensors[n])) for n in ALL)
