"""LibraryPanel: every tensor with its library diagrams (thumbnails), a filter, and "Enumerate…".

Clicking (or moving the keyboard cursor onto) a diagram emits ``diagramChosen(entry_id,
diagram)``; a tensor emits ``statisticChosen(name)``.  Diagrams opened from a file
(``show_diagrams``) get their own group in the same tree.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fntk_core.diagrams import LibraryEntry

from . import core_api, drawing, mathtext
from .style import is_dark, style

THUMB = QSize(132, 72)
THUMB_LINE = 2.5  # thumbnails shrink the drawing about 3x: thicker lines keep the dots and dashes visible
ROLE_ID = Qt.ItemDataRole.UserRole
ROLE_KIND = Qt.ItemDataRole.UserRole + 1  # "tensor", "diagram", "file"


def _ratio(widget: QWidget) -> float:
    return max(1.0, widget.devicePixelRatioF())


def thumbnail(d, widget: QWidget) -> QIcon:
    """A small picture of the diagram, drawn by the canvas's own drawing code."""
    st = style()
    thick = replace(st, geometry={**st.geometry, "line_width": st.geometry["line_width"] * THUMB_LINE})
    return QIcon(drawing.render_pixmap(d, thick, st.palette(is_dark()), THUMB.width(), THUMB.height(), _ratio(widget)))


def math_icon(tex: str, widget: QWidget, size: float = 12) -> QIcon:
    return QIcon(mathtext.render(tex, size=size, color=style().palette(is_dark())["ink"], ratio=_ratio(widget)))


_PLAIN = (("**2", "²"), ("**3", "³"), ("**4", "⁴"), ("*", "·"), ("lambda_", "λ_"))


def plain(expr) -> str:
    """A coefficient as short plain text (C_W², λ_W·C_W) for list rows."""
    text = sp.sstr(expr)
    for a, b in _PLAIN:
        text = text.replace(a, b)
    return text


def entry_text(e: LibraryEntry) -> str:
    """One line for a diagram: id, value coefficient, symmetry factor, order."""
    order = "O(1)" if e.order == 0 else f"O(1/n^{e.order})" if e.order > 1 else "O(1/n)"
    return f"{e.id}   coefficient {plain(e.coefficient)}   symmetry factor {e.symmetry_factor}   {order}"


