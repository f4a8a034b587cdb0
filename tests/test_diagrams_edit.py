"""Pure edit operations: the input is never modified, and the inverse restores an equal diagram."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fntk_core.diagrams import DiagramError, RuleError, check_all, enumerate_diagrams, translate
from fntk_core.diagrams.edit import (AddNode, Batch, Connect, Disconnect, MoveNode, RemoveNode, SetAttribute,
                                     SetPresentation, apply)
from fntk_core.diagrams.io import diagram_from_json, diagram_to_json
from fntk_core.diagrams.model import EDGE_TYPES, NODE_KINDS

NAMES = ["K", "F", "Theta1", "Q", "A", "R", "T", "V"]
labels = st.lists(st.sampled_from(["1", "2", "3", "d0", "b1", "i1", "i2"]), max_size=4)
coord = st.floats(-50, 50, allow_nan=False)


def op_for(d, data):
    """One operation that is valid for diagram ``d`` (drawn from every kind of edit)."""
    nodes = list(d.graph.nodes)
    edges = [k for k, _ in d.edge_list()]
    kinds = ["add", "move", "connect", "attr", "present"] + (["remove"] if nodes else []) + (["disconnect"] if edges else [])
    kind = data.draw(st.sampled_from(kinds))
    if kind == "add":
        nid = data.draw(st.sampled_from(["x1", "x2", "x3", "x4"]).filter(lambda n: n not in d.graph))
        attrs = data.draw(st.fixed_dictionaries({}, optional={"samples": labels.filter(bool), "leg": st.just("z"),
                                                              "type": st.sampled_from(["W", "ntk"])}))
        pos = data.draw(st.none() | st.tuples(coord, coord))
        return AddNode(nid, data.draw(st.sampled_from(NODE_KINDS)), attrs, pos,
                       at=data.draw(st.none() | st.integers(0, len(nodes))))
    if kind == "remove":
        return RemoveNode(data.draw(st.sampled_from(nodes)))
    if kind == "move":
        return MoveNode(data.draw(st.sampled_from(nodes)), data.draw(st.none() | st.tuples(coord, coord)))
    if kind == "connect":
        ends = st.sampled_from(nodes)
        return Connect(data.draw(ends), data.draw(ends), data.draw(st.sampled_from(list(EDGE_TYPES))),
                       data.draw(st.none() | st.integers(0, 3)),
                       data.draw(st.none() | st.sampled_from(["q1", "q2"]).filter(lambda k: k not in edges)),
                       at=data.draw(st.none() | st.integers(0, len(edges))))
    if kind == "disconnect":
        return Disconnect(data.draw(st.sampled_from(edges)))
    if kind == "attr":
        key = data.draw(st.sampled_from(["samples", "neural", "branch", "leg", "type", "tensor", "kind"]))
        value = {"samples": labels, "neural": labels, "kind": st.sampled_from(NODE_KINDS)}.get(
            key, st.sampled_from(["W", "z", "ntk", "own1", "F"]))
        return SetAttribute(data.draw(st.sampled_from(nodes)), key,
                            data.draw(value if key == "kind" else st.none() | value))
    if edges and data.draw(st.booleans()):
        return SetPresentation("bends", data.draw(st.sampled_from(edges)), data.draw(st.none() | coord))
    return SetPresentation("label_offsets", data.draw(st.sampled_from(nodes)),
                           data.draw(st.none() | st.tuples(coord, coord)))


def value(d):
    """The diagram's terms, or its first broken rule (check_all agrees with translate on which)."""
    found = check_all(d)
    try:
        terms = translate(d).terms
    except RuleError as exc:
        assert found and found[0] == exc.violation
        return exc.rule
    assert found == []
    return terms


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_edit_sequences_are_undone_exactly(data):
    original = enumerate_diagrams(data.draw(st.sampled_from(NAMES)))[-1].diagram
    snapshot = diagram_to_json(original)
    d, history = original, []
    for _ in range(data.draw(st.integers(1, 8))):
        if data.draw(st.integers(0, 4)) == 0:  # a batch: ops drawn against the diagram as it evolves
            ops, scratch = [], d
            for _ in range(data.draw(st.integers(1, 3))):
                ops.append(op_for(scratch, data))
                scratch, _ = apply(scratch, ops[-1])
            op = Batch(tuple(ops))
        else:
            op = op_for(d, data)
        before = diagram_to_json(d)
        new, inverse = apply(d, op)
        assert diagram_to_json(d) == before  # the input is never modified
        back, redo = apply(new, inverse)
        assert back == d and diagram_to_json(back) == before  # topology, presentation and order
        assert apply(back, redo)[0] == new  # the inverse of the inverse redoes
        # what a file holds is what the diagram is
        assert diagram_from_json(diagram_to_json(new)) == new
        value(new)
        history.append(inverse)
        d = new
    for inverse in reversed(history):
        d, _ = apply(d, inverse)
    assert d == original and diagram_to_json(original) == snapshot
    assert value(d) == value(original)


