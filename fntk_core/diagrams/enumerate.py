"""Statistic -> every distinct diagram at a given order, by search over topologies.

The search walks the Feynman rules, not a table of answers: a forward-equation
branch for every external leg; the cubic vertices that the statistic's
Kronecker pattern forces; every way to distribute the resulting layer-l neurons
over blobs; then no interaction vertex, or one vertex of any type, taking any
choice of internal lines and putting its z-legs on any blobs, in any of its
Kronecker components.  Candidates go through :func:`translate` (the same rules a
hand-drawn diagram meets); survivors are grouped by typed isomorphism and each
class keeps one representative with its symmetry factor.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import lru_cache

import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from ..recursions.terms import Recursion
from .layout import layout
from .model import Diagram, RuleError
from .rules import BRANCHES, SLOTS, STATISTICS, components, vertex_types
from .translate import Translation, translate


@dataclass(frozen=True)
class Enumerated:
    diagram: Diagram
    translation: Translation
    multiplicity: int  # candidates in its isomorphism class (a check on the symmetry factor)
    zlegs: int  # number of vertex z-legs (multiplicity / zlegs! == 1/|Aut|)

    @property
    def coefficient(self) -> sp.Expr:
        return self.translation.coefficient

    @property
    def order(self) -> int:
        return self.translation.order


def leg_nodes(stat) -> list[tuple[str, str, tuple[str, ...]]]:
    """(node id, kind, samples) of a statistic's external legs."""
    count: dict[str, int] = {}
    out = []
    for kind, samples in zip(stat.legs, stat.samples):
        count[kind] = count.get(kind, 0) + 1
        out.append((f"{kind}{count[kind]}", kind, samples))
    return out


def _skeletons(stat):
    """Legs + branches + cubic vertices + lines: yields (diagram, neuron cubic ids, line ids)."""
    legs = leg_nodes(stat)
    if any(not BRANCHES[k] for _, k, _ in legs):
        raise RuleError("branch", None, f"no Feynman rules for the legs of {stat.name} yet")
    neural = iter(f"i{k + 1}" for k in range(100))
    names = {(li, s): next(neural) for li, (_, k, _) in enumerate(legs) for s in range(SLOTS[k])}
    for choice in itertools.product(*[list(BRANCHES[k].values()) for _, k, _ in legs]):
        d = Diagram()
        for li, ((nid, kind, samples), br) in enumerate(zip(legs, choice)):
            d.add_node(nid, "leg", leg=kind, samples=list(samples),
                       neural=[names[(li, s)] for s in range(SLOTS[kind])], branch=br.name)
        cubic_of, neurons, ok = {}, [], True
        for pair in sorted(sorted(p) for p in stat.pattern):
            (l1, s1), (l2, s2) = pair
            b1, b2 = choice[l1], choice[l2]
            own = [o for o in b1.owns if l1 == l2 and set(o.slots) == {s1, s2}]
            if s1 in b1.wslots and s2 in b2.wslots:
                t = "W"
            elif s1 in b1.bias_slots and s2 in b2.bias_slots and l1 != l2:
                t = "bias"
            elif own:
                t = own[0].type
            else:
                ok = False
                break
            c = d.add_node(f"c{len(cubic_of) // 2 + 1}", "cubic", type=t)
            for l, s in pair:
                d.add_edge(legs[l][0], c, "slot", s)
                cubic_of[(l, s)] = c
            if t != "bias":
                neurons.append(c)
        if not ok:
            continue
        lines = []
        for li, br in enumerate(choice):
            for k, spec in enumerate(br.lines):
                ln = d.add_node(f"L{len(lines) + 1}", "line", type=spec.type)
                d.add_edge(legs[li][0], ln, "src", k)
                for e, ((where, idx), _) in enumerate(spec.ends):
                    slot = idx if where == "slot" else br.owns[idx].slots[0]
                    d.add_edge(ln, cubic_of[(li, slot)], "end", e)
                lines.append(ln)
        yield d, neurons, lines


