"""Broken diagrams, one per rule: each is refused naming its rule and an element."""
import pytest

from fntk_core.diagrams import Diagram, Rule, RuleError, check_all, enumerate_diagrams, translate
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
    assert isinstance(exc.value.rule, Rule) and exc.value.rule.title and exc.value.rule.explanation
    assert set(exc.value.to_dict()) >= {"rule", "elements", "message"}
    # check_all meets the same rule first, and names elements that exist in the diagram
    found = check_all(d)
    assert found and found[0] == exc.value.violation
    for v in found:
        assert all(x in d.graph or any(x == k for _, _, k in d.graph.edges(keys=True)) for x in v.elements), v
    # a loaded copy is refused the same way (the file round trip keeps the defect)
    if rule not in ("structure",):
        with pytest.raises(RuleError) as again:
            translate(diagram_from_json(diagram_to_json(d)))
        assert again.value.rule == rule


def test_every_translation_rule_has_a_broken_example():
    assert {r.value for r in Rule} == set(BROKEN)
    for r in Rule:  # a title and a one-line explanation each
        assert r.title and r.explanation and "\n" not in r.explanation


def test_check_all_reports_every_broken_rule():
    """Three independent defects in one diagram: translate names the first, check_all all three."""
    d = pick("F", "F")
    d.graph.nodes["v1"]["tensor"] = "D"  # vertex-pattern
    d.add_node("b9", "blob")  # blob-empty
    d.add_node("zz", "leg", leg="z", samples=["7"], neural=["i9"], branch="W")  # leg-slots (and disconnected)
    with pytest.raises(RuleError) as exc:
        translate(d)
    found = check_all(d)
    rules = [v.rule for v in found]
    assert rules[0] == exc.value.rule
    assert {Rule.VERTEX_PATTERN, Rule.BLOB_EMPTY, Rule.LEG_SLOTS, Rule.CONNECTED} <= set(rules)
    by_rule = {v.rule: v for v in found}
    assert by_rule[Rule.BLOB_EMPTY].elements == ("b9",)
    assert by_rule[Rule.VERTEX_PATTERN].elements == ("v1",)
    assert "zz" in by_rule[Rule.LEG_SLOTS].elements and "b9" in by_rule[Rule.CONNECTED].elements
    assert len(rules) == len(set((v.rule, v.elements) for v in found))  # nothing reported twice


def test_check_all_is_empty_for_every_library_diagram():
    from fntk_core.diagrams.library import library_tensors

    for name in library_tensors():
        for e in enumerate_diagrams(name):
            assert check_all(e.diagram) == []


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


# --------------------------------------------------------------------------
# ddNTK legs (R, S, T, U): the same rules, met by the new features of their forward equations
def pick_branch(name, branch, tensor=None):
    for e in enumerate_diagrams(name):
        g = e.diagram.graph
        leg = e.diagram.nodes("leg")[0]
        vt = [g.nodes[v]["tensor"] for v in e.diagram.nodes("vertex")]
        if g.nodes[leg]["branch"] == branch and (tensor is None and not vt or tensor in vt):
            return e.diagram.copy()
    raise LookupError((name, branch, tensor))


def _dd_leg():
    d = pick_branch("R", "WWW")
    d.graph.nodes["ddntkI1"]["samples"] = ["d0", "d1", "d2"]
    return d


def _dd_branch():
    d = pick_branch("T", "own13own24")
    d.graph.nodes["ddntkII1"]["branch"] = "own14"
    return d


def _dd_cubic():  # the (lambda_W/n)^2 branch has no weight W: its contractions are own-layer
    d = pick_branch("T", "own13own24")
    d.graph.nodes["c2"]["type"] = "W"
    return d


def _dd_line():  # the NTK line of the lambda_W^2 branch joins the two own-layer neurons
    d = pick_branch("T", "own13own24")
    e = [k for u, v, k, a in d.graph.edges(keys=True, data=True) if a["type"] == "end" and a["index"] == 1][0]
    d.graph.remove_edge("L1", "c2", e)
    d.add_edge("L1", "c1", "end", 1)
    return d


def _dd_mean_line():
    return drop_vertex(pick_branch("T", "own13own24", "F"))


def _dd_ddntk_mean():
    return drop_vertex(pick_branch("S", "Wdd", "S"))


def _dd_dntk_mean():  # the dNTK line opened by a ddNTK leg still needs its P vertex
    return drop_vertex(pick_branch("R", "own1b", "P"))


def _dd_kronecker():  # P's z-leg must sit on the neuron of the dNTK line's first index
    d = pick_branch("R", "own1b", "P")
    e = [(u, v, k) for u, v, k, a in d.graph.edges(keys=True, data=True) if a["type"] == "deriv"][0]
    pair, blob = (e[0], e[1]) if d.graph.nodes[e[0]]["kind"] == "pair" else (e[1], e[0])
    other = [b for b in d.nodes("blob") if b != blob][0]
    d.graph.remove_edge(*e)
    d.add_edge(pair, other, "deriv")
    return d


