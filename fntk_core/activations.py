"""The one activation registry.

Every activation is a SymPy expression in ``z`` (the symbolic side, used by the
LaTeX printer and for derivatives of any order) plus vectorised NumPy callables
for sigma and its derivatives.  Scale-invariant activations
(sigma(lam z) = lam sigma(z), lam > 0: ReLU, LeakyReLU, linear) are piecewise
linear, ``sigma(z) = z (s_plus [z>0] + s_minus [z<0])``; their derivatives are
distributions, so they carry ``slopes`` and the Gaussian engine treats them
exactly instead of sampling their kinks.

Custom activations are typed formulas in ``z`` parsed with :mod:`ast` against a
whitelist of names; user text is never evaluated.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import scipy.special as sps
import sympy as sp

from .errors import FntkError

Z = sp.Symbol("z", real=True)


class sigmoid(sp.Function):
    """Logistic function with a derivative SymPy knows and a stable numeric form."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)


class softplus(sp.Function):
    """log(1 + e^z), evaluated stably."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])


_NUMERIC_MODULES = [
    {
        "sigmoid": sps.expit,
        "softplus": lambda x: np.logaddexp(0.0, x),
        "erf": sps.erf,
        "erfc": sps.erfc,
    },
    "numpy",
]

# Functions a custom formula may call: name -> SymPy constructor (one argument).
_ALLOWED_FUNCTIONS: dict[str, Callable] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
    "atan": sp.atan,
    "arctan": sp.atan,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "sigmoid": sigmoid,
    "softplus": softplus,
}
_ALLOWED_CONSTANTS = {"pi": sp.pi, "e": sp.E, "E": sp.E}
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
MAX_FORMULA_LENGTH = 500


class FormulaError(FntkError, ValueError):
    """A custom activation formula that cannot be accepted."""


def parse_formula(text: str) -> sp.Expr:
    """Parse a formula in ``z`` into SymPy, accepting only whitelisted syntax.

    Allowed: numbers, ``z``, ``pi``, ``e``, + - * / ** (``^`` is read as power),
    unary minus and the functions in ``_ALLOWED_FUNCTIONS``.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_FORMULA_LENGTH} characters")
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"the formula is not valid syntax: {exc.msg}") from None

    def build(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sp.nsimplify(node.value) if isinstance(node.value, int) else sp.Float(node.value)
        if isinstance(node, ast.Name):
            if node.id == "z":
                return Z
            if node.id in _ALLOWED_CONSTANTS:
                return _ALLOWED_CONSTANTS[node.id]
            raise FormulaError(f"unknown name {node.id!r}: the variable is 'z'")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = build(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in _ALLOWED_FUNCTIONS:
                allowed = ", ".join(sorted(_ALLOWED_FUNCTIONS))
                what = name or ast.unparse(node.func)  # name what was refused, e.g. __import__('os').system
                raise FormulaError(f"function {what!r} is not allowed in a formula (allowed: {allowed})")
            if len(node.args) != 1 or node.keywords:
                raise FormulaError(f"function {name!r} takes exactly one argument")
            return _ALLOWED_FUNCTIONS[name](build(node.args[0]))
        raise FormulaError(f"syntax not allowed in a formula: {type(node).__name__}")

    expr = build(tree)
    if Z not in expr.free_symbols:
        raise FormulaError("the formula does not depend on z")
    return expr


@dataclass(frozen=True)
class Activation:
    """An activation function sigma(z) with derivatives of every order.

    ``slopes`` is ``(s_plus, s_minus)`` for the scale-invariant (piecewise-linear)
    family and ``None`` for smooth activations.
    """

    name: str
    expr: sp.Expr
    params: tuple[tuple[str, float], ...] = ()
    slopes: tuple[float, float] | None = None
    _numeric: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def scale_invariant(self) -> bool:
        return self.slopes is not None

    def symbolic(self, order: int = 0) -> sp.Expr:
        """d^order sigma / dz^order as a SymPy expression (smooth part only for kinks)."""
        return _derivative(self.expr, order)

    def derivative(self, order: int) -> Callable[[np.ndarray], np.ndarray]:
        """Vectorised sigma^(order).  For scale-invariant activations orders >= 2 are
        zero almost everywhere (the delta functions live in the Gaussian engine)."""
        if order < 0:
            raise ValueError("derivative order must be >= 0")
        if order not in self._numeric:
            self._numeric[order] = self._make_numeric(order)
        return self._numeric[order]

    def derivatives(self, top: int) -> Callable[[np.ndarray], list[np.ndarray]]:
        """Vectorised [sigma, sigma', ..., sigma^(top)] in one pass: what the orders share
        (tanh z, phi(z), ...) is computed once, which the quadrature needs at every node."""
        key = ("upto", top)
        if key not in self._numeric:
            self._numeric[key] = self._make_joint(top)
        return self._numeric[key]

    def __call__(self, z):
        return self.derivative(0)(np.asarray(z, dtype=float))

    def _make_joint(self, top: int):
        singles = [self.derivative(m) for m in range(top + 1)]
        if self.slopes is not None or top == 0:
            return lambda z: [f(z) for f in singles]
        fn = sp.lambdify(Z, [_fast_expr(self.symbolic(m)) for m in range(top + 1)], modules=_NUMERIC_MODULES, cse=True)

        def joint(z):
            z = np.asarray(z, dtype=float)
            return [np.broadcast_to(np.asarray(v, dtype=float), z.shape) for v in fn(z)]

        with np.errstate(all="ignore"):   # the shared form must agree with the single ones
            a = [np.broadcast_to(f(_PROBE), _PROBE.shape) for f in singles]
            b = joint(_PROBE)
        ok = all(np.all(np.isfinite(x) == np.isfinite(y)) and np.allclose(x, y, rtol=1e-12, atol=1e-14, equal_nan=True)
                 for x, y in zip(a, b))
        return joint if ok else (lambda z: [f(z) for f in singles])

    def _make_numeric(self, order: int):
        if self.slopes is not None:
            sp_, sm = self.slopes
            if order == 0:
                return lambda z: np.where(np.asarray(z) > 0, sp_, sm) * np.asarray(z, dtype=float)
            if order == 1:
                return lambda z: np.where(np.asarray(z) > 0, sp_, sm) + 0.0 * np.asarray(z, dtype=float)
            return lambda z: np.zeros_like(np.asarray(z, dtype=float))
        fn = _fast_numeric(self.symbolic(order))
        return lambda z: np.broadcast_to(fn(np.asarray(z, dtype=float)), np.shape(z)).astype(float)

    def describe(self) -> dict:
        """JSON-ready description (used in result metadata)."""
        out = {"name": self.name, "formula": str(self.expr)}
        out.update(dict(self.params))
        return out


_PROBE = np.array([-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0])


def _fast_numeric(expr: sp.Expr):
    """Lambdify the cheaper of ``expr`` and its factored form (see :func:`_fast_expr`)."""
    return sp.lambdify(Z, _fast_expr(expr), modules=_NUMERIC_MODULES, cse=True)


@lru_cache(maxsize=512)
def _fast_expr(expr: sp.Expr) -> sp.Expr:
    """The cheaper of ``expr`` and its factored form, if they agree.

    High derivatives (e.g. GeLU's phi(z) * polynomial) factor into far fewer
    operations; a factored form that overflows or disagrees is rejected.
    """
    try:
        factored = sp.factor(sp.expand(expr))
    except (sp.PolynomialError, TypeError, ValueError):
        return expr
    if sp.count_ops(factored) >= sp.count_ops(expr):
        return expr
    plain = sp.lambdify(Z, expr, modules=_NUMERIC_MODULES, cse=True)
    fast = sp.lambdify(Z, factored, modules=_NUMERIC_MODULES, cse=True)
    with np.errstate(all="ignore"):
        a = np.broadcast_to(plain(_PROBE), _PROBE.shape)
        b = np.broadcast_to(fast(_PROBE), _PROBE.shape)
    ok = np.all(np.isfinite(b) == np.isfinite(a)) and np.allclose(a, b, rtol=1e-12, atol=1e-14, equal_nan=True)
    return factored if ok else expr


@lru_cache(maxsize=512)
def _derivative(expr: sp.Expr, order: int) -> sp.Expr:
    return expr if order == 0 else sp.diff(_derivative(expr, order - 1), Z)


def _relu_like(name: str, s_plus: float, s_minus: float, params=()) -> Activation:
    expr = sp.Piecewise((s_plus * Z, Z > 0), (s_minus * Z, True)) if s_plus != s_minus else s_plus * Z
    return Activation(name, expr, tuple(params), slopes=(float(s_plus), float(s_minus)))


_SQRT2 = sp.sqrt(2)
_SMOOTH = {
    "tanh": sp.tanh(Z),
    "erf": sp.erf(Z),
    "gelu": Z / 2 * (1 + sp.erf(Z / _SQRT2)),
    "gelu_tanh": Z / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (Z + sp.Rational(44715, 1000000) * Z**3))),
    "silu": Z * sigmoid(Z),
    "softplus": softplus(Z),
    "sin": sp.sin(Z),
}
ACTIVATION_NAMES = ("relu", "leaky_relu", "linear", *_SMOOTH, "custom")


