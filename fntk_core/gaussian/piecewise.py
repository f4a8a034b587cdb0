"""Exact Gaussian expectations for scale-invariant (piecewise-linear) activations.

``sigma(z) = z (s+ Theta(z) + s- Theta(-z))`` (ReLU (1, 0), LeakyReLU (1, alpha),
linear (1, 1)), so ``sigma' = s+ Theta(z) + s- Theta(-z)`` and
``sigma^(m) = (s+ - s-) delta^(m-2)(z)`` for m >= 2.  Sampling or quadrature
cannot resolve these kinks and deltas; here every expectation is reduced
analytically to orthant probabilities, which are closed form up to d = 3 and
a smooth one-dimensional integral (Plackett's reduction) for d = 4.

Conventions
-----------
* ``groups[a] = (orders, nderiv)`` means ``g_a = D^nderiv prod_{m in orders}
  sigma^(m)``: the product is formed first as a function of one variable and
  only then differentiated (``D^4 sigma^2 = 2 delta'`` for ReLU, while the
  product rule would produce the meaningless ``delta^2``).  Empty ``orders``
  with ``nderiv = 0`` is the constant 1.
* Factors of order <= 1 multiply to a piecewise monomial
  ``z^q (c+ Theta(z) + c- Theta(-z))``.  At most one factor of order >= 2 is
  allowed per coordinate, and of order exactly 2 unless it is the only factor.
  ``delta(z) z^q (c+, c-)`` is 0 for q >= 1 and ``(c+ + c-)/2 delta(z)`` for
  q = 0 (the limit of any symmetric smoothing).  Anything else is a product of
  distributions without a value and raises ValueError.
* A coordinate of zero variance (also after conditioning on a delta) sits at
  z = 0: a piecewise monomial there is 0 if q >= 1 and ``(c+ + c-)/2`` if
  q = 0, by the same smoothing rule; a delta there diverges (ValueError).
* Round-off: a conditional variance below ``tol`` times its unconditional
  value is treated as zero, and a correlation with ``1 - rho^2 <= tol`` as
  exactly +-1.  Orthant probabilities have infinite slope at |rho| = 1, so
  this snapping is what makes coinciding or collinear inputs exact instead of
  off by sqrt(round-off).  In float64 ``tol = 1e-12``; a covariance of mpmath
  numbers (object array, see :mod:`fntk_core.precision`) is evaluated in their
  own context and precision, with ``tol = 10^(8 - digits)``, so nearly parallel
  inputs are resolved rather than snapped.

Method
------
Each g_a is a sum of *atoms*: ``("M", q, c+, c-) = z^q (c+ Theta + c- Theta(-z))``
and ``("D", j, c) = c delta^(j)(z)``.  The expectation of a product of atoms is
evaluated recursively (memoised on the covariance bytes and the atoms):

1. constants and zero-variance coordinates are factored out (marginalised);
2. a delta at z_a is removed by conditioning, z_rest = k z_a + w:
   ``E[delta^(j)(z_a) R] = (-1)^j sum_i C(j,i) p^(j-i)(0) E_w[(k.grad)^i R(w)]``;
3. a power z_a^q (q >= 1) is lowered by Stein's lemma
   ``E[z_a F] = sum_c K_ac E[d_c F]`` (valid for singular K as well);
4. what is left are step functions: signs, whose moments are orthant
   probabilities.
"""
from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations, product

import mpmath
import numpy as np
from scipy.integrate import quad

__all__ = ["expect_piecewise"]

_TOL = 1e-12
_MAX_DIM = 4


class _Float:
    """float64 arithmetic; round-off of degenerate kernels is snapped at _TOL."""

    sqrt, asin, sin, cos, pi, tol = math.sqrt, math.asin, math.sin, math.cos, math.pi, _TOL

    @staticmethod
    def quad(f, a, b):
        # full_output silences round-off warnings near a singular endpoint
        return quad(f, a, b, epsabs=1e-15, epsrel=1e-14, limit=200, full_output=1)[0]


class _Extended:
    """mpmath arithmetic in the context (and so at the precision) that made the numbers."""

    def __init__(self, ctx):
        self.sqrt, self.asin, self.sin, self.cos = ctx.sqrt, ctx.asin, ctx.sin, ctx.cos
        self.pi, self.mpf = ctx.pi, ctx.mpf
        self.tol = ctx.mpf(10) ** (8 - ctx.dps)  # only exact degeneracies (to working precision) snap
        self.quad = lambda f, a, b: ctx.quad(f, [a, b])


