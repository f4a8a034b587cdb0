"""STAND-IN for branch appdiagram's LibraryPanel (CONTRACT names only); replaced at merge.

A plain tree of the packaged library's files (resources/diagrams/index.json).
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fntk_core.diagrams.io import load_diagram

_ROOT = Path(__file__).resolve().parents[1] / "resources" / "diagrams"


class LibraryPanel(QWidget):
    diagramChosen = Signal(str, object)
    statisticChosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Statistic / diagram"])
        self.tree.setToolTip("Every statistic and its diagrams from the packaged library")
        index = json.loads((_ROOT / "index.json").read_text())["tensors"] if (_ROOT / "index.json").exists() else {}
        for name, entries in index.items():
            top = QTreeWidgetItem([name])
            for k, e in enumerate(entries, start=1):
                QTreeWidgetItem(top, [f"{name}/{k}  {e['coefficient']}  ({e['description']})"])
            self.tree.addTopLevelItem(top)
        self.tree.itemClicked.connect(self._clicked)
        self.enumerate_button = QPushButton("Enumerate…")
        self.enumerate_button.setToolTip("List every diagram of a statistic (comes with the library panel)")
        self.enumerate_button.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tree)
        lay.addWidget(self.enumerate_button)

    def _clicked(self, item, _col=0):
        if item.parent() is None:
            self.statisticChosen.emit(item.text(0))
            return
        entry = item.text(0).split()[0]
        self.diagramChosen.emit(entry, load_diagram(_ROOT / f"{entry}.json"))
