"""Diagrams -> recursions: counts, coefficients, and agreement with the engine.

Agreement is checked twice: term by term after canonicalisation, and
numerically through the same compiled plan the solver uses (tanh and relu,
random kernels, random lower-layer tensors with their index symmetries).
"""
import itertools
import json
import math

import numpy as np
import pytest
import sympy as sp

from fntk_core import get_activation
from fntk_core.diagrams import RuleError, assembled_recursion, assembled_recursions, enumerate_diagrams
from fntk_core.diagrams.canonical import difference
from fntk_core.diagrams.rules import STATISTICS, tensor_symmetries
from fntk_core.recursions.compiled import cached_plan
from fntk_core.recursions.library import IMPLEMENTED, get_recursion
from fntk_core.recursions.terms import C_W

from fntk_core.diagrams.library import library_tensors

# every engine tensor whose legs have Feynman rules: K, Theta, V, K1, Theta1, F, D, A, B, P, Q
ENGINE = [n for n in IMPLEMENTED if n in library_tensors()]


def test_counts_and_coefficients_of_the_papers_examples():
    f = enumerate_diagrams("F")
    assert len(f) == 2
    th = enumerate_diagrams("Theta1")
    assert len(th) == 5
    got = {(e.diagram.graph.nodes["v1"]["tensor"], e.coefficient) for e in th}
    want = {("Theta1", C_W), ("K1", sp.Rational(1, 2)), ("V", sp.Rational(1, 8)),
            ("D", C_W / 2), ("F", C_W)}
    assert got == want
    assert len(enumerate_diagrams("K1")) == 2  # no "new" term: K1 is linear


@pytest.mark.parametrize("name", ENGINE)
def test_recursion_agrees_term_by_term(name):
    mine, engine = assembled_recursion(name), get_recursion(name)
    assert mine.labels == engine.labels
    assert difference(mine, engine) == {}


@pytest.mark.parametrize("name", ENGINE)
def test_symmetry_factor_is_orbit_counting(name):
    """1/|Aut| equals (isomorphic candidates of the search) / (number of vertex z-legs)!."""
    for e in enumerate_diagrams(name):
        assert sp.Rational(e.multiplicity, math.factorial(e.zlegs)) == sp.Rational(1, e.translation.automorphisms)


def _symmetrise(name, a):
    perms = tensor_symmetries(name)
    return sum(np.transpose(a, p) for p in perms) / len(perms)


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_recursions_agree_numerically(act):
    rng = np.random.default_rng(3)
    n = 3
    names = [x for x in ENGINE]
    mine = tuple(assembled_recursions(names)[x] for x in names)
    engine = tuple(get_recursion(x) for x in names)
    x = rng.normal(size=(n, 4))
    K = x @ x.T / 4 + 0.3 * np.eye(n)
    y = rng.normal(size=(n, 4))
    TH = y @ y.T / 4 + 0.2 * np.eye(n)
    lower = {"K1": _symmetrise("K1", rng.normal(size=(n, n))),
             "Theta1": _symmetrise("Theta1", rng.normal(size=(n, n)))}
    for t in "VDFABPQ":
        lower[t] = _symmetrise(t, rng.normal(size=(n,) * 4))
    params = {"C_W": 1.3, "C_b": 0.2, "lambda_W": 0.7, "lambda_b": 0.1, "r": 1.6}
    a = get_activation(act)
    out_mine = cached_plan(mine, n).step(a, K, TH, lower, params)
    out_engine = cached_plan(engine, n).step(a, K, TH, lower, params)
    for name in names:
        scale = max(1.0, np.abs(out_engine[name]).max())
        np.testing.assert_allclose(out_mine[name], out_engine[name], rtol=0, atol=1e-12 * scale, err_msg=name)


def test_solve_with_diagram_recursions_matches_builtin(tmp_path):
    from fntk_core.cli import main

    common = ["solve", "--activation", "tanh", "--cw", "1.2", "--cb", "0.1", "--lambda-b", "0.05", "--depth", "4",
              "--input=0.3,-0.8", "--input=1.1,0.4", "--tensors", "K,Theta,V,K1,Theta1,D,F,A,B,P,Q"]
    assert main(common + ["--out", str(tmp_path / "a.json")]) == 0
    assert main(common + ["--recursions", "diagrams", "--out", str(tmp_path / "b.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["tensors"]
    b = json.loads((tmp_path / "b.json").read_text())["tensors"]
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(np.array(b[k]), np.array(a[k]), rtol=1e-12, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("name", ["R", "S", "T", "U"])
def test_ddntk_tensors_wait_for_their_rules(name):
    """R..U are defined (rules.STATISTICS) but their legs have no forward-equation branches yet."""
    assert name in STATISTICS
    if name in IMPLEMENTED:  # the engine has them: the diagrams must at least agree on the labels
        assert STATISTICS[name].labels == get_recursion(name).labels
    with pytest.raises(RuleError) as exc:
        enumerate_diagrams(name)
    assert exc.value.rule == "branch"


def test_every_diagram_is_distinct_and_connected():
    for name in ENGINE:
        found = enumerate_diagrams(name)
        for a, b in itertools.combinations(found, 2):
            assert not a.diagram.is_isomorphic(b.diagram)
