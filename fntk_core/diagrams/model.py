"""The diagram as a typed NetworkX MultiGraph, plus its presentation.

Node kinds: ``leg`` (external: z, ntk, dntk, ddntkI/II; samples, neural indices,
forward-equation branch), ``cubic`` (W, own, omega, bias), ``blob`` (a layer-l
neuron: one Gaussian expectation), ``line`` (internal NTK/dNTK line), ``vertex``
(an interaction vertex: a layer-l first-order tensor) and ``pair`` (one Kronecker
pair of a vertex, so that automorphisms see the vertex's index structure).

Edge types (source -> target): slot (leg -> cubic, index = neural slot),
neuron (cubic -> blob), end (line -> cubic, index = line end), src (leg -> line,
index = which line of the branch), deriv (pair -> blob: a z-leg of the vertex,
i.e. a derivative in that blob), vend (pair -> line, index = line end), pair
(vertex -> pair).  Parallel edges and self-loops are ordinary multigraph edges.

Topology lives in ``graph``; positions, bends and label offsets in
``presentation`` and never influence translation or isomorphism.  ``LINE_STYLE``
names how each leg/line kind is drawn; the TikZ export (and the app's style file)
follow it.  Diagrams handed out by the library and enumeration are copies; edits
that return a new diagram live in ``edit.py``.
"""
from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import dataclass, field

import networkx as nx
from networkx.algorithms import isomorphism as iso

from .violations import Rule, RuleViolation

NODE_KINDS = ("leg", "cubic", "blob", "line", "vertex", "pair")
EDGE_TYPES = {  # type -> (source kind, target kind, has index)
    "slot": ("leg", "cubic", True),
    "neuron": ("cubic", "blob", False),
    "end": ("line", "cubic", True),
    "src": ("leg", "line", True),
    "deriv": ("pair", "blob", False),
    "vend": ("pair", "line", True),
    "pair": ("vertex", "pair", False),
}
CUBIC_TYPES = ("W", "own", "omega", "bias")
# How each leg/line kind is drawn, by name; the one source for TikZ export and the canvas style
LINE_STYLE = {"z": "solid", "ntk": "dotted", "dntk": "dash-dotted", "ddntkI": "double-dotted",
              "ddntkII": "double-dashed"}


class DiagramError(ValueError):
    """A diagram (file) that cannot be used; the message says why."""


class RuleError(DiagramError):
    """A diagram that breaks a Feynman rule: which rule (a :class:`Rule`), which elements, what is wrong."""

    def __init__(self, rule: Rule | str, elements: str | tuple[str, ...] | None, message: str):
        if isinstance(elements, str):
            elements = (elements,)
        self.violation = RuleViolation(Rule(rule), tuple(elements or ()), message)
        self.rule, self.elements, self.message = self.violation.rule, self.violation.elements, message
        self.element = self.elements[0] if self.elements else None
        super().__init__(str(self.violation))

    def to_dict(self) -> dict:
        return {"element": self.element, **self.violation.to_dict()}


