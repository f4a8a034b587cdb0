"""A physicist's drawing actions as edit operations: place, connect, take a line, delete, paste.

The drawn picture and the model differ (see ``model.py``): the Kronecker ``pair``
nodes of an interaction vertex, the ``line`` nodes of internal NTK/dNTK lines and
the slot/end/src/vend indices are book-keeping that nobody draws.  This module
creates and removes that book-keeping with what the user draws, as one
:class:`~fntk_core.diagrams.edit.Batch` per action (one undo step), or refuses the
action with a :class:`Refused` whose message says why.  It only keeps the
book-keeping consistent; whether the drawing is a valid diagram is ``check_all``'s.

Connections a user can draw (either direction):

* leg - cubic vertex: the next free neural slot of the leg that the leg's branch
  gives to this kind of cubic vertex; the internal lines the branch opens get
  their ``line`` node (``src``) and their ends (``end``) where the branch puts them;
* cubic vertex - blob: the cubic vertex's neuron;
* interaction vertex - blob: a z-leg of the vertex, a derivative in that blob;
* interaction vertex - internal line: the vertex takes the whole line.

Which of the vertex's legs a z-leg or line becomes is chosen so that as many of the
tensor's Kronecker pairs as possible sit on one neuron (the pairs are re-assigned
on every connection; the drawn picture does not change).
"""
from __future__ import annotations

import itertools

from .edit import AddNode, Batch, Connect, Disconnect, RemoveNode, SetAttribute, apply
from .model import CUBIC_TYPES, Diagram, DiagramError
from .rules import BRANCHES, SLOTS, STATISTICS

DEFAULT_BRANCH = {"z": "W", "ntk": "W", "dntk": "WW", "ddntkI": "WWW", "ddntkII": "WW"}
_PREFIX = {"leg": "", "cubic": "c", "blob": "b", "vertex": "v", "line": "L", "pair": "p"}


class Refused(DiagramError):
    """An action the rules do not allow; the message says why (for the status bar)."""


# -- ids ------------------------------------------------------------------------
def free_id(d: Diagram, prefix: str, taken=()) -> str:
    used = set(d.graph.nodes) | set(taken)
    n = 1
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"


def _kind(d: Diagram, n: str) -> str:
    if n not in d.graph:
        raise Refused(f"no element {n!r} in the diagram")
    return d.graph.nodes[n]["kind"]


# -- placing --------------------------------------------------------------------
def place(d: Diagram, kind: str, subtype: str | None = None, pos=(0.0, 0.0)) -> tuple[Batch, str]:
    """Add a leg (subtype: its kind), cubic vertex (its type), blob or interaction vertex (its tensor).

    A leg gets fresh sample and neural labels and its default branch; a vertex gets
    one pair node per Kronecker pair of its tensor.  Returns the batch and the new id.
    """
    pos = (float(pos[0]), float(pos[1]))
    if kind == "leg":
        leg = subtype or "z"
        if leg not in SLOTS:
            raise Refused(f"unknown leg kind {leg!r}; one of {', '.join(SLOTS)}")
        nid = free_id(d, leg)
        samples = _fresh_labels(d, "samples", SLOTS[leg], "")
        neural = _fresh_labels(d, "neural", SLOTS[leg], "i")
        return Batch((AddNode(nid, "leg", {"leg": leg, "samples": samples, "neural": neural,
                                           "branch": DEFAULT_BRANCH[leg]}, pos),)), nid
    if kind == "cubic":
        ctype = subtype or "W"
        if ctype not in CUBIC_TYPES:
            raise Refused(f"unknown cubic vertex type {ctype!r}; one of {', '.join(CUBIC_TYPES)}")
        nid = free_id(d, "c")
        return Batch((AddNode(nid, "cubic", {"type": ctype}, pos),)), nid
    if kind == "blob":
        nid = free_id(d, "b")
        return Batch((AddNode(nid, "blob", {}, pos),)), nid
    if kind == "vertex":
        tensor = subtype or "F"
        stat = STATISTICS.get(tensor)
        if stat is None or stat.order != 1:
            names = ", ".join(s.name for s in STATISTICS.values() if s.order == 1)
            raise Refused(f"{tensor!r} is not an interaction vertex; one of {names}")
        nid = free_id(d, "v")
        ops = [AddNode(nid, "vertex", {"tensor": tensor}, pos)]
        taken: list[str] = []
        for _ in stat.pattern:
            p = free_id(d, f"{nid}.p", taken)
            taken.append(p)
            ops += [AddNode(p, "pair", {}, pos), Connect(nid, p, "pair")]
        return Batch(tuple(ops)), nid
    raise Refused(f"cannot place a {kind!r}; place a leg, cubic vertex, blob or interaction vertex")


