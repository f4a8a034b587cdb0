"""TensorFlow side of the sampler: batched ensembles, forward equations, per-network features.

Imported only when a sampling job starts (``import tensorflow`` happens here).

Shapes (E = networks in a chunk, N = inputs, n = neurons of the layer, m = of the layer below):
    z      (E, N, n)              preactivations z_{i;a}
    Theta  (E, N, N, n, n)        NTK  Theta-hat_{ij;ab}  stored [e, a, b, i, j]
    dH     (E, N, N, N, n, n, n)  dNTK dH_{i0 i1 i2; d0 d1 d2}  stored [e, d0, d1, d2, i0, i1, i2]
All computed by the forward equations of docs/theory.md §1 (no parameter Jacobians).

Random numbers: one Philox stream keyed by the seed; network e owns the counter range
[e*M/2, (e+1)*M/2) (M normals per network, 2 float64 normals per Philox step), so a chunk
of networks [e0, e0+E) is drawn in one batched op and the draws do not depend on how the
ensemble is cut into chunks.  When the last layer's weights are not needed (Rao-Blackwellised
estimators only, ``Ensemble.skip_last``), each network draws only the head of its range
(layers 1 .. L-1, from the same counter e*M/2): the same numbers as with the whole range.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict

import numpy as np
import tensorflow as tf

from .estimators import FEATURES, features_from
from .rng import _philox_normal_rows_xla, _philox_normal_xla, xla_available
from .tf_activations import tf_derivative

_CONFIGURED: dict | None = None


def memory_growth() -> list:
    """Ask for GPU memory growth (possible only before TensorFlow sets up its devices); the GPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised
            pass
    return gpus


def configure_tf() -> dict:
    """GPU memory growth on, TensorFloat-32 off; returns what is in force (for meta)."""
    global _CONFIGURED
    if _CONFIGURED is None:
        growth = []
        for gpu in memory_growth():
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


def _outer(a, b):
    # a (..., N, N), b (..., N, N) -> (..., N, N, N, N)
    return a[..., :, :, None, None] * b[..., None, None, :, :]


# per-network feature sets (see Ensemble.fast_features and derivative_features), from the registry estimators.FEATURES
_Z_FEATURES = features_from("z")
_NTK_FEATURES = features_from("ntk")
_DNTK_FEATURES = features_from("dntk")
_DDNTK_FEATURES = features_from("ddntk")  # R, S, T, U: see ddntk.py
_FULL_NTK_FEATURES = frozenset(n for n, f in FEATURES.items() if f.full_ntk)  # need whole n x n NTK matrices
_RB_ONLY = frozenset(n for n, f in FEATURES.items() if f.rao_blackwellised)  # closed forms in layer l-1 quantities


def _gram(u, v=None):
    """(E, N, n), (E, N, n) -> (E, N, N): sum_i u_ai v_bi."""
    return tf.matmul(u, u if v is None else v, transpose_b=True)


def _pair_products(u, v):
    """(E, N, N, n) x (E, N, N, n) -> (E, N, N, N, N): sum_i u_{ac,i} v_{bd,i}  [e, a, b, c, d]."""
    s = tf.shape(u)
    N = u.shape[1]
    uf = tf.reshape(u, tf.stack([s[0], N * N, s[3]]))
    vf = tf.reshape(v, tf.stack([s[0], N * N, s[3]]))
    r = tf.reshape(tf.matmul(uf, vf, transpose_b=True), tf.stack([s[0], N, N, N, N]))  # [a, c, b, d]
    return tf.transpose(r, [0, 1, 3, 2, 4])


def _pair_products_same(u, v):
    """(E, N, N, n) x (E, N, N, n) -> (E, N, N, N, N): sum_i u_{ab,i} v_{cd,i}  [e, a, b, c, d]."""
    s = tf.shape(u)
    N = u.shape[1]
    uf = tf.reshape(u, tf.stack([s[0], N * N, s[3]]))
    vf = tf.reshape(v, tf.stack([s[0], N * N, s[3]]))
    return tf.reshape(tf.matmul(uf, vf, transpose_b=True), tf.stack([s[0], N, N, N, N]))


