"""Recursions as data.

A recursion gives a layer-(l+1) statistic as a sum of :class:`Term` s.  Each term
is a coefficient (SymPy, in the layer-(l+1) hyperparameters and r) times
leading-order NTK values Theta^(l) at given sample labels, times Gaussian
expectations <d_b1 ... d_bk (prod sigma^(m)_a)>_{K^(l)}, times at most one
layer-l tensor with its index contraction.  Labels that are not external are
summed over the inputs.  The solver compiles these objects; the LaTeX printer
and the diagram engine produce and consume the same objects.

Small builder algebra (``sig``, ``theta``, ``omega``, ``E``, ``T``) keeps the
transcription of theory.md section 3 close to the page.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

import sympy as sp

# Hyperparameters of layer l+1 and the width ratio r = n_l / n_{l-1}.
C_W, C_b, lambda_W, lambda_b, r = sp.symbols("C_W C_b lambda_W lambda_b r", positive=True)
SYMBOLS = {"C_W": C_W, "C_b": C_b, "lambda_W": lambda_W, "lambda_b": lambda_b, "r": r}


@dataclass(frozen=True, order=True)
class Field:
    """sigma^(order) evaluated at the preactivation with sample label ``label``."""

    order: int
    label: str


@dataclass(frozen=True)
class Expectation:
    """<d_{derivs[0]} ... (prod fields)>_{K^(l)}: derivatives act on the whole product."""

    derivs: tuple[str, ...]
    fields: tuple[Field, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        seen = dict.fromkeys([f.label for f in self.fields] + list(self.derivs))
        return tuple(seen)


@dataclass(frozen=True)
class TensorRef:
    """A layer-l tensor (K1, V, D, ...) with the labels of its index slots."""

    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Term:
    coeff: sp.Expr
    thetas: tuple[tuple[str, str], ...] = ()
    expectations: tuple[Expectation, ...] = ()
    tensor: TensorRef | None = None
    # builder-only: sigma factors not yet closed into an expectation
    pending: tuple[Field, ...] = field(default=(), repr=False)
    # which diagram produced the term (a library id such as "F/2"); not part of its value
    source: str | None = field(default=None, repr=False, compare=False)

    def labels(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a, b in self.thetas:
            seen.update({a: None, b: None})
        for e in self.expectations:
            seen.update(dict.fromkeys(e.labels))
        if self.tensor is not None:
            seen.update(dict.fromkeys(self.tensor.labels))
        return tuple(seen)


@dataclass(frozen=True)
class Recursion:
    """statistic^(l+1)[labels] = sum(terms); ``labels`` in storage order (theory.md section 2)."""

    name: str
    labels: tuple[str, ...]
    terms: tuple[Term, ...]

    def dependencies(self) -> set[str]:
        return {t.tensor.name for t in self.terms if t.tensor is not None}

    def dummies(self, term: Term) -> tuple[str, ...]:
        return tuple(l for l in term.labels() if l not in self.labels)


# --------------------------------------------------------------------------
# Builder algebra: a Sum is a list of Terms; products distribute.
class Sum:
    def __init__(self, terms: Iterable[Term]):
        self.terms = list(terms)

    def __add__(self, other):
        return Sum(self.terms + _as_sum(other).terms)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1) * _as_sum(other)

    def __mul__(self, other):
        other = _as_sum(other)
        return Sum(_mul(a, b) for a in self.terms for b in other.terms)

    __rmul__ = __mul__

    def __neg__(self):
        return (-1) * self


def _as_sum(x) -> Sum:
    if isinstance(x, Sum):
        return x
    return Sum([Term(coeff=sp.sympify(x))])


def _mul(a: Term, b: Term) -> Term:
    if a.tensor is not None and b.tensor is not None:
        raise ValueError("a term carries at most one lower-layer tensor")
    return Term(
        coeff=a.coeff * b.coeff,
        thetas=a.thetas + b.thetas,
        expectations=a.expectations + b.expectations,
        tensor=a.tensor or b.tensor,
        pending=a.pending + b.pending,
    )


def sig(order: int, label: str) -> Sum:
    """sigma^(order)_label, to be closed by :func:`E`."""
    return Sum([Term(coeff=sp.Integer(1), pending=(Field(order, label),))])


def theta(a: str, b: str) -> Sum:
    """The leading-order NTK Theta^(l)_{ab} (a constant inside expectations)."""
    return Sum([Term(coeff=sp.Integer(1), thetas=((a, b),))])


def omega(a: str, b: str) -> Sum:
    """Omega_ab = lambda_W sigma_a sigma_b + C_W Theta_ab sigma'_a sigma'_b."""
    return lambda_W * sig(0, a) * sig(0, b) + C_W * theta(a, b) * sig(1, a) * sig(1, b)


def E(expr: Sum, *derivs: str) -> Sum:
    """<d_derivs (expr)>: closes the pending sigma factors of every term."""
    out = []
    for t in _as_sum(expr).terms:
        if not t.pending:
            raise ValueError("an expectation needs at least one sigma factor")
        ex = Expectation(tuple(derivs), tuple(sorted(t.pending, key=lambda f: (f.label, f.order))))
        out.append(replace(t, pending=(), expectations=t.expectations + (ex,)))
    return Sum(out)


def T(name: str, *labels: str) -> Sum:
    """A layer-l tensor with its index labels."""
    return Sum([Term(coeff=sp.Integer(1), tensor=TensorRef(name, tuple(labels)))])


def recursion(name: str, labels: Iterable[str], expr: Sum) -> Recursion:
    terms = []
    for t in _as_sum(expr).terms:
        if t.pending:
            raise ValueError(f"{name}: sigma factors outside an expectation")
        c = sp.expand(t.coeff)
        if c != 0:
            terms.append(replace(t, coeff=c))
    return Recursion(name, tuple(labels), tuple(terms))
