"""Diagrams -> recursions: counts, coefficients, and agreement with the engine.

Agreement is checked twice: term by term after canonicalisation, and
numerically through the same compiled plan the solver uses (tanh and gelu; relu
without R..U, which it cannot evaluate), random kernels, random lower-layer tensors
with their index symmetries.
"""
import itertools
import json
import math

import numpy as np
import pytest
import sympy as sp

from fntk_core import get_activation
from fntk_core.diagrams import assembled_recursion, assembled_recursions, enumerate_diagrams
from fntk_core.diagrams.canonical import difference
from fntk_core.diagrams.rules import STATISTICS, tensor_symmetries
from fntk_core.recursions.compiled import cached_plan
from fntk_core.recursions.library import IMPLEMENTED, get_recursion
from fntk_core.recursions.terms import C_W, lambda_W

from fntk_core.diagrams.library import library_tensors

# every engine tensor whose legs have Feynman rules: K, Theta, V, K1, Theta1, F, D, A, B, P, Q, R, S, T, U
ENGINE = [n for n in IMPLEMENTED if n in library_tensors()]
assert set(ENGINE) == set(IMPLEMENTED), "every engine recursion has its diagrams"


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


DDNTK = ("R", "S", "T", "U")


# relu has no Gaussian expectations for R..U (sigma''' and sigma'' sigma'' at one point are products of
# distributions, docs/ddntk.md section 4): relu checks the other tensors, tanh and gelu check all of them.
@pytest.mark.parametrize("act", ["tanh", "gelu", "relu"])
def test_recursions_agree_numerically(act):
    rng = np.random.default_rng(3)
    n = 3
    names = [x for x in ENGINE if act != "relu" or x not in DDNTK]
    mine = tuple(assembled_recursions(names)[x] for x in names)
    engine = tuple(get_recursion(x) for x in names)
    x = rng.normal(size=(n, 4))
    K = x @ x.T / 4 + 0.3 * np.eye(n)
    y = rng.normal(size=(n, 4))
    TH = y @ y.T / 4 + 0.2 * np.eye(n)
    lower = {"K1": _symmetrise("K1", rng.normal(size=(n, n))),
             "Theta1": _symmetrise("Theta1", rng.normal(size=(n, n)))}
    for t in "VDFABPQRSTU":
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
              "--input=0.3,-0.8", "--input=1.1,0.4", "--tensors", "K,Theta,V,K1,Theta1,D,F,A,B,P,Q,R,S,T,U"]
    assert main(common + ["--out", str(tmp_path / "a.json")]) == 0
    assert main(common + ["--recursions", "diagrams", "--out", str(tmp_path / "b.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["tensors"]
    b = json.loads((tmp_path / "b.json").read_text())["tensors"]
    assert a.keys() == b.keys() and set(DDNTK) <= set(a)
    for k in a:
        np.testing.assert_allclose(np.array(b[k]), np.array(a[k]), rtol=1e-12, atol=1e-13, err_msg=k)


def test_ddntk_diagram_counts_and_coefficients():
    """R, S, T, U from the ddNTK forward equations (docs/ddntk.md section 1): per tensor the
    (vertex, blobs, coefficient) of every diagram; their terms are checked against the engine above."""
    cc, cl, ll = C_W**2, C_W * lambda_W, lambda_W**2
    want = {
        "R": [(None, 1, cc), (None, 1, cl), ("B", 2, cc), ("B", 2, cl), ("P", 2, cc), ("P", 2, cl), ("R", 2, cc)],
        "S": [(None, 1, cc), (None, 1, cl), ("B", 2, cc), ("B", 2, cl), ("S", 2, cc)],
        "T": [(None, 1, cc), (None, 1, cl), (None, 1, cl), (None, 1, ll),
              ("F", 2, cc), ("F", 2, cl), ("F", 2, cl), ("F", 2, ll),
              ("Q", 2, cc), ("Q", 2, cc), ("Q", 2, cl), ("Q", 2, cl), ("T", 2, cc)],
        "U": [(None, 1, cc), ("U", 2, cc)],
    }
    for name, rows in want.items():
        got = []
        for e in enumerate_diagrams(name):
            g = e.diagram.graph
            vt = [g.nodes[v]["tensor"] for v in e.diagram.nodes("vertex")]
            got.append((vt[0] if vt else None, len(e.diagram.nodes("blob")), e.coefficient))
        assert sorted(got, key=str) == sorted(rows, key=str), name
        assert STATISTICS[name].labels == get_recursion(name).labels
        assert name in library_tensors()


def test_ddntk_new_terms_are_the_documented_ones():
    """The (lambda_W/n)^2 branch of dd_II (two own-layer contractions, no weight) gives T its
    lambda_W^2 Theta_12 <sigma'_1 sigma_3 sigma'_2 sigma_4> term and an F diagram; sigma''' enters R only."""
    t = {e.translation.terms[0].coeff: e for e in enumerate_diagrams("T") if not e.diagram.nodes("vertex")}
    own2 = t[lambda_W**2]
    leg = own2.diagram.nodes("leg")[0]
    assert own2.diagram.graph.nodes[leg]["branch"] == "own13own24"
    assert [own2.diagram.graph.nodes[c]["type"] for c in own2.diagram.nodes("cubic")] == ["own", "own"]
    orders = {name: {f.order for e in enumerate_diagrams(name) for tm in e.translation.terms
                     for x in tm.expectations for f in x.fields} for name in DDNTK}
    assert 3 in orders["R"] and all(3 not in orders[n] for n in "STU")


def test_every_diagram_is_distinct_and_connected():
    for name in ENGINE:
        found = enumerate_diagrams(name)
        for a, b in itertools.combinations(found, 2):
            assert not a.diagram.is_isomorphic(b.diagram)
