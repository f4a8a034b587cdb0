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
* Round-off: a conditional variance below ``_TOL`` times its unconditional
  value is treated as zero, and a correlation with ``1 - rho^2 <= _TOL`` as
  exactly +-1.  Orthant probabilities have infinite slope at |rho| = 1, so
  this snapping is what makes coinciding or collinear inputs exact instead of
  off by sqrt(round-off).

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

import numpy as np
from scipy.integrate import quad

__all__ = ["expect_piecewise"]

_TOL = 1e-12
_MAX_DIM = 4


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
    pairs = list(combinations(range(4), 2))
    for i, j in pairs:
        if 1.0 - R[i, j] ** 2 <= _TOL:  # s_i s_j = sign(rho_ij) almost surely
            k, l = (b for b in range(4) if b not in (i, j))
            return math.copysign(1.0, R[i, j]) * 2 / math.pi * math.asin(R[k, l])
    total = 0.0
    for i, j in pairs:
        r = float(R[i, j])
        if r == 0.0:
            continue
        k, l = (b for b in range(4) if b not in (i, j))
        rki, rkj, rli, rlj, rkl = (float(R[k, i]), float(R[k, j]), float(R[l, i]),
                                   float(R[l, j]), float(R[k, l]))

        def partial_corr_asin(theta, r=r, rki=rki, rkj=rkj, rli=rli, rlj=rlj, rkl=rkl):
            # conditional covariance of (z_k, z_l) given z_i = z_j = 0 under R(t),
            # all entries multiplied by 1 - a^2 = cos^2(theta)
            a, c2 = math.sin(theta), math.cos(theta) ** 2
            t = a / r
            k1, k2, l1, l2 = t * rki, t * rkj, t * rli, t * rlj
            skl = t * rkl * c2 - (k1 * l1 + k2 * l2 - a * (k1 * l2 + k2 * l1))
            skk = c2 - (k1 * k1 + k2 * k2 - 2 * a * k1 * k2)
            sll = c2 - (l1 * l1 + l2 * l2 - 2 * a * l1 * l2)
            den = skk * sll
            if den <= 0.0:  # degenerate only at the singular endpoint
                return 0.0
            return math.asin(min(1.0, max(-1.0, skl / math.sqrt(den))))

        # full_output silences round-off warnings near a singular endpoint
        total += quad(partial_corr_asin, 0.0, math.asin(r), epsabs=1e-15, epsrel=1e-14,
                      limit=200, full_output=1)[0]
    return 4 / math.pi ** 2 * total


def _sign_moment(R):
    """E[prod_a sign(z_a)] for a correlation matrix R of size 0..4."""
    n = len(R)
    if n % 2:
        return 0.0
    if n == 0:
        return 1.0
    if n == 2:
        return 2 / math.pi * math.asin(R[0, 1])
    if n == 4:
        return _sign4(R)
    raise ValueError(f"orthant probabilities are implemented for d <= {_MAX_DIM}, got {n}")


def _correlation(cov):
    sd = np.sqrt(np.diag(cov))
    R = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)
    snap = 1.0 - R ** 2 <= _TOL
    R[snap] = np.sign(R[snap])
    np.fill_diagonal(R, 1.0)
    return R


def _orthant_probability(corr):
    """P(z > 0) for z ~ N(0, corr): 2^-d sum over even subsets of sign moments."""
    R = _correlation(np.asarray(corr, dtype=float))
    d = len(R)
    return sum(_sign_moment(R[np.ix_(T, T)])
               for n in range(0, d + 1, 2) for T in combinations(range(d), n)) / 2 ** d


# ------------------------------------------------------------ recursion ----

def _clean(cov, ref):
    """Symmetrise; zero the rows of variances <= _TOL * ref (round-off of a zero)."""
    cov = (cov + cov.T) / 2
    zero = np.diag(cov) <= _TOL * ref
    cov[zero, :] = 0.0
    cov[:, zero] = 0.0
    return np.ascontiguousarray(cov)


def _density_derivative(m, s2):
    """p^(m)(0) for the N(0, s2) density."""
    if m % 2:
        return 0.0
    dfact = math.prod(range(m - 1, 0, -2))
    return (-1) ** (m // 2) * dfact / s2 ** (m // 2) / math.sqrt(2 * math.pi * s2)


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


@lru_cache(maxsize=1 << 16)
def _expect(cov_key, atoms):
    """E[prod_a atoms[a](z_a)], z ~ N(0, K), K given by its float64 bytes."""
    d = len(atoms)
    if d == 0:
        return 1.0
    cov = np.frombuffer(cov_key, dtype=float).reshape(d, d)
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
        return factor * _expect(_sub(cov, keep).tobytes(), tuple(atoms[a] for a in keep))

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
        key, others = S.tobytes(), [atoms[b] for b in rest]
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
                coef *= float(k[b]) ** n / math.factorial(n)
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
    cov = np.array(cov, dtype=float)
    if cov.shape != (d, d):
        raise ValueError(f"cov has shape {cov.shape}, expected {(d, d)}")
    if not np.all(np.isfinite(cov)):
        raise ValueError("cov must be finite")
    scale = max(float(np.max(np.abs(np.diag(cov)))), 1e-300)
    if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError("cov must be symmetric")
    if np.linalg.eigvalsh((cov + cov.T) / 2)[0] < -1e-10 * scale:
        raise ValueError("cov must be positive semi-definite")
    s_plus, s_minus = (float(s) for s in slopes)
    per_coord = [_group_atoms(g, s_plus, s_minus) for g in groups]
    key = _clean(cov, np.zeros(d)).tobytes()
    return float(sum(_expect(key, combo) for combo in product(*per_coord)))
