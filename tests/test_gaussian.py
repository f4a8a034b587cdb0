"""The smooth Gaussian engine: convergence, accuracy against SciPy, degenerate kernels."""
import numpy as np
import pytest
from scipy.integrate import quad

from fntk_core import get_activation
from fntk_core.gaussian import expectations
from fntk_core.gaussian.smooth import expect_smooth_batch

KEYS_BY_DIM = {
    1: [(((0, 0), 0),), (((0, 0, 0, 0), 0),), (((0, 0), 4),), (((1, 1), 4),), (((0, 2), 0),)],
    2: [(((0,), 0), ((0,), 0)), (((0, 0), 2), ((1,), 0)), (((1,), 2), ((1,), 2)), (((0, 1), 1), ((0, 2), 1))],
    3: [(((0,), 0), ((0,), 1), ((1,), 0)), (((0, 0), 1), ((1,), 1), ((0,), 0))],
    4: [(((0,), 0), ((0,), 0), ((0,), 0), ((0,), 0)), (((1,), 0), ((1,), 0), ((1,), 0), ((1,), 0))],
}
TOL = {1: 1e-12, 2: 1e-12, 3: 1e-12, 4: 1e-10}


def random_cov(d, scale, seed):
    a = np.random.default_rng(seed).normal(size=(d, d))
    c = a @ a.T + 0.3 * np.eye(d)
    return scale * c / np.max(np.diag(c))


@pytest.mark.parametrize("name", ["tanh", "gelu"])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_quadrature_converges(name, d, scale):
    """Halving the step changes nothing beyond the stated accuracy."""
    act = get_activation(name)
    cov = random_cov(d, scale, seed=d)
    coarse = expect_smooth_batch(act, cov, KEYS_BY_DIM[d])
    fine = expect_smooth_batch(act, cov, KEYS_BY_DIM[d], refine=2.0 if d < 3 else 1.3)
    np.testing.assert_allclose(coarse, fine, rtol=TOL[d], atol=TOL[d] * 1e-2)


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu", "softplus", "erf", "sin"])
@pytest.mark.parametrize("K", [0.05, 1.0, 40.0])
def test_one_dimensional_against_scipy_quad(name, K):
    act = get_activation(name)
    got = expectations(act, np.array([[K]]), [((0,), (((0, 1), 1),))])[0]  # <d(sigma sigma')>
    f = lambda z: (act.derivative(1)(np.array(z)) ** 2 + act(np.array(z)) * act.derivative(2)(np.array(z))) \
        * np.exp(-z * z / (2 * K)) / np.sqrt(2 * np.pi * K)  # noqa: E731
    want = quad(f, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
    assert got == pytest.approx(want, rel=1e-10, abs=1e-13)


def test_degenerate_covariance_reduces_dimension():
    act = get_activation("tanh")
    v = np.array([1.0, -2.0])
    cov = np.outer(v, v)  # z2 = -2 z1 exactly
    got = expectations(act, cov, [((0, 1), (((0,), 0), ((0,), 0)))])[0]
    f = lambda z: np.tanh(z) * np.tanh(-2 * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    assert got == pytest.approx(quad(f, -np.inf, np.inf, epsabs=1e-14)[0], rel=1e-11)
    zero = expectations(act, np.zeros((1, 1)), [((0,), (((1, 1), 0),))])[0]
    assert zero == pytest.approx(1.0)  # tanh'(0)^2
