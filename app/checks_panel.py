"""ChecksPanel: the Feynman rules the drawn diagram breaks, one row each (title, explanation,
what is wrong); clicking a row highlights the offending elements on the canvas."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

ROLE_ELEMENTS = Qt.ItemDataRole.UserRole


class ChecksPanel(QWidget):
    elementsChosen = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip("Feynman rules the diagram on the canvas breaks; click one to see where")
        self.summary = QLabel("Nothing drawn yet")
        self.summary.setWordWrap(True)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        self.list.currentItemChanged.connect(lambda item, _: item and self._clicked(item))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
        lay.addWidget(self.list, 1)

    def show_violations(self, violations, empty: bool) -> None:
        self.list.clear()
        if empty:
            self.summary.setText("Nothing drawn yet")
        elif not violations:
            self.summary.setText("✓ The diagram obeys every Feynman rule")
        else:
            self.summary.setText(f"{len(violations)} broken rule{'s' if len(violations) != 1 else ''} "
                                 "(click one to see where):")
        for v in violations:
            where = ", ".join(v.elements)
            item = QListWidgetItem(f"{v.rule.title}: {v.message}" + (f"  [{where}]" if where else ""))
            item.setToolTip(f"Rule {v.rule.value}: {v.rule.explanation}")
            item.setData(ROLE_ELEMENTS, list(v.elements))
            self.list.addItem(item)

    def rows(self) -> list[str]:
        return [self.list.item(k).text() for k in range(self.list.count())]

    def _clicked(self, item: QListWidgetItem) -> None:
        self.elementsChosen.emit(list(item.data(ROLE_ELEMENTS) or []))
