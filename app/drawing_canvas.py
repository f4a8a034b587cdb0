"""DrawingCanvas: the canvas with the mouse gestures of drawing by hand.

Gestures map to ``fntk_core.diagrams.compose`` actions pushed on the editor's undo
stack; the canvas never edits the diagram itself and redraws from each new value.

* a palette tool chosen: click on empty paper places that element (the tool stays);
* drag an element and drop it on another: connect them (refused: the reason goes
  to the status bar and the element returns); drop it on empty paper: move it (and
  the rest of the selection), lines attached, snapped to the grid unless Alt is held;
* click, Shift+click, rubber band: select; Del deletes the selection.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from fntk_core.diagrams import compose

from .canvas import DiagramCanvas
from .diagram_items import LabelItem, LineItem, NodeItem
from .editor import DocumentEditor, new_drag
from .style import style

GRID = 0.25  # grid step in diagram units (style geometry "unit" pixels each)
SCENE_HALF = 4000.0
DRAG_START = 4  # pixels before a press becomes a drag


class DrawingCanvas(DiagramCanvas):
    message = Signal(str)
    toolChanged = Signal(object)

    def __init__(self, editor: DocumentEditor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.tool: tuple[str, str | None] | None = None
        self.grid = True
        self._drag: dict | None = None
        self._keep: set[str] = set()
        self._halo: list = []
        self._highlighted: tuple[str, ...] = ()
        self.setToolTip("Draw: pick an element in the Palette and click to place it; drag an element onto "
                        "another to connect them, onto empty paper to move it (Alt: no snapping)")
        editor.changed.connect(self.update_diagram)

    # -- content -------------------------------------------------------------
    def unit(self) -> float:
        return float(style().geometry["unit"])

    def set_diagram(self, d) -> None:
        """Show ``d`` as a new document (through the editor, so that editing starts from it), fitted."""
        self.editor.load(d)
        self.fit()

    def diagram(self):
        """The drawn diagram (a copy), None when nothing is drawn."""
        return None if self.editor.is_empty() else self.editor.diagram.copy()

    def update_diagram(self, d) -> None:
        """Redraw after an edit, keeping the view and the selection (an element never moves by itself)."""
        self._keep = set(self.selected_ids()) | self._keep
        self._diagram = d.copy()
        self._redraw()

    def _redraw(self) -> None:
        keep = self._keep or set(self.selected_ids())
        self._halo = []
        super()._redraw()
        self.setSceneRect(QRectF(-SCENE_HALF, -SCENE_HALF, 2 * SCENE_HALF, 2 * SCENE_HALF))
        for i, it in self._items.items():
            if i in keep and not isinstance(it, LabelItem):
                it.setSelected(True)
        self._keep = set()
        self.highlight(self._highlighted)

    def select_ids(self, ids) -> None:
        ids = set(ids)
        self.scene().clearSelection()
        for i, it in self._items.items():
            if i in ids and not isinstance(it, LabelItem):
                it.setSelected(True)

    def select_all(self) -> None:
        self.select_ids(i for i, it in self._items.items() if not isinstance(it, LabelItem))

    def selected_model_ids(self) -> list[str]:
        """Every model id the selected items draw (for delete, copy)."""
        out: list[str] = []
        for it in self.scene().selectedItems():
            if isinstance(it, (NodeItem, LineItem)):
                out += [i for i in it.element_ids if i not in out]
        return out

    def selected_nodes(self) -> list[str]:
        return [it.element_id for it in self.scene().selectedItems()
                if isinstance(it, NodeItem) and it.role == "node"]

    # -- coordinates ------------------------------------------------------------
    def to_model(self, p: QPointF, snap: bool) -> tuple[float, float]:
        x, y = p.x() / self.unit(), -p.y() / self.unit()
        if snap:
            x, y = round(x / GRID) * GRID, round(y / GRID) * GRID
        return round(x, 4) + 0.0, round(y, 4) + 0.0

    def to_scene(self, pos) -> QPointF:
        return QPointF(float(pos[0]) * self.unit(), -float(pos[1]) * self.unit())

    def _snap(self, event) -> bool:
        return self.grid and not (event.modifiers() & Qt.KeyboardModifier.AltModifier)

    def _element_at(self, sp: QPointF, skip=()):
        for it in self.scene().items(sp):
            if isinstance(it, (NodeItem, LineItem, LabelItem)) and it.element_id not in skip:
                if isinstance(it, LabelItem):
                    continue
                return it
        return None

    def _drop_target(self, sp: QPointF, grab: str):
        """What a dragged element was dropped on: another node, or (for an interaction vertex) an internal line."""
        d = self.editor.diagram
        lines = []
        for it in self.scene().items(sp):
            if isinstance(it, NodeItem) and it.element_id != grab:
                return it
            if isinstance(it, LineItem) and grab not in self._ends(it):
                lines.append(it)
        if d.graph.nodes[grab]["kind"] == "vertex":
            return next((it for it in lines if self._target_id(it)), None)
        return None

    def _ends(self, line: LineItem) -> set:
        """The drawn nodes a line item joins (a dragged node's own lines are never drop targets)."""
        d = self.editor.diagram
        out = set()
        for i in line.element_ids:
            if i in d.graph:
                out.add(i)
                if d.graph.nodes[i]["kind"] == "pair":
                    out |= {e["source"] for e in d.edges(i, "pair")}
        return out | {e for k, a in d.edge_list() if k in line.element_ids for e in (a["source"], a["target"])}

    # -- grid -------------------------------------------------------------------
    def set_grid(self, on: bool) -> None:
        self.grid = bool(on)
        self.scene().update()

    def drawBackground(self, painter, rect) -> None:
        super().drawBackground(painter, rect)
        if not self.grid:
            return
        step = GRID * self.unit()
        if step * self.zoom() < 6:
            return
        color = QColor(self._colors["muted"])
        color.setAlpha(45)
        painter.setPen(QPen(color, 0))
        x = math.floor(rect.left() / step) * step
        while x < rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += step
        y = math.floor(rect.top() / step) * step
        while y < rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += step

    # -- highlighting (broken rules) -----------------------------------------------
    def highlight(self, ids) -> None:
        """Mark the items that draw any of ``ids`` with a halo (empty: none)."""
        for h in self._halo:
            self.scene().removeItem(h)
        self._halo = []
        self._highlighted = tuple(ids)
        want = set(ids)
        for it in self._items.values():
            if isinstance(it, LabelItem) or not want & set(it.element_ids):
                continue
            s = QPainterPathStroker()
            s.setWidth(10)
            path = it.mapToScene(it.shape()) if isinstance(it, NodeItem) else it.path()
            halo = QGraphicsPathItem(s.createStroke(path) if isinstance(it, LineItem) else _grown(path))
            color = QColor("#e8453c")
            color.setAlpha(110)
            halo.setPen(QPen(Qt.PenStyle.NoPen))
            halo.setBrush(color)
            halo.setZValue(-1)
            halo.setData(0, it.element_id)
            self.scene().addItem(halo)
            self._halo.append(halo)

    def highlighted_ids(self) -> list[str]:
        """The element ids that carry a halo now (tests)."""
        return [h.data(0) for h in self._halo]

    # -- gestures -------------------------------------------------------------------
    def set_tool(self, tool) -> None:
        self.tool = tool
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.ArrowCursor)
        self.toolChanged.emit(tool)

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._space:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # the drawing keys (Del, Ctrl+Z, ...) act here now
        sp = self.mapToScene(event.position().toPoint())
        item = self._element_at(sp)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if item is None and self.tool is not None:
            self._place(sp, self._snap(event))
            event.accept()
            return
        if item is None:
            if not shift:
                self.scene().clearSelection()
            super().mousePressEvent(event)  # rubber band
            return
        if shift:
            item.setSelected(not item.isSelected())
        elif not item.isSelected():
            self.scene().clearSelection()
            item.setSelected(True)
        if isinstance(item, NodeItem) and item.role == "node" and item.isSelected():
            pos = self._diagram.presentation.get("positions", {}) if self._diagram else {}
            nodes = self.selected_nodes()
            self._drag = {"grab": item.element_id, "start": sp, "moved": False, "id": new_drag(),
                          "origin": {n: tuple(pos.get(n) or self.to_model(self._items[n].pos(), False))
                                     for n in nodes}}
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        drag = self._drag
        if drag is None:
            super().mouseMoveEvent(event)
            return
        sp = self.mapToScene(event.position().toPoint())
        delta = sp - drag["start"]
        if not drag["moved"] and abs(delta.x()) + abs(delta.y()) < DRAG_START / max(self.zoom(), 1e-6):
            return
        drag["moved"] = True
        self._passing = set(drag["origin"])
        self._move_to(drag, sp, event)
        event.accept()

    def _move_to(self, drag: dict, sp: QPointF, event) -> None:
        delta = sp - drag["start"]
        grab = drag["origin"][drag["grab"]]
        target = self.to_model(self.to_scene(grab) + delta, self._snap(event))
        dx, dy = target[0] - grab[0], target[1] - grab[1]
        self.editor.move({n: (round(x + dx, 4), round(y + dy, 4)) for n, (x, y) in drag["origin"].items()},
                         drag["id"])

    def mouseReleaseEvent(self, event) -> None:
        drag, self._drag = self._drag, None
        if drag is None or not drag["moved"]:
            super().mouseReleaseEvent(event)
            return
        self._passing = set()
        sp = self.mapToScene(event.position().toPoint())
        target = self._drop_target(sp, drag["grab"]) if len(drag["origin"]) == 1 else None
        if target is None:  # the modifiers at the drop decide the snapping of the last position
            self._move_to(drag, sp, event)
        else:
            top = self.editor.stack.command(self.editor.stack.index() - 1)
            if getattr(top, "drag", None) == drag["id"]:
                self.editor.stack.undo()  # the element returns; the connection replaces the move
            self.connect_items(drag["grab"], target)
        self.update_diagram(self.editor.diagram)  # lines bend around the dropped element again
        event.accept()

    def connect_items(self, a: str, target) -> bool:
        b = self._target_id(target)
        try:
            batch = compose.connect(self.editor.diagram, a, b) if b else None
            if batch is None:
                raise compose.Refused("drop on a leg, cubic vertex, blob, interaction vertex or internal line")
        except compose.Refused as exc:
            self.message.emit(f"Not connected: {exc}")
            return False
        self.editor.edit(batch, f"Connect {a} to {b}")
        return True

    def _target_id(self, item) -> str | None:
        d = self.editor.diagram
        if isinstance(item, NodeItem):
            return item.element_id
        lines = [i for i in item.element_ids if i in d.graph and d.graph.nodes[i]["kind"] == "line"]
        return lines[0] if lines else None

    def _place(self, sp: QPointF, snap: bool) -> None:
        kind, sub = self.tool
        try:
            batch, nid = compose.place(self.editor.diagram, kind, sub, self.to_model(sp, snap))
        except compose.Refused as exc:
            self.message.emit(str(exc))
            return
        self._keep = {nid}
        self.scene().clearSelection()
        self.editor.edit(batch, f"Place {sub or kind}")

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.set_tool(None)
            self.scene().clearSelection()
            return
        super().keyPressEvent(event)


def _grown(path: QPainterPath) -> QPainterPath:
    s = QPainterPathStroker()
    s.setWidth(12)
    return s.createStroke(path).united(path)
