"""TensorFlow side of the sampler: batched ensembles, forward equations, per-network features.

Imported only when a sampling job starts (``import tensorflow`` happens here).

Shapes (E = networks in a chunk, N = inputs, n = neurons of the layer, m = of the layer below):
    z      (E, N, n)              preactivations z_{i;a}
    Theta  (E, N, N, n, n)        NTK  Theta-hat_{ij;ab}  stored [e, a, b, i, j]
    dH     (E, N, N, N, n, n, n)  dNTK dH_{i0 i1 i2; d0 d1 d2}  stored [e, d0, d1, d2, i0, i1, i2]
All computed by the forward equations of theory.md section 1 (no parameter Jacobians).

Random numbers: one Philox stream keyed by the seed; network e owns the counter range
[e*M/2, (e+1)*M/2) (M normals per network, 2 float64 normals per Philox step), so a chunk
of networks [e0, e0+E) is drawn in one batched op and the draws do not depend on how the
ensemble is cut into chunks.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .tf_activations import tf_derivative

_CONFIGURED: dict | None = None


def configure_tf() -> dict:
    """GPU memory growth on, TensorFloat-32 off; returns what is in force (for meta)."""
    global _CONFIGURED
    if _CONFIGURED is None:
        growth = []
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):  # already initialised
                pass
            try:
                growth.append(bool(tf.config.experimental.get_memory_growth(gpu)))
            except (RuntimeError, ValueError):
                growth.append(None)
        tf.config.experimental.enable_tensor_float_32_execution(False)
        gpus = tf.config.list_logical_devices("GPU")
        device = "CPU"
        if gpus:
            try:
                details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
                device = f"{gpus[0].name} ({details.get('device_name', 'GPU')})"
            except Exception:  # pragma: no cover - depends on the driver
                device = gpus[0].name
        _CONFIGURED = {
            "device": device,
            "gpu_memory_growth": (all(g is True for g in growth) if growth else None),
            "tensor_float_32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
            "tensorflow": tf.__version__,
        }
    return dict(_CONFIGURED)


def distribute_chunk(fn, *args):
    """Where several devices would come in.

    With a ``tf.distribute.Strategy`` (e.g. MirroredStrategy) the ensemble axis would be
    sharded here: each replica runs ``fn`` on its own range of network indices
    (e0 + replica * E/R, ...) and the block sums it returns are added with
    ``strategy.reduce(SUM)``.  Everything else (streaming sums, jackknife) is unchanged.
    Today: one device, a direct call.
    """
    return fn(*args)


def _outer(a, b):
    # a (..., N, N), b (..., N, N) -> (..., N, N, N, N)
    return a[..., :, :, None, None] * b[..., None, None, :, :]


class Ensemble:
    """Draws chunks of networks and returns their per-network features, block-summed."""

    def __init__(self, spec, x: np.ndarray, widths, *, seed: int, dtype: str, chunk: int,
                 blocks: int, need_ntk: bool, need_dntk: bool, control_variates: bool = False):
        self.control_variates = bool(control_variates)
        self.spec = spec
        self.dtype = tf.float64 if dtype == "float64" else tf.float32
        self.x = tf.constant(x, dtype=self.dtype)
        self.N = x.shape[0]
        self.L = spec.depth
        self.dims = [spec.n0] + list(widths)  # n_0 .. n_L
        self.chunk = int(chunk)
        self.blocks = int(blocks)
        self.need_ntk = need_ntk or need_dntk
        self.need_dntk = need_dntk
        self.key = int(seed) % (2**64)
        self.act = [tf_derivative(spec.activation, k) for k in range(3)]
        self.smooth = spec.activation.slopes is None
        # layout of the normals of one network: W1, b1, W2, b2, ...
        self.layout = []
        off = 0
        for l in range(1, self.L + 1):
            nw = self.dims[l] * self.dims[l - 1]
            self.layout.append((off, off + nw, off + nw + self.dims[l]))
            off += nw + self.dims[l]
        self.M = off + (off % 2)
        self.traces = 0
        self._fn = tf.function(
            self._chunk,
            input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32)],
            jit_compile=False,
            autograph=False,  # no tensor-dependent Python control flow; keeps SymPy out of autograph
        )

    # -- random parameters ------------------------------------------------------
    def draw(self, e0, E):
        """Standard normals of networks e0 .. e0+E-1 as (E, M), float64."""
        counter = tf.bitcast(e0 * (self.M // 2), tf.uint64)
        counter = tf.stack([counter, tf.constant(0, tf.uint64)])
        flat = tf.raw_ops.StatelessRandomNormalV2(
            shape=tf.constant([E * self.M], tf.int64), key=tf.constant([self.key], tf.uint64),
            counter=counter, alg=1, dtype=tf.float64)
        return tf.reshape(flat, [E, self.M])

    def params(self, e0, E):
        g = self.draw(e0, E)
        Ws, bs = [], []
        for l in range(1, self.L + 1):
            a, b, c = self.layout[l - 1]
            p = self.spec.layer_params(l)
            W = tf.reshape(g[:, a:b], [E, self.dims[l], self.dims[l - 1]]) * np.sqrt(p["C_W"] / self.dims[l - 1])
            Ws.append(tf.cast(W, self.dtype))
            bs.append(tf.cast(g[:, b:c] * np.sqrt(p["C_b"]), self.dtype))
        return Ws, bs

    # -- forward equations ------------------------------------------------------
    def forward(self, Ws, bs, need_ntk=None, need_dntk=None):
        """Per layer: (z, Theta, dH, sigma, sigma', sigma'') following theory.md section 1.

        Ws[l-1]: (E, n_l, n_{l-1}); bs[l-1]: (E, n_l).  Returns a list of dicts.
        """
        need_ntk = self.need_ntk if need_ntk is None else need_ntk
        need_dntk = self.need_dntk if need_dntk is None else need_dntk
        x = self.x
        E = tf.shape(Ws[0])[0]
        out = []
        n0 = self.dims[0]
        p = self.spec.layer_params(1)
        n1 = self.dims[1]
        z = tf.einsum("eij,aj->eai", Ws[0], x) + bs[0][:, None, :]
        theta = dH = None
        if need_ntk:
            t1 = p["lambda_b"] + p["lambda_W"] * tf.matmul(x, x, transpose_b=True) / n0  # (N, N)
            theta = t1[:, :, None, None] * tf.eye(n1, dtype=self.dtype)
            theta = tf.tile(theta[None], tf.stack([E, 1, 1, 1, 1]))
        if need_dntk:
            dH = tf.zeros(tf.stack([E, self.N, self.N, self.N, n1, n1, n1]), self.dtype)
        out.append({"z": z, "theta": theta, "dH": dH})
        for l in range(2, self.L + 1):
            prev = out[-1]
            m, n = self.dims[l - 1], self.dims[l]
            p = self.spec.layer_params(l)
            W = Ws[l - 1]
            zp = prev["z"]
            s = self.act[0](zp)
            prev["sigma"] = s
            z = tf.matmul(s, W, transpose_b=True) + bs[l - 1][:, None, :]
            theta = dH = None
            if need_ntk:
                sp1 = self.act[1](zp)
                prev["sigma1"] = sp1
                gram = tf.matmul(s, s, transpose_b=True) / m  # (E, N, N)
                Wsp = W[:, None, :, :] * sp1[:, :, None, :]  # (E, N, n, m)  [e,a,i,j]
                # Y[e,a,b,j,i] = sum_k Theta[e,a,b,j,k] W[e,i,k] sigma'[e,b,k]
                Y = tf.matmul(prev["theta"], Wsp[:, None], transpose_b=True)  # (E, N, N, m, n)
                theta = tf.matmul(Wsp[:, :, None], Y)  # (E, N, N, n, n)
                diag = p["lambda_b"] + p["lambda_W"] * gram
                theta = theta + diag[..., None, None] * tf.eye(n, dtype=self.dtype)
                if need_dntk:
                    eye = tf.eye(n, dtype=self.dtype)
                    # u[e,d0,d1,d2,i] = (lambda_W/m) sum_j s'_{j;d0} s_{j;d1} Y[e,d0,d2,j,i]
                    u = tf.einsum("eaj,ebj,eacji->eabci", sp1, s, Y) * (p["lambda_W"] / m)
                    t1 = u[:, :, :, :, None, None, :] * eye[:, :, None]  # delta_{i0 i1} u[..., i2]
                    uT = tf.transpose(u, [0, 1, 3, 2, 4])  # u[d0, d2, d1, i]
                    t2 = uT[:, :, :, :, None, :, None] * eye[:, None, :]  # delta_{i0 i2} u[d0,d2,d1,i1]
                    dH = t1 + t2
                    if self.smooth:
                        sp2 = self.act[2](zp)
                        Ws2 = W[:, None, :, :] * sp2[:, :, None, :]  # (E, N, n, m)
                        t3 = tf.einsum("eaij,eabjk,eacjl->eabcikl", Ws2, Y, Y)
                        dH = dH + t3
                    if l > 2:  # dH^(1) = 0
                        T = tf.einsum("eaij,eabcjkl->eabcikl", Wsp, prev["dH"])
                        T = tf.einsum("ebmk,eabcikl->eabciml", Wsp, T)
                        T = tf.einsum("ecpl,eabciml->eabcimp", Wsp, T)
                        dH = dH + T
            out.append({"z": z, "theta": theta, "dH": dH})
        return out

    # -- per-network features ------------------------------------------------------
    def features(self, layers):
        """Per-network statistics per layer, stacked as (E, L, ...) float64 tensors.

        Plain (neuron-index structure of theory.md section 2, at layer l):
          k2  mean_i z_ia z_ib;                   t2  mean_i Theta_ii;ab
          v4  mean_{i!=j} z_ia z_ib z_jc z_jd;    d4  mean_{i!=j} z_ia z_ib Theta_jj;cd
          a4  mean_{i!=j} Theta_ii;ab Theta_jj;cd
          f4[a,b,c,d] mean_{i!=j} z_ia z_jc Theta_ij;bd        (F_abcd / n_{l-1})
          b4[a,b,c,d] mean_{i!=j} Theta_ij;ac Theta_ij;bd      (B_abcd / n_{l-1})
          p4[0,1,2,3] mean_{i!=j} dH_{ijj;012} z_{i;3};  q4: mean_{i!=j} dH_{iij;012} z_{j;3}
        Rao-Blackwellised (r-prefixed): the same expectations conditional on layer l-1
        (layer l is Gaussian given layer l-1), in closed form.
        """
        feats = {}
        L = self.L
        for l in range(1, L + 1):
            d = layers[l - 1]
            f = {}
            z = d["z"]
            n = self.dims[l]
            pair = n * (n - 1) if n > 1 else 1.0
            Sz = tf.einsum("eai,ebi->eab", z, z)
            f["k2"] = Sz / n
            zz = z[:, :, None, :] * z[:, None, :, :]  # (E, N, N, n)
            f["v4"] = (_outer(Sz, Sz) - tf.einsum("eabi,ecdi->eabcd", zz, zz)) / pair
            if self.need_ntk:
                th = d["theta"]
                td = tf.linalg.diag_part(th)  # (E, N, N, n)
                St = tf.reduce_sum(td, -1)
                f["t2"] = St / n
                f["d4"] = (_outer(Sz, St) - tf.einsum("eabi,ecdi->eabcd", zz, td)) / pair
                f["a4"] = (_outer(St, St) - tf.einsum("eabi,ecdi->eabcd", td, td)) / pair
                f["f4"] = (tf.einsum("eai,ecj,ebdij->eabcd", z, z, th) - tf.einsum("eaci,ebdi->eabcd", zz, td)) / pair
                f["b4"] = (tf.einsum("eacij,ebdij->eabcd", th, th) - tf.einsum("eaci,ebdi->eabcd", td, td)) / pair
            if self.need_dntk:
                dH = d["dH"]
                dd = tf.linalg.diag_part(dH)  # [.., i0, j] = dH[i0, j, j]
                ddd = tf.linalg.diag_part(dd)  # [.., i] = dH[i,i,i]
                diag3 = tf.einsum("eabci,edi->eabcd", ddd, z)
                f["p4"] = (tf.einsum("eabcij,edi->eabcd", dd, z) - diag3) / pair
                qq = tf.linalg.diag_part(tf.transpose(dH, [0, 1, 2, 3, 6, 4, 5]))  # [.., j, i] = dH[i, i, j]
                f["q4"] = (tf.einsum("eabcji,edj->eabcd", qq, z) - diag3) / pair
            # Rao-Blackwellised
            p = self.spec.layer_params(l)
            if l == 1:
                E = tf.shape(z)[0]
                gram = tf.matmul(self.x, self.x, transpose_b=True) / self.dims[0]
                G = tf.tile((p["C_b"] + p["C_W"] * gram)[None], tf.stack([E, 1, 1]))
                H = tf.tile((p["lambda_b"] + p["lambda_W"] * gram)[None], tf.stack([E, 1, 1]))
                zero4 = tf.zeros(tf.stack([E] + [self.N] * 4), self.dtype)
                rf4 = rb4 = zero4
            else:
                prev = layers[l - 2]
                m = self.dims[l - 1]
                s = prev["sigma"]
                gram = tf.einsum("eak,ebk->eab", s, s) / m
                G = p["C_b"] + p["C_W"] * gram
                if self.need_ntk:
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
            if self.need_ntk:
                f["rt2"] = H
                f["rd4"] = _outer(G, H)
                f["ra4"] = _outer(H, H)
                f["rf4"] = rf4
                f["rb4"] = rb4
            for k, v in f.items():
                feats.setdefault(k, []).append(tf.cast(v, tf.float64))
        if self.control_variates and L >= 3:
            # control variates with known means: the layer-2 kernels G^(2), H^(2) (their means
            # are the infinite-width K^(2), Theta^(2) exactly, layer 1 being Gaussian)
            pairs = [("k2", "rk2", "cvk")] + ([("t2", "rt2", "cvt")] if self.need_ntk else [])
            for plain, rb, name in pairs:
                c = feats[rb][1]
                feats[name] = [c] * L
                feats[name + "2"] = [c * c] * L
                feats["x" + plain] = [y * c for y in feats[plain]]
                feats["x" + rb] = [y * c for y in feats[rb]]
        return {k: tf.stack(v, axis=1) for k, v in feats.items()}

    # -- one chunk -------------------------------------------------------------------
    def _chunk(self, e0, valid):
        self.traces += 1  # Python side: runs once per trace
        E = self.chunk
        Ws, bs = self.params(e0, E)
        feats = self.features(self.forward(Ws, bs))
        finite = tf.ones([E], tf.bool)
        for v in feats.values():
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(tf.reshape(v, [E, -1])), axis=1))
        inrange = tf.range(E, dtype=tf.int32) < valid
        mask = tf.logical_and(finite, inrange)
        block = tf.cast(tf.math.floormod(e0 + tf.range(E, dtype=tf.int64), self.blocks), tf.int32)
        sums = {}
        for k, v in feats.items():
            shape = [E] + [1] * (len(v.shape) - 1)
            vm = tf.where(tf.reshape(mask, shape), v, tf.zeros_like(v))
            sums[k] = tf.math.unsorted_segment_sum(vm, block, self.blocks)
        counts = tf.math.unsorted_segment_sum(tf.cast(mask, tf.int64), block, self.blocks)
        bad = tf.reduce_sum(tf.cast(tf.logical_and(inrange, tf.logical_not(finite)), tf.int64))
        return sums, counts, bad

    def run_chunk(self, e0: int, valid: int):
        sums, counts, bad = distribute_chunk(self._fn, tf.constant(e0, tf.int64), tf.constant(valid, tf.int32))
        return {k: v.numpy() for k, v in sums.items()}, counts.numpy(), int(bad.numpy())
