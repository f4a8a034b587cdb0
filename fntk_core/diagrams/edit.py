"""Editing a diagram as pure operations: each gives the new diagram and its inverse.

``apply(diagram, op) -> (new_diagram, inverse)``; the input is never modified and
``apply(new_diagram, inverse)`` gives back an equal diagram (same file: nodes,
edges, their order, presentation).  An undo stack keeps the inverses and needs no
logic of its own; the inverse of an inverse redoes.  Operations keep a diagram
savable (ids, fields and values as a file allows); whether it is a valid Feynman
diagram is :func:`~fntk_core.diagrams.translate.check_all`'s question.

``at`` (AddNode, Connect) is the position in node or edge order, so that an inverse
puts an element back where it was; None appends.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from .io import _ID, _NODE_FIELDS
from .model import EDGE_TYPES, NODE_KINDS, Diagram, DiagramError

PRESENTATION_KEYS = ("positions", "bends", "label_offsets")
_STR_ATTRS = ("leg", "branch", "type", "tensor")
_LIST_ATTRS = ("samples", "neural")


@dataclass(frozen=True)
class AddNode:
    nid: str
    kind: str
    attrs: dict = field(default_factory=dict)
    pos: tuple | None = None
    at: int | None = None


@dataclass(frozen=True)
class RemoveNode:
    """Removes the node, its edges and its presentation; the inverse restores all of them."""

    nid: str


@dataclass(frozen=True)
class MoveNode:
    nid: str
    pos: tuple | None  # None removes the position


@dataclass(frozen=True)
class Connect:
    source: str
    target: str
    type: str
    index: int | None = None
    eid: str | None = None  # None: the next free e<n>
    at: int | None = None


@dataclass(frozen=True)
class Disconnect:
    eid: str


@dataclass(frozen=True)
class SetAttribute:
    nid: str
    key: str
    value: object  # None removes the attribute


@dataclass(frozen=True)
class SetPresentation:
    """A bend (edge), label offset or position (node); None removes it."""

    key: str
    element: str
    value: object


@dataclass(frozen=True)
class Batch:
    """Several operations as one step (one undo)."""

    ops: tuple


Op = AddNode | RemoveNode | MoveNode | Connect | Disconnect | SetAttribute | SetPresentation | Batch


def apply(diagram: Diagram, op: Op) -> tuple[Diagram, Op]:
    """The diagram after ``op`` and the operation that undoes it; raises DiagramError for an invalid op."""
    state = _State(diagram)
    inverse = state.apply(op)
    return state.build(), inverse


class _State:
    """A diagram as ordered lists (file order), edited in place; ``build`` gives the Diagram."""

    def __init__(self, d: Diagram):
        self.nodes = [(n, {k: copy.deepcopy(v) for k, v in a.items()}) for n, a in d.graph.nodes(data=True)]
        self.edges = [(k, {f: v for f, v in e.items() if f != "_seq"}) for k, e in d.edge_list()]
        self.pres = {key: copy.deepcopy(d.presentation.get(key, {})) for key in PRESENTATION_KEYS}
        self.pres.update({k: copy.deepcopy(v) for k, v in d.presentation.items() if k not in PRESENTATION_KEYS})

    def build(self) -> Diagram:
        d = Diagram()
        for n, a in self.nodes:
            d.graph.add_node(n, **a)
        for k, e in self.edges:
            d.add_edge(e["source"], e["target"], e["type"], e.get("index"), eid=k)
        d.presentation = self.pres
        return d

    # -- lookups --------------------------------------------------------
    def node_at(self, nid) -> int:
        for i, (n, _) in enumerate(self.nodes):
            if n == nid:
                return i
        raise DiagramError(f"no node {nid!r} in the diagram")

    def edge_at(self, eid) -> int:
        for i, (k, _) in enumerate(self.edges):
            if k == eid:
                return i
        raise DiagramError(f"no edge {eid!r} in the diagram")

    def ids(self) -> set:
        return {n for n, _ in self.nodes} | {k for k, _ in self.edges}

    # -- operations -----------------------------------------------------
    def apply(self, op) -> Op:
        handler = getattr(self, "_" + type(op).__name__, None)
        if handler is None:
            raise DiagramError(f"not an edit operation: {type(op).__name__}")
        return handler(op)

    def _Batch(self, op: Batch) -> Op:
        return Batch(tuple(reversed([self.apply(o) for o in op.ops])))

    def _AddNode(self, op: AddNode) -> Op:
        _check_id(op.nid, "node")
        if op.nid in {n for n, _ in self.nodes}:
            raise DiagramError(f"node {op.nid!r} already exists")
        if op.kind not in NODE_KINDS:
            raise DiagramError(f"node kind must be one of {', '.join(NODE_KINDS)}")
        attrs = {"kind": op.kind}
        for key, value in dict(op.attrs).items():
            if key in ("id", "kind"):
                raise DiagramError(f"attribute {key!r} is given by AddNode itself")
            if value is not None:
                attrs[key] = _check_attr(key, value)
        self.nodes.insert(_position(op.at, len(self.nodes)), (op.nid, attrs))
        if op.pos is not None:
            self.pres["positions"][op.nid] = _check_point(op.pos, "position")
        return RemoveNode(op.nid)

    def _RemoveNode(self, op: RemoveNode) -> Op:
        i = self.node_at(op.nid)
        nid, attrs = self.nodes.pop(i)
        restore: list = [AddNode(nid, attrs["kind"], {k: v for k, v in attrs.items() if k != "kind"},
                                 _point(self.pres["positions"].pop(nid, None)), at=i)]
        offset = self.pres["label_offsets"].pop(nid, None)
        if offset is not None:
            restore.append(SetPresentation("label_offsets", nid, tuple(offset)))
        kept, bends = [], []
        for j, (k, e) in enumerate(self.edges):
            if nid in (e["source"], e["target"]):
                restore.append(Connect(e["source"], e["target"], e["type"], e.get("index"), k, at=j))
                if k in self.pres["bends"]:
                    bends.append(SetPresentation("bends", k, self.pres["bends"].pop(k)))
            else:
                kept.append((k, e))
        self.edges = kept
        return Batch(tuple(restore + bends))

    def _MoveNode(self, op: MoveNode) -> Op:
        self.node_at(op.nid)
        return MoveNode(op.nid, self._set_presentation("positions", op.nid, op.pos))

    def _SetPresentation(self, op: SetPresentation) -> Op:
        if op.key not in PRESENTATION_KEYS:
            raise DiagramError(f"presentation key must be one of {', '.join(PRESENTATION_KEYS)}")
        if op.key == "bends":
            self.edge_at(op.element)
        else:
            self.node_at(op.element)
        return SetPresentation(op.key, op.element, self._set_presentation(op.key, op.element, op.value))

    def _set_presentation(self, key: str, element: str, value):
        """Sets (or with None removes) one presentation entry; returns the old value as an op takes it."""
        table = self.pres[key]
        old = table.get(element)
        if value is None:
            table.pop(element, None)
        elif key == "bends":
            table[element] = _check_number(value, "bend")
        else:
            table[element] = _check_point(value, key[:-1].replace("_", " "))
        return old if key == "bends" else _point(old)

    def _Connect(self, op: Connect) -> Op:
        nodes = {n for n, _ in self.nodes}
        for end in (op.source, op.target):
            if end not in nodes:
                raise DiagramError(f"no node {end!r} to connect")
        if op.type not in EDGE_TYPES:
            raise DiagramError(f"edge type must be one of {', '.join(EDGE_TYPES)}")
        if op.index is not None and (not isinstance(op.index, int) or isinstance(op.index, bool)
                                     or not 0 <= op.index < 16):
            raise DiagramError("edge index must be an integer 0-15")
        eid = op.eid if op.eid is not None else self._free_edge_id()
        _check_id(eid, "edge")
        if eid in {k for k, _ in self.edges}:
            raise DiagramError(f"edge {eid!r} already exists")
        data = {"type": op.type, "source": op.source, "target": op.target}
        if op.index is not None:
            data["index"] = op.index
        self.edges.insert(_position(op.at, len(self.edges)), (eid, data))
        return Disconnect(eid)

    def _free_edge_id(self) -> str:
        used, n = {k for k, _ in self.edges}, len(self.edges) + 1
        while f"e{n}" in used:
            n += 1
        return f"e{n}"

    def _Disconnect(self, op: Disconnect) -> Op:
        j = self.edge_at(op.eid)
        k, e = self.edges.pop(j)
        back = Connect(e["source"], e["target"], e["type"], e.get("index"), k, at=j)
        bend = self.pres["bends"].pop(k, None)
        return back if bend is None else Batch((back, SetPresentation("bends", k, bend)))

    def _SetAttribute(self, op: SetAttribute) -> Op:
        _, attrs = self.nodes[self.node_at(op.nid)]
        if op.key == "kind":
            if op.value not in NODE_KINDS:
                raise DiagramError(f"node kind must be one of {', '.join(NODE_KINDS)}")
        elif op.key == "id" or op.key not in _NODE_FIELDS:
            raise DiagramError(f"a node has no attribute {op.key!r}; one of "
                               f"{', '.join(sorted(_NODE_FIELDS - {'id'}))}")
        old = attrs.get(op.key)
        if op.value is None:
            attrs.pop(op.key, None)
        else:
            attrs[op.key] = op.value if op.key == "kind" else _check_attr(op.key, op.value)
        return SetAttribute(op.nid, op.key, old)


# --------------------------------------------------------------------------
def _position(at, size: int) -> int:
    if at is None:
        return size
    if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= size:
        raise DiagramError(f"position {at!r} is outside 0-{size}")
    return at


def _check_id(x, what: str) -> None:
    if not isinstance(x, str) or not _ID.match(x):
        raise DiagramError(f"{what} id {x!r}: 1-64 characters of letters, digits, _ . : -")


def _check_attr(key: str, value):
    if key in _STR_ATTRS:
        if not isinstance(value, str) or not 0 < len(value) <= 32:
            raise DiagramError(f"attribute {key} must be a short string")
        return value
    if key in _LIST_ATTRS:
        if (not isinstance(value, (list, tuple)) or len(value) > 8
                or not all(isinstance(s, str) and 0 < len(s) <= 32 for s in value)):
            raise DiagramError(f"attribute {key} must be a list of up to 8 short strings")
        return list(value)
    raise DiagramError(f"a node has no attribute {key!r}")


def _check_number(x, what: str) -> float:
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or abs(x) >= 1e6:
        raise DiagramError(f"{what} must be a finite number")
    return x


def _check_point(p, what: str) -> list:
    if not isinstance(p, (list, tuple)) or len(p) != 2:
        raise DiagramError(f"{what} must be (x, y)")
    return [_check_number(x, what) for x in p]


def _point(p):
    return None if p is None else tuple(p)
