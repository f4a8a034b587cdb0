"""Diagram -> Terms: check every Feynman rule, then read off the value.

The rules are :class:`~fntk_core.diagrams.violations.Rule` (an id, a title and a
one-line explanation each).  :func:`translate` refuses a diagram with a
:class:`RuleError` for the first broken rule; :func:`check_all` runs the same
checks in the same order and reports every violation, each naming the offending
elements (node or edge ids) so that an editor can highlight them.  A check that
depends on an element already found broken is skipped rather than reported twice.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from ..recursions.terms import C_W, C_b, E, Recursion, Sum, T, Term, omega, r, recursion, sig, theta
from .model import CUBIC_TYPES, EDGE_TYPES, NODE_KINDS, Diagram, RuleError
from .rules import BRANCHES, SLOTS, Statistic, components, identify
from .violations import RuleViolation

MAX_ORDER = 1


@dataclass(frozen=True)
class Translation:
    """What a diagram stands for: which statistic, at which order, with which terms."""

    statistic: str
    labels: tuple[str, ...]  # the statistic's sample labels in storage order
    order: int
    weight: sp.Expr  # product of cubic-vertex weights (r excluded)
    automorphisms: int
    terms: tuple[Term, ...]
    vertices: int = 0  # interaction vertices (each brings one factor r)
    source: str | None = None  # which diagram this is (a library id such as "F/2"), carried by every term

    @property
    def coefficient(self) -> sp.Expr:
        """Vertex weights x symmetry factor (the number in the library index; r excluded)."""
        return sp.nsimplify(self.weight / self.automorphisms)

    @property
    def prefactor(self) -> sp.Expr:
        """The diagram's whole constant factor as its terms print it: coefficient x r per vertex."""
        return self.coefficient * r ** self.vertices

    def with_source(self, source: str | None) -> Translation:
        return replace(self, source=source, terms=tuple(replace(t, source=source) for t in self.terms))

    def recursion(self) -> Recursion:
        return Recursion(self.statistic, self.labels, self.terms)


def translate(d: Diagram, source: str | None = None) -> Translation:
    """The diagram's value; raises :class:`RuleError` for the first broken rule."""
    return _analyse(d, _Checks(None), source)


def check_all(d: Diagram) -> list[RuleViolation]:
    """Every broken rule of ``d`` (empty when it translates), in the order translate meets them."""
    checks = _Checks([])
    _analyse(d, checks, None)
    return checks.found


class _Skip(Exception):
    """A check that depends on an element already reported broken."""


class _Checks:
    """Runs one check at a time: raises its RuleError (translate) or records it and goes on (check_all)."""

    def __init__(self, found: list | None):
        self.found = found

    def run(self, fn, *args):
        try:
            return fn(*args)
        except RuleError as exc:
            if self.found is None:
                raise
            self.found.append(exc.violation)
        except _Skip:
            pass
        except (KeyError, IndexError, TypeError, AttributeError):
            if not self.found:  # a real bug, not a consequence of a reported violation
                raise
        return None

    def fail(self, rule: str, elements, message: str) -> None:
        self.run(_raise, rule, elements, message)


def _raise(rule, elements, message):
    raise RuleError(rule, elements, message)


