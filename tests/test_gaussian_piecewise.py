"""Exact Gaussian expectations of piecewise-linear activations (fntk_core.gaussian.piecewise).

References are independent of the module: closed forms, scipy quadrature of
conditional expectations, scipy's multivariate normal CDF, Monte Carlo, and
the beta -> infinity limit of the smooth softplus.
"""
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, ndtr
from scipy.stats import multivariate_normal

from fntk_core.gaussian.piecewise import _orthant_probability, expect_piecewise

RELU, LEAKY, LINEAR, GENERIC = (1.0, 0.0), (1.0, 0.2), (1.0, 1.0), (0.7, -0.3)
SLOPES = [RELU, LEAKY, LINEAR, GENERIC]
S, S1, S2, S3, S4 = ((0,), 0), ((1,), 0), ((2,), 0), ((3,), 0), ((4,), 0)
ONE = ((), 0)


def E(cov, *groups, slopes=RELU):
    return expect_piecewise(np.atleast_2d(np.asarray(cov, dtype=float)), groups, slopes)


def close(a, b, rel=1e-9, abs_=1e-12):
    assert np.isfinite(a)
    assert abs(a - b) <= rel * abs(b) + abs_, (a, b)


def phi(x, var=1.0):
    return math.exp(-x * x / (2 * var)) / math.sqrt(2 * math.pi * var)


def sigma(z, slopes):
    return np.where(z > 0, slopes[0], slopes[1]) * z


def random_cov(rng, d, rank=None):
    A = rng.normal(size=(d, rank or d))
    return A @ A.T


# ----------------------------------------------------------------- 1D ----

@pytest.mark.parametrize("slopes", SLOPES)
@pytest.mark.parametrize("K", [0.3, 1.0, 2.7])
def test_one_dimensional_closed_forms(slopes, K):
    sp, sm = slopes
    p0 = 1 / math.sqrt(2 * math.pi * K)
    e = lambda *g: E([[K]], *g, slopes=slopes)  # noqa: E731
    close(e(ONE), 1.0)
    close(e(S), (sp - sm) * math.sqrt(K / (2 * math.pi)))
    close(e(((0, 0), 0)), K * (sp**2 + sm**2) / 2)
    close(e(((1, 1), 0)), (sp**2 + sm**2) / 2)
    close(e(((0, 1), 0)), (sp**2 - sm**2) * math.sqrt(K / (2 * math.pi)))
    close(e(((0, 0, 0, 0), 0)), 3 * K**2 * (sp**4 + sm**4) / 2)
    close(e(S2), (sp - sm) * p0)
    close(e(S3), 0.0)  # delta'
    close(e(S4), -(sp - sm) * p0 / K)  # delta''
    close(e(((0, 0), 2)), sp**2 + sm**2)
    close(e(((0, 0), 3)), 2 * (sp**2 - sm**2) * p0)
    close(e(((0, 0), 4)), 0.0)  # 2 (s+^2 - s-^2) delta'
    close(e(((0, 0), 5)), -2 * (sp**2 - sm**2) * p0 / K)
    close(e(((0, 0, 0), 3)), 3 * (sp**3 + sm**3))
    close(e(((0, 2), 0)), 0.0)  # z delta(z) = 0
    # sigma' sigma'' = (s+ - s-)(s+ + s-)/2 delta = D(sigma'^2)/2
    close(e(((1, 2), 0)), (sp - sm) * (sp + sm) / 2 * p0)
    close(e(((1, 2), 0)), e(((1, 1), 1)) / 2)
    close(e(((1, 1, 2), 1)), 0.0)


# ----------------------------------------------------------------- 2D ----

def arccos_kernels(K):
    rho = K[0, 1] / math.sqrt(K[0, 0] * K[1, 1])
    t = math.acos(rho)
    k0 = (math.pi - t) / (2 * math.pi)
    k1 = math.sqrt(K[0, 0] * K[1, 1]) / (2 * math.pi) * (math.sin(t) + (math.pi - t) * math.cos(t))
    return k0, k1


