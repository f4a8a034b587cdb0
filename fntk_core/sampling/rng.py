"""Standard normals for the sampler: TensorFlow's StatelessRandomNormalV2 stream, faster.

Imported only with the engine (TensorFlow is imported here).
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import tensorflow as tf

# -- standard normals: the stream of StatelessRandomNormalV2 (Philox, float64), faster -------
#
# TensorFlow's CPU kernel turns each Philox output (4 x uint32) into two float64 normals by
# Box-Muller with scalar log / sincos; that was half the sampler's time.  Here the same
# Philox bits (StatelessRandomUniformFullIntV2, same key and counter: bit-identical) go
# through the same Box-Muller map in one XLA-fused, vectorised loop, with sin/cos(2 pi v) by
# quadrant reduction and Taylor polynomials on [-pi/4, pi/4] (truncation < 1e-16).  The
# normals agree with StatelessRandomNormalV2's to a few ulp (|diff| < 1e-14; the test suite
# checks this), so the networks are the same ones.
_SIN = [(-1) ** k / math.factorial(2 * k + 1) for k in range(8)]
_COS = [(-1) ** k / math.factorial(2 * k) for k in range(9)]


def _uint64_to_unit(u):
    """Philox uint64 (= x1 << 32 | x0 of the uint32 pair) -> [0, 1) as TensorFlow's Uint64ToDouble(x0, x1)."""
    lo = tf.bitwise.right_shift(u, tf.constant(32, tf.uint64))
    hi = tf.bitwise.left_shift(tf.bitwise.bitwise_and(u, tf.constant(0xFFFFF, tf.uint64)), tf.constant(32, tf.uint64))
    one = tf.constant(1023 << 52, tf.uint64)
    return tf.bitcast(tf.bitwise.bitwise_or(tf.bitwise.bitwise_or(hi, lo), one), tf.float64) - 1.0


def _sincos_2pi(v):
    """sin(2 pi v), cos(2 pi v) for v in [0, 1)."""
    q = tf.round(4.0 * v)
    th = (v - 0.25 * q) * (2.0 * math.pi)  # |th| <= pi/4
    t2 = th * th
    sn = _SIN[-1]
    for c in _SIN[-2::-1]:
        sn = sn * t2 + c
    sn = sn * th
    cs = _COS[-1]
    for c in _COS[-2::-1]:
        cs = cs * t2 + c
    k = tf.math.floormod(tf.cast(q, tf.int32), 4)
    sin = tf.where(k == 0, sn, tf.where(k == 1, cs, tf.where(k == 2, -sn, -cs)))
    cos = tf.where(k == 0, cs, tf.where(k == 1, -sn, tf.where(k == 2, -cs, sn)))
    return sin, cos


def _box_muller(bits):
    f = tf.reshape(_uint64_to_unit(bits), [-1, 2])
    r = tf.sqrt(-2.0 * tf.math.log(tf.maximum(f[:, 0], 1.0e-7)))
    sin, cos = _sincos_2pi(f[:, 1])
    return tf.reshape(tf.stack([sin * r, cos * r], 1), [-1])


@tf.function(jit_compile=True, autograph=False)
def _philox_normal_xla(shape, key, counter):
    bits = tf.raw_ops.StatelessRandomUniformFullIntV2(shape=shape, key=key, counter=counter, alg=1, dtype=tf.uint64)
    return _box_muller(bits)


_ROWS_XLA: dict = {}


def _philox_normal_rows_xla(rows: int, per: int):
    """XLA function (key, counters (rows,) uint64) -> (rows, per) float64: row r holds the ``per``
    normals of the stream that start at Philox counter counters[r] (per even), i.e. the same
    numbers as ``_philox_normal_xla`` from that counter; one fused computation for all rows."""
    fn = _ROWS_XLA.get((rows, per))
    if fn is None:
        def rows_fn(key, counters):
            zero = tf.constant(0, tf.uint64)
            bits = [tf.raw_ops.StatelessRandomUniformFullIntV2(
                shape=tf.constant([per], tf.int64), key=key, counter=tf.stack([counters[r], zero]), alg=1,
                dtype=tf.uint64) for r in range(rows)]
            return tf.reshape(_box_muller(tf.concat(bits, 0)), [rows, per])

        fn = _ROWS_XLA[(rows, per)] = tf.function(rows_fn, jit_compile=True, autograph=False)
    return fn


_XLA: bool | None = None


def xla_available() -> bool:
    """Whether XLA compiles here (else the normals come from StatelessRandomNormalV2 itself)."""
    global _XLA
    if _XLA is None:
        if os.environ.get("FNTK_SAMPLER_XLA_RNG", "1") == "0":
            _XLA = False
        else:
            why = "its normals differ from StatelessRandomNormalV2's"
            try:  # eagerly, also when first asked while a tf.function is being traced
                with tf.init_scope():
                    _XLA = _xla_matches_reference()
            except Exception as exc:  # no XLA in this build / on this device
                _XLA, why = False, f"XLA is not available ({type(exc).__name__})"
            if not _XLA:  # the same numbers, only slower: say so (FNTK_SAMPLER_XLA_RNG=0 silences it)
                warnings.warn(f"fntk sampler: the fast XLA random-number generator is off: {why}; using "
                              "TensorFlow's slower StatelessRandomNormalV2 (same numbers)", RuntimeWarning, stacklevel=2)
    return _XLA


def _xla_matches_reference() -> bool:
    """The XLA normals equal StatelessRandomNormalV2's on a probe."""
    key = tf.constant([1], tf.uint64)
    ctr = tf.constant([0, 0], tf.uint64)
    shape = tf.constant([8], tf.int64)
    a = _philox_normal_xla(shape, key, ctr).numpy()
    b = tf.raw_ops.StatelessRandomNormalV2(shape=shape, key=key, counter=ctr, alg=1, dtype=tf.float64).numpy()
    return bool(np.allclose(a, b, rtol=0, atol=1e-13))