class LibraryPanel(QWidget):
    diagramChosen = Signal(str, object)
    statisticChosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="Filter tensors (name or meaning)")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only tensors whose name or meaning contains this text")
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(THUMB)
        self.tree.setVerticalScrollMode(QTreeWidget.ScrollMode.ScrollPerPixel)
        self.tree.setToolTip("Tensors and their diagrams: click a diagram to show it on the canvas")
        self.enumerate_button = QPushButton("Enumerate…")
        self.enumerate_button.setToolTip("Ask the engine for every diagram of a statistic, with symmetry factors")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.enumerate_button)
        self._diagrams: dict[str, object] = {}  # entry id -> Diagram
        self._dialog: EnumerateDialog | None = None
        self._announced = None  # the item whose choice currentItemChanged has just emitted
        self._pending: list[QTreeWidgetItem] = []
        self._idle = QTimer(self, interval=0)
        self._idle.timeout.connect(self._icon_step)
        mathtext.warm_up()
        self._populate()
        self.tree.itemExpanded.connect(self._fill)
        self.filter.textChanged.connect(self.apply_filter)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.tree.itemClicked.connect(self._clicked)
        self.enumerate_button.clicked.connect(self.open_enumerate)

    # -- content -------------------------------------------------------------
    def _populate(self) -> None:
        """Tensor rows now; their diagrams when a row is first expanded; symbols from an idle timer."""
        for name in core_api.tensor_names():
            top = QTreeWidgetItem([core_api.tensor_title(name)])
            top.setData(0, ROLE_ID, name)
            top.setData(0, ROLE_KIND, "tensor")
            top.setToolTip(0, core_api.tensor_description(name))
            top.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.tree.addTopLevelItem(top)
            self._pending.append(top)
        self._idle.start()

    def _icon_step(self) -> None:
        """Render one tensor symbol (mathtext is slow to start; the panel stays usable meanwhile)."""
        if not self._pending:
            self._idle.stop()
            return
        if not mathtext.ready_for(self._idle):
            return
        top = self._pending.pop(0)
        top.setIcon(0, math_icon(core_api.tensor_tex(top.data(0, ROLE_ID)), self, 13))

    def changeEvent(self, event) -> None:
        """The system switched between light and dark: draw symbols and thumbnails again in its colours."""
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            for k in range(self.tree.topLevelItemCount()):
                top = self.tree.topLevelItem(k)
                if top.data(0, ROLE_KIND) == "tensor" and top not in self._pending:
                    self._pending.append(top)
                for j in range(top.childCount()):
                    child = top.child(j)
                    child.setIcon(0, thumbnail(self._diagrams[child.data(0, ROLE_ID)], self))
            self._idle.start()

    def finish_icons(self) -> None:
        """Render every pending symbol now (screenshots, tests)."""
        mathtext.wait_ready()
        while self._pending:
            self._icon_step()

    def _fill(self, top: QTreeWidgetItem) -> None:
        """Add a tensor's library diagrams with thumbnails (once)."""
        if top.data(0, ROLE_KIND) != "tensor" or top.childCount():
            return
        name = top.data(0, ROLE_ID)
        for e in core_api.entries(name):
            child = QTreeWidgetItem([f"{e.id}\n{plain(e.coefficient)}   S = {e.symmetry_factor}"])
            child.setData(0, ROLE_ID, e.id)
            child.setData(0, ROLE_KIND, "diagram")
            child.setIcon(0, thumbnail(e.diagram, self))
            child.setToolTip(0, f"{entry_text(e)}\n{e.description}")
            top.addChild(child)
            self._diagrams[e.id] = e.diagram
        n = top.childCount()
        top.setText(0, f"{core_api.tensor_title(name)}  ({n} diagram{'s' if n != 1 else ''})")

    def show_diagrams(self, diagrams, title: str = "Opened") -> None:
        """List diagrams read from a file (e.g. an exported .tex) as a group "title"; ids are "title#k"."""
        for k in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(k)
            if item.data(0, ROLE_KIND) == "file" and item.data(0, ROLE_ID) == title:
                self.tree.takeTopLevelItem(k)
                break
        top = QTreeWidgetItem([f"{title}  ({len(diagrams)} diagram{'s' if len(diagrams) != 1 else ''})"])
        top.setData(0, ROLE_ID, title)
        top.setData(0, ROLE_KIND, "file")
        top.setToolTip(0, f"Diagrams read from {title}")
        for k, d in enumerate(diagrams, start=1):
            eid = f"{title}#{k}"
            child = QTreeWidgetItem([eid])
            child.setData(0, ROLE_ID, eid)
            child.setData(0, ROLE_KIND, "diagram")
            child.setIcon(0, thumbnail(d, self))
            top.addChild(child)
            self._diagrams[eid] = d.copy()
        self.tree.insertTopLevelItem(0, top)
        top.setExpanded(True)
        if diagrams:
            self.tree.setCurrentItem(top.child(0))

    def diagram_item(self, entry_id: str) -> QTreeWidgetItem | None:
        """The tree row of a diagram, its tensor expanded (tests click it)."""
        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            if top.data(0, ROLE_KIND) == "tensor" and entry_id.startswith(f"{top.data(0, ROLE_ID)}/"):
                top.setExpanded(True)
            for j in range(top.childCount()):
                if top.child(j).data(0, ROLE_ID) == entry_id:
                    return top.child(j)
        return None

    def tensor_item(self, name: str) -> QTreeWidgetItem | None:
        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            if top.data(0, ROLE_KIND) == "tensor" and top.data(0, ROLE_ID) == name:
                return top
        return None

    def apply_filter(self, text: str) -> None:
        """Hide tensors whose name, symbol and meaning do not contain ``text`` (case-insensitive)."""
        needle = text.strip().lower()
        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            name = top.data(0, ROLE_ID)
            hay = f"{name} {top.text(0)} {top.toolTip(0)}".lower() if top.data(0, ROLE_KIND) == "tensor" else str(name).lower()
            top.setHidden(bool(needle) and needle not in hay)

    # -- signals -------------------------------------------------------------
    def _clicked(self, item) -> None:
        """A click on the current row again shows it again; a click that moved the cursor was announced."""
        if self._announced is item:
            self._announced = None
            return
        self._current_changed(item)

    def _current_changed(self, item, *_) -> None:
        self._announced = item
        if item is None:
            return
        kind, eid = item.data(0, ROLE_KIND), item.data(0, ROLE_ID)
        if kind == "diagram":
            self.diagramChosen.emit(eid, self._diagrams[eid].copy())
        elif kind == "tensor":
            self.statisticChosen.emit(eid)

    def open_enumerate(self) -> EnumerateDialog:
        """Show the (modeless) Enumerate dialog; choosing a diagram there emits diagramChosen."""
        if self._dialog is None:
            self._dialog = EnumerateDialog(self)
            self._dialog.chosen.connect(self.diagramChosen)
        current = self.tree.currentItem()
        if current is not None:
            top = current.parent() or current
            if top.data(0, ROLE_KIND) == "tensor":
                self._dialog.set_statistic(top.data(0, ROLE_ID))
        self._dialog.show()
        self._dialog.raise_()
        return self._dialog


