"""PalettePanel: the drawing tools, one checkable action each, read from style.json's "palette".

Each entry has an icon drawn with the canvas's own items, a name, a tooltip saying
what it stands for, and its key from the style file; the keys work while the canvas
or the palette has the focus (other panels keep their letters).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QGraphicsScene, QGridLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from fntk_core.tensors import TENSORS

from . import drawing
from .diagram_items import LineItem, NodeItem
from .style import is_dark, style

ICON = 30


def entries() -> list[dict]:
    """(id, tool, label, tooltip, key) of every palette entry, in the style file's order."""
    st = style()
    out = []
    for eid in st.tools["order"]:
        kind, _, sub = eid.partition(".")
        if kind == "select":
            e = st.tools["select"]
            out.append({"id": eid, "tool": None, "label": e["label"], "meaning": e["meaning"], "key": e["key"]})
        elif kind == "leg":
            ls = st.line(sub)
            out.append({"id": eid, "tool": ("leg", sub), "label": f"{ls.label} leg",
                        "meaning": f"{st.node('leg').meaning} {ls.meaning}", "key": ls.key})
        elif kind == "vertex":
            info = TENSORS.get(sub)
            meaning = f"{info.title}: {info.description}. " if info else ""
            out.append({"id": eid, "tool": ("vertex", sub), "label": f"{sub} vertex",
                        "meaning": meaning + st.node("vertex").meaning, "key": st.vertex(sub).key})
        else:
            ns = st.node(kind, sub or None)
            out.append({"id": eid, "tool": (kind, sub or None), "label": ns.label, "meaning": ns.meaning,
                        "key": ns.key})
    return out


def icon(entry: dict) -> QIcon:
    """The entry drawn as the canvas draws it."""
    st, colors = style(), style().palette(is_dark())
    scene = QGraphicsScene()
    tool = entry["tool"]
    lw = float(st.geometry["line_width"])
    if tool is None:
        path = QPainterPath(QPointF(-7, -9))
        for x, y in ((-7, 8), (-2, 3), (2, 10), (4, 9), (0, 2), (7, 2), (-7, -9)):
            path.lineTo(QPointF(x, y))
        scene.addPath(path, colors["ink"], colors["paper"])
    elif tool[0] == "leg":
        path = QPainterPath(QPointF(-12, 0))
        path.lineTo(QPointF(10, 0))
        scene.addItem(LineItem("icon", (), tool[1], path, drawing._pen(st, colors, tool[1]), colors["select"],
                               colors["paper"] if st.line(tool[1]).double else None))
        dot = NodeItem("icon", "leg", "dot", 3, colors["ink"], colors["ink"], colors["select"], lw)
        dot.setPos(-12, 0)
        scene.addItem(dot)
    else:
        ns = st.node(tool[0], tool[1] if tool[0] == "cubic" else None)
        radius = ns.size / 2 if tool[0] == "cubic" else min(ns.size, 12)
        scene.addItem(NodeItem("icon", tool[0], ns.shape, radius, colors[ns.fill], colors[ns.stroke],
                               colors["select"], lw))
        if tool[0] == "vertex":
            t = scene.addSimpleText(tool[1])
            t.setBrush(colors["ink"])
            t.setZValue(3)  # above the disc
            r = t.boundingRect()
            t.setPos(-r.width() / 2, -r.height() / 2)
    pm = QPixmap(ICON * 2, ICON * 2)
    pm.setDevicePixelRatio(2)
    pm.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    scene.render(painter, QRectF(1, 1, ICON - 2, ICON - 2), QRectF(-15, -15, 30, 30))
    painter.end()
    return QIcon(pm)


class PalettePanel(QWidget):
    """A grid of tool buttons; ``toolChosen(tool)`` (None: select)."""

    toolChosen = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip("Drawing palette: pick an element (or press its key), then click on the canvas")
        self.group = QActionGroup(self)
        self.actions_by_id: dict[str, QAction] = {}
        self.tools: dict[str, object] = {}
        names = style().tools.get("names", {})  # short button names; the tooltip has the full one
        grid = QGridLayout()
        grid.setSpacing(2)
        for k, e in enumerate(entries()):
            a = QAction(icon(e), names.get(e["id"], e["label"]), self)
            a.setCheckable(True)
            a.setShortcut(QKeySequence(e["key"].replace(",", ", ")))
            a.setToolTip(f"{e['label']} (key {a.shortcut().toString()}): {e['meaning']}")
            a.setStatusTip(a.toolTip())
            a.triggered.connect(lambda _=False, t=e["tool"]: self.toolChosen.emit(t))
            self.group.addAction(a)
            self.actions_by_id[e["id"]] = a
            self.tools[e["id"]] = e["tool"]
            b = QToolButton()
            b.setDefaultAction(a)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setAutoRaise(True)
            b.setObjectName(f"palette_{e['id']}")
            grid.addWidget(b, k // 2, k % 2)
        self.actions_by_id["select"].setChecked(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(grid)
        hint = QLabel("Click to place; drag one element onto another to connect; Del deletes; F1 for all keys.")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        lay.addStretch(1)

    def show_tool(self, tool) -> None:
        """Check the entry of ``tool`` (the canvas may drop back to select on Esc)."""
        for eid, t in self.tools.items():
            if t == tool:
                self.actions_by_id[eid].setChecked(True)
                return
