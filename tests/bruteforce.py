"""Independent Gaussian expectations for the brute-force recursion tests.

<d_derivs prod sigma^(m)(z_s)> over two inputs z ~ N(0, K): derivatives expanded by an
explicit product rule, the integral by SciPy's adaptive cubature in Cholesky
coordinates.  Nothing here shares code with fntk_core's Gaussian engine.
"""
from functools import lru_cache

import numpy as np
from scipy.integrate import cubature

from fntk_core import get_activation


def brute_expect(act_name, K, fields, derivs=()):
    return _brute(act_name, tuple(map(tuple, np.asarray(K, float))), tuple(fields), tuple(sorted(derivs)))


@lru_cache(maxsize=None)
def _brute(act_name, K, fields, derivs):
    act = get_activation(act_name)
    terms = [list(fields)]
    for b in derivs:  # product rule, explicitly
        terms = [t[:i] + [(m + 1, s)] + t[i + 1:] for t in terms for i, (m, s) in enumerate(t) if s == b]
    if not terms:
        return 0.0
    L = np.linalg.cholesky(np.array(K))
    fns = {m: act.derivative(m) for t in terms for m, _ in t}

    def integrand(u):  # u: (points, 2), vectorised for cubature
        z = u @ L.T
        val = sum(np.prod([fns[m](z[:, s]) for m, s in t], axis=0) for t in terms)
        return val * np.exp(-0.5 * np.sum(u * u, axis=1)) / (2 * np.pi)

    res = cubature(integrand, [-9.0, -9.0], [9.0, 9.0], rtol=1e-12, atol=1e-13, max_subdivisions=100000)
    assert res.status == "converged"
    return float(res.estimate)