_FLOAT = _Float()
_EXTENDED: dict[int, tuple] = {}


def _ops(x):
    """The arithmetic of an array: float64, or mpmath for object arrays of mpf."""
    x = np.asarray(x)
    if x.dtype != object:
        return _FLOAT
    ctx = next((v.context for v in x.flat if hasattr(v, "context")), mpmath.mp)
    if id(ctx) not in _EXTENDED:  # the context is kept alive with its operations
        _EXTENDED[id(ctx)] = (ctx, _Extended(ctx))
        while len(_EXTENDED) > 64:
            del _EXTENDED[next(iter(_EXTENDED))]
    return _EXTENDED[id(ctx)][1]


# ---------------------------------------------------------------- atoms ----

def _deriv(atom):
    """Distributional derivative of one atom (None when it vanishes)."""
    if atom[0] == "D":
        return ("D", atom[1] + 1, atom[2])
    _, q, cp, cm = atom
    if q:
        return ("M", q - 1, q * cp, q * cm)
    return ("D", 0, cp - cm) if cp != cm else None


def _deriv_n(atom, n):
    for _ in range(n):
        if atom is None:
            return None
        atom = _deriv(atom)
    return atom


def _group_atoms(group, s_plus, s_minus):
    """The atoms (a list, zero terms dropped) of D^nderiv prod sigma^(m)."""
    try:
        orders, nderiv = group
        orders = tuple(orders)
    except (TypeError, ValueError):
        raise ValueError(f"a group must be (orders, nderiv), got {group!r}") from None
    if any(int(m) != m or m < 0 for m in orders) or int(nderiv) != nderiv or nderiv < 0:
        raise ValueError(f"orders and nderiv must be integers >= 0, got {group!r}")
    high = [int(m) for m in orders if m >= 2]
    if high and s_plus == s_minus:
        return []  # linear: sigma^(m) = 0 for m >= 2, no delta at all
    if len(high) > 1:
        raise ValueError(
            f"group {group!r}: product of two deltas (two factors sigma^(m), m >= 2, "
            "at one coordinate) is ill-defined")
    if high and high[0] > 2 and len(orders) > 1:
        raise ValueError(
            f"group {group!r}: a delta derivative sigma^({high[0]}) multiplied by other "
            "factors is ill-defined; only sigma'' (a plain delta) may multiply others")
    q, cp, cm = 0, 1.0, 1.0
    for m in orders:
        if m <= 1:
            q, cp, cm = q + (m == 0), cp * s_plus, cm * s_minus
    if not high:
        atoms = [("M", q, cp, cm)]
    elif len(orders) == 1:
        atoms = [("D", high[0] - 2, s_plus - s_minus)]
    else:  # delta(z) * z^q (cp, cm): smoothing limit
        atoms = [("D", 0, (s_plus - s_minus) * (cp + cm) / 2)] if q == 0 else []
    atoms = [_deriv_n(h, int(nderiv)) for h in atoms]
    return [h for h in atoms if h is not None and any(h[2:])]


# ------------------------------------------------------ sign moments ----

def _sign4(R):
    """E[s1 s2 s3 s4], s = sign(z), z ~ N(0, R), R a 4x4 correlation matrix.

    Plackett: d/d rho_ij E[prod s] = 4 phi_2(0, 0; rho_ij) E[s_k s_l | z_i = z_j = 0].
    Along R(t) = I + t (R - I) each pair's term is integrated in
    theta = asin(t rho_ij), which absorbs the 1/sqrt(1 - t^2 rho_ij^2) factor;
    adaptive quadrature handles what remains at t = 1 when R is (nearly) singular.
    """
    ops = _ops(R)
    pairs = list(combinations(range(4), 2))
    for i, j in pairs:
        if 1 - R[i, j] ** 2 <= ops.tol:  # s_i s_j = sign(rho_ij) almost surely
            k, l = (b for b in range(4) if b not in (i, j))
            return (1 if R[i, j] > 0 else -1) * 2 / ops.pi * ops.asin(R[k, l])
    total = 0
    for i, j in pairs:
        r = R[i, j]
        if r == 0:
            continue
        k, l = (b for b in range(4) if b not in (i, j))
        rki, rkj, rli, rlj, rkl = R[k, i], R[k, j], R[l, i], R[l, j], R[k, l]

        def partial_corr_asin(theta, r=r, rki=rki, rkj=rkj, rli=rli, rlj=rlj, rkl=rkl):
            # conditional covariance of (z_k, z_l) given z_i = z_j = 0 under R(t),
            # all entries multiplied by 1 - a^2 = cos^2(theta)
            a, c2 = ops.sin(theta), ops.cos(theta) ** 2
            t = a / r
            k1, k2, l1, l2 = t * rki, t * rkj, t * rli, t * rlj
            skl = t * rkl * c2 - (k1 * l1 + k2 * l2 - a * (k1 * l2 + k2 * l1))
            skk = c2 - (k1 * k1 + k2 * k2 - 2 * a * k1 * k2)
            sll = c2 - (l1 * l1 + l2 * l2 - 2 * a * l1 * l2)
            den = skk * sll
            if den <= 0:  # degenerate only at the singular endpoint
                return 0 * den
            return ops.asin(min(1, max(-1, skl / ops.sqrt(den))))

        total += ops.quad(partial_corr_asin, 0, ops.asin(r))
    return 4 / ops.pi ** 2 * total