def _fresh_labels(d: Diagram, key: str, n: int, prefix: str) -> list[str]:
    used = {s for _, a in d.graph.nodes(data=True) for s in a.get(key, ())}
    out, k = [], 1
    while len(out) < n:
        if f"{prefix}{k}" not in used:
            out.append(f"{prefix}{k}")
        k += 1
    return out


def from_statistic(name: str) -> Batch:
    """The external legs of statistic ``name`` (kinds and sample labels as its recursion names them)."""
    stat = STATISTICS.get(name)
    if stat is None:
        raise Refused(f"unknown statistic {name!r}; one of {', '.join(STATISTICS)}")
    ops, count, neural = [], {}, 0
    for k, (leg, samples) in enumerate(zip(stat.legs, stat.samples)):
        count[leg] = count.get(leg, 0) + 1
        labels = [f"i{neural + j + 1}" for j in range(SLOTS[leg])]
        neural += SLOTS[leg]
        ops.append(AddNode(f"{leg}{count[leg]}", "leg", {"leg": leg, "samples": list(samples), "neural": labels,
                                                         "branch": DEFAULT_BRANCH[leg]}, (0.0, -1.5 * k)))
    return Batch(tuple(ops))


# -- connecting -----------------------------------------------------------------
def connect(d: Diagram, a: str, b: str) -> Batch:
    """Connect two drawn elements (an internal line is named by its line node); Refused says why not."""
    ka, kb = _kind(d, a), _kind(d, b)
    order = {"leg": 0, "cubic": 1, "blob": 2, "vertex": 3, "line": 4}
    if order.get(ka, 9) > order.get(kb, 9):
        a, b, ka, kb = b, a, kb, ka
    if (ka, kb) == ("leg", "cubic"):
        return _leg_to_cubic(d, a, b)
    if (ka, kb) == ("cubic", "blob"):
        return _cubic_to_blob(d, a, b)
    if (ka, kb) == ("blob", "vertex"):
        return _vertex_attach(d, b, ("z", a))
    if (ka, kb) == ("vertex", "line"):
        return _vertex_attach(d, a, ("line", b))
    return _refuse_pair(ka, kb)


def _refuse_pair(ka: str, kb: str) -> Batch:
    hints = {"leg": "an external leg connects to cubic vertices", "cubic": "a cubic vertex connects to legs and "
             "one blob", "blob": "a blob holds cubic vertices and takes z-legs of an interaction vertex",
             "vertex": "an interaction vertex connects to blobs (z-legs) and internal lines",
             "line": "an internal line can be taken by an interaction vertex"}
    raise Refused(f"a {_name(ka)} cannot connect to a {_name(kb)}: {hints.get(ka, '')}")


def _name(kind: str) -> str:
    return {"leg": "external leg", "cubic": "cubic vertex", "vertex": "interaction vertex",
            "line": "internal line"}.get(kind, kind)


def _branch(d: Diagram, leg: str):
    a = d.graph.nodes[leg]
    spec = BRANCHES.get(a.get("leg"), {}).get(a.get("branch"))
    if spec is None:
        raise Refused(f"{leg}: choose a branch of its forward equation first (Properties)")
    return spec


def _used_slots(d: Diagram, leg: str) -> dict[int, str]:
    return {e["index"]: e["target"] for e in d.edges(leg, "slot") if e["source"] == leg}