def test_remove_node_inverse_restores_node_edges_and_presentation():
    d = enumerate_diagrams("F")[1].diagram
    d.presentation["label_offsets"]["c1"] = [0.5, -0.5]
    bent = [k for k, e in d.edge_list() if "c1" in (e["source"], e["target"])][0]
    d.presentation["bends"][bent] = 20.0
    new, inverse = apply(d, RemoveNode("c1"))
    assert "c1" not in new.graph and bent not in new.presentation["bends"]
    assert not any("c1" in (e["source"], e["target"]) for _, e in new.edge_list())
    back, _ = apply(new, inverse)
    assert back == d and translate(back).terms == translate(d).terms


def test_edits_and_their_inverses():
    d = enumerate_diagrams("K")[-1].diagram
    cases = [AddNode("n9", "blob", {}, (1.0, 2.0)), MoveNode("z1", (3.0, 4.0)), Connect("c1", "b1", "neuron"),
             Disconnect(d.edge_list()[0][0]), SetAttribute("z1", "samples", ["7"]),
             SetPresentation("label_offsets", "z1", (0.1, 0.2))]
    expect = [RemoveNode, MoveNode, Disconnect, Connect, SetAttribute, SetPresentation]
    for op, kind in zip(cases, expect):
        new, inverse = apply(d, op)
        assert isinstance(inverse, kind) and new != d and apply(new, inverse)[0] == d
    new, _ = apply(d, AddNode("n9", "blob", {}, (1.0, 2.0), at=0))
    assert list(new.graph.nodes)[0] == "n9" and new.presentation["positions"]["n9"] == [1.0, 2.0]
    new, inverse = apply(d, SetAttribute("z1", "branch", None))
    assert "branch" not in new.graph.nodes["z1"] and inverse == SetAttribute("z1", "branch", "W")


@pytest.mark.parametrize("op, words", [
    (AddNode("z1", "blob"), "already exists"),
    (AddNode("bad id!", "blob"), "id"),
    (AddNode("n1", "dragon"), "kind"),
    (AddNode("n1", "leg", {"samples": "1"}), "samples"),
    (AddNode("n1", "leg", {"colour": "red"}), "no attribute"),
    (RemoveNode("nope"), "no node"),
    (MoveNode("z1", (float("nan"), 0.0)), "finite"),
    (Connect("z1", "nope", "slot", 0), "no node"),
    (Connect("z1", "c1", "wire"), "edge type"),
    (Connect("z1", "c1", "slot", 99), "index"),
    (Disconnect("nope"), "no edge"),
    (SetAttribute("z1", "colour", "red"), "no attribute"),
    (SetAttribute("z1", "kind", None), "kind"),
    (SetPresentation("colours", "z1", 1), "presentation key"),
    (Batch((MoveNode("z1", (1.0, 1.0)), RemoveNode("nope"))), "no node"),
])
def test_invalid_edits_are_refused_and_change_nothing(op, words):
    d = enumerate_diagrams("K")[-1].diagram
    before = diagram_to_json(d)
    with pytest.raises(DiagramError) as exc:
        apply(d, op)
    assert words in str(exc.value)
    assert diagram_to_json(d) == before