def _candidates(stat, order: int):
    vtypes = vertex_types()
    for skel, neurons, lines in _skeletons(stat):
        for part in ([[]] if not neurons else multiset_partitions(neurons)):
            base = skel.copy()
            blobs = []
            for k, block in enumerate(part):
                b = base.add_node(f"b{k + 1}", "blob")
                blobs.append(b)
                for c in block:
                    base.add_edge(c, b, "neuron")
            n_order = len(neurons) - len(blobs)
            if n_order == order:
                yield base, 0
            if n_order + 1 != order or not blobs:
                continue
            by_kind = {k: [ln for ln in lines if base.graph.nodes[ln]["type"] == k] for k in SLOTS}
            for kinds in vtypes:
                m = kinds.count("z")
                need = {k: kinds.count(k) for k in set(kinds) if k != "z"}
                choices = [itertools.combinations(by_kind[k], need[k]) for k in sorted(need)]
                for picked in itertools.product(*choices):
                    chosen = [ln for grp in picked for ln in grp]
                    chosen.sort()
                    concrete = ("z",) * m + tuple(base.graph.nodes[ln]["type"] for ln in chosen)
                    for where in itertools.product(blobs, repeat=m):
                        for pattern, name, _ in components(concrete):
                            yield _attach(base, where, chosen, pattern, name), m


def _attach(base: Diagram, where, chosen, pattern, name) -> Diagram:
    d = base.copy()
    v = d.add_node("v1", "vertex", tensor=name)
    m = len(where)
    for k, pair in enumerate(sorted(sorted(p) for p in pattern)):
        p = d.add_node(f"p{k + 1}", "pair")
        d.add_edge(v, p, "pair")
        for leg, s in pair:
            if leg < m:
                d.add_edge(p, where[leg], "deriv")
            else:
                d.add_edge(p, chosen[leg - m], "vend", s)
    return d


def enumerate_diagrams(name: str, order: int | None = None) -> tuple[Enumerated, ...]:
    """Every distinct diagram of statistic ``name`` at its order (K, Theta: 0; the rest: 1/n).

    Fresh copies on every call: editing a result never changes a later one.  The k-th
    diagram (from 1) of the statistic's own order is library entry ``name/k``, which
    its translation and terms carry as ``source``.
    """
    return tuple(replace(e, diagram=e.diagram.copy()) for e in _enumerate(name, order))


@lru_cache(maxsize=None)
def _enumerate(name: str, order: int | None) -> tuple[Enumerated, ...]:
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    stat = STATISTICS[name]
    order = stat.order if order is None else order
    classes: dict[str, list[list]] = {}
    for cand, m in _candidates(stat, order):
        try:
            tr = translate(cand)
        except RuleError:
            continue
        if tr.statistic != name or tr.order != order:
            continue
        bucket = classes.setdefault(cand.invariant(), [])
        for entry in bucket:
            if entry[0].is_isomorphic(cand):
                entry[2] += 1
                break
        else:
            bucket.append([cand, tr, 1, m])
    found = [Enumerated(layout(d.renumbered()), tr, n, m) for b in classes.values() for d, tr, n, m in b]
    found.sort(key=_sort_key)
    if order == stat.order:
        found = [replace(e, translation=e.translation.with_source(f"{name}/{k}")) for k, e in enumerate(found, 1)]
    return tuple(found)


def _sort_key(e: Enumerated):
    g = e.diagram.graph
    vt = [g.nodes[v]["tensor"] for v in e.diagram.nodes("vertex")]
    return (len(vt), len(e.diagram.nodes("blob")), vt, str(e.translation.terms))


def assembled_recursion(name: str) -> Recursion:
    """The recursion of ``name``: the terms of all its diagrams, in diagram order (each term's
    ``source`` is the library id of its diagram, e.g. "F/2")."""
    stat = STATISTICS[name]
    terms = tuple(t for e in _enumerate(name, None) for t in e.translation.terms)
    return Recursion(name, stat.labels, terms)


def assembled_recursion_with_sources(name: str) -> tuple[Recursion, list[str]]:
    """The recursion of ``name`` and, per term, the library id of the diagram that produced it."""
    rec = assembled_recursion(name)
    return rec, [t.source for t in rec.terms]


def assembled_recursions(names) -> dict[str, Recursion]:
    """Recursions for ``names`` and everything they need, all from diagrams."""
    out: dict[str, Recursion] = {}
    todo = ["K", "Theta", *names]
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out[n] = assembled_recursion(n)
        todo += sorted(out[n].dependencies() - set(out))
    return out