def _sign_moment(R):
    """E[prod_a sign(z_a)] for a correlation matrix R of size 0..4."""
    n = len(R)
    if n % 2:
        return 0.0
    if n == 0:
        return 1.0
    if n == 2:
        ops = _ops(R)
        return 2 / ops.pi * ops.asin(R[0, 1])
    if n == 4:
        return _sign4(R)
    raise ValueError(f"orthant probabilities are implemented for d <= {_MAX_DIM}, got {n}")


def _correlation(cov):
    ops = _ops(cov)
    sd = np.array([ops.sqrt(v) for v in np.diag(cov)], dtype=cov.dtype)
    R = np.clip(cov / np.outer(sd, sd), -1, 1)
    snap = 1 - R ** 2 <= ops.tol
    R[snap] = np.sign(R[snap])
    np.fill_diagonal(R, 1)
    return R


def _orthant_probability(corr):
    """P(z > 0) for z ~ N(0, corr): 2^-d sum over even subsets of sign moments."""
    corr = np.asarray(corr)
    R = _correlation(corr if corr.dtype == object else corr.astype(float))
    d = len(R)
    return sum(_sign_moment(R[np.ix_(T, T)])
               for n in range(0, d + 1, 2) for T in combinations(range(d), n)) / 2 ** d


# ------------------------------------------------------------ recursion ----

def _clean(cov, ref):
    """Symmetrise; zero the rows of variances <= _TOL * ref (round-off of a zero)."""
    cov = (cov + cov.T) / 2
    zero = np.diag(cov) <= _ops(cov).tol * ref
    cov[zero, :] = 0.0
    cov[:, zero] = 0.0
    return np.ascontiguousarray(cov)


