"""The slow, direct per-network features of z and the NTK: the reference for the engine's fast path.

Written straight from the definitions (engine.Ensemble.fast_features lists them), from the whole
per-layer tensors of ``Ensemble.forward`` (themselves checked against autodiff in test_sampling).
"""
import tensorflow as tf


def _outer(a, b):
    return a[..., :, :, None, None] * b[..., None, None, :, :]


def reference_features(ens, layers):
    """Every plain and Rao-Blackwellised feature of z and the NTK, stacked as (E, L, ...) float64."""
    feats = {}
    for l in range(1, ens.L + 1):
        layer = layers[l - 1]
        f = {}
        z = layer["z"]
        n = ens.dims[l]
        pair = n * (n - 1) if n > 1 else 1.0
        Sz = tf.einsum("eai,ebi->eab", z, z)
        f["k2"] = Sz / n
        zz = z[:, :, None, :] * z[:, None, :, :]  # (E, N, N, n)
        f["v4"] = (_outer(Sz, Sz) - tf.einsum("eabi,ecdi->eabcd", zz, zz)) / pair
        if ens.need_ntk:
            th = layer["theta"]
            td = tf.linalg.diag_part(th)  # (E, N, N, n)
            St = tf.reduce_sum(td, -1)
            f["t2"] = St / n
            f["d4"] = (_outer(Sz, St) - tf.einsum("eabi,ecdi->eabcd", zz, td)) / pair
            f["a4"] = (_outer(St, St) - tf.einsum("eabi,ecdi->eabcd", td, td)) / pair
            f["f4"] = (tf.einsum("eai,ecj,ebdij->eabcd", z, z, th) - tf.einsum("eaci,ebdi->eabcd", zz, td)) / pair
            f["b4"] = (tf.einsum("eacij,ebdij->eabcd", th, th) - tf.einsum("eaci,ebdi->eabcd", td, td)) / pair
        # Rao-Blackwellised: expectations over layer l's W, b given layer l-1
        p = ens.spec.layer_params(l)
        if l == 1:
            E = tf.shape(z)[0]
            gram = tf.matmul(ens.x, ens.x, transpose_b=True) / ens.dims[0]
            G = tf.tile((p["C_b"] + p["C_W"] * gram)[None], tf.stack([E, 1, 1]))
            H = tf.tile((p["lambda_b"] + p["lambda_W"] * gram)[None], tf.stack([E, 1, 1]))
            rf4 = rb4 = tf.zeros(tf.stack([E] + [ens.N] * 4), ens.dtype)
        else:
            prev = layers[l - 2]
            m = ens.dims[l - 1]
            s = prev["sigma"]
            gram = tf.einsum("eak,ebk->eab", s, s) / m
            G = p["C_b"] + p["C_W"] * gram
            if ens.need_ntk:
                sp1 = prev["sigma1"]
                thp = prev["theta"]
                tdp = tf.linalg.diag_part(thp)
                H = p["lambda_b"] + p["lambda_W"] * gram + (p["C_W"] / m) * tf.einsum("eak,ebk,eabk->eab", sp1, sp1, tdp)
                c2 = (p["C_W"] / m) ** 2
                uu = s[:, :, None, :] * sp1[:, None, :, :]  # [e,a,b,k] = s_ka s'_kb
                rf4 = c2 * tf.einsum("eabk,ecdl,ebdkl->eabcd", uu, uu, thp)
                X = sp1[:, :, None, :, None] * sp1[:, None, :, None, :] * thp  # [e,a,c,k,l]
                rb4 = c2 * tf.einsum("eackl,ebdkl->eabcd", X, X)
        f["rk2"] = G
        f["rv4"] = _outer(G, G)
        if ens.need_ntk:
            f["rt2"] = H
            f["rd4"] = _outer(G, H)
            f["ra4"] = _outer(H, H)
            f["rf4"] = rf4
            f["rb4"] = rb4
        for k, v in f.items():
            feats.setdefault(k, []).append(tf.cast(v, tf.float64))
    ens._control_variates(feats)
    return {k: tf.stack(v, axis=1) for k, v in feats.items()}
