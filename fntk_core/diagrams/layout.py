"""Deterministic coordinates for a diagram: columns by role, rows by order of appearance.

External legs on the left, cubic vertices next, blobs in the middle, interaction
vertex on the right; internal lines halfway between their ends.  Same topology,
same picture: library files regenerate byte for byte.
"""
from __future__ import annotations

from .model import Diagram

STEP = 1.5


def layout(d: Diagram) -> Diagram:
    g = d.graph
    pos: dict[str, list[float]] = {}
    legs = d.nodes("leg")
    for k, n in enumerate(legs):
        pos[n] = [0.0, -STEP * k]

    def mean_y(ns, default):
        ys = [pos[n][1] for n in ns if n in pos]
        return sum(ys) / len(ys) if ys else default

    cubics = d.nodes("cubic")
    for k, c in enumerate(cubics):
        srcs = [e["source"] for e in d.edges(c, "slot")]
        pos[c] = [STEP, round(mean_y(srcs, -STEP * k), 3)]
    # cubic vertices that landed on the same height (e.g. both pairs of one ddNTK leg): spread them
    # symmetrically about it, one STEP apart, in order of appearance
    level: dict[float, list[str]] = {}
    for c in cubics:
        level.setdefault(pos[c][1], []).append(c)
    for y, group in level.items():
        for k, c in enumerate(group if len(group) > 1 else []):
            pos[c][1] = round(y + STEP * ((len(group) - 1) / 2 - k), 3)
    blobs = d.nodes("blob")
    for k, b in enumerate(blobs):
        cs = [e["source"] for e in d.edges(b, "neuron")]
        pos[b] = [2 * STEP, round(mean_y(cs, -STEP * k), 3)]
    # spread blobs that landed on the same height
    seen: dict[float, int] = {}
    for b in blobs:
        y = pos[b][1]
        if y in seen:
            seen[y] += 1
            pos[b][1] = round(y - 0.8 * seen[y], 3)
        else:
            seen[y] = 0
    for k, ln in enumerate(d.nodes("line")):
        ends = [e["target"] for e in d.edges(ln, "end")]
        pos[ln] = [round(1.5 * STEP + 0.4 * k, 3), round(mean_y(ends, 0.0) - 0.5, 3)]
    for v in d.nodes("vertex"):
        pairs = [e["target"] for e in d.edges(v, "pair")]
        tgt = []
        for p in pairs:
            tgt += [e["target"] for e in d.edges(p, "deriv")] + [e["target"] for e in d.edges(p, "vend")]
        y = round(mean_y(tgt, 0.0), 3)
        pos[v] = [3.2 * STEP, y]
        for k, p in enumerate(pairs):
            pos[p] = [2.7 * STEP, round(y + 0.6 * (k - (len(pairs) - 1) / 2), 3)]
    d.presentation = {"positions": {n: pos[n] for n in g.nodes}, "bends": {}, "label_offsets": {}}
    return d
