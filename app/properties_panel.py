"""PropertiesPanel: the selected element's properties (a leg's kind, branch, labels; a cubic
vertex's type; an interaction vertex's tensor).  Each change is a compose action on the
undo stack; a refused one says why in the status bar."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from fntk_core.diagrams import BRANCHES, STATISTICS, compose
from fntk_core.diagrams.model import CUBIC_TYPES

from .editor import DocumentEditor


class PropertiesPanel(QWidget):
    message = Signal(str)

    def __init__(self, editor: DocumentEditor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.setToolTip("Properties of the selected element; changes can be undone")
        self.node: str | None = None
        self.title = QLabel("Select one element to see its properties")
        self.title.setWordWrap(True)
        self.leg = QComboBox()
        self.leg.addItems(list(BRANCHES))
        self.leg.setToolTip("The external leg's kind: z, NTK, dNTK or a ddNTK")
        self.branch = QComboBox()
        self.branch.setToolTip("Which term of the leg's forward equation this diagram takes")
        self.samples = QLineEdit()
        self.samples.setToolTip("Sample indices, comma separated (one per neural index)")
        self.neural = QLineEdit()
        self.neural.setToolTip("Neural indices, comma separated")
        self.type = QComboBox()
        self.type.addItems(list(CUBIC_TYPES))
        self.type.setToolTip("W: two weights; own: own-layer term; omega: Omega insertion; bias: two biases")
        self.tensor = QComboBox()
        self.tensor.addItems([s.name for s in STATISTICS.values() if s.order == 1])
        self.tensor.setToolTip("Which first-order tensor the interaction vertex is")
        self.form = QFormLayout(self)
        self.form.addRow(self.title)
        for label, w in (("Leg kind", self.leg), ("Branch", self.branch), ("Samples", self.samples),
                         ("Neural", self.neural), ("Type", self.type), ("Tensor", self.tensor)):
            self.form.addRow(label, w)
        self.leg.activated.connect(lambda _: self._set("leg", self.leg.currentText()))
        self.branch.activated.connect(lambda _: self._set("branch", self.branch.currentText()))
        self.type.activated.connect(lambda _: self._set("type", self.type.currentText()))
        self.tensor.activated.connect(lambda _: self._set("tensor", self.tensor.currentText()))
        self.samples.editingFinished.connect(lambda: self._set_list("samples", self.samples))
        self.neural.editingFinished.connect(lambda: self._set_list("neural", self.neural))
        editor.changed.connect(lambda _: self.show_node(self.node))
        self.show_node(None)

    def show_node(self, nid: str | None) -> None:
        d = self.editor.diagram
        self.node = nid if nid in d.graph else None
        kind = d.graph.nodes[self.node]["kind"] if self.node else None
        a = d.graph.nodes[self.node] if self.node else {}
        shown = {"leg": (self.leg, self.branch, self.samples, self.neural), "cubic": (self.type,),
                 "vertex": (self.tensor,)}.get(kind, ())
        for w in (self.leg, self.branch, self.samples, self.neural, self.type, self.tensor):
            self.form.setRowVisible(w, w in shown)
        self.title.setText(f"{kind} {self.node}" if self.node else "Select one element to see its properties")
        if kind == "leg":
            self.leg.setCurrentText(a.get("leg", "z"))
            self.branch.clear()
            self.branch.addItems(list(BRANCHES.get(a.get("leg"), {})))
            self.branch.setCurrentText(a.get("branch", ""))
            self.samples.setText(", ".join(a.get("samples", [])))
            self.neural.setText(", ".join(a.get("neural", [])))
        elif kind == "cubic":
            self.type.setCurrentText(a.get("type", "W"))
        elif kind == "vertex":
            self.tensor.setCurrentText(a.get("tensor", ""))

    def _set_list(self, key: str, edit: QLineEdit) -> None:
        value = [s.strip() for s in edit.text().split(",") if s.strip()]
        if self.node and value != self.editor.diagram.graph.nodes[self.node].get(key):
            self._set(key, value)

    def _set(self, key: str, value) -> None:
        if self.node is None or self.editor.diagram.graph.nodes[self.node].get(key) == value:
            return
        try:
            batch = compose.set_property(self.editor.diagram, self.node, key, value)
        except ValueError as exc:
            self.message.emit(f"Not changed: {exc}")
            self.show_node(self.node)
            return
        self.editor.edit(batch, f"Set {key} of {self.node}")
