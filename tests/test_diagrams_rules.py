"""Broken diagrams, one per rule: each is refused naming its rule and an element."""
import pytest

from fntk_core.diagrams import Diagram, RuleError, enumerate_diagrams, translate
from fntk_core.diagrams.io import diagram_from_json, diagram_to_json


def pick(name, tensor=None, blobs=None):
    for e in enumerate_diagrams(name):
        g = e.diagram.graph
        vt = [g.nodes[v]["tensor"] for v in e.diagram.nodes("vertex")]
        if (tensor is None and not vt or tensor in vt) and (blobs is None or len(e.diagram.nodes("blob")) == blobs):
            return e.diagram.copy()
    raise LookupError(name)


def drop_edges(d, pred):
    for u, v, k, a in list(d.graph.edges(keys=True, data=True)):
        if pred(a):
            d.graph.remove_edge(u, v, k)
    return d


def drop_vertex(d):
    for n in d.nodes("vertex") + d.nodes("pair"):
        d.remove_node(n)
    return d


def _structure():
    d = pick("F", None)
    d.add_edge("z1", "b1", "neuron")
    return d


def _leg():
    d = pick("F", None)
    d.graph.nodes["z1"]["samples"] = ["1", "9"]
    return d


def _branch():
    d = pick("F", None)
    d.graph.nodes["ntk1"]["branch"] = "magic"
    return d


def _leg_slots():
    return drop_edges(pick("Theta1", "K1"), lambda a: a["type"] == "slot")


def _cubic():
    d = pick("F", None)
    d.graph.nodes["c1"]["type"] = "own"
    return d


def _cubic_blob():
    return drop_edges(pick("K", None, 1), lambda a: a["type"] == "neuron")


def _line():
    return drop_edges(pick("F", None), lambda a: a["type"] == "src")


def _blob_empty():
    d = pick("F", None)
    d.add_node("b9", "blob")
    return d


def _vertex():
    d = pick("F", "F")
    d.add_edge("p1", "b1", "deriv")
    return d


def _vertex_pattern():
    d = pick("F", "F")
    d.graph.nodes["v1"]["tensor"] = "D"
    return d


def _kronecker():
    d = pick("F", "F")
    e = [(u, v, k) for u, v, k, a in d.graph.edges(keys=True, data=True) if a["type"] == "deriv"][0]
    pair = e[0] if d.graph.nodes[e[0]]["kind"] == "pair" else e[1]
    blob = e[1] if pair == e[0] else e[0]
    other = [b for b in d.nodes("blob") if b != blob][0]
    d.graph.remove_edge(*e)
    d.add_edge(pair, other, "deriv")
    return d


def _mean_line():
    return drop_vertex(pick("F", "F"))


def _omega():
    return drop_vertex(pick("Theta1", "Theta1"))


def _dntk_mean():
    return drop_vertex(pick("P", "P"))


def _connected():
    return drop_vertex(pick("V", "V"))


def _order():
    d = pick("F", None)  # one blob, no vertex: O(1/n); a K1 vertex on its blob makes it O(1/n^2)
    d.add_node("v1", "vertex", tensor="K1")
    d.add_node("p1", "pair")
    d.add_edge("v1", "p1", "pair")
    d.add_edge("p1", "b1", "deriv")
    d.add_edge("p1", "b1", "deriv")
    return d


def _statistic():
    return Diagram()


BROKEN = {
    "structure": _structure, "leg": _leg, "branch": _branch, "leg-slots": _leg_slots, "cubic": _cubic,
    "cubic-blob": _cubic_blob, "line": _line, "blob-empty": _blob_empty, "vertex": _vertex,
    "vertex-pattern": _vertex_pattern, "kronecker": _kronecker, "mean-line": _mean_line, "omega": _omega,
    "dntk-mean": _dntk_mean, "connected": _connected, "order": _order, "statistic": _statistic,
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_broken_diagram_names_its_rule(rule):
    d = BROKEN[rule]()
    with pytest.raises(RuleError) as exc:
        translate(d)
    assert exc.value.rule == rule, str(exc.value)
    assert exc.value.message and f"[rule {rule}]" in str(exc.value)
    if rule != "statistic":
        assert exc.value.element is not None
    assert set(exc.value.to_dict()) == {"rule", "element", "message"}
    # a loaded copy is refused the same way (the file round trip keeps the defect)
    if rule not in ("structure",):
        with pytest.raises(RuleError) as again:
            translate(diagram_from_json(diagram_to_json(d)))
        assert again.value.rule == rule


def test_every_translation_rule_has_a_broken_example():
    import importlib

    tr = importlib.import_module("fntk_core.diagrams.translate")

    documented = {line.split()[0] for line in tr.__doc__.splitlines()[5:] if line[:1].isalpha() and " " in line}
    assert documented == set(BROKEN)


def test_hand_built_diagram_translates():
    """The F worked example drawn by hand (ids of our choosing)."""
    d = Diagram()
    d.add_node("a", "leg", leg="z", samples=["1"], neural=["i1"], branch="W")
    d.add_node("b", "leg", leg="z", samples=["2"], neural=["i2"], branch="W")
    d.add_node("t", "leg", leg="ntk", samples=["3", "4"], neural=["i3", "i4"], branch="W")
    d.add_node("x", "cubic", type="W")
    d.add_node("y", "cubic", type="W")
    d.add_node("blob", "blob")
    d.add_node("line", "line", type="ntk")
    d.add_edge("a", "x", "slot", 0)
    d.add_edge("t", "x", "slot", 0)
    d.add_edge("b", "y", "slot", 0)
    d.add_edge("t", "y", "slot", 1)
    d.add_edge("x", "blob", "neuron")
    d.add_edge("y", "blob", "neuron")
    d.add_edge("t", "line", "src", 0)
    d.add_edge("line", "x", "end", 0)
    d.add_edge("line", "y", "end", 1)
    tr = translate(d)
    assert tr.statistic == "F" and tr.order == 1 and tr.labels == ("1", "3", "2", "4")
    assert str(tr.coefficient) == "C_W**2"
