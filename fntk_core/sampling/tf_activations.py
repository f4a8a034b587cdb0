"""Activations of the one registry (fntk_core.activations) as TensorFlow callables.

Imported only by the sampler engine (TensorFlow is loaded lazily).  Smooth
activations are translated node by node from their SymPy expression (and its
derivatives); constant subexpressions are evaluated to Python floats so the
result keeps the dtype of the input tensor.  The scale-invariant (ReLU) family
uses its slopes: sigma'' = 0 almost everywhere.
"""
from __future__ import annotations

import sympy as sp
import tensorflow as tf

from ..activations import Activation, Z, sigmoid, softplus
from ..errors import FntkError

_FUNCS = {
    sp.exp: tf.exp,
    sp.log: tf.math.log,
    sp.tanh: tf.tanh,
    sp.sinh: tf.sinh,
    sp.cosh: tf.cosh,
    sp.sin: tf.sin,
    sp.cos: tf.cos,
    sp.atan: tf.atan,
    sp.erf: tf.math.erf,
    sp.erfc: tf.math.erfc,
    sigmoid: tf.sigmoid,
    softplus: tf.math.softplus,
}


class UnsupportedActivation(FntkError, ValueError):
    pass


def _to_tf(expr: sp.Expr, z):
    if not expr.has(Z):
        return float(expr.evalf())
    if expr == Z:
        return z
    if isinstance(expr, sp.Add):
        out = None
        for a in expr.args:
            t = _to_tf(a, z)
            out = t if out is None else out + t
        return out
    if isinstance(expr, sp.Mul):
        out = None
        for a in expr.args:
            t = _to_tf(a, z)
            out = t if out is None else out * t
        return out
    if isinstance(expr, sp.Pow):
        base, ex = expr.args
        if not ex.has(Z):
            e = float(ex)
            b = _to_tf(base, z)
            if e == int(e) and abs(e) <= 8:
                k = int(abs(e))
                out = tf.ones_like(z) if k == 0 else b
                for _ in range(k - 1):
                    out = out * b
                return 1.0 / out if e < 0 else out
            if e == 0.5:
                return tf.sqrt(b)
            if e == -0.5:
                return tf.math.rsqrt(b)
            return tf.pow(b, e)
        if not base.has(Z):  # c**f(z)
            return tf.exp(float(sp.log(base).evalf()) * _to_tf(ex, z))
        return tf.exp(_to_tf(ex * sp.log(base), z))
    for cls, fn in _FUNCS.items():
        if isinstance(expr, cls):
            return fn(_to_tf(expr.args[0], z))
    raise UnsupportedActivation(f"cannot translate {expr} to TensorFlow")


def tf_derivative(act: Activation, order: int):
    """A TensorFlow callable for sigma^(order): any order of a smooth activation (the engine
    uses 0-2, the ddNTK forward equations 0-3); for the ReLU family 0, 1 and zero above."""
    if act.slopes is not None:
        s_plus, s_minus = act.slopes
        if order == 0:
            return lambda z: tf.where(z > 0, tf.cast(s_plus, z.dtype), tf.cast(s_minus, z.dtype)) * z
        if order == 1:
            return lambda z: tf.where(z > 0, tf.cast(s_plus, z.dtype), tf.cast(s_minus, z.dtype))
        return lambda z: tf.zeros_like(z)
    expr = act.symbolic(order)

    def fn(z):
        out = _to_tf(expr, z)
        if isinstance(out, float):
            return tf.fill(tf.shape(z), tf.cast(out, z.dtype))
        return out

    return fn