def _leg_to_cubic(d: Diagram, leg: str, c: str) -> Batch:
    spec, ctype = _branch(d, leg), d.graph.nodes[c].get("type", "W")
    used, kind = _used_slots(d, leg), d.graph.nodes[leg]["leg"]
    if len(used) == SLOTS[kind]:
        raise Refused(f"{leg}: all {SLOTS[kind]} neural indices of this {kind} leg are already contracted")
    if ctype == "W":
        if len([e for e in d.edges(c, "slot")]) >= 2:
            raise Refused(f"{c}: a W vertex joins two W-slots and this one has both")
        free = [s for s in sorted(spec.wslots) if s not in used]
        if not free:
            raise Refused(f"{leg}: branch {spec.name} has no free weight (W) index left")
        slot, own = free[0], None
    else:
        owns = [(k, o) for k, o in enumerate(spec.owns) if o.type == ctype]
        options = [(k, s) for k, o in owns for s in o.slots if s not in used
                   and all(used.get(t, c) == c for t in o.slots)]
        if not options:
            raise Refused(f"{leg}: branch {spec.name} contracts no free index pair at a {ctype} vertex")
        own, slot = options[0]
    ops: list = [Connect(leg, c, "slot", slot)]
    lines = {e["index"]: e["target"] for e in d.edges(leg, "src") if e["source"] == leg}
    first_of_own = own is not None and all(s not in used for s in spec.owns[own].slots)
    taken: list[str] = []
    for i, ls in enumerate(spec.lines):
        for e, (where, _) in enumerate(ls.ends):
            if where == ("slot", slot) or (first_of_own and where == ("own", own)):
                if i not in lines:
                    lines[i] = free_id(d, "L", taken)
                    taken.append(lines[i])
                    ops += [AddNode(lines[i], "line", {"type": ls.type}, _mid(d, leg, c)),
                            Connect(leg, lines[i], "src", i)]
                ops.append(Connect(lines[i], c, "end", e))
    return Batch(tuple(ops))


def _mid(d: Diagram, a: str, b: str):
    pos = d.presentation.get("positions", {})
    if a in pos and b in pos:
        return ((pos[a][0] + pos[b][0]) / 2, (pos[a][1] + pos[b][1]) / 2)
    return None


def _cubic_to_blob(d: Diagram, c: str, blob: str) -> Batch:
    if d.graph.nodes[c].get("type") == "bias":
        raise Refused(f"{c}: a bias vertex is a constant and sits in no blob")
    there = [e["target"] for e in d.edges(c, "neuron")]
    if there:
        raise Refused(f"{c}: this cubic vertex already sits in blob {there[0]} (a vertex is one neuron)")
    return Batch((Connect(c, blob, "neuron"),))


# -- interaction vertices: attachments and their Kronecker pairs -----------------
def attachments(d: Diagram, v: str) -> list[tuple[str, str]]:
    """What the vertex holds, in drawing order: ("z", blob) per z-leg, ("line", line) per taken line."""
    out, seen = [], set()
    for e in d.edges(v, "pair"):
        p = e["target"]
        for pe in d.edges(p):
            if pe["type"] == "deriv":
                out.append((pe["_seq"], ("z", pe["target"]), pe["id"]))
            elif pe["type"] == "vend" and pe["target"] not in seen:
                seen.add(pe["target"])
                out.append((pe["_seq"], ("line", pe["target"]), pe["id"]))
    return [a for _, a, _ in sorted(out)]


def _vertex_attach(d: Diagram, v: str, new: tuple[str, str]) -> Batch:
    tensor = d.graph.nodes[v].get("tensor")
    stat = STATISTICS.get(tensor)
    if stat is None:
        raise Refused(f"{v}: unknown tensor {tensor!r}")
    held = attachments(d, v)
    if new[0] == "line":
        if new in held:
            raise Refused(f"{v}: this vertex already takes line {new[1]}")
        other = [e["source"] for e in d.edges(new[1], "vend")]
        if other:
            raise Refused(f"{new[1]}: this line is already taken by a vertex")
        kind = d.graph.nodes[new[1]].get("type", "ntk")
    else:
        kind = "z"
    want = sum(1 for a in held if _att_kind(d, a) == kind) + 1
    have = sum(1 for k in stat.legs if k == kind)
    if want > have:
        raise Refused(f"{v}: the vertex {tensor} has {have} {kind} leg{'s' if have != 1 else ''} and "
                      f"{'all are' if have != 1 else 'it is'} attached")
    return _assign(d, v, stat, held + [new])


def _att_kind(d: Diagram, a) -> str:
    return "z" if a[0] == "z" else d.graph.nodes[a[1]].get("type", "ntk")


