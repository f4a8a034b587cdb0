"""RecursionPanel: the value of the diagram on the canvas and the recursion it belongs to.

Top: the diagram's term(s), with its symmetry factor and order in 1/n.  Below: the
whole recursion of its statistic, one rendered row per term; each row knows the
library diagram that produced it, and clicking it emits ``termClicked(entry_id,
diagram)``.  The LaTeX is the core's (one printer); the panel only renders it.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fntk_core.diagrams import DiagramError
from fntk_core.errors import FntkError

from . import core_api, mathtext
from .style import is_dark, style

ROLE_SOURCE = Qt.ItemDataRole.UserRole
TERM_SIZE = 14.0


def _order_text(order: int) -> str:
    return "O(1)" if order == 0 else "O(1/n)" if order == 1 else f"O(1/n^{order})"


class RecursionPanel(QWidget):
    termClicked = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.diagram_title = QLabel("No diagram on the canvas")
        self.diagram_title.setWordWrap(True)
        self.diagram_value = QLabel()
        self.diagram_value.setToolTip("The value of the diagram on the canvas (its symmetry factor included)")
        self.diagram_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recursion_title = QLabel()
        self.lhs = QLabel()
        self.terms = QListWidget()
        self.terms.setToolTip("The recursion, one term per row: click a term to show its diagram")
        self.terms.setHorizontalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.terms.setSelectionMode(QListWidget.SelectionMode.MultiSelection)
        self.copy_button = QPushButton("Copy LaTeX")
        self.copy_button.setToolTip("Copy the recursion as an amsmath align block")
        self.export_button = QPushButton("Export .tex…")
        self.export_button.setToolTip("Write a LaTeX document: the recursion and its diagrams (TikZ-Feynman)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.diagram_title)
        lay.addWidget(self.diagram_value)
        lay.addSpacing(6)
        lay.addWidget(self.recursion_title)
        lay.addWidget(self.lhs)
        lay.addWidget(self.terms, 1)
        lay.addLayout(buttons)
        self._statistic: str | None = None
        self._entry_id: str | None = None
        self.value_tex = ""
        self._sources: dict[str, object] = {}  # entry id -> Diagram of the statistic's library entries
        self._pending: list = []  # (item, label, tex) rows still to render: mathtext is slow, the GUI is not
        self._idle = QTimer(self, interval=0)
        self._idle.timeout.connect(self._render_step)
        mathtext.warm_up()
        self.terms.itemClicked.connect(self._clicked)
        self.terms.itemActivated.connect(self._clicked)
        self.copy_button.clicked.connect(self.copy_latex)
        self.export_button.clicked.connect(self._ask_export)
        self._set_enabled()
        self._tint()

    # -- content -------------------------------------------------------------
    def statistic(self) -> str | None:
        return self._statistic

    def _render(self, tex: str, size: float = TERM_SIZE):
        """The formula; its LaTeX source as text if a label from a file makes it unparsable."""
        return mathtext.render_or_text(tex, tex, size=size, color=style().palette(is_dark())["ink"],
                                       ratio=max(1.0, self.devicePixelRatioF()))

    def show_diagram(self, d, entry_id: str | None = None) -> None:
        """Show the value of ``d`` and the recursion of its statistic; a diagram that breaks a rule says which."""
        self._entry_id = entry_id
        self.value_tex = ""  # the LaTeX of the shown diagram's value (tests compare it with the core's)
        if d is None:
            self.diagram_title.setText("No diagram on the canvas")
            self.diagram_value.clear()
            self._highlight()
            return
        try:
            name, rows, order, factor = core_api.diagram_value(d)
        except DiagramError as exc:
            self.diagram_title.setText(f"{entry_id or 'This diagram'} is not a valid diagram: {exc}")
            self.diagram_value.clear()
            self._highlight()
            return
        self.diagram_title.setText(f"{entry_id or 'This diagram'}: a term of {name}   ·   symmetry factor "
                                   f"{factor}   ·   {_order_text(order)}")
        body = "".join((r.sign if k or r.sign == "-" else "") + " " + r.body for k, r in enumerate(rows))
        self.value_tex = body
        self.diagram_value.setPixmap(self._render(body or "0", TERM_SIZE + 1))
        if name != self._statistic:
            self.show_statistic(name)
        self._highlight()

    def show_statistic(self, name: str) -> None:
        """List the recursion of ``name``, one row per term, each linked to its library diagram."""
        self._statistic = name
        lhs, rows = core_api.recursion_rows(name)
        self._sources = {e.id: e.diagram for e in core_api.entries(name)}
        self.recursion_title.setText(f"Recursion of {name}: {len(rows)} term{'s' if len(rows) != 1 else ''} "
                                     "(click one to see its diagram)")
        self.recursion_title.setToolTip(core_api.tensor_description(name))
        self.lhs.setPixmap(self._render(lhs + " =", TERM_SIZE + 1))
        self.terms.clear()
        self._pending.clear()
        for k, r in enumerate(rows):
            tex = ("-" if r.sign == "-" else "+" if k else "") + " " + r.body
            item = QListWidgetItem()
            item.setData(ROLE_SOURCE, r.source)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"term {k + 1} from diagram {r.source}: {tex}")
            item.setToolTip(f"from diagram {r.source}")
            label = QLabel(f"term {k + 1} (from {r.source}) …")
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.setContentsMargins(6, 4, 6, 4)
            item.setSizeHint(label.sizeHint())
            self.terms.addItem(item)
            self.terms.setItemWidget(item, label)
            self._pending.append((item, label, tex))
        self._idle.start()
        self._highlight()
        self._set_enabled()

    def _render_step(self) -> None:
        """Render one pending term row."""
        if not self._pending:
            self._idle.stop()
            return
        if not mathtext.ready_for(self._idle):
            return
        item, label, tex = self._pending.pop(0)
        label.setPixmap(self._render(tex))
        item.setSizeHint(label.sizeHint())

    def finish_rendering(self) -> None:
        """Render every pending row now (screenshots, tests)."""
        mathtext.wait_ready()
        while self._pending:
            self._render_step()

    def rows(self) -> list[tuple[str, str]]:
        """(source entry id, rendered LaTeX) of every term row, in order (tests compare with the core)."""
        out = []
        for k in range(self.terms.count()):
            item = self.terms.item(k)
            out.append((item.data(ROLE_SOURCE), item.data(Qt.ItemDataRole.AccessibleTextRole).split(": ", 1)[1]))
        return out

    def _highlight(self) -> None:
        """Select the rows that the diagram on the canvas produced."""
        self.terms.blockSignals(True)
        for k in range(self.terms.count()):
            item = self.terms.item(k)
            item.setSelected(self._entry_id is not None and item.data(ROLE_SOURCE) == self._entry_id)
        self.terms.blockSignals(False)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:  # light <-> dark: formulas in the new ink
            self._tint()
            if self._statistic is not None:
                selected = self._entry_id
                self.show_statistic(self._statistic)
                self._entry_id = selected
                self._highlight()

    def _tint(self) -> None:
        """Highlighted rows in a light tint of the selection colour: black formulas stay readable."""
        tint = style().palette(is_dark())["select"]
        tint.setAlpha(60)
        rgba = f"rgba({tint.red()}, {tint.green()}, {tint.blue()}, {tint.alpha()})"
        self.terms.setStyleSheet(f"QListWidget::item:selected {{ background: {rgba}; }}")

    def _set_enabled(self) -> None:
        for b in (self.copy_button, self.export_button):
            b.setEnabled(self._statistic is not None)

    def _clicked(self, item: QListWidgetItem) -> None:
        src = item.data(ROLE_SOURCE)
        d = self._sources.get(src)
        if d is not None:
            self.termClicked.emit(src, d.copy())

    # -- LaTeX ---------------------------------------------------------------
    def latex(self) -> str:
        """The recursion of the current statistic as an amsmath align block ("" when none)."""
        return core_api.recursion_latex(self._statistic) if self._statistic else ""

    def copy_latex(self) -> None:
        QGuiApplication.clipboard().setText(self.latex())

    def export_tex(self, path) -> None:
        """Write a pdfLaTeX document: the recursion and a TikZ-Feynman figure of each of its diagrams."""
        if self._statistic is None:
            raise ValueError("export: no statistic shown; pick a diagram first")
        core_api.atomic_write_text(Path(path), core_api.tex_document(self._statistic))

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export recursion as LaTeX", f"{self._statistic}.tex",
                                              "LaTeX (*.tex)")
        if not path:
            return
        try:
            self.export_tex(path)
        except (OSError, ValueError, FntkError) as exc:
            QMessageBox.warning(self, "Export failed", str(exc))

