"""compose: drawing actions build the library's diagrams, undo cleanly, and refuse what the rules forbid."""
import pytest

from fntk_core.diagrams import Diagram, check_all, library, translate
from fntk_core.diagrams.canonical import same_recursion
from fntk_core.diagrams.compose import Refused, connect, delete, from_statistic, paste, place, subdiagram
from fntk_core.diagrams.edit import apply
from fntk_core.diagrams.library import which_entry


class Drawing:
    """A diagram plus the inverses of every action, as an undo stack keeps them."""

    def __init__(self):
        self.d, self.undo = Diagram(), []

    def do(self, batch):
        self.d, inv = apply(self.d, batch)
        self.undo.append(inv)

    def place(self, kind, subtype=None, pos=(0.0, 0.0)):
        batch, nid = place(self.d, kind, subtype, pos)
        self.do(batch)
        return nid

    def connect(self, a, b):
        self.do(connect(self.d, a, b))

    def line_of(self, leg):
        return next(e["target"] for e in self.d.edges(leg, "src"))


def _entry(name, k):
    return next(e for e in library()[name] if e.id == f"{name}/{k}")


def _same(d, name, k):
    e = _entry(name, k)
    assert check_all(d) == []
    assert d.is_isomorphic(e.diagram)
    assert which_entry(d, name) == f"{name}/{k}"
    assert same_recursion(translate(d).recursion(), translate(e.diagram).recursion())


def draw_F(two_blobs: bool) -> Drawing:
    w = Drawing()
    w.do(from_statistic("F"))
    c1, c2 = w.place("cubic", "W", (1.5, 0)), w.place("cubic", "W", (1.5, -1.5))
    b1 = w.place("blob", pos=(3, 0))
    b2 = w.place("blob", pos=(3, -1.5)) if two_blobs else b1
    w.connect("z1", c1)
    w.connect("ntk1", c1)
    w.connect(c2, "z2")
    w.connect("ntk1", c2)
    w.connect(c1, b1)
    w.connect(b2, c2)
    if two_blobs:
        v = w.place("vertex", "F", (4, -1))
        w.connect(v, b2)  # the z-leg at the second neuron first: pairs are chosen by neuron, not by order
        w.connect(v, w.line_of("ntk1"))
        w.connect(b1, v)
    return w


@pytest.mark.parametrize("two_blobs,k", [(False, 1), (True, 2)])
def test_draw_F_diagrams(two_blobs, k):
    _same(draw_F(two_blobs).d, "F", k)


@pytest.mark.parametrize("tensor,k", [("D", 1), ("F", 2)])
def test_draw_theta1(tensor, k):
    w = Drawing()
    w.do(from_statistic("Theta1"))
    c, b = w.place("cubic", "W"), w.place("blob")
    w.connect("ntk1", c)
    w.connect("ntk1", c)
    w.connect(c, b)
    v = w.place("vertex", tensor)
    w.connect(v, b)
    w.connect(v, b)
    w.connect(v, w.line_of("ntk1"))
    _same(w.d, "Theta1", k)


def test_undo_every_step_gives_an_empty_diagram():
    w = draw_F(True)
    d = w.d
    for inv in reversed(w.undo):
        d, _ = apply(d, inv)
    assert d == Diagram()


@pytest.mark.parametrize("a,b,why", [
    ("z1", "z2", "external leg cannot connect"),
    ("c1", "b2", "already sits in blob"),
    ("z1", "c2", "already contracted"),
    ("v1", "b1", "all are attached"),
])
def test_refusals_say_why(a, b, why):
    w = draw_F(True)
    with pytest.raises(Refused, match=why):
        connect(w.d, a, b)


def test_third_slot_on_a_W_vertex_is_refused():
    w = Drawing()
    w.do(from_statistic("V"))
    c = w.place("cubic")
    w.connect("z1", c)
    w.connect("z2", c)
    with pytest.raises(Refused, match="joins two W-slots"):
        connect(w.d, "z3", c)


def test_delete_removes_bookkeeping_and_reconnecting_restores():
    w = draw_F(False)
    slot = next(e["id"] for e in w.d.edges("ntk1", "slot") if e["target"] == "c2")
    d, _ = apply(w.d, delete(w.d, [slot]))
    assert len(d.edges(w.line_of("ntk1"), "end")) == 1
    d, _ = apply(d, connect(d, "ntk1", "c2"))
    _same(d, "F", 1)
    d, _ = apply(d, delete(d, ["ntk1"]))
    assert not d.nodes("line") and "ntk1" not in d.graph


def test_copy_paste_keeps_the_structure():
    w = draw_F(True)
    sub = subdiagram(w.d, list(w.d.graph.nodes))
    batch, new = paste(Diagram(), sub)
    d, _ = apply(Diagram(), batch)
    assert d.is_isomorphic(w.d) and len(new) == w.d.graph.number_of_nodes()
    d2, _ = apply(w.d, paste(w.d, subdiagram(w.d, ["z1", "c1", "b1"]))[0])
    assert d2.graph.number_of_edges() == w.d.graph.number_of_edges() + 2  # slot and neuron edges come along
    labels = [tuple(d2.graph.nodes[n]["samples"]) for n in d2.nodes("leg")]
    assert len(set(labels)) == len(labels)  # a pasted leg is a new leg: fresh sample labels


def test_deleting_a_drawn_vertex_leg_keeps_the_pair():
    w = draw_F(True)
    deriv = next(e for e in w.d.edges("b1", "deriv"))
    d, _ = apply(w.d, delete(w.d, [deriv["id"], deriv["source"]]))  # what the canvas item of that leg draws
    assert deriv["source"] in d.graph and not d.edges("b1", "deriv")
    d, _ = apply(d, connect(d, "v1", "b1"))
    _same(d, "F", 2)


def test_properties_keep_the_bookkeeping_consistent():
    from fntk_core.diagrams.compose import set_property

    w = draw_F(True)
    with pytest.raises(Refused, match="disconnect the leg"):
        set_property(w.d, "ntk1", "branch", "omega")
    with pytest.raises(Refused, match="detach the vertex"):
        set_property(w.d, "v1", "tensor", "D")
    d, _ = apply(w.d, set_property(w.d, "z1", "samples", ["a"]))
    assert d.graph.nodes["z1"]["samples"] == ["a"]
    with pytest.raises(ValueError, match="samples"):
        set_property(w.d, "z1", "samples", ["x" * 40])
    batch, v = place(Diagram(), "vertex", "F")
    d, _ = apply(Diagram(), batch)
    d, _ = apply(d, set_property(d, v, "tensor", "A"))
    assert d.graph.nodes[v]["tensor"] == "A" and len(d.edges(v, "pair")) == 2
    with pytest.raises(Refused, match="not an interaction vertex"):
        place(Diagram(), "vertex", "K")
