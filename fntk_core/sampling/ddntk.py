"""ddNTK forward equations for ensembles (docs/ddntk.md section 1) and the R, S, T, U features.

Imported by the engine only when R, S, T or U is requested (TensorFlow is imported here,
so, like engine.py, this module is loaded only when a sampling job starts).

Storage: legs as (sample, neuron) pairs, A = N n per leg,
    dd1  (E, A, A, A, A)  dd_I H_{i0 i1 i2 i3; d0 d1 d2 d3}  at [e, (d0,i0), (d1,i1), (d2,i2), (d3,i3)]
    dd2  (E, A, A, A, A)  dd_II H_{i1 i2 i3 i4; d1 d2 d3 d4} at [e, (d1,i1), (d2,i2), (d3,i3), (d4,i4)]
(:func:`to_samples_first` gives [e, d.., i..]).  This layout lets every contraction with a
weight matrix be a batched GEMM without transposes of the n^4 tensors, and every
elementwise product a broadcast of at most five dimension groups (TensorFlow's limit).
Batched over the networks; no loop over networks and no parameter Jacobians.

Building blocks (layer l -> l+1, W = W^(l+1) (E, n, m), s^(k)_{j;a} = sigma^(k)(z^(l)_{j;a})):
    G[e,a,x,k]        = W_{xk} s'_{k;a}                   (lifts one leg of sample a to layer l+1)
    Yt[e,a,j,(b,x)]   = sum_k Theta_{jk;ab} G[b,x,k]       (Theta, second leg lifted)
    A_k[e,a,j,(b,x)]  = s^(k)_{j;a} Yt[e,a,j,(b,x)]
    Dl2[e,a,b,c,j,k,z]= sum_q dH_{jkq;abc} G[c,z,q]         (dH, third leg lifted);  Ds = s'_{j;a} Dl2
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .tf_activations import tf_derivative


def _lift_leg(T, G, leg, m):
    """T (E, A0, A1, A2, A3) with leg ``leg`` of size N m: sum_k T[.., (a,k), ..] G[e,a,x,k] -> N n."""
    dims = T.shape.as_list()[1:]
    N, n = G.shape[1], G.shape[2]
    P = int(np.prod(dims[:leg], dtype=np.int64))
    Q = int(np.prod(dims[leg + 1:], dtype=np.int64))
    out = tf.matmul(G[:, None], tf.reshape(T, [-1, P, N, m, Q]))  # (E, P, N, n, Q)
    return tf.reshape(out, [-1] + dims[:leg] + [N * n] + dims[leg + 1:])


def _w_leg(T, W, leg):
    """T (E, A0, ..) with leg ``leg`` of size N m: sum_j W[e,x,j] T[.., (a,j), ..] -> N n."""
    dims = T.shape.as_list()[1:]
    n, m = W.shape[1], W.shape[2]
    N = dims[leg] // m
    P = int(np.prod(dims[:leg], dtype=np.int64)) * N
    Q = int(np.prod(dims[leg + 1:], dtype=np.int64))
    out = tf.matmul(W[:, None], tf.reshape(T, [-1, P, m, Q]))  # (E, P, n, Q)
    return tf.reshape(out, [-1] + dims[:leg] + [N * n] + dims[leg + 1:])


def to_samples_first(t, N):
    """(E, A, A, A, A) leg layout -> (E, N, N, N, N, n, n, n, n) [e, d0..d3, i0..i3]."""
    A = t.shape[-1]
    n = A // N
    return tf.transpose(tf.reshape(t, [-1, N, n, N, n, N, n, N, n]), [0, 1, 3, 5, 7, 2, 4, 6, 8])


def forward_dd(ens, layers, Ws):
    """Add "dd1" (dd_I H) and "dd2" (dd_II H), leg layout, to every layer dict of ``Ensemble.forward``.

    Needs "z", "theta", "dH" per layer (need_ntk, need_dntk).  Layer 1 is linear in its
    parameters: dd1 = dd2 = 0 there."""
    dt = ens.dtype
    N = ens.N
    acts = [tf_derivative(ens.spec.activation, k) for k in range(4)]
    E = tf.shape(Ws[0])[0]
    a1 = N * ens.dims[1]
    zeros = tf.zeros(tf.stack([E, a1, a1, a1, a1]), dt)
    layers[0]["dd1"], layers[0]["dd2"] = zeros, zeros
    dd1 = dd2 = None  # layer 1: zero
    for l in range(2, ens.L + 1):
        prev = layers[l - 2]
        m, n = ens.dims[l - 1], ens.dims[l]
        A = N * n
        lam = ens.spec.layer_params(l)["lambda_W"] / m
        W = Ws[l - 1]  # (E, n, m)
        s0, s1, s2, s3 = (act(prev["z"]) for act in acts)  # (E, N, m)
        th = prev["theta"]  # (E, N, N, m, m) [e, a, b, j, k]
        dH = prev["dH"] if l > 2 else None  # zero at layer 1
        eye = tf.eye(n, dtype=dt)

        G = W[:, None, :, :] * s1[:, :, None, :]  # [e, a, x, k]
        Yt5 = tf.matmul(th, G[:, None], transpose_b=True)  # [e, a, b, j, x]
        Yt = tf.reshape(tf.transpose(Yt5, [0, 1, 3, 2, 4]), [-1, N, m, A])  # [e, a, j, (b, x)]
        A1_, A2_, A3_ = (s[:, :, :, None] * Yt for s in (s1, s2, s3))
        S10 = s1[:, :, None, :] * s0[:, None, :, :]  # [e, a, c, j] = s'_{j;a} s_{j;c}
        if dH is not None:
            Dl2 = tf.einsum("eabcjkq,eczq->eabcjkz", dH, G)
            Ds = s1[:, :, None, None, :, None, None] * Dl2

        # ---------------- dd_I H ----------------
        # delta terms from M1[a,j,(c,y),(d,z)] = s''_{j;a} Yt Yt + s'_{j;a} dH (legs 1, 2 lifted)
        M1 = A2_[:, :, :, :, None] * Yt[:, :, :, None, :]  # (E, N, m, A, A)
        if dH is not None:
            DsL = tf.einsum("eabcjkz,ebyk->eajbycz", Ds, G)
            M1 = M1 + tf.reshape(DsL, [-1, N, m, A, A])
        Q1 = lam * tf.matmul(s0[:, None], tf.reshape(M1, [-1, N, m, A * A]))  # [e, a, u, (C, D)]
        Q1 = tf.reshape(Q1, [-1, N, N, A, A])  # u: the sample of sigma_j
        new1 = tf.reshape(Q1[:, :, None, :, None] * eye[:, None, :, None, None], [-1, A, A, A, A])  # d_{i0 i1}
        Q1t = tf.transpose(Q1, [0, 1, 3, 2, 4])  # [a, B, c, D]
        new1 += tf.reshape(Q1t[:, :, None, :, :, None, :] * eye[:, None, None, :, None], [-1, A, A, A, A])  # d_{i0 i2}
        Q1t = tf.transpose(Q1, [0, 1, 3, 4, 2])  # [a, B, C, d]
        new1 += tf.reshape(Q1t[:, :, None, :, :, :, None] * tf.reshape(eye, [n, 1, 1, 1, n]),
                           [-1, A, A, A, A])  # d_{i0 i3}
        # four W's: M3[a, j, B, C, D], then W on leg 0
        M3 = A3_[:, :, :, :, None, None] * Yt[:, :, :, None, :, None] * Yt[:, :, :, None, None, :]
        if dH is not None:
            D1 = s2[:, :, :, None, None] * tf.reshape(
                tf.einsum("eabcjkz,ebyk->eajbycz", Dl2, G), [-1, N, m, A, A])  # s'' dH, legs 1, 2 lifted
            M3 += (D1[:, :, :, :, :, None] * Yt[:, :, :, None, None, :]
                   + D1[:, :, :, :, None, :] * Yt[:, :, :, None, :, None]
                   + D1[:, :, :, None, :, :] * Yt[:, :, :, :, None, None])
        if dd1 is not None:
            DD = _lift_leg(_lift_leg(_lift_leg(dd1, G, 3, m), G, 2, m), G, 1, m)  # (E, N m, A, A, A)
            M3 += s1[:, :, :, None, None, None] * tf.reshape(DD, [-1, N, m, A, A, A])
        new1 += _w_leg(tf.reshape(M3, [-1, N * m, A, A, A]), W, 0)

        # ---------------- dd_II H ----------------
        # d_{i1 i2}: Za[a, b, C, D] = lam sum_j A1[a, j, C] A1[b, j, D]
        X = tf.reshape(tf.transpose(A1_, [0, 2, 1, 3]), [-1, m, N * A])  # [e, j, (a, C)]
        Za = lam * tf.transpose(tf.reshape(tf.matmul(X, X, transpose_a=True), [-1, N, A, N, A]), [0, 1, 3, 2, 4])
        new2 = tf.reshape(Za[:, :, None, :, None] * eye[:, None, :, None, None], [-1, A, A, A, A])
        # d_{i1 i3}: Zb[a, (b,x), c, (d,z)] = lam sum_j s'_{j;a} s_{j;c} sum_m W_{xm}
        #            [s''_{m;b} Theta_{jm;ab} Yt[b,m,(d,z)] + s'_{m;b} dH_{mjk;bad} (k lifted)]
        Yt6 = tf.reshape(Yt, [-1, N, m, N, n])  # [e, b, m, d, z]
        N2 = tf.einsum("eabjm,ebmdz->eabdjmz", s2[:, None, :, None, :] * th, Yt6)
        if dH is not None:
            N2 += tf.einsum("ebadmjz->eabdjmz", Ds)
        Nx = tf.einsum("exm,eabdjmz->eabdjxz", W, N2)
        Zb = lam * tf.einsum("eacj,eabdjxz->eabxcdz", S10, Nx)  # [e, a, b, x, c, d, z]
        # d_{i2 i4}: legs (1,3) <-> (2,4) of the above: Zc[a, w, b, c, y, d]
        Zc = tf.einsum("ebawdcy->eawbcyd", Zb)
        # d_{i1 i3} d_{i2 i4}: lam^2 sum_{j j'} s'_{j;a} s_{j;c} s'_{j';b} s_{j';d} Theta_{jj';ab}
        Zd = lam * lam * tf.einsum("eacj,eabjk,ebdk->eabcd", S10, th, S10)
        Zb += Zd[:, :, :, None, :, :, None] * tf.reshape(eye, [n, 1, 1, n])
        new2 += tf.reshape(tf.reshape(Zb, [-1, N, 1, A, N, 1, A]) * tf.reshape(eye, [n, 1, 1, n, 1]),
                           [-1, A, A, A, A])
        new2 += tf.reshape(tf.reshape(Zc, [-1, A, N, 1, A, N, 1]) * tf.reshape(eye, [n, 1, 1, n]),
                           [-1, A, A, A, A])
        # four W's: O[(a, m1), (b, m2), C, D], then W on legs 0 and 1
        thL = tf.transpose(th, [0, 1, 3, 2, 4])  # [e, a, j, b, k]
        O = (thL[:, :, :, :, :, None, None] * A2_[:, :, :, None, None, :, None]) \
            * tf.reshape(A2_, [-1, 1, 1, N, m, 1, A])
        if dH is not None:
            DsT = tf.reshape(tf.einsum("ebadkjz->eajbkdz", Ds), [-1, N, m, N, m, 1, A])  # Ds[b,a,d,m2,m1,z]
            O += A2_[:, :, :, None, None, :, None] * DsT
            DsU = tf.reshape(tf.einsum("eabcjky->eajbkcy", Ds), [-1, N, m, N, m, A, 1])  # Ds[a,b,c,m1,m2,y]
            O += DsU * tf.reshape(A2_, [-1, 1, 1, N, m, 1, A])
        O = tf.reshape(O, [-1, N * m, N * m, A, A])
        if dd2 is not None:
            DD2 = _lift_leg(_lift_leg(dd2, G, 3, m), G, 2, m)  # (E, N m, N m, A, A)
            s1f = tf.reshape(s1, [-1, N * m])
            O += s1f[:, :, None, None, None] * s1f[:, None, :, None, None] * DD2
        new2 += _w_leg(_w_leg(O, W, 1), W, 0)

        dd1, dd2 = new1, new2
        layers[l - 1]["dd1"], layers[l - 1]["dd2"] = dd1, dd2
    return layers


def _pattern_index(N, n, pattern):
    """(N^4, n(n-1)) flat indices into the leg layout (A^4, A = N n): row (a, b, c, d) in C order,
    columns the ordered neuron pairs i != j placed as ``pattern`` (iijj, ijij, ijji)."""
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j] or [(0, 0)]
    rows = []
    for a, b, c, d in np.ndindex(N, N, N, N):
        row = []
        for i, j in pairs:
            w, x, y, z = {"iijj": (i, i, j, j), "ijij": (i, j, i, j), "ijji": (i, j, j, i)}[pattern]
            row.append(((((((a * n + w) * N + b) * n + x) * N + c) * n + y) * N + d) * n + z)
        rows.append(row)
    return np.array(rows, np.int64)


# feature: (source tensor, neuron pattern, sample permutation into storage order)
_PATTERNS = {"ddr4": ("dd1", "iijj", None), "dds4": ("dd2", "iijj", None),
             "ddt4": ("dd2", "ijij", "eabcd->eacdb"), "ddu4": ("dd2", "ijji", "eabcd->eadbc")}


def features_dd(d, n, N):
    """Per-network features of one layer (dict with "dd1", "dd2" in the leg layout):

      ddr4[0,1,2,3] = mean_{i!=j} dd_I H_{iijj;0123}     (R_{0123} / n_{l-1})
      dds4[1,2,3,4] = mean_{i!=j} dd_II H_{iijj;1234}    (S_{1234} / n_{l-1})
      ddt4[1,3,4,2] = mean_{i!=j} dd_II H_{ijij;1234}    (T_{1342} / n_{l-1})
      ddu4[1,4,2,3] = mean_{i!=j} dd_II H_{ijji;1234}    (U_{1423} / n_{l-1})

    Each pattern (i0 = i1 != i2 = i3, ...) isolates one Kronecker term of theory.md section 2
    and is averaged over all ordered pairs i != j; the other patterns of the same tensor give
    the same numbers network by network (dd_I H is symmetric in its last three legs, dd_II H
    under (1,3) <-> (2,4)).  Width 1 has no pairs: zero here, NaN in the estimates."""
    out = {}
    npair = n * (n - 1)
    for key, (src, pattern, perm) in _PATTERNS.items():
        flat = tf.reshape(d[src], [-1, (N * n) ** 4])
        v = tf.gather(flat, _pattern_index(N, n, pattern), axis=1)  # (E, N^4, pairs)
        v = tf.reshape(tf.reduce_sum(v, -1), [-1, N, N, N, N]) / float(max(npair, 1))
        if npair == 0:
            v = tf.zeros_like(v)
        out[key] = tf.einsum(perm, v) if perm else v
    return out