def _analyse(d: Diagram, ck: _Checks, source: str | None) -> Translation | None:
    g = d.graph
    for n in list(g.nodes):
        ck.run(_node_structure, d, n)
    for edge in list(g.edges(keys=True, data=True)):
        ck.run(_edge_structure, d, edge)
    legs = d.nodes("leg")
    leg_index = {n: i for i, n in enumerate(legs)}
    branches = {n: ck.run(_leg, d, n) for n in legs}
    slot_cubic = {}
    for n in legs:
        slot_cubic.update(ck.run(_slots, d, n, branches) or {})
    cubics = d.nodes("cubic")
    info = {c: ck.run(_cubic, d, c, branches) for c in cubics}
    info = {c: i for c, i in info.items() if i is not None}
    lines, broken_legs = {}, set()
    for n in legs:
        got = ck.run(_lines, d, n, branches, slot_cubic)
        if got is None:
            broken_legs.add(n)
        lines.update(got or {})
    for ln in d.nodes("line"):
        ck.run(_line_opened, d, ln, lines, broken_legs)
    blob_of = {c: i["blob"] for c, i in info.items() if i["blob"] is not None}
    for b in d.nodes("blob"):
        if b not in blob_of.values() and not any(e["source"] in cubics for e in d.edges(b, "neuron")):
            ck.fail("blob-empty", b, "a blob without a cubic vertex is no neuron; remove it or attach a vertex")
    vertices = [ck.run(_vertex, d, v, lines, blob_of) for v in d.nodes("vertex")]
    complete = len(info) == len(cubics) and None not in vertices
    vertices = [v for v in vertices if v is not None]
    for p in d.nodes("pair"):
        if len(d.edges(p, "pair")) != 1:
            ck.fail("vertex", p, "a Kronecker pair belongs to exactly one interaction vertex")
    fluct = {ln for v in vertices for ln in v["lines"]}
    for ln, li in lines.items():
        if ln not in fluct:
            ck.run(_free_line, d, ln, li, blob_of)
    if g.number_of_nodes() and not nx.is_connected(g):
        comps = sorted(nx.connected_components(g), key=lambda c: (-len(c), sorted(c)))
        stray = tuple(sorted(n for c in comps[1:] for n in c))
        ck.fail("connected", stray, "the diagram is not connected; disconnected pieces "
                                    "cancel in connected statistics and vanish in means")
    if not complete:
        return None
    n_neurons = sum(1 for i in info.values() if i["blob"] is not None)
    order = n_neurons - len(set(blob_of.values())) + len(vertices)
    if len(vertices) > 1 or order > MAX_ORDER:
        where = tuple(v["id"] for v in vertices[1:]) or tuple(d.nodes("blob"))
        ck.fail("order", where, f"this diagram is O(1/n^{order}); the engine works to O(1/n) "
                                "(one interaction vertex, or none and a single blob)")
    if ck.found or None in branches.values():
        return None
    kinds = tuple(g.nodes[n]["leg"] for n in legs)
    pattern = frozenset(frozenset((leg_index[l], s) for l, s in info[c]["slots"]) for c in cubics)
    found = identify(kinds, pattern, order)
    if found is None:
        ck.fail("statistic", tuple(legs),
                f"no statistic at O(1/n^{order}) has legs {', '.join(kinds)} with this Kronecker pattern")
        return None
    if ck.found is not None:  # check_all: every rule checked, no value wanted
        return None
    stat, storage = found
    samples = [tuple(g.nodes[n]["samples"]) for n in legs]
    labels = tuple(samples[l][s] for l, s in storage)
    weight = sp.Integer(1)
    for i in info.values():
        weight *= i["weight"]
    aut = d.automorphisms()
    terms = _terms(d, stat, info, lines, vertices, blob_of, legs, weight / aut, bool(vertices))
    return Translation(stat.name, labels, order, weight, aut, terms, len(vertices)).with_source(source)


def _line_opened(d: Diagram, ln: str, lines: dict, broken_legs: set) -> None:
    srcs = [e["source"] for e in d.edges(ln, "src")]
    if len(srcs) == 1 and srcs[0] in broken_legs:
        raise _Skip
    if ln not in lines or len(srcs) != 1:
        raise RuleError("line", ln, "an internal line is opened by exactly one external leg (src edge)")


def _free_line(d: Diagram, ln: str, li: dict, blob_of: dict) -> None:
    """A line no vertex touches stands at its mean: only an NTK line on one neuron has one."""
    if li["type"] != "ntk":
        raise RuleError("dntk-mean", ln, f"a {li['type']} line has no O(1) mean: attach it to an interaction vertex")
    ends = li["cubics"]
    if ends[0] == ends[1] and d.graph.nodes[li["leg"]]["leg"] == "ntk":
        raise RuleError("omega", (ln, ends[0]), "an NTK leg contracted with itself at its mean is the Omega vertex "
                                                "(cubic type omega, no line); W + line is only for a fluctuating line")
    if blob_of[ends[0]] != blob_of[ends[1]]:
        raise RuleError("mean-line", (ln, blob_of[ends[0]], blob_of[ends[1]]),
                        "an NTK line between two different neurons has zero mean: "
                        "put both ends in one blob or attach it to a vertex")