@dataclass(eq=False)
class Diagram:
    """Topology (``graph``) and presentation (``presentation``) of one diagram.

    Two diagrams are equal when their files would be: same nodes and edges (ids,
    attributes, order) and same presentation.
    """

    graph: nx.MultiGraph = field(default_factory=nx.MultiGraph)
    presentation: dict = field(default_factory=lambda: {"positions": {}, "bends": {}, "label_offsets": {}})

    # -- building -------------------------------------------------------
    def add_node(self, nid: str, kind: str, **attrs) -> str:
        self.graph.add_node(nid, kind=kind, **attrs)
        return nid

    def add_edge(self, source: str, target: str, type: str, index: int | None = None, eid: str | None = None) -> str:
        seq = self.graph.graph.get("_seq", 0) + 1
        self.graph.graph["_seq"] = seq
        if eid is None:
            used = {k for _, _, k in self.graph.edges(keys=True)}
            n = self.graph.number_of_edges() + 1
            while f"e{n}" in used:
                n += 1
            eid = f"e{n}"
        data = {"type": type, "source": source, "target": target, "_seq": seq}
        if index is not None:
            data["index"] = index
        self.graph.add_edge(source, target, key=eid, **data)
        return eid

    def remove_node(self, nid: str) -> None:
        """Remove a node, its edges and its presentation entries."""
        gone = {k for _, _, k in self.graph.edges(nid, keys=True)}
        self.graph.remove_node(nid)
        for key in ("positions", "label_offsets"):
            self.presentation.get(key, {}).pop(nid, None)
        bends = self.presentation.get("bends", {})
        for k in gone:
            bends.pop(k, None)

    def nodes(self, kind: str) -> list[str]:
        return [n for n, d in self.graph.nodes(data=True) if d["kind"] == kind]

    def edges(self, node: str, type: str | None = None) -> list[dict]:
        """Edges at ``node`` (each with its ``id``), optionally of one type."""
        out = []
        for u, v, k, d in self.graph.edges(node, keys=True, data=True):
            if type is None or d["type"] == type:
                out.append(dict(d, id=k))
        # a self-loop appears once per end; keep one copy
        seen, uniq = set(), []
        for e in out:
            if e["id"] not in seen:
                seen.add(e["id"])
                uniq.append(e)
        return uniq

    def edge_list(self) -> list[tuple[str, dict]]:
        """(id, attributes) of every edge in insertion order (file order)."""
        es = [(k, d) for _, _, k, d in self.graph.edges(keys=True, data=True)]
        return sorted(es, key=lambda x: x[1].get("_seq", 0))

    def renumbered(self) -> Diagram:
        """The same diagram with edges e1, e2, ... in insertion order (tidy files)."""
        out = Diagram(presentation=copy.deepcopy(self.presentation))
        for n, a in self.graph.nodes(data=True):
            out.graph.add_node(n, **a)
        ren = {}
        for k, d in self.edge_list():
            ren[k] = out.add_edge(d["source"], d["target"], d["type"], d.get("index"), eid=f"e{len(ren) + 1}")
        out.presentation["bends"] = {ren[k]: v for k, v in self.presentation.get("bends", {}).items()}
        return out

    def copy(self) -> Diagram:
        """An independent copy: attribute values (label lists) are copied too, not shared."""
        g = nx.MultiGraph()
        g.graph.update(self.graph.graph)
        g.add_nodes_from((n, _copied(a)) for n, a in self.graph.nodes(data=True))
        g.add_edges_from((u, v, k, _copied(a)) for u, v, k, a in self.graph.edges(keys=True, data=True))
        return Diagram(g, copy.deepcopy(self.presentation))

    def signature(self) -> tuple:
        """Everything a file holds, in file order (what ``==`` compares)."""
        nodes = tuple((n, tuple(sorted((k, _frozen(v)) for k, v in a.items())))
                      for n, a in self.graph.nodes(data=True))
        edges = tuple((k, tuple(sorted((f, v) for f, v in d.items() if f != "_seq"))) for k, d in self.edge_list())
        pres = tuple(sorted((key, tuple(sorted((k, _frozen(v)) for k, v in val.items())))
                            for key, val in self.presentation.items() if val))
        return nodes, edges, pres

    def __eq__(self, other) -> bool:
        return isinstance(other, Diagram) and self.signature() == other.signature()

    __hash__ = None

    # -- comparison -----------------------------------------------------
    def is_isomorphic(self, other: Diagram) -> bool:
        return nx.is_isomorphic(self.graph, other.graph, node_match=_node_match, edge_match=_edge_match)

    def automorphisms(self) -> int:
        """|Aut| with external legs fixed: node automorphisms x permutations of identical parallel edges."""
        gm = iso.MultiGraphMatcher(self.graph, self.graph, node_match=_node_match, edge_match=_edge_match)
        nodes = sum(1 for _ in gm.isomorphisms_iter())
        edges = 1
        for (u, v), group in _parallel_groups(self.graph).items():
            for mult in Counter(group).values():
                edges *= math.factorial(mult)
        return nodes * edges

    def invariant(self) -> str:
        """Typed Weisfeiler-Lehman hash: only a bucket key before a real isomorphism test."""
        g = nx.Graph()
        for n, d in self.graph.nodes(data=True):
            g.add_node(n, t=repr(_node_key(d)))
        for (u, v), group in _parallel_groups(self.graph).items():
            g.add_edge(u, v, t=repr(sorted(group)))
        return nx.weisfeiler_lehman_graph_hash(g, node_attr="t", edge_attr="t", iterations=4)


def _copied(attrs: dict) -> dict:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in attrs.items()}


def _frozen(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


def _node_key(d: dict):
    k = d["kind"]
    if k == "leg":  # distinct sample labels keep external legs fixed under automorphisms
        return (k, d.get("leg"), d.get("branch"), tuple(d.get("samples", ())))
    if k == "cubic":
        return (k, d.get("type"))
    if k == "line":
        return (k, d.get("type"))
    if k == "vertex":
        return (k, d.get("tensor"))
    return (k,)


def _node_match(a: dict, b: dict) -> bool:
    return _node_key(a) == _node_key(b)


def _edge_sig(d: dict):
    return (d["type"], d.get("index", -1))


def _edge_match(a: dict, b: dict) -> bool:
    return sorted(_edge_sig(d) for d in a.values()) == sorted(_edge_sig(d) for d in b.values())


def _parallel_groups(g: nx.MultiGraph) -> dict:
    out: dict = {}
    for u, v, d in g.edges(data=True):
        key = tuple(sorted((u, v)))
        out.setdefault(key, []).append(_edge_sig(d))
    return out