def get_activation(name: str, *, alpha: float | None = None, formula: str | None = None) -> Activation:
    """Look up an activation by name.

    ``alpha`` is LeakyReLU's negative slope (default 0.01); ``formula`` is the text
    of a custom activation (name ``"custom"``).
    """
    key = (name or "").strip().lower()
    if alpha is not None and key != "leaky_relu":
        raise FormulaError(f"--alpha applies only to leaky_relu, not to {name!r}")
    if formula is not None and key != "custom":
        raise FormulaError(f"a formula applies only to the 'custom' activation, not to {name!r}")
    if key == "relu":
        return _relu_like("relu", 1.0, 0.0)
    if key == "leaky_relu":
        a = 0.01 if alpha is None else float(alpha)
        if not np.isfinite(a):
            raise FormulaError("alpha must be a finite number")
        return _relu_like("leaky_relu", 1.0, a, params=(("alpha", a),))
    if key == "linear":
        return _relu_like("linear", 1.0, 1.0)
    if key in _SMOOTH:
        return Activation(key, _SMOOTH[key])
    if key == "custom":
        if formula is None:
            raise FormulaError("the custom activation needs a formula in z, e.g. 'z*tanh(softplus(z))'")
        return Activation("custom", parse_formula(formula), (("formula", formula),))
    raise FormulaError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}")


def activation_from_description(desc: dict) -> Activation:
    """Inverse of :meth:`Activation.describe` (for result and settings files)."""
    return get_activation(desc["name"], alpha=desc.get("alpha"), formula=desc.get("formula") if desc["name"] == "custom" else None)