# --------------------------------------------------------------------------
def _node_structure(d: Diagram, n: str) -> None:
    a = d.graph.nodes[n]
    if a.get("kind") not in NODE_KINDS:
        raise RuleError("structure", n, f"unknown node kind {a.get('kind')!r}; one of {', '.join(NODE_KINDS)}")
    if a["kind"] == "cubic" and a.get("type") not in CUBIC_TYPES:
        raise RuleError("structure", n, f"cubic vertex type must be one of {', '.join(CUBIC_TYPES)}")
    if a["kind"] == "line" and a.get("type") not in SLOTS:
        raise RuleError("structure", n, f"line type must be one of {', '.join(SLOTS)}")


def _edge_structure(d: Diagram, edge) -> None:
    g = d.graph
    u, v, k, e = edge
    t = e.get("type")
    if t not in EDGE_TYPES:
        raise RuleError("structure", k, f"unknown edge type {t!r}")
    sk, tk, has_index = EDGE_TYPES[t]
    s, tt = e.get("source"), e.get("target")
    if {s, tt} != {u, v} or g.nodes[s].get("kind") != sk or g.nodes[tt].get("kind") != tk:
        raise RuleError("structure", (k, s, tt), f"a {t} edge goes from a {sk} to a {tk}")
    if has_index != ("index" in e) or (has_index and not isinstance(e["index"], int)):
        raise RuleError("structure", k, f"a {t} edge {'needs' if has_index else 'has no'} integer index")


def _leg(d: Diagram, n: str):
    a = d.graph.nodes[n]
    kind = a.get("leg")
    if kind not in SLOTS:
        raise RuleError("leg", n, f"unknown leg kind {kind!r}; one of {', '.join(SLOTS)}")
    k = SLOTS[kind]
    for key in ("samples", "neural"):
        val = a.get(key)
        if not isinstance(val, (list, tuple)) or len(val) != k or not all(isinstance(x, str) and x for x in val):
            raise RuleError("leg", n, f"a {kind} leg has {k} {key} label(s)")
    if not BRANCHES[kind]:
        raise RuleError("branch", n, f"no Feynman rules for {kind} legs yet (their forward equation is pending)")
    br = BRANCHES[kind].get(a.get("branch"))
    if br is None:
        raise RuleError("branch", n, f"a {kind} leg's branch is one of {', '.join(BRANCHES[kind])}")
    return br


def _slots(d: Diagram, n: str, branches) -> dict:
    """{(leg, neural index): the cubic vertex that contracts it} for one leg."""
    if branches[n] is None:
        raise _Skip
    out = {}
    a = d.graph.nodes[n]
    k = SLOTS[a["leg"]]
    seen: dict[int, list] = {i: [] for i in range(k)}
    for e in d.edges(n, "slot"):
        if e["index"] not in seen:
            raise RuleError("structure", e["id"], f"leg {n} has no neural index {e['index']}")
        seen[e["index"]].append(e["target"])
    for i, cs in seen.items():
        if len(cs) != 1:
            what = "not contracted" if not cs else "contracted more than once"
            if a["leg"] == "ntk" and not cs and all(len(c) != 1 for c in seen.values()):
                raise RuleError("leg-slots", n, "an NTK leg's two neural indices are not both contracted")
            raise RuleError("leg-slots", (n, *cs), f"neural index {i} ({a['neural'][i]}) is {what}")
        out[(n, i)] = cs[0]
    return out