@pytest.mark.parametrize("rho", [-0.95, -0.3, 0.0, 0.4, 0.99])
def test_relu_and_leaky_arccos_kernels(rho):
    K = np.array([[1.7, rho * math.sqrt(1.7 * 0.6)], [rho * math.sqrt(1.7 * 0.6), 0.6]])
    k0, k1 = arccos_kernels(K)
    close(E(K, S, S), k1)
    close(E(K, S1, S1), k0)
    a = 0.2  # leaky = (1 - a) relu(z) + a z
    close(E(K, S, S, slopes=LEAKY),
          (1 - a) ** 2 * k1 + 2 * a * (1 - a) * K[0, 1] / 2 + a**2 * K[0, 1])
    close(E(K, S1, S1, slopes=LEAKY), (1 - a) ** 2 * k0 + a * (1 - a) + a**2)


def conditional(K, a=0):
    """k, conditional covariance of the other coordinates given z_a, p_a(0)."""
    rest = [b for b in range(len(K)) if b != a]
    k = K[rest, a] / K[a, a]
    Sc = K[np.ix_(rest, rest)] - np.outer(K[rest, a], K[rest, a]) / K[a, a]
    return k, Sc, phi(0.0, K[a, a])


def quad_1d(f, var, mean=0.0):
    """E[f(mean + w)], w ~ N(0, var), by adaptive quadrature split at the kink."""
    s = math.sqrt(var)
    g = lambda w: f(mean + w) * phi(w, var)  # noqa: E731
    pts = sorted({-mean, 0.0})
    edges = [-12 * s] + [p for p in pts if abs(p) < 12 * s] + [12 * s]
    return sum(integrate.quad(g, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
               for lo, hi in zip(edges[:-1], edges[1:]))


def richardson_derivative(F, order, h=2e-2):
    """First or second derivative at 0 by a 7-point central stencil (error ~ h^6)."""
    x = h * np.arange(-3, 4)
    c = {1: np.array([-1, 9, -45, 0, 45, -9, 1]) / (60 * h),
         2: np.array([2, -27, 270, -490, 270, -27, 2]) / (180 * h * h)}[order]
    return float(sum(ci * F(xi) for ci, xi in zip(c, x)))


@pytest.mark.parametrize("slopes", [RELU, GENERIC])
def test_two_dimensional_deltas_against_quadrature(slopes):
    K = np.array([[1.3, -0.5], [-0.5, 0.9]])
    sp, sm = slopes
    k, Sc, p0 = conditional(K)
    s2, k = Sc[0, 0], k[0]
    sig = lambda z: float(sigma(z, slopes))  # noqa: E731
    dsig = lambda z: sp if z > 0 else sm  # noqa: E731
    # delta(z1) g(z2) = p1(0) E[g | z1 = 0]
    close(E(K, S2, S, slopes=slopes), (sp - sm) * p0 * quad_1d(sig, s2), rel=1e-10)
    close(E(K, S2, S1, slopes=slopes), (sp - sm) * p0 * (sp + sm) / 2)
    close(E(K, S2, ((0, 0), 0), slopes=slopes), (sp - sm) * p0 * quad_1d(lambda z: sig(z) ** 2, s2),
          rel=1e-10)
    # delta(z1) delta(z2) = bivariate density at the origin
    close(E(K, S2, S2, slopes=slopes), (sp - sm) ** 2 / (2 * math.pi * math.sqrt(np.linalg.det(K))))

    # delta^(j)(z1) g(z2) = (-1)^j d^j/dx^j [p1(x) E[g(k x + w)]] at 0
    def F(g):
        return lambda x: phi(x, K[0, 0]) * quad_1d(g, s2, mean=k * x)

    closed = -(sp - sm) * p0 * k * (sp + sm) / 2  # delta'(z1) sigma(z2)
    close(E(K, S3, S, slopes=slopes), closed)
    close(E(K, S3, S, slopes=slopes), -(sp - sm) * richardson_derivative(F(sig), 1), rel=1e-7)
    close(E(K, S4, S, slopes=slopes), (sp - sm) * richardson_derivative(F(sig), 2), rel=1e-6)
    close(E(K, S3, S1, slopes=slopes), -(sp - sm) * richardson_derivative(F(dsig), 1), rel=1e-7)
    # D^4(sigma^2)(z1) sigma(z2) = 2 (s+^2 - s-^2) delta'(z1) sigma(z2)
    close(E(K, ((0, 0), 4), S, slopes=slopes), 2 * (sp**2 - sm**2) / (sp - sm) * closed)


def gaussian_relu_moment(m, s):
    """E[(m + s xi) Theta(m + s xi)], xi ~ N(0, 1)."""
    return m * ndtr(m / s) + s * phi(m / s)


@pytest.mark.parametrize("slopes", [RELU, GENERIC])
def test_three_dimensional_deltas_against_quadrature(slopes):
    rng = np.random.default_rng(3)
    K = random_cov(rng, 3) + 0.2 * np.eye(3)
    sp, sm = slopes
    k, Sc, p0 = conditional(K)

    def E_sigma(m, s):  # E[sigma(m + s xi)]
        pos = gaussian_relu_moment(m, s)
        return sp * pos + sm * (m - pos)

    def E_dsigma(m, s):  # E[sigma'(m + s xi)]
        return sp * ndtr(m / s) + sm * ndtr(-m / s)

    def G(x, inner):  # E[sigma(k2 x + w2) inner(k3 x + w3 | w2)]
        b = Sc[1, 0] / Sc[0, 0]
        s3 = math.sqrt(Sc[1, 1] - Sc[1, 0] ** 2 / Sc[0, 0])
        def f(w2):
            return float(sigma(k[0] * x + w2, slopes)) * inner(k[1] * x + b * w2, s3)

        return quad_1d(f, Sc[0, 0])

    close(E(K, S2, S, S1, slopes=slopes), (sp - sm) * p0 * G(0.0, E_dsigma), rel=1e-10)
    close(E(K, S2, S, S, slopes=slopes), (sp - sm) * p0 * G(0.0, E_sigma), rel=1e-10)
    # delta'(z1) sigma(z2) sigma(z3)
    F = lambda x: phi(x, K[0, 0]) * G(x, E_sigma)  # noqa: E731
    close(E(K, S3, S, S, slopes=slopes), -(sp - sm) * richardson_derivative(F, 1), rel=1e-7)
    # delta(z1) delta(z2) sigma(z3) = p12(0, 0) E[sigma(w3) | z1 = z2 = 0]
    v = Sc[1, 1] - Sc[1, 0] ** 2 / Sc[0, 0]
    p12 = 1 / (2 * math.pi * math.sqrt(np.linalg.det(K[:2, :2])))
    close(E(K, S2, S2, S, slopes=slopes), (sp - sm) ** 3 * p12 * math.sqrt(v / (2 * math.pi)))


# ------------------------------------------------------ orthants, 3D/4D ----

def corr(C):
    sd = np.sqrt(np.diag(C))
    return C / np.outer(sd, sd)


def test_orthant_probabilities_exact_cases():
    for d in (2, 3, 4):  # equicorrelated rho = 1/2: P = 1/(d + 1)
        R = np.full((d, d), 0.5) + 0.5 * np.eye(d)
        close(_orthant_probability(R), 1 / (d + 1), abs_=1e-15)
    R = np.full((4, 4), -1 / 3) + 4 / 3 * np.eye(4)  # singular, sum z = 0: never all positive
    close(_orthant_probability(R), 0.0, abs_=1e-14)
    R = np.full((3, 3), -0.5) + 1.5 * np.eye(3)
    close(_orthant_probability(R), 0.0, abs_=1e-15)
    # block diagonal: product of 2D orthants
    r1, r2 = 0.37, -0.81
    R = np.eye(4)
    R[0, 1] = R[1, 0] = r1
    R[2, 3] = R[3, 2] = r2
    want = (0.25 + math.asin(r1) / (2 * math.pi)) * (0.25 + math.asin(r2) / (2 * math.pi))
    close(_orthant_probability(R), want, abs_=1e-15)
    # one independent coordinate: 3D closed form / 2
    C = random_cov(np.random.default_rng(5), 3)
    R3 = corr(C)
    R = np.eye(4)
    R[:3, :3] = R3
    p3 = 1 / 8 + (math.asin(R3[0, 1]) + math.asin(R3[0, 2]) + math.asin(R3[1, 2])) / (4 * math.pi)
    close(_orthant_probability(R), p3 / 2, abs_=1e-15)


@pytest.mark.parametrize("seed,d", [(0, 3), (1, 4), (2, 4), (6, 4)])
def test_orthant_probabilities_against_scipy(seed, d):
    R = corr(random_cov(np.random.default_rng(seed), d))
    mvn = multivariate_normal(np.zeros(d), R, abseps=1e-8, releps=0, maxpts=2_000_000)
    close(_orthant_probability(R), float(mvn.cdf(np.zeros(d))), rel=0, abs_=2e-7)


def wedge_probability(A):
    """P(A x > 0), x ~ N(0, I_2): the angle of the intersection of half-planes / 2 pi."""
    th = np.arctan2(A[:, 1], A[:, 0])
    cuts = np.sort(np.concatenate([th + np.pi / 2, th - np.pi / 2]) % (2 * np.pi))
    cuts = np.append(cuts, cuts[0] + 2 * np.pi)
    mid = (cuts[:-1] + cuts[1:]) / 2
    inside = np.all(np.cos(mid[:, None] - th[None, :]) > 0, axis=1)
    return float(np.sum(np.diff(cuts)[inside]) / (2 * np.pi))


@pytest.mark.parametrize("seed", range(6))
def test_singular_orthant_probabilities_exact(seed):
    """Rank-2 4D: the orthant is a planar wedge; rank 3: scipy is only ~1e-5 there."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 2))
    A[:, 0] = np.abs(A[:, 0])  # make the wedge non-empty in half the cases
    if seed % 2:
        A[:, 0] *= rng.choice([-1, 1], size=4)
    close(_orthant_probability(corr(A @ A.T)), wedge_probability(A), rel=0, abs_=1e-12)
    R = corr(random_cov(rng, 4, 3))
    mvn = multivariate_normal(np.zeros(4), R, allow_singular=True)
    close(_orthant_probability(R), float(mvn.cdf(np.zeros(4))), rel=0, abs_=3e-5)


def test_four_sign_moment_is_continuous_up_to_singularity():
    A = random_cov(np.random.default_rng(7), 4, 3)
    exact = _orthant_probability(corr(A))
    near = _orthant_probability(corr(A + 1e-16 * np.trace(A) * np.eye(4)))
    # P has a sqrt singularity in the smallest eigenvalue: ~1e-8 from a 1e-16 shift
    close(near, exact, rel=0, abs_=1e-7)


def monte_carlo(cov, fns, n=1_000_000, seed=11):
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(len(cov)), cov, size=n,
                                                        method="eigh")
    v = np.prod([f(z[:, a]) for a, f in enumerate(fns)], axis=0)
    return v.mean(), v.std() / math.sqrt(n)


@pytest.mark.parametrize("rank", [4, 3])
@pytest.mark.parametrize("slopes", [RELU, GENERIC])
def test_four_dimensional_moments_against_monte_carlo(slopes, rank):
    K = random_cov(np.random.default_rng(21), 4, rank)
    sig = lambda z: sigma(z, slopes)  # noqa: E731
    dsig = lambda z: np.where(z > 0, slopes[0], slopes[1])  # noqa: E731
    for groups, fns in [((S, S, S, S), (sig,) * 4), ((S1, S1, S1, S1), (dsig,) * 4),
                        ((S, S1, S, S1), (sig, dsig, sig, dsig)),
                        ((((0, 0), 0), S1, S1, S), (lambda z: sig(z) ** 2, dsig, dsig, sig))]:
        mean, err = monte_carlo(K, fns)
        got = expect_piecewise(K, groups, slopes)
        assert abs(got - mean) < 5 * err + 1e-12, (groups, got, mean, err)


def test_four_dimensional_relu_step_moment_is_orthant_probability():
    K = random_cov(np.random.default_rng(8), 4)
    mvn = multivariate_normal(np.zeros(4), K, abseps=1e-8, releps=0, maxpts=2_000_000)
    close(E(K, S1, S1, S1, S1), float(mvn.cdf(np.zeros(4))), rel=0, abs_=2e-7)


# ------------------------------------------------------- smooth limit ----

def softplus_derivs(z, beta):
    """D^n [softplus(beta z)/beta], n = 0..4, evaluated stably."""
    s = expit(beta * z)
    u = s * (1 - s)
    sp = (np.maximum(beta * z, 0) + np.log1p(np.exp(-np.abs(beta * z)))) / beta
    return [sp, s, beta * u, beta**2 * u * (1 - 2 * s), beta**3 * u * (1 - 6 * s + 6 * s * s)]


def d_of_square(z, beta, n):
    d = softplus_derivs(z, beta)
    return sum(math.comb(n, i) * d[i] * d[n - i] for i in range(n + 1))


def graded_nodes(beta, L):
    """Composite Gauss-Legendre nodes, fine (1/(2 beta)) where the kink is smoothed."""
    fine = 30 / beta
    edges = np.concatenate([np.linspace(-L, -fine, 80), np.linspace(-fine, fine, 121)[1:-1],
                            np.linspace(fine, L, 80)])
    x, w = np.polynomial.legendre.leggauss(8)
    lo, hi = edges[:-1, None], edges[1:, None]
    return ((hi + lo) / 2 + (hi - lo) / 2 * x).ravel(), ((hi - lo) / 2 * w).ravel()


def smooth_expectation(K, f1, f2, beta):
    """E[f1(z1) f2(z2)] under N(0, K) on a tensor grid aligned with both kinks."""
    x, w = graded_nodes(beta, 9 * math.sqrt(K.max()))
    Ki = np.linalg.inv(K)
    norm = 1 / (2 * math.pi * math.sqrt(np.linalg.det(K)))
    F2 = f2(x) * w
    total = 0.0
    for chunk in np.array_split(np.arange(len(x)), 8):
        a, b = x[chunk, None], x[None, :]
        dens = norm * np.exp(-0.5 * (Ki[0, 0] * a * a + 2 * Ki[0, 1] * a * b + Ki[1, 1] * b * b))
        total += float((f1(x[chunk]) * w[chunk]) @ (dens @ F2))
    return total


def test_smooth_softplus_limit_converges_to_exact():
    K = np.array([[1.1, 0.45], [0.45, 0.8]])
    def sp(n):
        return lambda z, b: softplus_derivs(z, b)[n]

    def sq(n):
        return lambda z, b: d_of_square(z, b, n)

    one = lambda z, b: np.ones_like(z)  # noqa: E731
    step_delta = lambda z, b: softplus_derivs(z, b)[1] * softplus_derivs(z, b)[2]  # noqa: E731
    cases = [  # (groups, f1, f2): D^n acts on the product within one coordinate
        ((((0, 0), 2), ONE), sq(2), one),
        ((((0, 0), 2), S2), sq(2), sp(2)),
        ((S2, S2), sp(2), sp(2)),
        ((((0, 0), 3), S), sq(3), sp(0)),
        ((((0, 0), 4), S), sq(4), sp(0)),
        ((((1, 2), 0), S1), step_delta, sp(1)),
    ]
    for groups, f1, f2 in cases:
        exact = expect_piecewise(K, groups, RELU)
        errs = [abs(smooth_expectation(K, lambda z: f1(z, b), lambda z: f2(z, b), b) - exact)
                for b in (50.0, 200.0)]
        assert errs[1] <= 1e-2 * abs(exact), (groups, exact, errs)
        assert errs[1] <= errs[0] + 1e-9, (groups, errs)


# --------------------------------------------------- degenerate covariance ----

@pytest.mark.parametrize("slopes", SLOPES)
def test_coinciding_coordinates_reduce_dimension(slopes):
    rng = np.random.default_rng(4)
    A = random_cov(rng, 2) + 0.3 * np.eye(2)
    # 2D with z1 = z2: the product is formed at one coordinate
    K, one = np.full((2, 2), 1.4), [[1.4]]
    for g1, g2, merged in [(S, S, (0, 0)), (S, S1, (0, 1)), (S1, S1, (1, 1)), (S2, S1, (2, 1)),
                           (S2, S, (2, 0)), (S1, ONE, (1,))]:
        close(E(K, g1, g2, slopes=slopes), E(one, (merged, 0), slopes=slopes))
    close(E(K, S3, S, slopes=slopes), -(slopes[0] - slopes[1]) * phi(0, 1.4) * sum(slopes) / 2)
    # 3D (x, x, y) and 4D (x, x, y, y), (x, x, y, u)
    K3 = A[np.ix_([0, 0, 1], [0, 0, 1])]
    close(E(K3, S, S, S1, slopes=slopes), E(A, ((0, 0), 0), S1, slopes=slopes))
    close(E(K3, S, S1, S2, slopes=slopes), E(A, ((0, 1), 0), S2, slopes=slopes))
    idx = [0, 0, 1, 1]
    K4 = A[np.ix_(idx, idx)]
    close(E(K4, S1, S1, S1, S1, slopes=slopes), E(A, ((1, 1), 0), ((1, 1), 0), slopes=slopes))
    close(E(K4, S, S, S, S1, slopes=slopes), E(A, ((0, 0), 0), ((0, 1), 0), slopes=slopes))
    B = random_cov(rng, 3) + 0.3 * np.eye(3)
    K4 = B[np.ix_([0, 0, 1, 2], [0, 0, 1, 2])]
    close(E(K4, S, S, S2, S, slopes=slopes), E(B, ((0, 0), 0), S2, S, slopes=slopes))
    close(E(K4, S1, S, S1, S1, slopes=slopes), E(B, ((0, 1), 0), S1, S1, slopes=slopes))


def test_collinear_and_rounded_coordinates():
    sp, sm = LEAKY
    K = 1.3 * np.array([[1.0, -2.0], [-2.0, 4.0]])  # z2 = -2 z1
    close(E(K, S, S, slopes=LEAKY), -2 * 1.3 * sp * sm)
    close(E(K, S1, S1, slopes=LEAKY), sp * sm)
    # an exact copy scaled by 3.7 comes with round-off; the answer must still be exact
    v = np.array([[0.3, -1.2, 0.8]])
    M = np.vstack([v, 3.7 * v, [[1.0, 0.4, -0.2]]])
    K = M @ M.T
    k2 = M[[0, 2]] @ M[[0, 2]].T
    close(E(K, S1, S1, S, slopes=GENERIC), E(k2, ((1, 1), 0), S, slopes=GENERIC))
    close(E(K, S1, S1, S2, slopes=GENERIC), E(k2, ((1, 1), 0), S2, slopes=GENERIC))
    close(E(K, S2, S1, S, slopes=GENERIC), E(k2, ((2, 1), 0), S, slopes=GENERIC))


@pytest.mark.parametrize("slopes", SLOPES)
def test_zero_variance_conventions(slopes):
    sp, sm = slopes
    K = np.array([[0.8, 0.0], [0.0, 0.0]])
    p0 = phi(0.0, 0.8)
    close(E(K, S, S, slopes=slopes), 0.0)
    close(E(K, S1, S1, slopes=slopes), (sp + sm) ** 2 / 4)
    close(E(K, S2, S1, slopes=slopes), (sp - sm) * p0 * (sp + sm) / 2)
    close(E(K, S1, ((0, 0), 2), slopes=slopes), (sp + sm) / 2 * (sp**2 + sm**2))
    close(E(np.zeros((3, 3)), S1, S1, ONE, slopes=slopes), (sp + sm) ** 2 / 4)
    close(E(np.zeros((4, 4)), S1, S, S1, S1, slopes=slopes), 0.0)
    if sp != sm:
        with pytest.raises(ValueError, match="diverges"):
            E(K, S, S2, slopes=slopes)
        with pytest.raises(ValueError, match="diverges"):  # delta(z) delta(z) after conditioning
            E(np.ones((2, 2)), S2, S2, slopes=slopes)
        with pytest.raises(ValueError, match="diverges"):
            E(np.ones((3, 3)), S, S2, S3, slopes=slopes)


# ---------------------------------------------------------- validation ----

@pytest.mark.parametrize("group,match", [
    (((2, 2), 0), "two deltas"),
    (((2, 3), 0), "two deltas"),
    (((3, 0), 0), "delta derivative"),
    (((4, 1), 1), "delta derivative"),
    (((-1,), 0), ">= 0"),
    (((0,), -2), ">= 0"),
    (((0,),), "must be"),
])
def test_invalid_groups_raise(group, match):
    with pytest.raises(ValueError, match=match):
        expect_piecewise(np.eye(2), [group, S], RELU)


def test_invalid_covariance_raises():
    with pytest.raises(ValueError, match="shape"):
        expect_piecewise(np.eye(3), [S, S], RELU)
    with pytest.raises(ValueError, match="semi-definite"):
        expect_piecewise(np.array([[1.0, 2.0], [2.0, 1.0]]), [S, S], RELU)
    with pytest.raises(ValueError, match="symmetric"):
        expect_piecewise(np.array([[1.0, 0.2], [0.1, 1.0]]), [S, S], RELU)
    with pytest.raises(ValueError, match="d <= 4"):
        expect_piecewise(np.eye(5), [S] * 5, RELU)


def test_linear_activation_has_no_deltas_even_in_products():
    """sigma'' = 0 identically for slopes (1, 1): products of 'deltas' are plain zeros."""
    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    assert expect_piecewise(cov, [((2, 2), 0), ((0,), 0)], (1.0, 1.0)) == 0.0
    assert expect_piecewise(cov, [((3, 1), 0), ((1,), 0)], (1.0, 1.0)) == 0.0
    with pytest.raises(ValueError, match="ill-defined"):
        expect_piecewise(cov, [((2, 2), 0), ((0,), 0)], (1.0, 0.0))
