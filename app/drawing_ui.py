"""Drawing by hand in the main window: Edit menu, clipboard, tidy, live checks, history, autosave, help.

The main window creates the editor, the drawing canvas and its panels; this module wires
them (actions and shortcuts, the checks after every edit, autosave and recovery) so
that the window itself keeps only docks and menus.  Domain work is the core's
(``compose``, ``check_all``, ``layout``, ``which_entry``).
"""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QUndoView,
    QVBoxLayout,
)

from fntk_core.diagrams import STATISTICS, DiagramError, check_all, compose, translate
from fntk_core.diagrams.edit import Batch, MoveNode
from fntk_core.diagrams.io import diagram_to_json, loads
from fntk_core.diagrams.layout import layout
from fntk_core.diagrams.library import which_entry

from . import autosave
from .checks_panel import ChecksPanel

MIME = "application/x-fntk-diagram"
CHECK_DELAY_MS = 60  # checks run once the event queue is idle after a burst of edits (drags)


class DrawingController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win, self.editor, self.canvas = win, win.editor, win.canvas
        self.checks = ChecksPanel()
        win._dock("checks", "Chec&ks", self.checks, Qt.RightDockWidgetArea)
        self.history = QUndoView(self.editor.stack)
        self.history.setEmptyLabel("<empty diagram>")
        self.history.setToolTip("Every edit; click a row to go back to that state")
        win._dock("history", "&History", self.history, Qt.RightDockWidgetArea)
        win.tabifyDockWidget(win.docks["properties"], win.docks["history"])
        win.tabifyDockWidget(win.docks["history"], win.docks["checks"])  # one column: the window stays small
        win.docks["properties"].raise_()
        self.autosave = autosave.Autosave(self.editor, self)
        self.recovery_box: QMessageBox | None = None
        self.help_dialog: QDialog | None = None
        self._pastes = 0
        self._check_timer = QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.check)
        self.editor.changed.connect(lambda _: self._check_timer.start())
        self.editor.refused.connect(win.say)
        self.canvas.message.connect(win.say)
        win.properties.message.connect(win.say)
        win.palette.toolChosen.connect(self.canvas.set_tool)
        self.canvas.toolChanged.connect(win.palette.show_tool)
        self.canvas.selectionChanged.connect(self._selection)
        self.checks.elementsChosen.connect(self.canvas.highlight)
        self._menu()
        for a in win.palette.group.actions():
            self._scoped(a)

    def _scoped(self, action: QAction) -> QAction:
        """Keys that act on the drawing only while a drawing panel has the focus: the other panels keep
        theirs (a table's Ctrl+V, a combo box's letters)."""
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        for w in [self.canvas] + [self.win.docks[n] for n in ("palette", "properties", "checks", "history")]:
            w.addAction(action)
        return action

    # -- menus -----------------------------------------------------------------
    def _menu(self) -> None:
        win, stack = self.win, self.editor.stack
        m = win.menuBar().addMenu("&Edit")
        win.menuBar().insertMenu(win.menuBar().actions()[1], m)
        undo, redo = stack.createUndoAction(self, "&Undo"), stack.createRedoAction(self, "&Redo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        m.addAction(self._scoped(undo))
        m.addAction(self._scoped(redo))
        m.addSeparator()
        a = win._action

        def s(*args):
            return self._scoped(a(*args))

        s(m, "Cu&t", self.cut, QKeySequence.StandardKey.Cut, "Copy the selection to the clipboard and delete it")
        s(m, "&Copy", self.copy, QKeySequence.StandardKey.Copy, "Copy the selection (also into another window)")
        s(m, "&Paste", self.paste, QKeySequence.StandardKey.Paste, "Paste elements copied in any fntk window")
        s(m, "D&uplicate", self.duplicate, "Ctrl+D", "Copy and paste the selection in one step")
        s(m, "&Delete", self.delete, QKeySequence.StandardKey.Delete, "Delete the selection (with its book-keeping)")
        s(m, "Select &All", self.canvas.select_all, QKeySequence.StandardKey.SelectAll)
        m.addSeparator()
        a(m, "&New Diagram", self.new_diagram, QKeySequence.StandardKey.New, "Start an empty diagram")
        a(m, "New from &Statistic…", self.ask_statistic, "Ctrl+Shift+N",
          "Place a statistic's external legs, ready to complete")
        a(m, "&Tidy", self.tidy, "Ctrl+T", "Lay out the whole diagram, or the selection, automatically")
        grid = a(m, "Snap to &Grid", self.canvas.set_grid, "Ctrl+G",
                 "Snap placed and moved elements to the grid (hold Alt while dragging to override)")
        grid.setCheckable(True)
        grid.setChecked(self.canvas.grid)
        s(m, "Select &Tool", lambda: self.canvas.set_tool(None), "Esc", "Back to selecting, moving, connecting")
        self.win.help_menu.addAction(a(self.win.help_menu, "Keyboard &Shortcuts…", self.show_help, "F1",
                                       "Every action with its key"))

    def shortcuts(self) -> list[tuple[str, str]]:
        """(action, keys) of every action of the window that has a key (the F1 dialog)."""
        out, seen = [], set()
        for act in self.win.findChildren(QAction):
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())
            name = act.text().replace("&", "").rstrip("…")
            if keys and (name, keys) not in seen:
                seen.add((name, keys))
                out.append((name, keys))
        out.append(("Zoom in / out (canvas)", "+ / − or wheel"))
        out.append(("Pan (canvas)", "middle button or Space+drag"))
        out.append(("Move without snapping", "hold Alt while dragging"))
        return out

    def show_help(self) -> None:
        rows = self.shortcuts()
        dlg = QDialog(self.win)
        dlg.setWindowTitle("fntk keyboard shortcuts")
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        for r, (name, keys) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(name))
            table.setItem(r, 1, QTableWidgetItem(keys))
        table.resizeColumnsToContents()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dlg.close)
        lay = QVBoxLayout(dlg)
        lay.addWidget(table)
        lay.addWidget(buttons)
        dlg.resize(520, 560)
        self.help_dialog = dlg
        dlg.show()

    # -- live checks -------------------------------------------------------------
    def check(self) -> None:
        """Check the diagram after an edit: broken rules listed, or its term and statistic shown."""
        self._check_timer.stop()
        d = self.editor.diagram
        empty = self.editor.is_empty()
        found = [] if empty else check_all(d)
        self.checks.show_violations(found, empty)
        if not any(set(v.elements) & set(self.canvas.highlighted_ids()) for v in found):
            self.canvas.highlight(())
        rec = self.win.recursion
        if empty:
            rec.show_diagram(None)
            return
        if found:
            rec.show_diagram(d, self.editor.source)  # says the first broken rule
            return
        name = rec_name = None
        try:
            rec_name = translate(d).statistic
            name = which_entry(d, rec_name)
        except DiagramError:
            pass
        rec.show_diagram(d, name)
        rest = rec.diagram_title.text().split(": ", 1)[-1]
        if name is not None:
            rec.diagram_title.setText(f"Enumerated diagram {name}: {rest}")
        elif rec_name:
            rec.diagram_title.setText(f"This diagram: {rest}   ·   not one of {rec_name}'s enumerated diagrams")

    def _selection(self) -> None:
        nodes = self.canvas.selected_nodes()
        self.win.properties.show_node(nodes[0] if len(nodes) == 1 else None)

    # -- editing -----------------------------------------------------------------
    def delete(self) -> None:
        ids = self.canvas.selected_model_ids()
        if not ids:
            return
        batch = compose.delete(self.editor.diagram, ids)
        if not batch.ops:
            self.win.say("Nothing deleted: an internal line goes with the connections of the leg that opens it")
            return
        self.editor.edit(batch, f"Delete {len(ids)} element{'s' if len(ids) != 1 else ''}")

    def _selected_sub(self):
        nodes = [i for i in self.canvas.selected_model_ids() if i in self.editor.diagram.graph]
        return compose.subdiagram(self.editor.diagram, nodes) if nodes else None

    def copy(self) -> bool:
        sub = self._selected_sub()
        if sub is None:
            self.win.say("Nothing selected to copy")
            return False
        text = json.dumps(diagram_to_json(sub))
        mime = QMimeData()
        mime.setData(MIME, text.encode("utf-8"))
        mime.setText(text)
        QGuiApplication.clipboard().setMimeData(mime)
        self._pastes = 0
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete()

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not mime.hasFormat(MIME):
            self.win.say("The clipboard holds no fntk diagram elements")
            return
        try:
            sub = loads(bytes(mime.data(MIME)))
        except DiagramError as exc:
            self.win.say(f"Cannot paste: {exc}")
            return
        self._paste(sub)

    def _paste(self, sub) -> None:
        self._pastes += 1
        batch, new = compose.paste(self.editor.diagram, sub, (0.5 * self._pastes, -0.5 * self._pastes))
        self.canvas.scene().clearSelection()
        self.canvas._keep = set(new)
        self.editor.edit(batch, f"Paste {len(new)} element{'s' if len(new) != 1 else ''}")

    def duplicate(self) -> None:
        sub = self._selected_sub()
        if sub is not None:
            self._pastes = 0
            self._paste(sub)

    def tidy(self) -> None:
        """The core's automatic layout, for the selection (if any) or the whole diagram; one undo step."""
        d = self.editor.diagram
        pos = layout(d.copy()).presentation["positions"]
        chosen = set(self.canvas.selected_nodes()) or set(d.graph.nodes)
        old = d.presentation.get("positions", {})
        ops = tuple(MoveNode(n, tuple(pos[n])) for n in d.graph.nodes
                    if n in chosen and list(pos[n]) != list(old.get(n, [])))
        if ops:
            self.editor.edit(Batch(ops), "Tidy")
            self.canvas.fit()

    def new_diagram(self) -> None:
        if self.win.confirm_discard():
            self.editor.load(None)

    def ask_statistic(self) -> None:
        names = list(STATISTICS)
        name, ok = QInputDialog.getItem(self.win, "New diagram from a statistic", "Statistic:", names, 0, False)
        if ok and name:
            self.new_from_statistic(name)

    def new_from_statistic(self, name: str) -> None:
        """An empty document with the statistic's external legs placed (one undo step)."""
        if not self.win.confirm_discard():
            return
        self.editor.load(None)
        self.editor.edit(compose.from_statistic(name), f"Legs of {name}")
        self.canvas.fit()

    # -- recovery ------------------------------------------------------------------
    def offer_recovery(self) -> None:
        """After a crash: offer the newest autosave left by a process that is gone (non-blocking)."""
        for path in autosave.orphans():
            try:
                d, saved = autosave.read(path)
            except (ValueError, OSError) as exc:
                self.win.say(f"Autosave {path.name} not restored: {exc}")
                continue
            box = QMessageBox(QMessageBox.Icon.Question, "fntk: restore drawing?",
                              f"fntk did not close properly last time. Restore the diagram autosaved at {saved}?",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard, self.win)
            box.button(QMessageBox.StandardButton.Yes).setText("Restore")
            box.finished.connect(lambda r, d=d, path=path: self._recovered(r, d, path))
            self.recovery_box = box
            box.open()
            return

    def _recovered(self, result, d, path) -> None:
        if result == QMessageBox.StandardButton.Yes:
            self.editor.load(d)
            self.editor.stack.resetClean()  # restored work is unsaved work
            self.autosave.save_now()
            self.canvas.fit()
            self.win.say("Restored the autosaved diagram; save it to keep it")
        path.unlink(missing_ok=True)
        self.recovery_box = None
