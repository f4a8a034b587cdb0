"""STAND-IN for branch appdiagram's DiagramCanvas (CONTRACT names only); replaced at merge.

Draws nodes as dots at their stored positions and edges as straight lines, nothing more.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

_DASH = {"z": Qt.SolidLine, "ntk": Qt.DotLine, "dntk": Qt.DashDotLine}


class DiagramCanvas(QGraphicsView):
    selectionChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.Antialiasing)
        self._diagram = None
        self.scene().selectionChanged.connect(self.selectionChanged)

    def set_diagram(self, d) -> None:
        self._diagram = d
        sc = self.scene()
        sc.clear()
        if d is None:
            return
        pos = d.presentation.get("positions", {})
        xy = {n: tuple(pos.get(n, (40.0 * i, 0.0))) for i, n in enumerate(d.graph.nodes)}
        scale = 60.0 if max((abs(v) for p in xy.values() for v in p), default=0) < 20 else 1.0
        for _, e in d.edge_list():
            (x1, y1), (x2, y2) = xy[e["source"]], xy[e["target"]]
            sc.addLine(x1 * scale, y1 * scale, x2 * scale, y2 * scale,
                       QPen(self.palette().text().color(), 2, _DASH.get(e["type"], Qt.SolidLine)))
        for (x, y) in xy.values():
            sc.addEllipse(x * scale - 5, y * scale - 5, 10, 10, QPen(self.palette().text().color()),
                          self.palette().text())
        self.fit()

    def diagram(self):
        return self._diagram

    def fit(self) -> None:
        r = self.scene().itemsBoundingRect().adjusted(-30, -30, 30, 30)
        self.fitInView(r, Qt.KeepAspectRatio)

    def zoom_in(self) -> None:
        self.scale(1.25, 1.25)

    def zoom_out(self) -> None:
        self.scale(0.8, 0.8)

    def export_image(self, path) -> None:
        raise NotImplementedError("stand-in canvas: export comes with branch appdiagram")