def _density_derivative(m, s2):
    """p^(m)(0) for the N(0, s2) density."""
    if m % 2:
        return 0.0
    ops = _ops(np.array(s2))
    dfact = math.prod(range(m - 1, 0, -2))
    return (-1) ** (m // 2) * dfact / s2 ** (m // 2) / ops.sqrt(2 * ops.pi * s2)


def _compositions(total, parts):
    if parts == 0:
        if total == 0:
            yield ()
        return
    for first in range(total + 1):
        for tail in _compositions(total - first, parts - 1):
            yield (first,) + tail


def _sub(cov, keep):
    return np.ascontiguousarray(cov[np.ix_(keep, keep)])


def _key(cov):
    """A hashable key of a covariance: float64 bytes, or (dps, entries) for mpmath."""
    if cov.dtype == object:
        return (_ops(cov).tol,) + tuple(cov.ravel())
    return cov.tobytes()


def _unkey(cov_key, d):
    if isinstance(cov_key, tuple):
        return np.array(cov_key[1:], dtype=object).reshape(d, d)
    return np.frombuffer(cov_key, dtype=float).reshape(d, d)


@lru_cache(maxsize=1 << 16)
def _expect(cov_key, atoms):
    """E[prod_a atoms[a](z_a)], z ~ N(0, K), K given by :func:`_key`."""
    d = len(atoms)
    if d == 0:
        return 1.0
    cov = _unkey(cov_key, d)
    var = np.diag(cov)
    for a, h in enumerate(atoms):
        if h[0] == "D" and var[a] == 0.0:
            raise ValueError(f"delta^({h[1]}) at a coordinate of zero variance diverges")

    # 1. constants and zero-variance coordinates
    factor, keep = 1.0, []
    for a, h in enumerate(atoms):
        if h[0] == "M" and (var[a] == 0.0 or (h[1] == 0 and h[2] == h[3])):
            if h[1] and var[a] == 0.0:
                return 0.0
            factor *= (h[2] + h[3]) / 2
        else:
            keep.append(a)
    if len(keep) < d:
        if factor == 0.0:
            return 0.0
        return factor * _expect(_key(_sub(cov, keep)), tuple(atoms[a] for a in keep))

    # 2. a delta: condition on its coordinate
    deltas = [a for a, h in enumerate(atoms) if h[0] == "D"]
    if deltas:
        a = deltas[0]
        _, j, c = atoms[a]
        s2 = var[a]
        rest = [b for b in range(d) if b != a]
        ca = cov[rest, a]
        k = ca / s2
        S = _clean(cov[np.ix_(rest, rest)] - np.outer(ca, ca) / s2, var[rest])
        key, others = _key(S), [atoms[b] for b in rest]
        total = 0.0
        for i in range(j + 1):
            pd = _density_derivative(j - i, s2)
            if pd:
                total += math.comb(j, i) * pd * _directional(key, k, others, i)
        return (-1) ** j * c * total

    # 3. a power of z: Stein's lemma
    a = max(range(d), key=lambda b: atoms[b][1])
    _, q, cp, cm = atoms[a]
    if q:
        base = list(atoms)
        base[a] = ("M", q - 1, cp, cm)
        total = 0.0
        for c in range(d):
            h = _deriv(base[c]) if cov[a, c] != 0.0 else None
            if h is not None:
                total += cov[a, c] * _expect(cov_key, tuple(base[:c] + [h] + base[c + 1:]))
        return total

    # 4. step functions: c+ Theta(z) + c- Theta(-z) = avg + half * sign(z)
    R = _correlation(cov)
    avg = [(h[2] + h[3]) / 2 for h in atoms]
    half = [(h[2] - h[3]) / 2 for h in atoms]
    total = 0.0
    for n in range(0, d + 1, 2):
        for T in combinations(range(d), n):
            w = math.prod(half[b] if b in T else avg[b] for b in range(d))
            if w:
                total += w * _sign_moment(R[np.ix_(T, T)])
    return total


def _directional(cov_key, k, atoms, i):
    """E_w[(k . grad)^i prod_b atoms[b](w_b)], expanded by the multinomial theorem."""
    idx = [b for b in range(len(atoms)) if k[b] != 0.0]
    total = 0.0
    for alpha in _compositions(i, len(idx)):
        new, coef = list(atoms), float(math.factorial(i))
        for b, n in zip(idx, alpha):
            if n:
                new[b] = _deriv_n(new[b], n)
                if new[b] is None:
                    break
                coef *= k[b] ** n / math.factorial(n)
        else:
            total += coef * _expect(cov_key, tuple(new))
    return total


# --------------------------------------------------------------- public ----

def expect_piecewise(cov, groups, slopes) -> float:
    """E[prod_a g_a(z_a)], z ~ N(0, cov), g_a = D^nderiv prod_{m in orders} sigma^(m).

    ``cov`` is (d, d) symmetric PSD, 1 <= d <= 4, possibly singular;
    ``groups[a] = (orders, nderiv)``; ``slopes = (s_plus, s_minus)``.
    See the module docstring for the conventions on deltas and degenerate cov.
    """
    groups = list(groups)
    d = len(groups)
    if not 1 <= d <= _MAX_DIM:
        raise ValueError(f"need 1 <= d <= {_MAX_DIM} coordinates, got {d}")
    cov = np.array(cov)
    extended = cov.dtype == object  # mpmath entries: the result keeps the working precision
    cov = cov if extended else cov.astype(float)
    if cov.shape != (d, d):
        raise ValueError(f"cov has shape {cov.shape}, expected {(d, d)}")
    approx = cov.astype(float)
    if not np.all(np.isfinite(approx)):
        raise ValueError("cov must be finite")
    scale = max(float(np.max(np.abs(np.diag(approx)))), 1e-300)
    if not np.allclose(approx, approx.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError("cov must be symmetric")
    if np.linalg.eigvalsh((approx + approx.T) / 2)[0] < -1e-10 * scale:
        raise ValueError("cov must be positive semi-definite")
    s_plus, s_minus = (float(s) for s in slopes)
    if extended:  # products of slopes must not be rounded to float64 either
        s_plus, s_minus = (_ops(cov).mpf(v) for v in (s_plus, s_minus))
    per_coord = [_group_atoms(g, s_plus, s_minus) for g in groups]
    key = _key(_clean(cov, np.zeros(d)))
    total = sum(_expect(key, combo) for combo in product(*per_coord))
    return total if extended else float(total)