def _cubic(d: Diagram, c: str, branches) -> dict:
    g = d.graph
    t = g.nodes[c]["type"]
    slots = sorted((e["source"], e["index"]) for e in d.edges(c, "slot"))
    blobs = [e["target"] for e in d.edges(c, "neuron")]
    if len(slots) != 2:
        raise RuleError("cubic", c, f"a cubic vertex joins exactly two neural indices (this one {len(slots)})")
    (l1, s1), (l2, s2) = slots
    b1, b2 = branches.get(l1), branches.get(l2)
    if b1 is None or b2 is None:
        raise _Skip
    fields: list = []
    if t == "W":
        for leg, s, br in ((l1, s1, b1), (l2, s2, b2)):
            if s not in br.wslots:
                raise RuleError("cubic", c, f"index {s} of leg {leg} carries no weight W in branch {br.name}")
            samples = g.nodes[leg]["samples"]
            fields += [(o, samples[k]) for o, k in br.wslots[s]]
        weight, factor = C_W, ("fields", tuple(fields))
    elif t == "bias" and g.nodes[l1]["leg"] == "z" and g.nodes[l2]["leg"] == "z":
        if not (s1 in b1.bias_slots and s2 in b2.bias_slots) or l1 == l2:
            raise RuleError("cubic", c, "a bias vertex joins two z legs that both take their bias branch")
        weight, factor = C_b, None
    else:
        own = [o for o in b1.owns if l1 == l2 and set(o.slots) == {s1, s2}]
        if not own or own[0].type != t:
            raise RuleError("cubic", c, f"a {t} vertex joins the two indices that the leg's branch contracts itself")
        o = own[0]
        samples = g.nodes[l1]["samples"]
        weight = o.weight
        if t == "omega":
            factor = ("omega", (samples[o.slots[0]], samples[o.slots[1]]))
        elif t == "own":
            factor = ("fields", tuple((m, samples[k]) for m, k in o.fields))
        else:
            factor = None
    if factor is None:
        if blobs:
            raise RuleError("cubic-blob", c, "a bias vertex is a constant: it sits in no blob")
        blob = None
    else:
        if len(blobs) != 1:
            raise RuleError("cubic-blob", c, f"a {t} vertex brings one layer-l neuron: attach it to exactly one blob")
        blob = blobs[0]
    return {"type": t, "slots": slots, "weight": weight, "factor": factor, "blob": blob}


def _lines(d: Diagram, n: str, branches, slot_cubic) -> dict:
    """The internal lines opened by leg ``n``: {line: its leg, type, end cubics, end samples}."""
    g = d.graph
    out = {}
    br = branches[n]
    if br is None:
        raise _Skip
    src = {}
    for e in d.edges(n, "src"):
        if e["index"] in src or not 0 <= e["index"] < len(br.lines):
            raise RuleError("line", e["id"], f"branch {br.name} of leg {n} opens {len(br.lines)} line(s)")
        src[e["index"]] = e["target"]
    for k, spec in enumerate(br.lines):
        if k not in src:
            raise RuleError("line", n, f"branch {br.name} opens a {spec.type} line (number {k}); it is missing")
        ln = src[k]
        if g.nodes[ln]["type"] != spec.type:
            raise RuleError("line", ln, f"this line must be of type {spec.type}")
        ends = {e["index"]: e["target"] for e in d.edges(ln, "end")}
        if sorted(ends) != list(range(len(spec.ends))) or len(d.edges(ln, "end")) != len(spec.ends):
            raise RuleError("line", ln, f"a {spec.type} line has {len(spec.ends)} ends, each on one cubic vertex")
        cubics, samples = [], []
        for e, (where, samp) in enumerate(spec.ends):
            kind, idx = where
            want = slot_cubic[(n, idx)] if kind == "slot" else slot_cubic[(n, br.owns[idx].slots[0])]
            if ends[e] != want:
                raise RuleError("line", (ln, ends[e], want),
                                f"end {e} must sit on {want}, the neuron the branch gives it")
            cubics.append(want)
            samples.append(g.nodes[n]["samples"][samp])
        out[ln] = {"leg": n, "type": spec.type, "cubics": tuple(cubics), "samples": tuple(samples)}
    return out


