"""Diagrams as values: enumeration and library results are copies; terms know their diagram."""
import sympy as sp

from fntk_core.diagrams import (assembled_recursion, assembled_recursion_with_sources, enumerate_diagrams, library,
                                translate)
from fntk_core.diagrams.io import diagram_to_json
from fntk_core.diagrams.library import library_tensors
from fntk_core.recursions.terms import C_W


def test_mutating_an_enumeration_result_does_not_change_later_ones():
    first = enumerate_diagrams("F")[0].diagram
    before = diagram_to_json(enumerate_diagrams("F")[0].diagram)
    first.add_node("zz", "blob")
    first.graph.nodes["z1"]["samples"].append("9")  # a label list is not shared either
    first.presentation["positions"]["z1"][0] = 99.0
    again = enumerate_diagrams("F")[0]
    assert diagram_to_json(again.diagram) == before
    assert translate(again.diagram).terms == again.translation.terms
    assert assembled_recursion("F").terms == tuple(t for e in enumerate_diagrams("F") for t in e.translation.terms)


def test_library_is_the_packaged_library_and_hands_out_copies():
    lib = library()
    assert list(lib) == library_tensors()
    for name, entries in lib.items():
        enumerated = enumerate_diagrams(name)
        assert len(entries) == len(enumerated)
        for k, (entry, e) in enumerate(zip(entries, enumerated), 1):
            assert (entry.statistic, entry.index, entry.id) == (name, k, f"{name}/{k}")
            assert entry.diagram == e.diagram
            assert entry.coefficient == e.coefficient and entry.order == e.order
            assert entry.symmetry_factor == sp.Rational(1, e.translation.automorphisms)
            assert entry.description
    f2 = lib["F"][1]
    assert f2.coefficient == C_W**2 and f2.description == "F vertex, 2 blobs"
    f2.diagram.remove_node("v1")
    f2.diagram.graph.nodes["z1"]["samples"][0] = "7"
    fresh = library()["F"][1]
    assert "v1" in fresh.diagram.graph and fresh.diagram.graph.nodes["z1"]["samples"] == ["1"]
    assert translate(fresh.diagram).terms == fresh.translation.terms


def test_every_term_knows_its_diagram():
    for name in ("F", "Theta1", "K", "R"):
        rec, sources = assembled_recursion_with_sources(name)
        per_diagram = [len(e.translation.terms) for e in enumerate_diagrams(name)]
        want = [f"{name}/{k}" for k, n in enumerate(per_diagram, 1) for _ in range(n)]
        assert sources == want == [t.source for t in rec.terms]
    for entries in library().values():
        for entry in entries:
            assert entry.translation.source == entry.id
            assert {t.source for t in entry.translation.terms} == {entry.id}
    # the source is a label, not part of the term's value
    tr = translate(enumerate_diagrams("F")[1].diagram)
    assert tr.source is None and tr.terms == enumerate_diagrams("F")[1].translation.terms


def test_diagram_equality_is_file_equality():
    a, b = enumerate_diagrams("Q")[0].diagram, enumerate_diagrams("Q")[0].diagram
    assert a == b and a is not b
    b.presentation["positions"]["z1"] = [5.0, 5.0]
    assert a != b
    c = a.copy()
    c.graph.nodes["z1"]["branch"] = "bias"
    assert a != c


def test_package_docstring_promises_only_what_it_exports():
    import re

    import fntk_core.diagrams as pkg

    api = pkg.__doc__.split("Public API::", 1)[1]
    promised = set()
    for line in api.splitlines():
        left = line.split("--")[0]
        left = re.sub(r"\([^)]*\)", "", left)  # drop argument lists
        for name in re.findall(r"[A-Za-z_][\w.]*", left.split("->")[0]):
            promised.add(name)
    for name in promised:
        if name.startswith("fntk_core."):
            __import__(name)
        elif "." in name:
            mod, attr = name.split(".")
            assert hasattr(getattr(pkg, mod), attr), name
        else:
            assert hasattr(pkg, name), name
    assert {"library", "load_diagrams", "check_all", "Rule", "check_file"} <= promised
