"""A Diagram drawn as QGraphicsItems in the paper's vocabulary (shared by canvas and thumbnails).

What the model stores and what a physicist draws differ:

* ``pair`` nodes (the Kronecker pairs of an interaction vertex) are hidden: a
  pair's ``deriv`` edge is drawn as a solid line from the vertex to the blob, a
  ``vend`` edge as part of the internal line it takes.
* ``line`` nodes (internal NTK/dNTK/ddNTK lines) are hidden too.  A line taken
  by a vertex is drawn end by end, from the cubic vertex where the end sits to
  the vertex, in the line's style; a free NTK line (Theta at its mean) is one
  curve between its two ends, a loop when both ends sit on one cubic vertex.
  Only a malformed or unfinished line (ends neither paired up nor taken) shows a
  small junction at the line node, so that nothing the model holds goes unseen.
* ``src`` edges (which leg opened a line) and ``pair`` edges are book-keeping.

Every item knows the model ids it stands for (see :mod:`diagram_items`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsScene

from fntk_core.diagrams import Diagram
from fntk_core.diagrams.layout import layout
from fntk_core.export.latex import label_tex
from fntk_core.tensors import TENSORS

from . import mathtext
from .diagram_items import ElementItem, LabelItem, LineItem, NodeItem
from .style import Style

DRAWN_KINDS = ("leg", "cubic", "blob", "vertex")
LABEL_RATIO = 4.0  # labels rasterised at 4 device pixels per pixel: sharp up to 4x zoom / 2x on high-DPI


@dataclass(frozen=True)
class Connection:
    primary: str
    ids: tuple[str, ...]
    a: str
    b: str
    kind: str


def connections(d: Diagram) -> tuple[list[Connection], list[str]]:
    """What to draw between which drawn nodes, and the line nodes that need a visible junction."""
    g = d.graph
    out: list[Connection] = []
    junctions: list[str] = []

    def vertex_of(pair: str):
        es = d.edges(pair, "pair")
        return (es[0]["source"], es[0]["id"]) if es else (None, None)

    for eid, e in d.edge_list():
        t, s, tg = e["type"], e["source"], e["target"]
        if t == "slot":
            out.append(Connection(eid, (eid,), s, tg, g.nodes[s].get("leg", "z")))
        elif t == "neuron":
            out.append(Connection(eid, (eid,), s, tg, "z"))
        elif t == "deriv":
            v, pe = vertex_of(s)
            if v is not None:
                out.append(Connection(eid, (eid, s, pe), v, tg, "z"))
    for ln in d.nodes("line"):
        kind = g.nodes[ln].get("type", "ntk")
        common = (ln, *[e["id"] for e in d.edges(ln, "src")])
        ends = sorted(d.edges(ln, "end"), key=lambda e: e.get("index", 0))
        vends: dict = {}
        for e in d.edges(ln, "vend"):
            vends.setdefault(e.get("index"), []).append(e)
        free, taken = [], 0
        for e in ends:
            waiting = vends.get(e.get("index"))
            ve = waiting.pop(0) if waiting else None
            v, pe = vertex_of(ve["source"]) if ve else (None, None)
            if v is None:
                free.append(e)
                continue
            taken += 1
            out.append(Connection(e["id"], (e["id"], ve["id"], ve["source"], pe, *common), e["target"], v, kind))
        left = [ve for group in vends.values() for ve in group]
        if not taken and not left and len(free) == 2:
            out.append(Connection(ln, (*common, free[0]["id"], free[1]["id"]), free[0]["target"], free[1]["target"],
                                  kind))
        elif free or left or not ends:
            junctions.append(ln)
            for e in free:
                out.append(Connection(e["id"], (e["id"], *common), e["target"], ln, kind))
            for ve in left:
                v, pe = vertex_of(ve["source"])
                if v is not None:
                    out.append(Connection(ve["id"], (ve["id"], ve["source"], pe, *common), v, ln, kind))
    return out, junctions


def positions(d: Diagram, unit: float) -> dict[str, QPointF]:
    """Scene coordinates: the diagram's presentation positions, else the core's layout (y up -> y down)."""
    pos = d.presentation.get("positions", {}) if d.presentation else {}
    if any(n not in pos for n in d.graph.nodes):
        pos = {**layout(d.copy()).presentation["positions"], **pos}
    return {n: QPointF(float(x) * unit, -float(y) * unit) for n, (x, y) in pos.items()}


def _pen(style: Style, colors: dict, kind: str) -> QPen:
    ls = style.line(kind)
    width = style.geometry["line_width"] * ls.width * (LineItem.DOUBLE if ls.double else 1)
    pen = QPen(colors.get(kind, colors["ink"]), width)
    if ls.dash:
        pen.setDashPattern(list(ls.dash))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap if ls.cap == "round" else Qt.PenCapStyle.FlatCap)
    return pen


def _unit(v: QPointF) -> QPointF:
    n = math.hypot(v.x(), v.y())
    return QPointF(v.x() / n, v.y() / n) if n > 1e-9 else QPointF(0.0, 0.0)


def _loop(p: QPointF, direction: QPointF, size: float) -> QPainterPath:
    """A teardrop loop leaving ``p`` towards ``direction``."""
    ang = math.atan2(direction.y(), direction.x())
    c1 = p + QPointF(math.cos(ang - 0.5), math.sin(ang - 0.5)) * size * 1.6
    c2 = p + QPointF(math.cos(ang + 0.5), math.sin(ang + 0.5)) * size * 1.6
    path = QPainterPath(p)
    path.cubicTo(c1, c2, p)
    return path


def _curve(pa: QPointF, pb: QPointF, offset: float) -> QPainterPath:
    """Straight line, or a quadratic curve whose middle lies ``offset`` to the left of pa -> pb."""
    d = pb - pa
    length = math.hypot(d.x(), d.y())
    normal = QPointF(-d.y() / length, d.x() / length) if length > 1e-9 else QPointF(0, -1)
    path = QPainterPath(pa)
    if abs(offset) < 1e-9:
        path.lineTo(pb)
    else:
        path.quadTo((pa + pb) / 2 + normal * (2 * offset), pb)
    return path


def _clear(path: QPainterPath, obstacles) -> bool:
    """True when the path keeps clear of every (centre, radius) obstacle."""
    pts = [path.pointAtPercent(k / 24) for k in range(1, 24)]
    return all(math.hypot(p.x() - c.x(), p.y() - c.y()) > r for c, r in obstacles for p in pts)


def _bundle_paths(pa: QPointF, pb: QPointF, n: int, spacing: float, bends: list, obstacles) -> list[QPainterPath]:
    """n lines between two points, side by side, the bundle bent just enough to pass other nodes.

    A bend given in the presentation (degrees, TikZ's ``bend left``) wins over both.
    """
    length = math.hypot((pb - pa).x(), (pb - pa).y())
    spread = [(k - (n - 1) / 2) * spacing for k in range(n)]
    shift = 0.0
    for step in range(9):
        candidates = (0.0,) if step == 0 else (-step * 14.0, step * 14.0)
        hit = next((c for c in candidates if all(_clear(_curve(pa, pb, c + o), obstacles) for o in spread)), None)
        if hit is not None:
            shift = hit
            break
    out = []
    for k in range(n):
        offset = shift + spread[k]
        if bends[k] is not None:
            offset = math.tan(math.radians(float(bends[k]))) * length / 2
        out.append(_curve(pa, pb, offset))
    return out


def draw(scene: QGraphicsScene, d: Diagram, style: Style, colors: dict, passing=()) -> dict[str, ElementItem]:
    """Add the diagram's items to ``scene``; returns them by ``element_id``.

    Lines bend around nodes, except around those in ``passing`` (being dragged: a line must
    not dodge the element the user is dropping onto it).
    """
    geo = style.geometry
    unit, lw = float(geo["unit"]), float(geo["line_width"])
    pos = positions(d, unit)
    g = d.graph
    items: dict[str, ElementItem] = {}
    conns, junctions = connections(d)
    for n, a in g.nodes(data=True):
        kind = a.get("kind")
        if kind not in DRAWN_KINDS:
            continue
        ns = style.node(kind, a.get("type"))
        radius = ns.size / 2 if kind in ("leg", "cubic") else ns.size
        label = None
        if kind == "vertex":
            tex = _tensor_tex(a.get("tensor", "?"))
            label = LabelItem(n, mathtext.render_or_text(tex, a.get("tensor", "?"), size=geo["vertex_label_size"],
                                                         color=colors["ink"], ratio=LABEL_RATIO), tex)
            w, h = label.size()
            radius = max(radius, math.hypot(w, h) / 2 + 2)
        item = NodeItem(n, kind, ns.shape, radius, colors[ns.fill], colors[ns.stroke], colors["select"], lw)
        item.setPos(pos[n])
        tip = _tensor_meaning(a["tensor"]) if kind == "vertex" and a.get("tensor") else ns.meaning
        item.setToolTip(f"{ns.label} {n}: {tip}")
        scene.addItem(item)
        items[n] = item
        if label is not None:
            label.center_at(pos[n])
            scene.addItem(label)
            items[label.element_id] = label
    for ln in junctions:
        item = NodeItem(ln, "junction", "ring", 3.0, colors["paper"], colors["muted"], colors["select"], lw)
        item.setPos(pos[ln])
        item.setToolTip(f"internal line {ln}: its ends are not all attached")
        scene.addItem(item)
        items[ln] = item
    # bundles of parallel lines and loops
    bundles: dict[tuple, list[Connection]] = {}
    for c in conns:
        if c.a in pos and c.b in pos:
            bundles.setdefault(tuple(sorted((c.a, c.b))), []).append(c)
    bends = d.presentation.get("bends", {}) if d.presentation else {}
    for (a, b), group in bundles.items():
        if a == b:
            paths = _loops(pos, a, conns, len(group), float(geo["loop_size"]))
        else:
            group.sort(key=lambda c: (c.kind, c.primary))
            obstacles = [(it.pos(), it.radius + 5) for n, it in items.items()
                         if isinstance(it, NodeItem) and n not in (a, b) and n not in passing]
            paths = _bundle_paths(pos[group[0].a], pos[group[0].b], len(group), float(geo["parallel_spacing"]),
                                  [bends.get(c.primary) for c in group], obstacles)
        for c, path in zip(group, paths):
            item = LineItem(c.primary, c.ids, c.kind, path, _pen(style, colors, c.kind), colors["select"],
                            colors["paper"] if style.line(c.kind).double else None)
            item.setToolTip(f"{style.line(c.kind).label}: {style.line(c.kind).meaning}")
            scene.addItem(item)
            items[c.primary] = item
    _leg_labels(scene, d, style, colors, pos, conns, items)
    return items


def _tensor_tex(name: str) -> str:
    info = TENSORS.get(name)
    return info.latex if info else rf"\mathrm{{{name}}}" if name.isalnum() else "?"


def _tensor_meaning(name: str) -> str:
    info = TENSORS.get(name)
    return f"{info.title}: {info.description}" if info else f"unknown tensor {name!r}"


def _away(pos: dict, node: str, conns: list[Connection]) -> QPointF:
    """Unit vector pointing away from a node's neighbours (where a label or loop has room)."""
    acc = QPointF(0.0, 0.0)
    for c in conns:
        other = c.b if c.a == node else c.a if c.b == node else None
        if other is not None and other != node and other in pos:
            acc += _unit(pos[other] - pos[node])
    away = _unit(QPointF(-acc.x(), -acc.y()))
    return away if (away.x() or away.y()) else QPointF(0.0, -1.0)


def _loops(pos: dict, node: str, conns: list[Connection], n: int, size: float) -> list[QPainterPath]:
    base = _away(pos, node, conns)
    ang = math.atan2(base.y(), base.x())
    out = []
    for k in range(n):
        a = ang + (k - (n - 1) / 2) * 0.9
        out.append(_loop(pos[node], QPointF(math.cos(a), math.sin(a)), size * (1 + 0.15 * abs(k - (n - 1) / 2))))
    return out


def _leg_labels(scene, d: Diagram, style: Style, colors: dict, pos: dict, conns, items: dict) -> None:
    geo = style.geometry
    offsets = d.presentation.get("label_offsets", {}) if d.presentation else {}
    for n in d.nodes("leg"):
        samples = d.graph.nodes[n].get("samples", [])
        if not samples or n not in pos:
            continue
        tex = "".join(label_tex(str(s)) for s in samples)
        pixmap = mathtext.render_or_text(tex, " ".join(map(str, samples)), size=geo["label_size"], color=colors["ink"],
                                         ratio=LABEL_RATIO)
        label = LabelItem(n, pixmap, tex)
        w, h = label.size()
        if n in offsets:
            dx, dy = offsets[n]
            at = pos[n] + QPointF(float(dx), -float(dy)) * float(geo["unit"])
        else:
            away = _away(pos, n, conns)
            reach = geo["label_gap"] + abs(away.x()) * w / 2 + abs(away.y()) * h / 2
            at = pos[n] + away * reach
        label.center_at(at)
        label.setToolTip(f"sample indices of the external leg {n}")
        scene.addItem(label)
        items[label.element_id] = label


def render_pixmap(d: Diagram, style: Style, colors: dict, width: int, height: int, ratio: float = 1.0,
                  margin: float = 6.0) -> QPixmap:
    """The diagram drawn into a width x height (logical) pixmap, aspect kept (thumbnails)."""
    scene = QGraphicsScene()
    draw(scene, d, style, colors)
    pm = QPixmap(int(width * ratio), int(height * ratio))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    src = scene.itemsBoundingRect()
    scene.render(painter, QRectF(margin, margin, width - 2 * margin, height - 2 * margin), src,
                 Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    return pm

