"""STAND-IN for branch appdiagram's RecursionPanel (CONTRACT names only); replaced at merge."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QTextEdit, QVBoxLayout, QWidget


class RecursionPanel(QWidget):
    termClicked = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QTextEdit(readOnly=True)
        self.text.setToolTip("The term of the diagram and the recursion of its statistic")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.text)
        self._latex = ""

    def show_diagram(self, d, entry_id=None) -> None:
        from fntk_core.diagrams import translate

        try:
            self._latex = str(translate(d)) if d is not None else ""
        except Exception as exc:  # noqa: BLE001 - stand-in shows what the core says
            self._latex = f"(no term: {exc})"
        self.text.setPlainText(f"{entry_id or 'diagram'}\n{self._latex}")

    def show_statistic(self, name: str) -> None:
        self.text.setPlainText(f"recursion of {name}")

    def latex(self) -> str:
        return self._latex

    def copy_latex(self) -> None:
        QGuiApplication.clipboard().setText(self._latex)

    def export_tex(self, path) -> None:
        raise NotImplementedError("stand-in recursion panel: export comes with branch appdiagram")
