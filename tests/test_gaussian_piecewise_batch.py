"""Many piecewise-linear expectations at once (fntk_core.gaussian.piecewise_batch) against the
scalar engine, key by key: in general position, where a kernel is degenerate (the scalar
engine's rules take over), and for nearly singular four-variable sign moments."""
import numpy as np
import pytest

from fntk_core.gaussian import Interrupted, piecewise_batch
from fntk_core.gaussian.piecewise import _sign4, expect_piecewise
from fntk_core.gaussian.piecewise_batch import _Batch, _sign_moment, expect_piecewise_many
from fntk_core.recursions.compiled import cached_plan
from fntk_core.recursions.library import closure, get_recursion
from fntk_core.tensors import DEFAULT_TENSORS

SLOPES = [(1.0, 0.0), (1.0, 0.2), (0.7, -0.3)]


def _keys(n):
    """Every Gaussian key the default tensors' recursions need at n inputs."""
    recs = tuple(get_recursion(name) for name in closure(DEFAULT_TENSORS, {}))
    return list(cached_plan(recs, n).table.keys)


def _scalar(K, keys, slopes):
    return np.array([expect_piecewise(K[np.ix_(c, c)], g, slopes) for c, g in keys])


def _kernel(rng, n, n0=3):
    x = rng.normal(size=(n, n0))
    return 0.2 + x @ x.T / n0


@pytest.mark.parametrize("slopes", SLOPES)
def test_every_key_of_the_default_tensors_equals_the_scalar_engine(slopes):
    keys = _keys(5)
    K = _kernel(np.random.default_rng(1), 5)
    got, want = expect_piecewise_many(K, keys, slopes), _scalar(K, keys, slopes)
    assert len(keys) > 500 and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14 * np.max(np.abs(want)))


@pytest.mark.parametrize("case", ["coinciding", "collinear", "rounded", "zero"])
def test_degenerate_kernels_follow_the_scalar_rules(case, monkeypatch):
    """Coinciding or collinear inputs, a correlation one rounding off 1, an input of zero
    variance: the batch flags the elements and the scalar engine gives them their values."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3))
    if case == "coinciding":
        x[3] = x[1]
    elif case == "collinear":
        x[3] = -2.5 * x[1]
    elif case == "rounded":
        x[3] = x[1] * (1 + 1e-9)
    K = x @ x.T / 3 + (0.0 if case in ("zero", "collinear") else 0.1)
    if case == "zero":
        K[4, :] = K[:, 4] = 0.0
    good, bad = [], []
    for key in _keys(5):
        try:
            _scalar(K, [key], (1.0, 0.2))
            good.append(key)
        except ValueError:   # products of deltas at coinciding inputs, a delta at z = 0: no value
            bad.append(key)
    fallbacks = []
    monkeypatch.setattr(piecewise_batch, "expect_piecewise", lambda *a: fallbacks.append(1) or expect_piecewise(*a))
    got, want = expect_piecewise_many(K, good, (1.0, 0.2)), _scalar(K, good, (1.0, 0.2))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * np.max(np.abs(want)))
    assert len(good) > 300 and 0 < len(fallbacks) < len(good) / 2   # only the degenerate ones
    for key in bad[:: max(1, len(bad) // 20)]:
        with pytest.raises(ValueError):
            expect_piecewise_many(K, [key], (1.0, 0.2))


def test_errors_are_the_scalar_engines():
    """A delta at a coordinate of zero variance diverges, a non-finite kernel is refused: the
    same errors as one key at a time."""
    K = np.diag([1.0, 0.0])
    key = ((0, 1), (((0,), 0), ((2,), 0)))
    with pytest.raises(ValueError, match="zero variance diverges"):
        expect_piecewise_many(K, [key], (1.0, 0.0))
    with pytest.raises(ValueError, match="finite"):
        expect_piecewise_many(np.array([[np.nan]]), [((0,), (((0,), 0),))], (1.0, 0.0))


@pytest.mark.parametrize("smallest", [1e-1, 1e-3, 1e-6, 1e-9])
def test_nearly_singular_sign_moments(smallest):
    """Four-variable sign moments of correlations close to singular (a square-root end point in
    the Plackett integral) agree to 1e-14 with the same integral in 30-digit arithmetic (at
    1e-9 the scalar float64 rule is off by ~1e-13 itself)."""
    import mpmath

    rng = np.random.default_rng(int(-np.log10(smallest)))
    Rs = []
    for _ in range(5):
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        cov = q @ np.diag([smallest, *rng.uniform(0.5, 2.0, size=3)]) @ q.T
        d = np.sqrt(np.diag(cov))
        Rs.append(cov / np.outer(d, d))
    R = np.array(Rs)
    got = _sign_moment(_Batch(R, np.ones(len(R), bool)), (0, 1, 2, 3))
    ctx = mpmath.MPContext()
    ctx.dps = 30
    want = [float(_sign4(np.vectorize(ctx.mpf, otypes=[object])(r))) for r in R]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


def test_a_cancel_stops_between_batches():
    keys = _keys(4)
    K = _kernel(np.random.default_rng(3), 4)
    polls = []
    with pytest.raises(Interrupted):
        expect_piecewise_many(K, keys, (1.0, 0.0), poll=lambda: polls.append(1) or len(polls) >= 2)
    assert len(polls) == 2


def test_blocks_of_sample_index_sets_give_the_same_values(monkeypatch):
    """The memo's memory is bounded by evaluating at most ROWS sets together: the same numbers
    (to rounding: BLAS may sum a matrix-vector product in another order for other shapes)."""
    keys = _keys(6)
    K = _kernel(np.random.default_rng(4), 6)
    whole = expect_piecewise_many(K, keys, (1.0, 0.0))
    monkeypatch.setattr(piecewise_batch, "ROWS", 7)
    np.testing.assert_allclose(expect_piecewise_many(K, keys, (1.0, 0.0)), whole, rtol=1e-14, atol=1e-16)


def test_the_batches_kept_between_calls_follow_the_keys():
    """The grouping of keys is kept for the next call (a solve asks for the same keys every
    layer); another kernel, another list, or the same keys in another order are all right."""
    keys = _keys(4)
    rng = np.random.default_rng(5)
    K1, K2 = _kernel(rng, 4), _kernel(rng, 4)
    first = expect_piecewise_many(K1, keys, (1.0, 0.0))
    again = expect_piecewise_many(K2, keys, (1.0, 0.0))
    np.testing.assert_allclose(again, _scalar(K2, keys, (1.0, 0.0)), rtol=1e-13, atol=1e-15)
    shuffled = [keys[i] for i in rng.permutation(len(keys))]
    got = expect_piecewise_many(K1, shuffled, (1.0, 0.0))
    np.testing.assert_allclose(got, [first[keys.index(k)] for k in shuffled], rtol=1e-15, atol=1e-16)
    fewer = keys[::3]
    np.testing.assert_allclose(expect_piecewise_many(K1, fewer, (1.0, 0.0)), first[::3], rtol=1e-15, atol=1e-16)
