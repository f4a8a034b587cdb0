"""The ddNTK tensors R, S, T, U (PDLT section 11.2) and the dNTK tensors P, Q, checked three ways.

(a) The forward equations of Theta-hat, dH, dd_I H, dd_II H (docs/ddntk.md) against
    TensorFlow automatic differentiation (float64) on tiny networks with biases and
    general learning-rate factors.
(b) The compiled recursions for R, S, T, U against a brute-force component-wise
    transcription of docs/ddntk.md with SciPy cubature (the pattern of
    tests/test_recursions_bruteforce.py).
(c) Monte-Carlo ensembles (slow): n_{L-1} times the sampled means of dd_I H, dd_II H and
    dH z, fitted as a + b/n over widths, against R, S, T, U, P, Q from the solver.
    The sampler is an independent route to the same objects: parameter gradients by
    backpropagation, dH and dd_I H as second and third directional derivatives along
    those gradients (a forward Taylor jet), dd_II H from Hessian-vector products
    (backpropagation through the first-order jet).  It is checked against the forward
    equations at small width first.

Conventions (docs/theory.md §1-2): z^(1) = b + W x, z^(l+1) = b + W sigma(z^(l));
W^(l) ~ N(0, C_W^(l)/n_{l-1}), b ~ N(0, C_b^(l)); learning-rate factors lambda_b for
biases and lambda_W/n_{l-1} for W^(l).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bruteforce import brute_expect
from fntk_core import get_activation
from fntk_core.spec import NetworkSpec
from fntk_core.solver import solve


def es(spec, *ops):
    return np.einsum(spec, *ops, optimize=True)


# ----------------------------------------------------------------------------------
# Networks
class Net:
    """An ensemble of E fully connected networks; per-layer hyperparameters (l = 1..L)."""

    def __init__(self, widths, act, cw, cb, lw, lb, E, rng):
        self.widths = list(widths)  # n_0 .. n_L
        self.L = len(widths) - 1
        self.act = act
        per = lambda v: [float(u) for u in v] if np.ndim(v) else [float(v)] * self.L  # noqa: E731
        self.cw, self.cb, self.lw, self.lb = per(cw), per(cb), per(lw), per(lb)
        self.W, self.b = [], []
        for l in range(self.L):
            nin, nout = widths[l], widths[l + 1]
            self.W.append(rng.normal(size=(E, nout, nin)) * np.sqrt(self.cw[l] / nin))
            self.b.append(rng.normal(size=(E, nout)) * np.sqrt(self.cb[l]))

    def spec(self):
        return NetworkSpec(n0=self.widths[0], depth=self.L, activation=self.act, c_w=self.cw,
                           c_b=self.cb, lambda_w=self.lw, lambda_b=self.lb,
                           widths=self.widths[1:])

    def forward(self, x):
        """Preactivations zs[l] (E, N, n_{l+1}) of layer l+1 and inputs hs[l] (E, N, n_l) to it."""
        E = self.W[0].shape[0]
        hs = [np.broadcast_to(x, (E,) + x.shape)]
        zs = []
        for l in range(self.L):
            z = np.einsum("eij,eaj->eai", self.W[l], hs[l]) + self.b[l][:, None, :]
            zs.append(z)
            if l + 1 < self.L:
                hs.append(self.act.derivative(0)(z))
        return zs, hs


# ----------------------------------------------------------------------------------
# Forward equations with full tensors (docs/ddntk.md section 1).
# Storage: Th[e, a, b, i, j]; dH[e, a, b, c, i, j, k]; dd1, dd2[e, a, b, c, d, i, j, k, l]:
# the sample indices of the legs first, in the order of the definitions, then the neurons.
def forward_equations(net: Net, x):
    zs, _ = net.forward(x)
    E, N = zs[0].shape[:2]
    n1 = net.widths[1]
    th1 = net.lb[0] + net.lw[0] * (x @ x.T) / x.shape[1]
    Th = np.broadcast_to(np.einsum("ab,ij->abij", th1, np.eye(n1)), (E, N, N, n1, n1))
    dH = np.zeros((E,) + (N,) * 3 + (n1,) * 3)
    dd1 = np.zeros((E,) + (N,) * 4 + (n1,) * 4)
    dd2 = np.zeros_like(dd1)
    for l in range(1, net.L):
        n, m = net.widths[l], net.widths[l + 1]
        lam = net.lw[l] / n
        s0, s1, s2, s3 = (net.act.derivative(k)(zs[l - 1]) for k in range(4))
        G1, G2, G3 = (np.einsum("eij,eaj->eaij", net.W[l], s) for s in (s1, s2, s3))
        d = np.eye(m)

        Th_new = es("eab,ik->eabik", net.lb[l] + lam * es("eaj,ebj->eab", s0, s0), d) \
            + es("eaij,ebkm,eabjm->eabik", G1, G1, Th)

        X1 = lam * es("eaj,ebj,eczk,eacjk->eabcz", s1, s0, G1, Th)
        X2 = lam * es("eaj,ecj,ebyk,eabjk->eabcy", s1, s0, G1, Th)
        dH_new = es("eabcz,xy->eabcxyz", X1, d) + es("eabcy,xz->eabcxyz", X2, d) \
            + es("eaxj,ebyk,eczq,eabjk,eacjq->eabcxyz", G2, G1, G1, Th, Th) \
            + es("eaxj,ebyk,eczq,eabcjkq->eabcxyz", G1, G1, G1, dH)

        Y1 = lam * (es("ebj,eaj,ecyk,edzq,eacjk,eadjq->eabcdyz", s0, s2, G1, G1, Th, Th)
                    + es("ebj,eaj,ecyk,edzq,eacdjkq->eabcdyz", s0, s1, G1, G1, dH))
        Y2 = lam * (es("ecj,eaj,ebxk,edzq,eabjk,eadjq->eabcdxz", s0, s2, G1, G1, Th, Th)
                    + es("ecj,eaj,ebxk,edzq,eabdjkq->eabcdxz", s0, s1, G1, G1, dH))
        Y3 = lam * (es("edj,eaj,ebxk,ecyq,eabjk,eacjq->eabcdxy", s0, s2, G1, G1, Th, Th)
                    + es("edj,eaj,ebxk,ecyq,eabcjkq->eabcdxy", s0, s1, G1, G1, dH))
        legs = "eawj,ebxk,ecyq,edzp"
        dd1_new = es("eabcdyz,wx->eabcdwxyz", Y1, d) + es("eabcdxz,wy->eabcdwxyz", Y2, d) \
            + es("eabcdxy,wz->eabcdwxyz", Y3, d) \
            + es(legs + ",eabjk,eacjq,eadjp->eabcdwxyz", G3, G1, G1, G1, Th, Th, Th) \
            + es(legs + ",eabcjkq,eadjp->eabcdwxyz", G2, G1, G1, G1, dH, Th) \
            + es(legs + ",eabdjkp,eacjq->eabcdwxyz", G2, G1, G1, G1, dH, Th) \
            + es(legs + ",eacdjqp,eabjk->eabcdwxyz", G2, G1, G1, G1, dH, Th) \
            + es(legs + ",eabcdjkqp->eabcdwxyz", G1, G1, G1, G1, dd1)

        Za = lam * es("eaj,ebj,ecyk,edzq,eacjk,ebdjq->eabcdyz", s1, s1, G1, G1, Th, Th)
        Zb = lam * (es("eaj,ecj,edzq,ebxm,eabjm,ebdmq->eabcdxz", s1, s0, G1, G2, Th, Th)
                    + es("eaj,ecj,edzq,ebxm,ebadmjq->eabcdxz", s1, s0, G1, G1, dH))
        Zc = lam * (es("ebj,edj,ecyk,eawm,ebajm,eacmk->eabcdwy", s1, s0, G1, G2, Th, Th)
                    + es("ebj,edj,ecyk,eawm,eabcmjk->eabcdwy", s1, s0, G1, G1, dH))
        Zd = lam**2 * es("eaj,ecj,ebq,edq,eabjq->eabcd", s1, s0, s1, s0, Th)
        legs = "ecyk,edzq,eawj,ebxm"
        dd2_new = es("eabcdyz,wx->eabcdwxyz", Za, d) + es("eabcdxz,wy->eabcdwxyz", Zb, d) \
            + es("eabcdwy,xz->eabcdwxyz", Zc, d) + es("eabcd,wy,xz->eabcdwxyz", Zd, d, d) \
            + es(legs + ",eabjm,eacjk,ebdmq->eabcdwxyz", G1, G1, G2, G2, Th, Th, Th) \
            + es(legs + ",eacjk,ebadmjq->eabcdwxyz", G1, G1, G2, G1, Th, dH) \
            + es(legs + ",ebdmq,eabcjmk->eabcdwxyz", G1, G1, G1, G2, Th, dH) \
            + es(legs + ",eabcdjmkq->eabcdwxyz", G1, G1, G1, G1, dd2)
        Th, dH, dd1, dd2 = Th_new, dH_new, dd1_new, dd2_new
    return zs[-1], Th, dH, dd1, dd2


# ----------------------------------------------------------------------------------
# Automatic differentiation (TensorFlow, float64): Jacobian, Hessian and third
# derivative of the outputs with respect to the flattened parameters of one network.
def _tf_sigma(name):
    import tensorflow as tf

    if name == "tanh":
        return tf.tanh
    if name == "gelu":
        return lambda z: 0.5 * z * (1.0 + tf.math.erf(z / np.sqrt(2.0)))
    if name == "erf":
        return tf.math.erf
    raise KeyError(name)


def autodiff_reference(net: Net, x, e=0):
    import tensorflow as tf

    sigma = _tf_sigma(net.act.name)
    shapes, lam, flat = [], [], []
    for l in range(net.L):
        for p, lm in ((net.W[l][e], net.lw[l] / net.widths[l]), (net.b[l][e], net.lb[l])):
            shapes.append(p.shape)
            lam.append(np.full(p.size, lm))
            flat.append(p.ravel())
    lam = np.concatenate(lam)
    theta = tf.Variable(np.concatenate(flat))
    xt = tf.constant(x)

    def outputs(th):
        parts, i = [], 0
        for s in shapes:
            k = int(np.prod(s))
            parts.append(tf.reshape(th[i:i + k], s))
            i += k
        h = xt
        for l in range(net.L):
            z = tf.linalg.matmul(h, parts[2 * l], transpose_b=True) + parts[2 * l + 1]
            h = sigma(z)
        return tf.reshape(z, [-1])  # index a * n_L + i

    # Contract with the (constant) vectors V = lambda * J as early as possible:
    # K2[x, y, q] = sum_p H[x, p, q] V[y, p],  K3[x, y, z, r] = sum_q K2[x, y, q]... (third derivative).
    with tf.GradientTape() as t1:
        z = outputs(theta)
    J = t1.jacobian(z, theta).numpy()
    V = tf.constant(J * lam)
    with tf.GradientTape() as t3:
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                z = outputs(theta)
            Jt = t1.jacobian(z, theta)
            JV = tf.linalg.matmul(Jt, V, transpose_b=True)  # [x, y] = sum_p J[x, p] V[y, p]
        K2 = t2.jacobian(JV, theta)  # [x, y, q] = sum_p H[x, p, q] V[y, p]
        K2V = tf.einsum("xyq,zq->xyz", K2, V)
    K3 = t3.jacobian(K2V, theta).numpy()  # [x, y, z, r] = sum_pq T3[x, p, q, r] V[y, p] V[z, q]
    K2, V = K2.numpy(), V.numpy()
    Th = J @ V.T
    dH = es("xyq,zq->xyz", K2, V)
    dd1 = es("xyzr,wr->xyzw", K3, V)
    dd2 = es("xzp,ywp,p->xyzw", K2, K2, lam)
    return z.numpy(), Th, dH, dd1, dd2


def to_flat(t, N, nL):
    """[a, b, ..., i, j, ...] (samples then neurons) -> [(a, i), (b, j), ...] flattened as a * n_L + i."""
    k = t.ndim // 2
    perm = [p for q in range(k) for p in (q, k + q)]
    return t.transpose(perm).reshape((N * nL,) * k)


TINY = {
    "tanh": dict(widths=[3, 3, 4, 3, 2], cw=[1.3, 1.1, 0.9, 1.2], cb=[0.2, 0.1, 0.3, 0.15],
                 lw=[0.7, 1.3, 0.9, 1.1], lb=[0.4, 0.2, 0.5, 0.3]),
    "gelu": dict(widths=[2, 3, 3, 2], cw=1.7, cb=0.2, lw=1.0, lb=0.0),
}


@pytest.mark.parametrize("act_name", list(TINY))
def test_forward_equations_match_autodiff(act_name):
    cfg = TINY[act_name]
    rng = np.random.default_rng(3)
    net = Net(cfg["widths"], get_activation(act_name), cfg["cw"], cfg["cb"], cfg["lw"], cfg["lb"], 1, rng)
    x = rng.normal(size=(2, cfg["widths"][0]))
    N, nL = x.shape[0], cfg["widths"][-1]
    z, Th, dH, dd1, dd2 = forward_equations(net, x)
    for e in range(1):  # the equations are algebra: one random network suffices
        ref = autodiff_reference(net, x, e)
        got = (z[e].reshape(-1), to_flat(Th[e], N, nL), to_flat(dH[e], N, nL),
               to_flat(dd1[e], N, nL), to_flat(dd2[e], N, nL))
        for name, g, r in zip(("z", "Theta", "dH", "dd_I", "dd_II"), got, ref):
            scale = np.max(np.abs(r))
            assert scale > 1e-3, name  # nothing vanishes trivially
            np.testing.assert_allclose(g, r, rtol=0, atol=1e-11 * scale, err_msg=name)


# ----------------------------------------------------------------------------------
# (b) Brute force: docs/ddntk.md section 3 transcribed term by term (expanded, not in
# the factored X/Y/Z form of library.py), Gaussian expectations by SciPy cubature.
BF_PARAMS = {"C_W": 1.3, "C_b": 0.2, "lambda_W": 0.7, "lambda_b": 0.1, "r": 1.6}
BF_K = np.array([[0.9, 0.35], [0.35, 0.6]])
BF_TH = np.array([[1.1, 0.4], [0.4, 0.8]])
_bf_rng = np.random.default_rng(17)
BF_LOWER = {n: _bf_rng.normal(size=(2, 2, 2, 2)) for n in ("B", "F", "P", "Q", "R", "S", "T", "U")}


def _bf_expect(act_name, fields, derivs):
    """<d_derivs prod sigma^(m)(z_s)> for fields ((m, s), ...) under N(0, BF_K)."""
    return brute_expect(act_name, BF_K, fields, derivs)


def bf_component(act_name, name, idx):
    """One component of R, S, T, U at layer l+1 in storage order."""
    cw, lw, r = BF_PARAMS["C_W"], BF_PARAMS["lambda_W"], BF_PARAMS["r"]
    th = BF_TH
    Bt, F, P, Q = (BF_LOWER[k] for k in "BFPQ")
    ex = lambda *fields, d=(): _bf_expect(act_name, tuple(fields), tuple(sorted(d)))  # noqa: E731
    s, s1, s2, s3 = ((lambda a, k=k: (k, a)) for k in range(4))
    two = range(2)
    if name == "R":  # R[d0, d1, d2, d3]
        d0, d1, d2, d3 = idx
        new = (lw * cw * ex(s2(d0), s(d1), s1(d2), s1(d3)) * th[d0, d2] * th[d0, d3]
               + cw**2 * ex(s3(d0), s1(d1), s1(d2), s1(d3)) * th[d0, d1] * th[d0, d2] * th[d0, d3])
        prop = (lw * cw * ex(s2(d0), s(d1)) * ex(s1(d2), s1(d3)) * Bt[d0, d0, d2, d3]
                + lw * cw * ex(s1(d2), s1(d3)) * sum(P[d0, d2, d3, b] * ex(s1(d0), s(d1), d=(b,)) for b in two)
                + cw**2 * th[d0, d1] * ex(s3(d0), s1(d1)) * ex(s1(d2), s1(d3)) * Bt[d0, d0, d2, d3]
                + cw**2 * th[d0, d1] * ex(s1(d2), s1(d3)) * sum(P[d0, d2, d3, b] * ex(s2(d0), s1(d1), d=(b,)) for b in two)
                + cw**2 * ex(s1(d0), s1(d1)) * ex(s1(d2), s1(d3)) * BF_LOWER["R"][d0, d1, d2, d3])
        return new + r * prop
    if name == "S":  # S[1, 2, 3, 4]
        a1, a2, a3, a4 = idx
        new = (lw * cw * ex(s1(a1), s1(a2), s1(a3), s1(a4)) * th[a1, a3] * th[a2, a4]
               + cw**2 * ex(s2(a1), s2(a2), s1(a3), s1(a4)) * th[a1, a2] * th[a1, a3] * th[a2, a4])
        prop = (lw * cw * ex(s1(a1), s1(a2)) * ex(s1(a3), s1(a4)) * Bt[a1, a2, a3, a4]
                + cw**2 * th[a1, a2] * ex(s2(a1), s2(a2)) * ex(s1(a3), s1(a4)) * Bt[a1, a2, a3, a4]
                + cw**2 * ex(s1(a1), s1(a2)) * ex(s1(a3), s1(a4)) * BF_LOWER["S"][a1, a2, a3, a4])
        return new + r * prop
    if name == "T":  # T[1, 3, 4, 2]
        a1, a3, a4, a2 = idx
        new = (lw * cw * ex(s2(a2), s1(a1), s(a3), s1(a4)) * th[a1, a2] * th[a2, a4]
               + lw * cw * ex(s2(a1), s1(a2), s(a4), s1(a3)) * th[a1, a2] * th[a1, a3]
               + lw**2 * ex(s1(a1), s(a3), s1(a2), s(a4)) * th[a1, a2]
               + cw**2 * ex(s2(a1), s2(a2), s1(a3), s1(a4)) * th[a1, a2] * th[a1, a3] * th[a2, a4])
        FF = lambda f13, f24: sum(F[b1, a1, b2, a2] * ex(*f13, d=(b1,)) * ex(*f24, d=(b2,))  # noqa: E731
                                  for b1 in two for b2 in two)
        prop = (lw * cw * th[a2, a4] * FF((s1(a1), s(a3)), (s2(a2), s1(a4)))
                + lw * cw * th[a1, a3] * FF((s2(a1), s1(a3)), (s1(a2), s(a4)))
                + lw**2 * FF((s1(a1), s(a3)), (s1(a2), s(a4)))
                + cw**2 * th[a1, a3] * th[a2, a4] * FF((s2(a1), s1(a3)), (s2(a2), s1(a4)))
                + lw * cw * ex(s1(a2), s1(a4)) * sum(Q[a2, a4, a1, b] * ex(s1(a1), s(a3), d=(b,)) for b in two)
                + lw * cw * ex(s1(a1), s1(a3)) * sum(Q[a1, a3, a2, b] * ex(s1(a2), s(a4), d=(b,)) for b in two)
                + cw**2 * th[a1, a3] * ex(s1(a2), s1(a4)) * sum(Q[a2, a4, a1, b] * ex(s2(a1), s1(a3), d=(b,)) for b in two)
                + cw**2 * th[a2, a4] * ex(s1(a1), s1(a3)) * sum(Q[a1, a3, a2, b] * ex(s2(a2), s1(a4), d=(b,)) for b in two)
                + cw**2 * ex(s1(a1), s1(a3)) * ex(s1(a2), s1(a4)) * BF_LOWER["T"][a1, a3, a4, a2])
        return new + r * prop
    if name == "U":  # U[1, 4, 2, 3]
        a1, a4, a2, a3 = idx
        new = cw**2 * ex(s2(a1), s2(a2), s1(a3), s1(a4)) * th[a1, a2] * th[a1, a3] * th[a2, a4]
        return new + r * cw**2 * ex(s1(a1), s1(a4)) * ex(s1(a2), s1(a3)) * BF_LOWER["U"][a1, a4, a2, a3]
    raise KeyError(name)


BF_COMPONENTS = [(0, 1, 1, 0), (1, 0, 0, 1), (0, 0, 1, 1), (1, 1, 0, 1), (0, 1, 0, 0)]


@pytest.mark.parametrize("act_name", ["tanh", "gelu"])
@pytest.mark.parametrize("name", ["R", "S", "T", "U"])
def test_ddntk_recursion_matches_brute_force(act_name, name):
    from fntk_core.gaussian import expectations
    from fntk_core.recursions.compiled import cached_plan
    from fntk_core.recursions.library import get_recursion

    act = get_activation(act_name)
    plan = cached_plan((get_recursion(name),), 2)
    got = plan.compiled[name].evaluate(expectations(act, BF_K, plan.table.keys), BF_TH, BF_LOWER, BF_PARAMS)
    for idx in BF_COMPONENTS:
        want = bf_component(act_name, name, idx)
        assert got[idx] == pytest.approx(want, rel=1e-8, abs=1e-10), (name, idx)


# ----------------------------------------------------------------------------------
# (c) The sampler: directional derivatives along the parameter gradients.
def _wmul(W, X):
    """sum_q W[e, p, q] X[e, ..., q] by batched BLAS (einsum would not use it here)."""
    E, n = X.shape[0], X.shape[-1]
    out = np.matmul(X.reshape(E, -1, n), W.transpose(0, 2, 1))
    return out.reshape(X.shape[:-1] + (W.shape[1],))


def _wtmul(W, X):
    """sum_p W[e, p, q] X[e, ..., p]."""
    E, n = X.shape[0], X.shape[-1]
    return np.matmul(X.reshape(E, -1, n), W).reshape(X.shape[:-1] + (W.shape[2],))


def jet_sample(net: Net, x):
    """Per network: z, Theta-hat, dH, dd_I H, dd_II H at the output, in the storage of
    :func:`forward_equations`, computed without the forward equations.

    Directions v_a = Lambda grad z_a (a = (alpha, i) runs over the A = N n_L outputs).
    Theta-hat_{oa} = Dz_o[v_a], dH_{oab} = D^2 z_o[v_a, v_b], dd_I H_{oabc} = D^3 z_o[v_a, v_b, v_c]
    (a forward Taylor jet); dd_II H_{o O a b} = (H_o v_a)^T Lambda (H_O v_b) with the Hessian-vector
    products H_o v_a = grad (Dz_o[v_a]) from backpropagation through the first-order jet.
    The W-blocks of every gradient are sums of outer products and stay factored.
    """
    zs, hs = net.forward(x)
    E, N = zs[0].shape[:2]
    L, nL = net.L, net.widths[-1]
    A = N * nL
    alpha = np.repeat(np.arange(N), nL)  # input of output a
    iout = np.tile(np.arange(nL), N)
    d1 = [net.act.derivative(1)(z) for z in zs[:-1]]
    d2 = [net.act.derivative(2)(z) for z in zs[:-1]]
    d3 = [net.act.derivative(3)(z) for z in zs[:-1]]
    # backprop: g[l][e, a, p] = dz_a / dz^(l+1)_{p; alpha(a)}
    g = [None] * L
    g[L - 1] = np.broadcast_to(np.eye(nL)[iout], (E, A, nL))
    for l in range(L - 1, 0, -1):
        g[l - 1] = d1[l - 1][:, alpha, :] * _wtmul(net.W[l], g[l])
    c = [net.lw[l] / net.widths[l] for l in range(L)]
    ha = [h[:, alpha, :] for h in hs]  # h^(l)_{alpha(a)}: (E, A, n_l)

    # third order only for the multisets {a <= b <= d} of directions (D^3 z is symmetric)
    triples = list(itertools.combinations_with_replacement(range(A), 3))
    ia, ib, idd = (np.array(t) for t in zip(*triples))
    which = np.empty((A, A, A), dtype=int)
    for k, t in enumerate(triples):
        for perm in itertools.permutations(t):
            which[perm] = k
    # forward jet (orders 1..3); H* are the tangents of the layer input hs[l]
    H1 = H2 = H3 = None
    Z1s = []
    for l in range(L):
        W, ga, h0 = net.W[l], g[l], hs[l]
        Z1 = c[l] * es("eap,eaq,ebq->eabp", ga, ha[l], h0) + net.lb[l] * ga[:, :, None, :]
        if H1 is not None:
            Z1 = Z1 + _wmul(W, H1)
            R1 = c[l] * es("eaq,ebBq->eabBq", ha[l], H1).sum(-1)  # [e, a, b, beta] = h_alpha(a) . H1[b, beta]
            Z2 = _wmul(W, H2) + es("eap,eabB->eabBp", ga, R1) \
                + es("ebp,ebaB->eabBp", ga, R1)
            R2 = c[l] * es("eaq,ebdBq->eabdB", ha[l], H2)
            Z3 = _wmul(W, H3) + ga[:, ia, None, :] * R2[:, ia, ib, idd, :, None] \
                + ga[:, ib, None, :] * R2[:, ib, ia, idd, :, None] \
                + ga[:, idd, None, :] * R2[:, idd, ia, ib, :, None]
        else:
            Z2 = np.zeros((E, A, A, N, W.shape[1]))
            Z3 = np.zeros((E, len(ia), N, W.shape[1]))
        Z1s.append(Z1)
        if l + 1 < L:
            s1, s2, s3 = d1[l][:, None], d2[l][:, None], d3[l][:, None]
            H1 = s1 * Z1
            H2 = s2[:, None] * Z1[:, :, None] * Z1[:, None, :] + s1[:, None] * Z2
            Za, Zb, Zd = Z1[:, ia], Z1[:, ib], Z1[:, idd]
            H3 = (s3 * Za * Zb * Zd + s2 * (Z2[:, ia, ib] * Zd + Z2[:, ia, idd] * Zb + Z2[:, ib, idd] * Za)
                  + s1 * Z3)
    flat = lambda t: t.reshape(t.shape[:-2] + (A,))  # noqa: E731  (beta, p) -> o
    Th = flat(Z1s[-1]).transpose(0, 2, 1)  # [e, o, a]
    dH = np.moveaxis(flat(Z2), -1, 1)  # [e, o, a, b]
    dd1 = np.moveaxis(flat(Z3)[:, which], -1, 1)  # [e, o, a, b, c]

    # Hessian-vector products by backprop through the first-order jet, vectorised over
    # (output o, direction d).  a0, a1: adjoints of z^(l+1) and of its tangent.
    a1 = np.broadcast_to(np.eye(A).reshape(A, 1, N, nL), (E, A, A, N, nL)).copy()
    a0 = np.zeros_like(a1)
    dd2 = np.zeros((E, A, A, A, A))
    for l in range(L - 1, -1, -1):
        h0 = hs[l]
        if l > 0:
            H1l = d1[l - 1][:, None] * Z1s[l - 1]  # tangent of hs[l] along d: (E, A, N, n_l)
            Vv = np.concatenate([np.broadcast_to(h0[:, None], H1l.shape), H1l], axis=2)
        else:
            Vv = np.concatenate([np.broadcast_to(h0[:, None], (E, A) + h0.shape[1:]),
                                 np.zeros((E, A) + h0.shape[1:])], axis=2)
        U = np.concatenate([a0, a1], axis=3)  # (E, o, d, 2N, n_{l+1})
        MU = es("eodrp,eODsp->eodODrs", U, U)
        MV = es("edrq,eDsq->edDrs", Vv, Vv)
        dd2 += c[l] * es("eodODrs,edDrs->eoOdD", MU, MV)
        gb = a0.sum(axis=3)
        dd2 += net.lb[l] * es("eodp,eODp->eoOdD", gb, gb)
        if l > 0:
            W = net.W[l]
            hb1 = _wtmul(W, a1)
            hb0 = _wtmul(W, a0) \
                + c[l] * es("edq,edp,eodBp->eodBq", ha[l], g[l], a1)
            s1, s2 = d1[l - 1][:, None, None], d2[l - 1][:, None, None]
            a1 = s1 * hb1
            a0 = s1 * hb0 + s2 * Z1s[l - 1][:, None] * hb1
    unflat = lambda t: t.reshape(t.shape[:1] + (N, nL) * (t.ndim - 1)).transpose(  # noqa: E731
        [0] + [1 + 2 * q for q in range(t.ndim - 1)] + [2 + 2 * q for q in range(t.ndim - 1)])
    return zs[-1], unflat(Th), unflat(dH), unflat(dd1), unflat(dd2)


def test_sampler_matches_forward_equations():
    rng = np.random.default_rng(5)
    net = Net([3, 5, 4, 3], get_activation("tanh"), [1.3, 1.1, 0.9], [0.2, 0.1, 0.3],
              [0.7, 1.3, 0.9], [0.4, 0.2, 0.5], 3, rng)
    x = rng.normal(size=(2, 3))
    ref = forward_equations(net, x)
    got = jet_sample(net, x)
    for name, g_, r_ in zip(("z", "Theta", "dH", "dd_I", "dd_II"), got, ref):
        np.testing.assert_allclose(g_, r_, rtol=0, atol=1e-12 * np.max(np.abs(r_)), err_msg=name)


def network_estimates(net: Net, x):
    """Per network, n_{L-1} times the components of E[...] that define R, S, T, U, P, Q, in
    storage order; averaged over the ordered pairs of distinct output neurons p != q.

    R_{0123}: dd_I H_{ppqq};  S_{1234}: dd_II H_{ppqq};  T_{1342}: dd_II H_{pqpq};
    U_{1423}: dd_II H_{pqqp};  P_{0123}: dH_{pqq} z_p;  Q_{0123}: dH_{ppq} z_q.
    """
    z, _, dH, dd1, dd2 = jet_sample(net, x)
    n = net.widths[-2]
    nL = net.widths[-1]
    pairs = [(p, q) for p in range(nL) for q in range(nL) if p != q]
    avg = lambda f: n * sum(f(p, q) for p, q in pairs) / len(pairs)  # noqa: E731
    zz = lambda q: z[:, None, None, None, :, q]  # noqa: E731  z_{q; d3}
    out = {
        "R": avg(lambda p, q: dd1[..., p, p, q, q]),
        "S": avg(lambda p, q: dd2[..., p, p, q, q]),
        "T": avg(lambda p, q: dd2[..., p, q, p, q]).transpose(0, 1, 3, 4, 2),
        "U": avg(lambda p, q: dd2[..., p, q, q, p]).transpose(0, 1, 4, 2, 3),
        "P": avg(lambda p, q: dH[..., p, q, q][..., None] * zz(p)),
        "Q": avg(lambda p, q: dH[..., p, p, q][..., None] * zz(q)),
    }
    return out


def sample_means(widths, act, hp, x, networks, seed, chunk=2000):
    """Mean and standard error over ``networks`` networks of :func:`network_estimates`."""
    rng = np.random.default_rng(seed)
    s1, s2, count = {}, {}, 0
    while count < networks:
        E = min(chunk, networks - count)
        est = network_estimates(Net(widths, act, *hp, E, rng), x)
        for k, v in est.items():
            s1[k] = s1.get(k, 0.0) + v.sum(0)
            s2[k] = s2.get(k, 0.0) + (v**2).sum(0)
        count += E
    mean = {k: s1[k] / count for k in s1}
    se = {k: np.sqrt(np.maximum(s2[k] / count - mean[k] ** 2, 0.0) / (count - 1)) for k in s1}
    return mean, se


def fit_infinite_width(ns, means, ses):
    """Weighted least squares y = a + b/n per component; returns a and its standard error."""
    X = np.stack([np.ones(len(ns)), 1.0 / np.asarray(ns, float)], axis=1)
    ys, ws = np.stack(means), 1.0 / np.stack(ses) ** 2
    a = np.empty(ys.shape[1:])
    sa = np.empty(ys.shape[1:])
    for idx in np.ndindex(*ys.shape[1:]):
        w = ws[(slice(None),) + idx]
        cov = np.linalg.inv(X.T @ (w[:, None] * X))
        a[idx] = (cov @ X.T @ (w * ys[(slice(None),) + idx]))[0]
        sa[idx] = np.sqrt(cov[0, 0])
    return a, sa


MC_X = np.array([[0.8, -0.5, 0.3], [-0.2, 1.1, 0.6]])
MC_WIDTHS = (16, 32, 64)
MC_CASES = {
    # per-layer hyperparameters (layer 1, 2, 3), biases, general learning rates, equal widths (r = 1)
    "tanh": dict(hp=([1.3, 1.1, 0.9], [0.2, 0.1, 0.15], [0.7, 1.3, 0.9], [0.4, 0.2, 0.5]),
                 hidden=lambda n: (n, n), networks=8000),
    # the paper's convention (C_b = lambda_b = 0, lambda_W = 1), n_1 = 2 n_2 (r = 1/2 at layer 2 -> 3)
    "gelu": dict(hp=(1.6, 0.0, 1.0, 0.0), hidden=lambda n: (2 * n, n), networks=8000),
}


@pytest.mark.slow
@pytest.mark.parametrize("act_name", list(MC_CASES))
def test_ddntk_and_dntk_tensors_match_sampled_ensembles(act_name):
    """n_{L-1} E[...] sampled at widths 16, 32, 64, extrapolated (a + b/n) against the solver."""
    case = MC_CASES[act_name]
    act = get_activation(act_name)
    means, ses = [], []
    for n in MC_WIDTHS:
        m, s = sample_means([3, *case["hidden"](n), 2], act, case["hp"], MC_X, case["networks"], seed=7 * n + 1)
        means.append(m)
        ses.append(s)
    spec = Net([3, *case["hidden"](16), 2], act, *case["hp"], 1, np.random.default_rng(0)).spec()
    pred = solve(spec, MC_X, tensors=list("RSTUPQ"))
    report = []
    for name in "RSTUPQ":
        p = pred.tensors[name][-1]
        a, sa = fit_infinite_width(MC_WIDTHS, [m[name] for m in means], [s[name] for s in ses])
        dev = (a - p) / sa
        report.append(f"{name}: max |dev| {np.abs(dev).max():.2f} SE, rms {np.sqrt(np.mean(dev**2)):.2f}")
        assert np.max(sa) < 0.1 * np.max(np.abs(p)), (name, "too few samples to test anything")
        # 16 strongly correlated components x 6 tensors per run: 3.5 SE per component keeps the
        # chance of a false alarm small; wrong index placements in P, Q miss by 6-90 SE.
        assert np.all(np.abs(dev) < 3.5), (name, dev.round(2).tolist(), a.round(4).tolist(), p.round(4).tolist())
        assert np.sqrt(np.mean(dev**2)) < 2.5, (name, dev.round(2).tolist())
    print("\n".join(report))