def _assign(d: Diagram, v: str, stat, held: list) -> Batch:
    """Re-create the vertex's deriv/vend edges for attachments ``held``, pairs on one neuron where possible."""
    pairs = [e["target"] for e in sorted(d.edges(v, "pair"), key=lambda e: e["_seq"])]
    ops: list = [Disconnect(pe["id"]) for p in pairs for pe in d.edges(p) if pe["type"] in ("deriv", "vend")]
    pattern = sorted(tuple(sorted(p)) for p in stat.pattern)
    order = {n: i for i, n in enumerate(d.graph.nodes)}
    held = sorted(held, key=lambda a: (a[0], order[a[1]]))  # ties go the same way whatever the drawing order
    best, best_score = None, -1
    legs = list(range(len(stat.legs)))
    for perm in itertools.permutations(legs, len(held)):
        if any(stat.legs[perm[k]] != _att_kind(d, a) for k, a in enumerate(held)):
            continue
        for syms in itertools.product(*[_syms(stat.legs[perm[k]]) for k in range(len(held))]):
            where = {}
            for k, a in enumerate(held):
                for s, e in enumerate(syms[k]):
                    where[(perm[k], s)] = (a, e)
            score = sum(1 for p in pattern if all(x in where for x in p)
                        and len({_blob_of(d, *where[x]) for x in p} - {None}) == 1)
            if score > best_score:
                best, best_score = where, score
    for k, pair in enumerate(pattern):
        if k >= len(pairs):
            break
        for x in pair:
            if x in best:
                (what, target), end = best[x]
                ops.append(Connect(pairs[k], target, "deriv") if what == "z" else
                           Connect(pairs[k], target, "vend", end))
    return Batch(tuple(ops))


def _syms(kind: str):
    """Which line end each slot of a vertex leg takes: identity and the leg's slot symmetries."""
    from .rules import SLOT_SYMMETRIES

    return SLOT_SYMMETRIES.get(kind, [tuple(range(SLOTS[kind]))])


def _blob_of(d: Diagram, att, end: int):
    what, target = att
    if what == "z":
        return target
    for e in d.edges(target, "end"):
        if e.get("index") == end:
            return next((n["target"] for n in d.edges(e["target"], "neuron")), None)
    return None


# -- properties -------------------------------------------------------------------
def set_property(d: Diagram, nid: str, key: str, value) -> Batch:
    """Change a leg's samples/neural/branch/kind, a cubic vertex's type or a vertex's tensor."""
    kind = _kind(d, nid)
    allowed = {"leg": ("samples", "neural", "branch", "leg"), "cubic": ("type",), "vertex": ("tensor",)}
    if key not in allowed.get(kind, ()):
        raise Refused(f"a {_name(kind)} has no property {key!r} to edit")
    if kind == "leg" and key in ("branch", "leg") and (d.edges(nid, "slot") or d.edges(nid, "src")):
        raise Refused(f"{nid}: disconnect the leg before changing its {key}")
    if kind == "cubic" and d.edges(nid, "slot"):
        raise Refused(f"{nid}: disconnect the legs before changing the vertex's type")
    if kind == "vertex":
        if attachments(d, nid):
            raise Refused(f"{nid}: detach the vertex's legs before changing its tensor")
        pos = d.presentation.get("positions", {}).get(nid, (0.0, 0.0))
        stat = STATISTICS.get(value)
        if stat is None or stat.order != 1:
            raise Refused(f"{value!r} is not an interaction vertex")
        pairs = [e["target"] for e in d.edges(nid, "pair")]
        ops: list = [RemoveNode(p) for p in pairs] + [SetAttribute(nid, "tensor", value)]
        taken: list[str] = []
        for _ in stat.pattern:
            p = free_id(d, f"{nid}.p", taken)
            taken.append(p)
            ops += [AddNode(p, "pair", {}, tuple(pos)), Connect(nid, p, "pair")]
        return Batch(tuple(ops))
    ops = [SetAttribute(nid, key, value)]
    if kind == "leg" and key == "leg":
        n = SLOTS.get(value)
        if n is None:
            raise Refused(f"unknown leg kind {value!r}")
        ops += [SetAttribute(nid, "samples", _fresh_labels(d, "samples", n, "")),
                SetAttribute(nid, "neural", _fresh_labels(d, "neural", n, "i")),
                SetAttribute(nid, "branch", DEFAULT_BRANCH[value])]
    batch = Batch(tuple(ops))
    apply(d, batch)  # refuse values a file cannot hold (DiagramError names the field)
    return batch


# -- deleting ----------------------------------------------------------------------
def delete(d: Diagram, ids) -> Batch:
    """Delete drawn elements (node ids, or edge ids of drawn connections) with their book-keeping."""
    nodes, edges = set(), set()
    all_edges = {k: dict(e, id=k) for k, e in d.edge_list()}
    for x in ids:
        if x in d.graph and d.graph.nodes[x]["kind"] != "pair":  # pairs go with their vertex
            nodes.add(x)
        elif x in all_edges and all_edges[x]["type"] not in ("pair", "src"):
            edges.add(x)
    for n in list(nodes):
        k = d.graph.nodes[n]["kind"]
        if k == "leg":
            nodes |= {e["target"] for e in d.edges(n, "src")}
        elif k == "vertex":
            nodes |= {e["target"] for e in d.edges(n, "pair")}
        elif k == "line":  # a free line: release it from any vertex, keep it (its leg opened it)
            nodes.discard(n)
            edges |= {e["id"] for e in d.edges(n, "vend")}
    for eid in list(edges):
        e = all_edges[eid]
        if e["type"] == "slot":
            edges |= _ends_of_slot(d, e)
        elif e["type"] == "end":  # a drawn piece of a taken line: the vertex lets go of the line
            edges |= {v["id"] for v in d.edges(e["source"], "vend")}
            edges.discard(eid)
    ops = [Disconnect(k) for k, e in d.edge_list() if k in edges
           and e["source"] not in nodes and e["target"] not in nodes]
    ops += [RemoveNode(n) for n in d.graph.nodes if n in nodes]
    return Batch(tuple(ops))