def _dd_vertex_pattern():
    d = pick_branch("R", "Wdd", "R")
    d.graph.nodes["v1"]["tensor"] = "S"
    return d


def _dd_order():  # both neurons in one blob and a vertex: O(1/n^2)
    d = pick_branch("T", "own13own24", "F")
    d.graph.remove_edge("c2", "b2")
    d.remove_node("b2")
    d.add_edge("c2", "b1", "neuron")
    d.add_edge("p2", "b1", "deriv")
    return d


DD_BROKEN = {
    "leg": _dd_leg, "branch": _dd_branch, "cubic": _dd_cubic, "line": _dd_line, "mean-line": _dd_mean_line,
    "dntk-mean": _dd_ddntk_mean, "kronecker": _dd_kronecker, "vertex-pattern": _dd_vertex_pattern,
    "order": _dd_order,
}
DD_BROKEN_CASES = [(rule, f) for rule, f in DD_BROKEN.items()] + [("dntk-mean", _dd_dntk_mean)]


@pytest.mark.parametrize("rule, make", DD_BROKEN_CASES, ids=[f.__name__ for _, f in DD_BROKEN_CASES])
def test_broken_ddntk_diagram_names_its_rule(rule, make):
    d = make()
    with pytest.raises(RuleError) as exc:
        translate(d)
    assert exc.value.rule == rule, str(exc.value)
    assert exc.value.element is not None
    assert check_all(d)[0] == exc.value.violation
    with pytest.raises(RuleError) as again:
        translate(diagram_from_json(diagram_to_json(d)))
    assert again.value.rule == rule


def test_ddntk_line_mean_message_names_the_line_kind():
    with pytest.raises(RuleError) as exc:
        translate(_dd_ddntk_mean())
    assert "ddntkII line" in exc.value.message


def test_hand_built_ddntk_diagram_translates():
    """T's lambda_W^2 term drawn by hand: one ddNTK-II leg, two own-layer contractions, one NTK line."""
    d = Diagram()
    d.add_node("leg", "leg", leg="ddntkII", samples=["1", "2", "3", "4"], neural=["i1", "i2", "i3", "i4"],
               branch="own13own24")
    d.add_node("j", "cubic", type="own")
    d.add_node("k", "cubic", type="own")
    d.add_node("blob", "blob")
    d.add_node("line", "line", type="ntk")
    for s, c in ((0, "j"), (2, "j"), (1, "k"), (3, "k")):
        d.add_edge("leg", c, "slot", s)
    d.add_edge("j", "blob", "neuron")
    d.add_edge("k", "blob", "neuron")
    d.add_edge("leg", "line", "src", 0)
    d.add_edge("line", "j", "end", 0)
    d.add_edge("line", "k", "end", 1)
    tr = translate(d)
    assert tr.statistic == "T" and tr.order == 1 and tr.labels == ("1", "3", "4", "2")
    assert str(tr.coefficient) == "lambda_W**2"
    (term,) = tr.terms
    assert term.thetas == (("1", "2"),)
    assert [(f.order, f.label) for f in term.expectations[0].fields] == [(1, "1"), (1, "2"), (0, "3"), (0, "4")]


def test_branch_table_is_consistent():
    """Every forward-equation branch covers each neural slot of its leg exactly once (a weight W or one
    own-layer contraction), opens lines with the right number of ends, each on a slot or contraction of
    its own leg, and draws its sample labels from its own leg."""
    from fntk_core.diagrams.rules import BRANCHES, SLOTS

    for kind, branches in BRANCHES.items():
        k = SLOTS[kind]
        for name, br in branches.items():
            assert br.name == name
            covered = list(br.wslots) + list(br.bias_slots) + [s for o in br.owns for s in o.slots]
            if kind == "z":
                assert sorted(set(covered)) == [0], name
            else:
                assert sorted(covered) == list(range(k)), (kind, name)
            for o in br.owns:
                assert all(0 <= s < k for _, s in o.fields)
            for fields in br.wslots.values():
                assert all(0 <= s < k for _, s in fields)
            for spec in br.lines:
                assert len(spec.ends) == SLOTS[spec.type], (kind, name)
                for (where, idx), samp in spec.ends:
                    assert 0 <= samp < k
                    assert idx in br.wslots if where == "slot" else 0 <= idx < len(br.owns), (kind, name)
    # one branch per term of the forward equations (docs/ddntk.md section 1, a bracket [a + b] counts 2)
    assert len(BRANCHES["ddntkI"]) == 3 * 2 + 5 and len(BRANCHES["ddntkII"]) == 1 + 2 * 2 + 1 + 4