class Ensemble:
    """Draws chunks of networks and returns their per-network features, block-summed."""

    def __init__(self, spec, x: np.ndarray, widths, *, seed: int, dtype: str, chunk: int,
                 blocks: int, need_ntk: bool, need_dntk: bool, control_variates: bool = False,
                 features=None, need_ddntk: bool = False):
        self.control_variates = bool(control_variates)
        self.spec = spec
        self.dtype = tf.float64 if dtype == "float64" else tf.float32
        self.x = tf.constant(x, dtype=self.dtype)
        self.N = x.shape[0]
        self.L = spec.depth
        self.dims = [spec.n0] + list(widths)  # n_0 .. n_L
        self.chunk = int(chunk)
        self.blocks = int(blocks)
        self.need_ddntk = bool(need_ddntk)  # dd_I H, dd_II H (ddntk.py); they need dH and Theta
        self.need_ntk = need_ntk or need_dntk or self.need_ddntk
        self.need_dntk = need_dntk or self.need_ddntk
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
        # the per-network features to compute (None: all that need_ntk / need_dntk allow)
        if features is None:
            features = set(_Z_FEATURES)
            if self.need_ntk:
                features |= _NTK_FEATURES
            if self.need_dntk:
                features |= _DNTK_FEATURES
            if self.need_ddntk:
                features |= _DDNTK_FEATURES
        self.wanted_features = frozenset(features)
        if not self.need_ntk and self.wanted_features & (_NTK_FEATURES | _DNTK_FEATURES):
            raise ValueError("NTK features requested without need_ntk")
        if not self.need_dntk and self.wanted_features & _DNTK_FEATURES:
            raise ValueError("dNTK features requested without need_dntk")
        if not self.need_ddntk and self.wanted_features & _DDNTK_FEATURES:
            raise ValueError("ddNTK features requested without need_ddntk")
        self._pairs_setup()
        # Only Rao-Blackwellised features (and no dNTK): every layer-L statistic is a closed form
        # in layer L-1 quantities, so W^(L), b^(L) are not drawn and no layer-L GEMM is run.
        # The draws stay keyed per network (network e's normals start at counter e*M/2 as
        # always); the unused tail of each network's range is just not generated.
        self.skip_last = (not self.need_dntk) and all(f in _RB_ONLY for f in self.wanted_features)
        self.drawn_layers = self.L - 1 if self.skip_last else self.L
        self.traces = 0
        self._fn = tf.function(
            self._chunk,
            input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32), tf.TensorSpec([1], tf.uint64)],
            jit_compile=False,
            autograph=False,  # no tensor-dependent Python control flow; keeps SymPy out of autograph
        )

    # -- input pairs (a <= b): the NTK of (b, a) is the transpose of that of (a, b) ------
    def _pairs_setup(self):
        N = self.N
        pairs = [(a, b) for a in range(N) for b in range(a, N)]
        P = len(pairs)
        pid = np.zeros((N, N), np.int32)
        for p, (a, b) in enumerate(pairs):
            pid[a, b] = pid[b, a] = p
        self.P = P
        self.pair_a = np.array([a for a, _ in pairs], np.int32)
        self.pair_b = np.array([b for _, b in pairs], np.int32)
        self.pair_of = pid  # (N, N) -> pair index
        g_idx = np.zeros((N,) * 4, np.int32)  # into g[a, p, c] (N, P, N), see _contract_f
        b_idx = np.zeros((N,) * 4, np.int32)  # into [S1 | S2] (2 P^2), see _contract_b
        for a in range(N):
            for b in range(N):
                for c in range(N):
                    for d in range(N):
                        if b <= d:
                            g_idx[a, b, c, d] = (a * P + pid[b, d]) * N + c
                        else:
                            g_idx[a, b, c, d] = (c * P + pid[d, b]) * N + a
                        b_idx[a, b, c, d] = (0 if (a <= c) == (b <= d) else P * P) + pid[a, c] * P + pid[b, d]
        self.g_idx, self.b_idx = g_idx, b_idx
        # with whole NTK matrices (features F, B): pair recursion; else per-input Jacobians
        self.full_mode = bool(self.wanted_features & _FULL_NTK_FEATURES)

    # -- random parameters ------------------------------------------------------
    def draw(self, e0, E, key=None, per=None):
        """Standard normals of networks e0 .. e0+E-1 as (E, per), float64: the first ``per``
        (default all M) of each network's normals.

        ``key``: (1,) uint64 tensor (the seed); default this ensemble's seed."""
        per = self.M if per is None else int(per) + int(per) % 2  # whole Philox steps
        key = tf.constant([self.key], tf.uint64) if key is None else key
        if per == self.M:  # the networks' ranges are contiguous: one stream
            counter = tf.bitcast(tf.cast(e0, tf.int64) * (self.M // 2), tf.uint64)
            counter = tf.stack([counter, tf.constant(0, tf.uint64)])
            if xla_available():
                flat = _philox_normal_xla(tf.constant([E * self.M], tf.int64), key, counter)
            else:
                flat = tf.raw_ops.StatelessRandomNormalV2(
                    shape=tf.constant([E * self.M], tf.int64), key=key, counter=counter, alg=1, dtype=tf.float64)
            return tf.reshape(flat, [E, self.M])
        # the head of each network's range: one stream per network, from its own counter
        starts = tf.bitcast((tf.cast(e0, tf.int64) + tf.range(E, dtype=tf.int64)) * (self.M // 2), tf.uint64)
        if per == 0:
            return tf.zeros([E, 0], tf.float64)
        if xla_available():
            return _philox_normal_rows_xla(E, per)(key, starts)
        zero = tf.constant(0, tf.uint64)
        return tf.stack([tf.raw_ops.StatelessRandomNormalV2(
            shape=tf.constant([per], tf.int64), key=key, counter=tf.stack([starts[r], zero]), alg=1,
            dtype=tf.float64) for r in range(E)])

    def params(self, e0, E, key=None, layers=None):
        """Weights and biases of layers 1 .. ``layers`` (default L) of networks e0 .. e0+E-1."""
        layers = self.L if layers is None else int(layers)
        g = self.draw(e0, E, key, per=None if layers == self.L else (self.layout[layers - 1][2] if layers else 0))
        Ws, bs = [], []
        for l in range(1, layers + 1):
            a, b, c = self.layout[l - 1]
            p = self.spec.layer_params(l)
            W = tf.reshape(g[:, a:b], [E, self.dims[l], self.dims[l - 1]]) * np.sqrt(p["C_W"] / self.dims[l - 1])
            Ws.append(tf.cast(W, self.dtype))
            bs.append(tf.cast(g[:, b:c] * np.sqrt(p["C_b"]), self.dtype))
        return Ws, bs

    # -- forward equations ------------------------------------------------------
    def forward(self, Ws, bs, need_ntk=None, need_dntk=None):
        """Per layer: (z, Theta, dH, sigma, sigma', sigma'') following docs/theory.md §1.

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
        if self.need_ddntk and need_dntk:
            from .ddntk import forward_dd

            forward_dd(self, out, Ws)  # adds dd_I H ("dd1"), dd_II H ("dd2") per layer
        return out

    # -- per-network features of the dNTK / ddNTK -------------------------------------------
    def derivative_features(self, layers):
        """Per-network dNTK and ddNTK features per layer, stacked as (E, L, ...) float64 tensors.

          p4[0,1,2,3] mean_{i!=j} dH_{ijj;012} z_{i;3};  q4: mean_{i!=j} dH_{iij;012} z_{j;3}
          ddr4, dds4, ddt4, ddu4: R, S, T, U / n_{l-1} from dd_I H, dd_II H (ddntk.features_dd)
        ``layers``: the output of ``forward``.  Every other feature comes from ``fast_features``.
        """
        feats = {}
        for l in range(1, self.L + 1):
            layer = layers[l - 1]
            n = self.dims[l]
            pair = n * (n - 1) if n > 1 else 1.0
            layer_feats = {}
            if self.wanted_features & {"p4", "q4"}:
                z, dH = layer["z"], layer["dH"]
                dd = tf.linalg.diag_part(dH)  # [.., i0, j] = dH[i0, j, j]
                ddd = tf.linalg.diag_part(dd)  # [.., i] = dH[i,i,i]
                diag3 = tf.einsum("eabci,edi->eabcd", ddd, z)
                layer_feats["p4"] = (tf.einsum("eabcij,edi->eabcd", dd, z) - diag3) / pair
                qq = tf.linalg.diag_part(tf.transpose(dH, [0, 1, 2, 3, 6, 4, 5]))  # [.., j, i] = dH[i, i, j]
                layer_feats["q4"] = (tf.einsum("eabcji,edj->eabcd", qq, z) - diag3) / pair
            if "dd1" in layer:  # R, S, T, U (ddntk.py)
                from .ddntk import features_dd

                layer_feats.update(features_dd(layer, n, self.N))
            for k, v in layer_feats.items():
                if k in self.wanted_features:
                    feats.setdefault(k, []).append(tf.cast(v, tf.float64))
        return {k: tf.stack(v, axis=1) for k, v in feats.items()}

    def chunk_features(self, Ws, bs):
        """Every wanted per-network feature of the networks with these weights, (E, L, ...) each:
        the fast path for those of z and the NTK, the forward equations for the dNTK / ddNTK."""
        feats = self.fast_features(Ws, bs)
        if self.need_dntk:
            feats.update(self.derivative_features(self.forward(Ws, bs)))
        return feats

    # -- fast path (no dNTK): only what the wanted features need -------------------------
    #
    # Input pairs p = (a <= b) only (Theta-hat_{ba} = Theta-hat_{ab}^T).  Two ways to the NTK:
    #  * whole matrices (features F, B): Theta^(l) pairs stored as T[e, i, p, j]; one layer is
    #    two GEMMs over all pairs at once, (D_a T_p D_b) W^T stacked along rows, then
    #    W (...) stacked along columns; layer 2 is one GEMM (Theta^(1) is proportional to 1).
    #  * diagonals / traces only (K, Theta, K1, Theta1, V, D, A): per-input Jacobians
    #    J^(l,k)_a = dz^(l)_a / dz^(k)_a (n_l x n_k), forward mode, one GEMM per block k < l-1
    #    and layer (all inputs side by side); J^(l,l-1)_a = W D_a is not formed.
    #    Theta^(l)_ab = sum_k c^(k)_ab J^(l,k)_a J^(l,k)_b^T + c^(l)_ab 1, so its diagonal costs
    #    O(n^2) per pair and block (for k = l-1 one small GEMM, (W o W)(sigma'_a o sigma'_b)),
    #    and nothing is O(n^3) per pair.
    #  * with only Rao-Blackwellised features (skip_last), layer L is not computed at all.
    def _to_pairs(self, x):
        """(E, N, N, ...) symmetric in (a, b) -> (E, P, ...)."""
        flat = tf.reshape(x, tf.concat([[-1, self.N * self.N], tf.shape(x)[3:]], 0))
        return tf.gather(flat, self.pair_a * self.N + self.pair_b, axis=1)

    def _from_pairs(self, x):
        """(E, P, ...) -> (E, N, N, ...)."""
        return tf.gather(x, self.pair_of, axis=1)

    def _diag_pairs(self, T):
        """T (E, n, P, n) -> diagonals (E, P, n)."""
        n, P = T.shape[1], self.P
        idx = (np.arange(n)[None, :] * (P * n + 1) + np.arange(P)[:, None] * n).astype(np.int32)
        return tf.gather(tf.reshape(T, [-1, n * P * n]), idx, axis=1)

    def _contract_f(self, u, T):
        """out[a,b,c,d] = sum_ij u_ai u_cj Theta_{bd;ij} from pairs T (E, n, P, n), u (E, N, n)."""
        n, P, N = T.shape[1], self.P, self.N
        Tu = tf.matmul(tf.reshape(T, [-1, n * P, n]), u, transpose_b=True)  # [e, i, p, c]
        g = tf.matmul(u, tf.reshape(Tu, [-1, n, P * N]))  # [e, a, p, c]
        return tf.gather(tf.reshape(g, [-1, N * P * N]), self.g_idx, axis=1)

    def _contract_b(self, S1, S2):
        """out[a,b,c,d] = sum_ij Theta_{ac;ij} Theta_{bd;ij} from S1[p,q] = <T_p, T_q>, S2[p,q] = <T_p, T_q^T>."""
        P = self.P
        cat = tf.concat([tf.reshape(S1, [-1, P * P]), tf.reshape(S2, [-1, P * P])], 1)
        return tf.gather(cat, self.b_idx, axis=1)

    def _frobenius(self, T):
        n, P = T.shape[1], self.P
        Tp = tf.reshape(tf.transpose(T, [0, 2, 1, 3]), [-1, P, n * n])
        TpT = tf.reshape(tf.transpose(T, [0, 2, 3, 1]), [-1, P, n * n])
        return tf.matmul(Tp, Tp, transpose_b=True), tf.matmul(Tp, TpT, transpose_b=True)

    def _row_dots(self, J):
        """J (E, n, N, w) [e, i, a, j] -> (E, P, n): sum_j J[e, i, a, j] J[e, i, b, j] for the pairs (a, b)."""
        return tf.stack([tf.reduce_sum(J[:, :, a, :] * J[:, :, b, :], -1) for a, b in zip(self.pair_a, self.pair_b)], 1)

    def _delta(self, c, n):
        """c (E, P) -> c_p delta_ij as (E, n, P, n)."""
        return tf.eye(n, dtype=self.dtype)[:, None, :] * c[:, None, :, None]

    def fast_features(self, Ws, bs):
        """The wanted per-network features of z and the NTK (definitions below), no dNTK.

        Plain (neuron-index structure of docs/theory.md section 2, at layer l):
          k2  mean_i z_ia z_ib;                   t2  mean_i Theta_ii;ab
          v4  mean_{i!=j} z_ia z_ib z_jc z_jd;    d4  mean_{i!=j} z_ia z_ib Theta_jj;cd
          a4  mean_{i!=j} Theta_ii;ab Theta_jj;cd
          f4[a,b,c,d] mean_{i!=j} z_ia z_jc Theta_ij;bd        (F_abcd / n_{l-1})
          b4[a,b,c,d] mean_{i!=j} Theta_ij;ac Theta_ij;bd      (B_abcd / n_{l-1})
        Rao-Blackwellised (r-prefixed): the same expectations conditional on layer l-1
        (layer l is Gaussian given layer l-1), in closed form.  The slow, direct
        implementation of these definitions is the reference in tests/sampling_reference.py.

        With ``skip_last`` (only Rao-Blackwellised features), layer L's weights are not used
        (``Ws``, ``bs`` may hold layers 1 .. L-1 only): its features come from layer L-1."""
        want, L, N, P = self.wanted_features, self.L, self.N, self.P
        dt = self.dtype
        x = self.x
        E = tf.shape(Ws[0])[0] if Ws else self.chunk
        ntk = self.need_ntk and bool(want & _NTK_FEATURES)
        full = ntk and self.full_mode
        need_diag = [False] * (L + 2)  # diagonal of Theta^(l) (else the trace is enough)
        for l in range(1, L + 1):
            need_diag[l] = bool(want & {"d4", "a4", "f4", "b4"}) or (l < L and bool(want & {"rt2", "rd4", "ra4"}))
        pa, pb = self.pair_a, self.pair_b
        gram_x = tf.matmul(x, x, transpose_b=True) / self.dims[0]  # (N, N)
        feats = {}
        z = None
        s = s1 = zprev = None  # sigma, sigma', z of the layer below
        T = M = None
        ntk_coeffs = []  # per layer k: c^(k)_ab = lambda_b + lambda_W gram, the NTK term that layer adds (pairs)
        jblocks, implicit = [], None  # Jacobian blocks J^(l,k), k < l-1; J^(l,l-1) kept as (W, sigma')
        td = tr = None
        for l in range(1, L + 1):
            p = self.spec.layer_params(l)
            n = self.dims[l]
            m = self.dims[l - 1]
            layer_feats = {}  # this layer's features
            rb_only = self.skip_last and l == L  # no z^(L), no Theta^(L): closed forms from layer L-1
            if l > 1:
                s = self.act[0](zprev)
                if not rb_only:
                    W = Ws[l - 1]
                    z = tf.matmul(s, W, transpose_b=True) + bs[l - 1][:, None, :]
                gram = _gram(s) / m
                if ntk:
                    s1 = self.act[1](zprev)
            else:
                if not rb_only:
                    z = tf.matmul(tf.broadcast_to(x[None], tf.stack([E, N, self.dims[0]])), Ws[0],
                                  transpose_b=True) + bs[0][:, None, :]
                gram = tf.broadcast_to(gram_x[None], tf.stack([E, N, N]))
            # ---- NTK of this layer ----
            if ntk and rb_only:
                td_prev = td
                if full and l > 1:  # rf4, rb4 need D_a Theta^(L-1) D_b, not Theta^(L)
                    sa, sb = tf.gather(s1, pa, axis=1), tf.gather(s1, pb, axis=1)
                    M = ntk_coeffs[0][:, :, None] * sa * sb if l == 2 else T * tf.transpose(sa, [0, 2, 1])[:, :, :, None] * sb[:, None, :, :]
            elif ntk:
                c_own = self._to_pairs(p["lambda_b"] + p["lambda_W"] * gram)  # (E, P)
                td_prev = td
                if l == 1:
                    td = tf.broadcast_to(c_own[:, :, None], tf.stack([E, P, n]))
                    tr = c_own * n
                elif full:
                    sa, sb = tf.gather(s1, pa, axis=1), tf.gather(s1, pb, axis=1)  # (E, P, m)
                    if l == 2:
                        w = ntk_coeffs[0][:, :, None] * sa * sb  # Theta^(1) = c^(1) 1:  D_a Theta^(1) D_b = diag(w)
                        M = w
                        V = tf.transpose(W, [0, 2, 1])[:, :, None, :] * tf.transpose(w, [0, 2, 1])[:, :, :, None]
                        T = tf.matmul(W, tf.reshape(V, [-1, m, P * n]))  # [e, i, (p, k)]
                    else:
                        M = T * tf.transpose(sa, [0, 2, 1])[:, :, :, None] * sb[:, None, :, :]  # D_a T_p D_b
                        U = tf.matmul(tf.reshape(M, [-1, m * P, m]), W, transpose_b=True)  # [e, j, p, k]
                        T = tf.matmul(W, tf.reshape(U, [-1, m, P * n]))
                    T = tf.reshape(T, [-1, n, P, n]) + self._delta(c_own, n)
                    td = self._diag_pairs(T)
                    tr = tf.reduce_sum(td, -1) if want & {"t2", "d4", "a4"} else None
                else:
                    # forward-mode Jacobians J^(l,k)_a = dz^(l)_a / dz^(k)_a, k = 1 .. l-1:
                    # k < l-1 stored as jblocks[k-1] [e, i, a, j] (E, n, N, n_k), one GEMM per block and
                    # layer with all inputs side by side: J^(l,k)_a = W (D_a J^(l-1,k)_a);
                    # k = l-1 is J^(l,l-1)_a = W D_a, kept implicit as (W, sigma').
                    dT = tf.transpose(s1, [0, 2, 1])[:, :, :, None]  # D_a as [e, j, a, 1]
                    new = []
                    for blk in jblocks:
                        w = blk.shape[-1]
                        R = tf.reshape(dT * blk, [-1, m, N * w])
                        new.append(tf.reshape(tf.matmul(W, R), [-1, n, N, w]))
                    if implicit is not None:  # J^(l-1,l-2)_a = W' D'_a, made explicit
                        Wp, dp = implicit
                        w = Wp.shape[-1]
                        R = tf.reshape(dT * Wp[:, :, None, :] * dp[:, None, :, :], [-1, m, N * w])
                        new.append(tf.reshape(tf.matmul(W, R), [-1, n, N, w]))
                    jblocks, implicit = new, (W, s1)
                    # diagonals: sum_k c^(k) (J^(l,k)_a J^(l,k)_b^T)_ii + c^(l); the W D block by a GEMM
                    # (W o W) (sigma'_a o sigma'_b)
                    dd = tf.gather(s1, pa, axis=1) * tf.gather(s1, pb, axis=1)  # (E, P, m)
                    td = c_own[:, :, None] + ntk_coeffs[-1][:, :, None] * tf.matmul(dd, W * W, transpose_b=True)
                    for k, blk in enumerate(jblocks):
                        td = td + ntk_coeffs[k][:, :, None] * self._row_dots(blk)
                    tr = tf.reduce_sum(td, -1) if want & {"t2", "d4", "a4"} else None
                ntk_coeffs.append(c_own)
            # ---- plain features ----
            npair = n * (n - 1) if n > 1 else 1.0
            if l == 1 and want & {"f4", "b4", "rf4", "rb4"}:
                zero4 = tf.zeros(tf.stack([E] + [N] * 4), dt)
            if want & {"k2", "v4", "d4"}:
                Sz = _gram(z)
            if "k2" in want:
                layer_feats["k2"] = Sz / n
            if want & {"v4", "d4", "f4"}:
                zz = z[:, :, None, :] * z[:, None, :, :]  # (E, N, N, n)
            if "v4" in want:
                layer_feats["v4"] = (_outer(Sz, Sz) - _pair_products_same(zz, zz)) / npair
            if ntk and want & {"t2", "d4", "a4", "f4", "b4"}:
                St = self._from_pairs(tr) if tr is not None else None
                tdf = self._from_pairs(td) if need_diag[l] else None
                if "t2" in want:
                    layer_feats["t2"] = St / n
                if "d4" in want:
                    layer_feats["d4"] = (_outer(Sz, St) - _pair_products_same(zz, tdf)) / npair
                if "a4" in want:
                    layer_feats["a4"] = (_outer(St, St) - _pair_products_same(tdf, tdf)) / npair
                if "f4" in want:
                    layer_feats["f4"] = zero4 if l == 1 else (self._contract_f(z, T) - _pair_products(zz, tdf)) / npair
                if "b4" in want:
                    layer_feats["b4"] = zero4 if l == 1 else (self._contract_b(*self._frobenius(T)) - _pair_products(tdf, tdf)) / npair
            # ---- Rao-Blackwellised: expectations over this layer's W, b given the layer below ----
            G = p["C_b"] + p["C_W"] * gram
            if "rk2" in want:
                layer_feats["rk2"] = G
            if "rv4" in want:
                layer_feats["rv4"] = _outer(G, G)
            if ntk:
                if l == 1:
                    H = p["lambda_b"] + p["lambda_W"] * gram
                else:
                    sa, sb = tf.gather(s1, pa, axis=1), tf.gather(s1, pb, axis=1)
                    if want & {"rt2", "rd4", "ra4"}:
                        extra = self._from_pairs(tf.reduce_sum(sa * sb * td_prev, -1))
                        H = p["lambda_b"] + p["lambda_W"] * gram + (p["C_W"] / m) * extra
                if "rt2" in want:
                    layer_feats["rt2"] = H
                if "rd4" in want:
                    layer_feats["rd4"] = _outer(G, H)
                if "ra4" in want:
                    layer_feats["ra4"] = _outer(H, H)
                c2 = (p["C_W"] / m) ** 2
                if "rf4" in want:
                    if l == 1:
                        layer_feats["rf4"] = zero4
                    elif l == 2:  # D Theta^(1) D = diag(w)
                        g = tf.einsum("eak,epk,eck->eapc", s, M, s)
                        layer_feats["rf4"] = c2 * tf.gather(tf.reshape(g, [-1, N * P * N]), self.g_idx, axis=1)
                    else:
                        layer_feats["rf4"] = c2 * self._contract_f(s, M)
                if "rb4" in want:
                    if l == 1:
                        layer_feats["rb4"] = zero4
                    elif l == 2:
                        S1 = tf.matmul(M, M, transpose_b=True)
                        layer_feats["rb4"] = c2 * self._contract_b(S1, S1)
                    else:
                        layer_feats["rb4"] = c2 * self._contract_b(*self._frobenius(M))
            for k, v in layer_feats.items():
                feats.setdefault(k, []).append(tf.cast(v, tf.float64))
            zprev = z
        self._control_variates(feats)
        return {k: tf.stack(v, axis=1) for k, v in feats.items()}

    def _control_variates(self, feats):
        L = self.L
        if self.control_variates and L >= 3:
            # control variates with known means: the layer-2 kernels G^(2), H^(2) (their means
            # are the infinite-width K^(2), Theta^(2) exactly, layer 1 being Gaussian); they are
            # the Rao-Blackwellised rk2, rt2 of layer 2, so those must be among the features
            for plain, name in (("k2", "cvk"), ("t2", "cvt")):
                rb = "r" + plain
                if rb not in feats:
                    continue
                c = feats[rb][1]
                feats[name] = [c] * L
                feats[name + "2"] = [c * c] * L
                for y in (plain, rb):
                    if y in feats:
                        feats["x" + y] = [v * c for v in feats[y]]

    # -- one chunk -------------------------------------------------------------------
    def _chunk(self, e0, valid, key):
        self.traces += 1  # Python side: runs once per trace
        E = self.chunk
        Ws, bs = self.params(e0, E, key, layers=self.drawn_layers)
        feats = self.chunk_features(Ws, bs)
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

    def run_chunk(self, e0: int, valid: int, seed: int | None = None):
        key = self.key if seed is None else int(seed) % (2**64)
        sums, counts, bad = self._fn(tf.constant(e0, tf.int64), tf.constant(valid, tf.int32),
                                     tf.constant([key], tf.uint64))
        return {k: v.numpy() for k, v in sums.items()}, counts.numpy(), int(bad.numpy())


# Ensembles (with their traced tf.function) are kept for reuse by later jobs with the same
# network, inputs, widths, dtype, chunk, blocks and features; the seed is a tensor argument,
# so a new seed does not retrace.
_CACHE: OrderedDict[tuple, Ensemble] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def cached_ensemble(spec, x: np.ndarray, widths, *, seed: int, dtype: str, chunk: int, blocks: int,
                    need_ntk: bool, need_dntk: bool, control_variates: bool = False, features=None,
                    need_ddntk: bool = False) -> Ensemble:
    """An Ensemble for these settings, reused when one was built before (seed passed per chunk)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    key = (json.dumps(spec.to_dict(), sort_keys=True, default=str), repr(spec.activation.slopes), x.shape, x.tobytes(), tuple(int(w) for w in widths),
           dtype, int(chunk), int(blocks), bool(need_ntk), bool(need_dntk), bool(control_variates),
           None if features is None else frozenset(features), bool(need_ddntk))
    with _CACHE_LOCK:
        ens = _CACHE.get(key)
        if ens is not None:
            _CACHE.move_to_end(key)
            return ens
    ens = Ensemble(spec, x, widths, seed=seed, dtype=dtype, chunk=chunk, blocks=blocks, need_ntk=need_ntk,
                   need_dntk=need_dntk, control_variates=control_variates, features=features,
                   need_ddntk=need_ddntk)
    with _CACHE_LOCK:
        _CACHE[key] = ens
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ens
