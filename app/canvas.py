"""DiagramCanvas: one diagram on a QGraphicsScene, with zoom, pan, fit and picture export.

The canvas holds a Diagram value and redraws from it (it never edits it); the
items come from :mod:`drawing`, so thumbnails and canvas look the same.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QImage,
    QPageSize,
    QPainter,
    QPdfWriter,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from fntk_core.diagrams import Diagram

from . import core_api, drawing
from .diagram_items import ElementItem
from .style import is_dark, style

ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 40.0)
EXPORT_SCALE = 3.0  # PNG export: 3 pixels per scene unit
FORMATS = (".png", ".svg", ".pdf")


class DiagramCanvas(QGraphicsView):
    """Shows one Diagram (or nothing). Wheel/+/- zoom, Ctrl+0 fit, middle- or space-drag pans."""

    selectionChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Diagram canvas: wheel or +/- to zoom, Ctrl+0 to fit, middle button or space+drag to pan")
        self._diagram: Diagram | None = None
        self._items: dict = {}
        self._space = False
        self._pan_from = None
        self._auto_fit = True  # refit on resize until the user zooms or pans
        self._passing: set = set()  # nodes being dragged: lines do not bend around them
        self.scene().selectionChanged.connect(self.selectionChanged)
        self._restyle()

    # -- content -----------------------------------------------------------
    def set_diagram(self, d: Diagram | None) -> None:
        """Show ``d`` (a copy is kept; None clears), fitted to the view."""
        self._diagram = d.copy() if d is not None else None
        self._redraw()
        self.fit()
        self._auto_fit = True

    def diagram(self) -> Diagram | None:
        return self._diagram.copy() if self._diagram is not None else None

    def element_items(self) -> dict:
        """Drawn items by model id (``element_id``): nodes, lines, labels."""
        return dict(self._items)

    def selected_ids(self) -> list[str]:
        return [it.element_id for it in self.scene().selectedItems() if isinstance(it, ElementItem)]

    def _restyle(self) -> None:
        self._colors = style().palette(is_dark())
        self.scene().setBackgroundBrush(QBrush(self._colors["paper"]))

    def _redraw(self) -> None:
        self.scene().clear()
        self._items = {}
        if self._diagram is not None:
            self._items = drawing.draw(self.scene(), self._diagram, style(), self._colors, self._passing)
        rect = self.scene().itemsBoundingRect()
        self.scene().setSceneRect(rect.marginsAdded(QMarginsF(40, 40, 40, 40)))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:  # the system switched light/dark
            self._restyle()
            self._redraw()

    # -- view ----------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def _zoom_by(self, factor: float) -> None:
        self._auto_fit = False
        target = min(max(self.zoom() * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        self.scale(target / self.zoom(), target / self.zoom())

    def zoom_in(self) -> None:
        self._zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom_by(1 / ZOOM_STEP)

    def fit(self) -> None:
        """Fit the drawing into the view (never magnified beyond 2x)."""
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            self.resetTransform()
            return
        self.fitInView(rect.marginsAdded(QMarginsF(20, 20, 20, 20)), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 2.0:
            self.resetTransform()
            self.scale(2.0, 2.0)
            self.centerOn(rect.center())
        self._auto_fit = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def wheelEvent(self, event) -> None:
        dy = event.angleDelta().y()
        if dy:
            self._zoom_by(ZOOM_STEP ** (dy / 120))
            event.accept()
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:
        key, ctrl = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal) and not ctrl:
            self.zoom_in()
            return
        if key == Qt.Key.Key_Minus and not ctrl:
            self.zoom_out()
            return
        if key == Qt.Key.Key_0 and ctrl:
            self.fit()
            return
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self._auto_fit = False
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            if self._space:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(640, 420)

    # -- export --------------------------------------------------------------
    def export_image(self, path) -> None:
        """Write the drawing as .png, .svg or .pdf (chosen by the suffix), atomically (FntkError: bad path)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"export: unknown picture format {path.suffix or '(none)'!r}; use .png, .svg or .pdf")
        src = self.scene().itemsBoundingRect().marginsAdded(QMarginsF(12, 12, 12, 12))
        if src.isEmpty():
            src = QRectF(0, 0, 100, 60)
        selected = self.scene().selectedItems()
        for it in selected:  # the picture shows the diagram, not the selection
            it.setSelected(False)
        try:
            core_api.atomic_write_bytes(path, _WRITERS[suffix](self.scene(), src))
        finally:
            for it in selected:
                it.setSelected(True)


def _paint(scene: QGraphicsScene, painter: QPainter, target: QRectF, src: QRectF) -> None:
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
    painter.fillRect(target, scene.backgroundBrush())
    scene.render(painter, target, src, Qt.AspectRatioMode.KeepAspectRatio)


def _write_png(scene: QGraphicsScene, src: QRectF) -> bytes:
    image = QImage(int(src.width() * EXPORT_SCALE), int(src.height() * EXPORT_SCALE), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    _paint(scene, painter, QRectF(image.rect()), src)
    painter.end()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data())


def _write_svg(scene: QGraphicsScene, src: QRectF) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    gen = QSvgGenerator()
    gen.setOutputDevice(buf)
    gen.setSize(src.size().toSize())
    gen.setViewBox(QRectF(0, 0, src.width(), src.height()))
    gen.setTitle("fntk diagram")
    painter = QPainter(gen)
    _paint(scene, painter, QRectF(0, 0, src.width(), src.height()), src)
    painter.end()
    return bytes(buf.data())


def _write_pdf(scene: QGraphicsScene, src: QRectF) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setResolution(72)  # 1 scene unit = 1 pt
    writer.setPageSize(QPageSize(src.size(), QPageSize.Unit.Point, "diagram"))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    writer.setTitle("fntk diagram")
    painter = QPainter(writer)
    _paint(scene, painter, QRectF(0, 0, src.width(), src.height()), src)
    painter.end()
    del painter, writer  # the writer finishes the document when it goes
    return bytes(buf.data())


_WRITERS = {".png": _write_png, ".svg": _write_svg, ".pdf": _write_pdf}
