"""The edited diagram as a value behind a QUndoStack: every change is a core edit operation.

``EditCommand`` wraps ``fntk_core.diagrams.edit.apply`` and the inverse it returns;
the stack holds nothing else, so undo and redo are the core's.  Moves of one drag
share a merge id and become one step (``mergeWith``).
"""
from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from fntk_core.diagrams import Diagram
from fntk_core.diagrams.edit import Batch, MoveNode, apply

MOVE_ID = 1001
_drags = itertools.count(1)


def new_drag() -> int:
    """A fresh drag number: the moves of one drag merge, those of two drags do not."""
    return next(_drags)


class EditCommand(QUndoCommand):
    def __init__(self, editor: DocumentEditor, op, text: str, drag: int | None = None):
        super().__init__(text)
        self.editor, self.op, self.drag, self.inverse = editor, op, drag, None

    def redo(self) -> None:
        before = self.editor.diagram
        d, self.inverse = apply(before, self.op)
        if self.drag is not None and d == before:  # a drag that has not moved anything yet
            self.setObsolete(True)
        self.editor._set(d)

    def undo(self) -> None:
        d, _ = apply(self.editor.diagram, self.inverse)
        self.editor._set(d)

    def id(self) -> int:
        return MOVE_ID if self.drag is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        """Moves of the same drag: keep the first inverse (where the drag started), the last positions."""
        if not isinstance(other, EditCommand) or other.drag != self.drag or self.drag is None:
            return False
        self.op = Batch((self.op, other.op))
        self.inverse = Batch((other.inverse, self.inverse))
        d = self.editor.diagram
        if apply(d, self.inverse)[0] == d:  # dragged back to where it started: no step at all
            self.setObsolete(True)
        return True


class DocumentEditor(QObject):
    """Holds the diagram; ``changed`` carries each new value (the canvas and panels redraw from it)."""

    changed = Signal(object)
    refused = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.diagram = Diagram()
        self.stack = QUndoStack(self)
        self.source: str | None = None  # a library id when the diagram came from the library unchanged

    def _set(self, d: Diagram) -> None:
        self.diagram = d
        self.source = None
        self.changed.emit(d)

    def edit(self, op, text: str, drag: int | None = None) -> bool:
        """Push one edit (a core operation); a DiagramError (a refusal) is reported, not raised."""
        try:
            apply(self.diagram, op)  # refuse before it reaches the stack
        except ValueError as exc:
            self.refused.emit(str(exc))
            return False
        self.stack.push(EditCommand(self, op, text, drag))
        return True

    def move(self, positions: dict, drag: int) -> None:
        self.edit(Batch(tuple(MoveNode(n, p) for n, p in positions.items())), "Move", drag)

    def load(self, d: Diagram | None, source: str | None = None) -> None:
        """A new document: the undo history starts afresh and the state is clean."""
        self.stack.clear()
        self.diagram = d.copy() if d is not None else Diagram()
        self.changed.emit(self.diagram)
        self.source = source
        self.stack.setClean()

    def is_empty(self) -> bool:
        return self.diagram.graph.number_of_nodes() == 0