def _ends_of_slot(d: Diagram, slot_edge: dict) -> set:
    """The line-end edges that a slot connection put at its cubic vertex."""
    leg, c, s = slot_edge["source"], slot_edge["target"], slot_edge.get("index")
    a = d.graph.nodes[leg]
    spec = BRANCHES.get(a.get("leg"), {}).get(a.get("branch"))
    if spec is None:
        return set()
    lines = {e["index"]: e["target"] for e in d.edges(leg, "src") if e["source"] == leg}
    others = [e for e in d.edges(leg, "slot") if e["target"] == c and e["id"] != slot_edge["id"]]
    out = set()
    for i, ls in enumerate(spec.lines):
        for e, (where, _) in enumerate(ls.ends):
            mine = where == ("slot", s) or (where[0] == "own" and not others
                                           and s in spec.owns[where[1]].slots)
            if mine and i in lines:
                out |= {x["id"] for x in d.edges(lines[i], "end") if x.get("index") == e and x["target"] == c}
    return out


# -- copy and paste -----------------------------------------------------------------
def subdiagram(d: Diagram, ids) -> Diagram:
    """The selected elements with their book-keeping and the edges among them (what Copy puts away)."""
    keep = set()
    for x in ids:
        if x in d.graph:
            keep.add(x)
    for n in list(keep):
        k = d.graph.nodes[n]["kind"]
        if k == "leg":
            keep |= {e["target"] for e in d.edges(n, "src")}
        elif k == "vertex":
            keep |= {e["target"] for e in d.edges(n, "pair")}
    out = Diagram()
    for n, a in d.graph.nodes(data=True):
        if n in keep:
            out.graph.add_node(n, **a)
    for k, e in d.edge_list():
        if e["source"] in keep and e["target"] in keep:
            out.add_edge(e["source"], e["target"], e["type"], e.get("index"), eid=k)
    pos = d.presentation.get("positions", {})
    out.presentation = {"positions": {n: list(pos[n]) for n in keep if n in pos}, "bends": {}, "label_offsets": {}}
    return out


def paste(d: Diagram, sub: Diagram, offset=(0.5, -0.5)) -> tuple[Batch, list[str]]:
    """Add ``sub`` to ``d`` with fresh ids (and fresh leg labels), shifted by ``offset``; returns the new ids."""
    ren: dict[str, str] = {}
    taken: list[str] = []
    for n, a in sub.graph.nodes(data=True):
        k = a["kind"]
        prefix = a.get("leg", "z") if k == "leg" else (ren.get(_owner(sub, n), "v") + ".p" if k == "pair"
                                                     else _PREFIX.get(k, "n"))
        ren[n] = free_id(d, prefix, taken)
        taken.append(ren[n])
    ops: list = []
    work = d
    pos = sub.presentation.get("positions", {})
    for n, a in sub.graph.nodes(data=True):
        attrs = {k: v for k, v in a.items() if k != "kind"}
        if a["kind"] == "leg":
            attrs["samples"] = _fresh_labels(work, "samples", len(a.get("samples", [])), "")
            attrs["neural"] = _fresh_labels(work, "neural", len(a.get("neural", [])), "i")
        p = pos.get(n)
        op = AddNode(ren[n], a["kind"], attrs, (p[0] + offset[0], p[1] + offset[1]) if p else None)
        work, _ = apply(work, op)
        ops.append(op)
    for _, e in sub.edge_list():
        ops.append(Connect(ren[e["source"]], ren[e["target"]], e["type"], e.get("index")))
    return Batch(tuple(ops)), [ren[n] for n in sub.graph.nodes]


def _owner(sub: Diagram, pair: str) -> str:
    es = sub.edges(pair, "pair")
    return es[0]["source"] if es else "v"
