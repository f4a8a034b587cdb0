"""The graphics items of a drawn diagram: nodes, lines, labels, each knowing its model ids.

``element_id`` is the main model id an item draws (a node id, or an edge id for a
line); ``element_ids`` lists every model id folded into it (a vertex leg drawn from
a cubic vertex to the vertex stands for the line's end edge, the vertex's pair and
their edges), so that a selection maps back to the diagram.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem


class ElementItem:
    """Mixin: the model ids an item draws (``element_id`` first)."""

    element_id: str = ""
    element_ids: tuple[str, ...] = ()
    role: str = ""  # "node", "line", "label", "junction"

    def _tag(self, role: str, primary: str, ids) -> None:
        self.role, self.element_id, self.element_ids = role, primary, tuple(dict.fromkeys((primary, *ids)))
        self.setData(0, primary)
        self.setData(1, role)


class NodeItem(ElementItem, QGraphicsItem):
    """A leg endpoint, cubic vertex, blob, correction vertex or junction, drawn by shape."""

    def __init__(self, nid: str, kind: str, shape: str, radius: float, fill: QColor, stroke: QColor,
                 select: QColor, width: float):
        super().__init__()
        self._tag("junction" if kind == "junction" else "node", nid, ())
        self.kind, self.shape_name, self.radius = kind, shape, radius
        self.fill, self.stroke, self.select, self.width = fill, stroke, select, width
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        r = self.radius + self.width + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        r = max(self.radius, 5)
        p.addEllipse(QPointF(0, 0), r, r)
        return p

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        stroke = self.select if self.isSelected() else self.stroke
        painter.setPen(QPen(stroke, self.width * (1.6 if self.isSelected() else 1)))
        painter.setBrush(QBrush(self.fill))
        r = self.radius
        if self.shape_name in ("dot", "circle", "disc"):
            painter.drawEllipse(QPointF(0, 0), r, r)
        elif self.shape_name == "square":
            painter.drawRect(QRectF(-r * 0.85, -r * 0.85, 1.7 * r, 1.7 * r))
        elif self.shape_name == "diamond":
            painter.drawPolygon(QPolygonF([QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0)]))
        elif self.shape_name == "cross":
            painter.drawEllipse(QPointF(0, 0), r, r)
            d = r / math.sqrt(2)
            painter.drawLine(QPointF(-d, -d), QPointF(d, d))
            painter.drawLine(QPointF(-d, d), QPointF(d, -d))
        else:  # junction: a small open ring
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), r, r)


class LineItem(ElementItem, QGraphicsPathItem):
    """One drawn line (z, NTK, dNTK, ddNTK), straight, offset in a parallel bundle, or a loop."""

    DOUBLE = 3.0  # a double line: a stroke this many times wider, its middle third in the paper colour

    def __init__(self, primary: str, ids, kind: str, path: QPainterPath, pen: QPen, select: QColor,
                 core: QColor | None = None):
        super().__init__(path)
        self._tag("line", primary, ids)
        self.kind, self.select, self.core = kind, select, core
        self.setPen(pen)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)

    def shape(self) -> QPainterPath:
        s = QPainterPathStroker()
        s.setWidth(max(8.0, self.pen().widthF() * 4))
        return s.createStroke(self.path())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.pen())
        if self.isSelected():
            pen.setColor(self.select)
            pen.setWidthF(pen.widthF() * 1.6)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self.core is not None:  # the hollow middle of a double line, dashes aligned with the outer stroke
            inner = QPen(pen)
            inner.setColor(self.core)
            inner.setWidthF(pen.widthF() / self.DOUBLE)
            if pen.style() == Qt.PenStyle.CustomDashLine:
                inner.setDashPattern([x * self.DOUBLE for x in pen.dashPattern()])
            painter.setPen(inner)
            painter.drawPath(self.path())


class LabelItem(ElementItem, QGraphicsPixmapItem):
    """A mathtext label (sample indices of a leg, a vertex's tensor)."""

    def __init__(self, owner: str, pixmap: QPixmap, tex: str):
        super().__init__(pixmap)
        self._tag("label", f"{owner}:label", (owner,))
        self.tex = tex
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setZValue(3)

    def size(self) -> tuple[float, float]:
        r = self.pixmap().devicePixelRatio()
        return self.pixmap().width() / r, self.pixmap().height() / r

    def center_at(self, p: QPointF) -> None:
        w, h = self.size()
        self.setPos(p.x() - w / 2, p.y() - h / 2)