class EnumerateDialog(QDialog):
    """Pick a statistic (its legs and sample labels shown), list every diagram the engine enumerates."""

    chosen = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Enumerate diagrams")
        self.statistic = QComboBox()
        self.statistic.addItems(core_api.tensor_names())
        self.statistic.setToolTip("The statistic whose diagrams to enumerate")
        self.legs = QLabel()
        self.legs.setToolTip("Its external legs with their sample labels")
        self.meaning = QLabel(wordWrap=True)
        self.run_button = QPushButton("Enumerate")
        self.run_button.setToolTip("List every distinct diagram at this order, with its symmetry factor")
        self.results = QListWidget()
        self.results.setIconSize(THUMB)
        self.results.setToolTip("Click a diagram to show it on the canvas")
        self.summary = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Statistic:"))
        top.addWidget(self.statistic, 1)
        top.addWidget(self.run_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.legs)
        lay.addWidget(self.meaning)
        lay.addWidget(self.results, 1)
        lay.addWidget(self.summary)
        self._found: list[LibraryEntry] = []
        self.statistic.currentTextChanged.connect(self._describe)
        self.run_button.clicked.connect(self.run)
        self.results.itemClicked.connect(self._clicked)
        self.results.itemActivated.connect(self._clicked)
        self._describe(self.statistic.currentText())
        self.resize(560, 520)

    def set_statistic(self, name: str) -> None:
        self.statistic.setCurrentText(name)

    def _describe(self, name: str) -> None:
        if not name:
            return
        self.legs.setPixmap(mathtext.render(core_api.legs_tex(name), size=16,
                                            color=style().palette(is_dark())["ink"], ratio=_ratio(self)))
        self.meaning.setText(core_api.tensor_description(name))
        self.results.clear()
        self.summary.clear()

    def run(self) -> list[LibraryEntry]:
        """Enumerate the chosen statistic and list the diagrams."""
        name = self.statistic.currentText()
        self._found = core_api.enumerated(name)
        self.results.clear()
        for e in self._found:
            item = QListWidgetItem(thumbnail(e.diagram, self), entry_text(e))
            item.setData(ROLE_ID, e.id)
            item.setToolTip(e.description)
            self.results.addItem(item)
        self.summary.setText(f"{len(self._found)} distinct diagram{'s' if len(self._found) != 1 else ''} of {name}")
        return list(self._found)

    def _clicked(self, item: QListWidgetItem) -> None:
        e = next(x for x in self._found if x.id == item.data(ROLE_ID))
        self.chosen.emit(e.id, e.diagram.copy())