def _vertex(d: Diagram, v: str, lines, blob_of) -> dict:
    g = d.graph
    pairs = [e["target"] for e in d.edges(v, "pair")]
    if not pairs:
        raise RuleError("vertex", v, "an interaction vertex needs its Kronecker pairs")
    zports, touched, port_pairs = [], [], []
    for p in pairs:
        ports = []
        for e in d.edges(p, "deriv"):
            zports.append(e["target"])
            ports.append(("z", len(zports) - 1))
        for e in d.edges(p, "vend"):
            ln = e["target"]
            if ln not in touched:
                touched.append(ln)
            ports.append(("line", ln, e["index"]))
        if len(ports) != 2:
            raise RuleError("vertex", p, f"a Kronecker pair joins exactly two indices (this one {len(ports)})")
        port_pairs.append(ports)
    touched.sort()
    m = len(zports)
    ends_seen = {}
    for ports in port_pairs:
        for pt in ports:
            if pt[0] == "line":
                ends_seen.setdefault(pt[1], []).append(pt[2])
    for ln in touched:
        n_ends = len(lines[ln]["cubics"])
        if sorted(ends_seen[ln]) != list(range(n_ends)):
            raise RuleError("vertex", ln, f"a vertex takes the whole line: each of its {n_ends} ends exactly once")
    kinds = ("z",) * m + tuple(lines[ln]["type"] for ln in touched)

    def slot(pt):
        return (pt[1], 0) if pt[0] == "z" else (m + touched.index(pt[1]), pt[2])

    pattern = frozenset(frozenset(slot(pt) for pt in ports) for ports in port_pairs)
    match = [(name, st) for pat, name, st in components(kinds) if pat == pattern]
    if not match:
        raise RuleError("vertex-pattern", v, f"no first-order tensor has legs {', '.join(kinds)} with this pattern")
    name, storage = match[0]
    if g.nodes[v].get("tensor") not in (None, name):
        raise RuleError("vertex-pattern", v, f"this vertex's Kronecker pattern is {name}'s, not {g.nodes[v]['tensor']}'s")

    def neuron(pt):
        return zports[pt[1]] if pt[0] == "z" else blob_of[lines[pt[1]]["cubics"][pt[2]]]

    for p, ports in zip(pairs, port_pairs):
        if neuron(ports[0]) != neuron(ports[1]):
            raise RuleError("kronecker", (p, neuron(ports[0]), neuron(ports[1])),
                            "the pair's two indices sit on different neurons (blobs): "
                            "its Kronecker delta vanishes")
    dummies = [f"b{i + 1}" for i in range(m)]
    labels = tuple(dummies[l] if l < m else lines[touched[l - m]]["samples"][s] for l, s in storage)
    return {"id": v, "name": name, "labels": labels, "lines": touched, "zports": zports, "dummies": dummies}


def _terms(d, stat: Statistic, info, lines, vertices, blob_of, legs, coeff, has_vertex) -> tuple[Term, ...]:
    # groups: external legs joined by cubic vertices (the pieces a cumulant separates)
    h = nx.Graph()
    h.add_nodes_from(legs)
    for i in info.values():
        h.add_edge(i["slots"][0][0], i["slots"][1][0])
    group = {}
    for k, comp in enumerate(sorted(nx.connected_components(h), key=lambda c: sorted(c))):
        for n in comp:
            group[n] = k
    fluct = {ln for v in vertices for ln in v["lines"]}
    expr = Sum([Term(coeff=sp.sympify(coeff) * (r if has_vertex else 1))])
    for b in sorted(set(blob_of.values())):
        parts: dict[int, Sum] = {}
        for c, i in info.items():
            if i["blob"] != b:
                continue
            k = group[i["slots"][0][0]]
            kind, data = i["factor"]
            f = omega(*data) if kind == "omega" else _fields(data)
            parts[k] = parts[k] * f if k in parts else f
        for ln, li in lines.items():
            if ln not in fluct and blob_of[li["cubics"][0]] == b:
                k = group[li["leg"]]
                parts[k] = parts[k] * theta(*li["samples"]) if k in parts else theta(*li["samples"])
        derivs = [dm for v in vertices for z, dm in zip(v["zports"], v["dummies"]) if z == b]
        if len(parts) > 1 and stat.connected and not has_vertex:
            expr = expr * _cumulant(list(parts.values()))
        else:
            prod = None
            for f in parts.values():
                prod = f if prod is None else prod * f
            expr = expr * E(prod, *derivs)
    for v in vertices:
        expr = expr * T(v["name"], *v["labels"])
    return recursion(stat.name, stat.labels, expr).terms


def _fields(fields) -> Sum:
    out = None
    for o, lab in fields:
        s = sig(o, lab)
        out = s if out is None else out * s
    return out


def _cumulant(parts: list[Sum]) -> Sum:
    """Joint cumulant of the groups sharing one neuron: sum over partitions with Moebius weights."""
    total = None
    for part in multiset_partitions(list(range(len(parts)))):
        k = len(part)
        term = Sum([Term(coeff=sp.Integer((-1) ** (k - 1)) * sp.factorial(k - 1))])
        for block in part:
            prod = None
            for i in block:
                prod = parts[i] if prod is None else prod * parts[i]
            term = term * E(prod)
        total = term if total is None else total + term
    return total
