"""Three- and four-index expectations with one coordinate integrated out first (conditioned.py)."""
import numpy as np
import pytest
from scipy.integrate import quad

from fntk_core import get_activation
from fntk_core.gaussian import smooth
from fntk_core.gaussian.conditioned import expect_conditioned, rule, split

KEYS = {
    3: [(((0,), 0), ((0,), 1), ((1,), 0)), (((0, 0), 1), ((1,), 1), ((0,), 0)), (((0,), 0),) * 3,
        (((1,), 0), ((1,), 0), ((0, 0), 0)), (((), 0), ((0,), 0), ((1,), 1)), (((0,), 0), ((), 2), ((0,), 0))],
    4: [tuple(((m,), 0) for m in ms) for ms in [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1), (1, 1, 0, 0),
                                                 (1, 1, 1, 1)]]
       + [(((0,), 0), ((0, 0), 1), ((1,), 2), ((0, 1), 0)), (((), 0), ((0,), 1), ((), 0), ((2,), 0))],
}


def full_rule(act, cov, keys, refine):
    """The d-dimensional rule of smooth.py, not conditioned, with steps refined."""
    out = np.zeros(len(keys))
    for z, w in smooth.gauss_nodes(cov, refine=refine):
        out += smooth._batch_on_nodes(act, z, w, keys)
    return out


def cov_of(d, rank, scale, seed):
    a = np.random.default_rng(seed).normal(size=(d, rank))
    return scale * a @ a.T / rank + 0.05


@pytest.mark.parametrize("name, d, rank, scale, seed", [
    *[(name, 3, 5, 1.0, 1) for name in ("tanh", "gelu", "erf")],
    *[(name, 3, 2, 3.0, 2) for name in ("tanh", "gelu", "erf")],
    ("tanh", 4, 5, 1.0, 3), ("gelu", 4, 5, 1.0, 3), ("erf", 4, 2, 1.0, 5),
    ("tanh", 4, 5, 3.0, 4),   # the slowest reference: 1.5^4 x 0.8 M nodes
])
def test_agrees_with_the_full_rule_refined(name, d, rank, scale, seed):
    """Against the full rule with 1.5x finer steps (its own error ~1e-13 here): the conditioned
    rule keeps the accuracy of the three-dimensional rule, 1e-12, in four dimensions too."""
    act = get_activation(name)
    cov = cov_of(d, rank, scale, seed)
    got = expect_conditioned(act, cov, KEYS[d])
    want = full_rule(act, cov, KEYS[d], 1.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    if d == 3:
        assert got[-1] == 0.0   # D^2 of a constant factor


def test_the_engine_takes_it_for_three_and_four_indices(monkeypatch):
    """expect_smooth_batch sends d >= 3 (narrow kernels, default rule) here, and nothing else."""
    import fntk_core.gaussian.conditioned as conditioned

    calls = []
    monkeypatch.setattr(conditioned, "expect_conditioned", lambda a, c, k: calls.append(c.shape[0]) or np.zeros(len(k)))
    monkeypatch.setattr(smooth, "node_chunks", lambda *args: iter(()))   # the full rule: not run here
    act = get_activation("tanh")
    for d in (1, 2, 3, 4):
        smooth.expect_smooth_batch(act, cov_of(d, 5, 1.0, d), [((((0,), 0),) * d)])
    smooth.expect_smooth_batch(act, cov_of(4, 5, 1.0, 0), KEYS[4], refine=1.3)     # a convergence test's rule
    smooth.expect_smooth_batch(act, cov_of(4, 5, 300.0, 0), KEYS[4])               # wide: the graded rule
    assert calls == [3, 4]


def test_the_split_and_the_rule():
    """r is the least determined coordinate; m = b . z_rest varies along the first axis only."""
    cov = cov_of(4, 5, 1.0, 7)
    r, s2, b = split(cov)
    conditional = 1.0 / np.diag(np.linalg.inv(cov))
    assert r == int(np.argmax(conditional)) and s2 == pytest.approx(conditional[r], rel=1e-10)
    rest = [c for c in range(4) if c != r]
    np.testing.assert_allclose(b, np.linalg.solve(cov[np.ix_(rest, rest)], cov[rest, r]), rtol=1e-10)
    basis, axes, size = rule(cov[np.ix_(rest, rest)], b)
    np.testing.assert_allclose(basis @ basis.T, cov[np.ix_(rest, rest)], atol=1e-13)
    np.testing.assert_allclose(b @ basis, [size, 0.0, 0.0], atol=1e-13)
    assert len(axes) == 3 and all(np.all(np.diff(u) > 0) for u, _ in axes)


def test_independent_coordinate_factorises():
    """A coordinate independent of the others (m == 0): the expectation is a product."""
    act = get_activation("tanh")
    cov = np.zeros((4, 4))
    cov[:3, :3] = cov_of(3, 5, 1.0, 8)
    cov[3, 3] = 2.0
    keys = [(((0,), 0), ((1,), 0), ((0,), 0), ((0, 0), 0))]
    got = expect_conditioned(act, cov, keys)[0]
    three = full_rule(act, cov[:3, :3], [keys[0][:3]], 1.5)[0]
    one = quad(lambda z: np.tanh(z) ** 2 * np.exp(-z * z / 4) / np.sqrt(4 * np.pi), -np.inf, np.inf, epsabs=1e-15)[0]
    assert got == pytest.approx(three * one, rel=1e-12)


@pytest.mark.parametrize("name", ["tanh", "gelu"])
def test_coinciding_and_collinear_inputs(name):
    """Singular kernels: two coinciding inputs, or a coordinate the others determine (s = 0)."""
    act = get_activation(name)
    x = np.random.default_rng(9).normal(size=(3, 4))
    x = np.vstack([x, x[1]])                       # inputs 1 and 3 coincide
    cov = 0.1 + x @ x.T / 4
    got = expect_conditioned(act, cov, KEYS[4][:5])
    # the same as the three-index expectation with input 3's factor moved onto input 1
    merged = [(k[0], ((k[1][0] + k[3][0]), 0), k[2]) for k in KEYS[4][:5]]
    want = full_rule(act, cov[:3, :3], merged, 1.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    collinear = np.outer([1.0, -0.5, 2.0], [1.0, -0.5, 2.0]) * 0.7    # rank one
    assert split(collinear)[1] == 0.0
    keys = [(((0,), 0), ((0,), 0), ((1,), 0))]
    dens = lambda t: np.exp(-t * t / 1.4) / np.sqrt(1.4 * np.pi)  # noqa: E731
    want = quad(lambda t: act(np.array(t)) * act(np.array(-0.5 * t)) * act.derivative(1)(np.array(2 * t)) * dens(t),
                -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
    assert expect_conditioned(act, collinear, keys)[0] == pytest.approx(want, rel=1e-11, abs=1e-14)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_a_nonfinite_kernel_gives_nan(d):
    """An inf or NaN kernel (a solve with allow_nonfinite) has no value: NaN, not a number
    from a degenerate rule (the two-index rule used to return 0) nor a LinAlgError."""
    act = get_activation("tanh")
    for bad in (np.nan, np.inf):
        cov = cov_of(d, 5, 1.0, d)
        cov[0, 0] = bad
        got = smooth.expect_smooth_batch(act, cov, [((((0,), 0),) * d)])
        assert np.isnan(got).all()
