"""The main window: wires the panels together, files, menus, shortcuts. No domain logic.

Docks: Library and Palette (left), the drawing canvas (centre), Recursion, Checks,
Network, Properties and History (right), Results and Validation (bottom).  Drawing by hand
is wired in ``drawing_ui``. The document is a ``fntk_core.session.Session`` value built
from the panels and applied back to them.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QWidget,
)

from fntk_core.diagrams import load_diagrams
from fntk_core.errors import FntkError
from fntk_core.files import atomic_write_text
from fntk_core.results import Result
from fntk_core.session import Session, document_kind

from . import qtfix, settings
from .drawing_canvas import DrawingCanvas
from .drawing_ui import DrawingController
from .editor import DocumentEditor
from .library_panel import LibraryPanel
from .network_panel import NetworkPanel
from .palette_panel import PalettePanel
from .properties_panel import PropertiesPanel
from .recursion_panel import RecursionPanel
from .results_panel import ResultsPanel
from .validation_panel import ValidationPanel

PANELS = ("library", "canvas", "recursion", "network", "results", "validation")
FILE_FILTER = ("fntk files (*.json *.tex);;Sessions (*.fntk-session.json *.json);;"
               "Diagrams (*.json *.tex);;Results (*.json);;All files (*)")


class MainWindow(QMainWindow):
    def __init__(self, parent=None):
        super().__init__(parent)
        qtfix.ensure()
        qtfix.collect_on_gui_thread()
        self.freeze_timer = qtfix.freeze_when_started(self)
        self.setWindowTitle("fntk")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.session_path: str | None = None
        self.persist = True           # save the layout on close (not for --screenshot)
        self.file_diagrams: list = []
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None

        self.editor = DocumentEditor(self)
        self.canvas = DrawingCanvas(self.editor)
        self.setCentralWidget(self.canvas)
        self.library = LibraryPanel()
        self.recursion = RecursionPanel()
        self.network = NetworkPanel()
        self.results = ResultsPanel()
        self.palette = PalettePanel()
        self.properties = PropertiesPanel(self.editor)
        self.validation = ValidationPanel()
        self.docks: dict[str, QDockWidget] = {}
        self._dock("library", "&Library", self.library, Qt.LeftDockWidgetArea)
        self._dock("palette", "&Palette", self._scrolled(self.palette), Qt.LeftDockWidgetArea)
        self._dock("recursion", "&Recursion", self.recursion, Qt.RightDockWidgetArea)
        self._dock("network", "&Network", self._scrolled(self.network), Qt.RightDockWidgetArea)
        self._dock("properties", "Pr&operties", self.properties, Qt.RightDockWidgetArea)
        self._dock("results", "Re&sults", self.results, Qt.BottomDockWidgetArea)
        self._dock("validation", "&Validation", self._scrolled(self.validation), Qt.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["library"], self.docks["palette"])
        self.tabifyDockWidget(self.docks["network"], self.docks["properties"])
        self.tabifyDockWidget(self.docks["results"], self.docks["validation"])
        for name in ("library", "network", "results"):
            self.docks[name].raise_()
        self.resizeDocks([self.docks["library"], self.docks["network"]], [280, 470], Qt.Horizontal)
        self.resizeDocks([self.docks["results"]], [300], Qt.Vertical)
        self.resizeDocks([self.docks["recursion"], self.docks["network"]], [300, 420], Qt.Vertical)

        self.progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.progress.setToolTip("Progress of the running solve (layers done)")
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)

        self.library.diagramChosen.connect(self.show_diagram)
        self.library.statisticChosen.connect(self.recursion.show_statistic)
        self.recursion.termClicked.connect(self.show_diagram)
        self.network.changed.connect(self.results.set_network)
        self.network.changed.connect(self.validation.set_network)
        self.validation.message.connect(self.say)
        self.network.message.connect(self.say)
        self.results.message.connect(self.say)
        self.results.progress.connect(self._progress)
        self._menus()
        self.drawing = DrawingController(self)
        self.results.set_network(self.network.state())
        self.validation.set_network(self.network.state())

    # -- building ------------------------------------------------------------
    def _dock(self, name, title, widget, area):
        d = QDockWidget(title.replace("&", ""), self)
        d.setObjectName(f"dock_{name}")
        d.setWidget(widget)
        d.setToolTip(widget.toolTip() or title.replace("&", ""))
        self.addDockWidget(area, d)
        self.docks[name] = d
        return d

    @staticmethod
    def _scrolled(panel: QWidget) -> QScrollArea:
        """A tall form scrolls instead of forcing a minimum window height."""
        area = QScrollArea()
        area.setWidget(panel)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.NoFrame)
        area.setToolTip(panel.toolTip())
        return area

    def _action(self, menu, text, slot, shortcut=None, tip=""):
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.setToolTip(tip or text.replace("&", "").rstrip("…"))
        a.setStatusTip(a.toolTip())
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _menus(self):
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open…", lambda: self.open_dialog(), QKeySequence.Open,
                     "Open a diagram (JSON or TikZ export), a session or a result")
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        self._action(m, "&Save Session", lambda: self.save_session(self.session_path), QKeySequence.Save,
                     "Save diagram, network settings and results as an fntk-session file")
        self._action(m, "Save Session &As…", lambda: self.save_session(None), QKeySequence.SaveAs)
        self._action(m, "Save &Diagram As…", lambda: self.save_diagram(None), "Ctrl+Shift+D",
                     "Save the diagram on the canvas as fntk-diagram JSON")
        self._action(m, "Save Res&ult As…", lambda: self.results.save_result(), "Ctrl+Shift+R",
                     "Save the shown result as fntk-result JSON")
        self._action(m, "Export &Picture…", lambda: self.export_picture(None), "Ctrl+Shift+E",
                     "Export the diagram on the canvas as PNG, SVG or PDF")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        v = self.menuBar().addMenu("&View")
        for i, name in enumerate(PANELS, start=1):
            self._action(v, f"Go to {name.title()}", lambda _=False, n=name: self.focus_panel(n), f"Ctrl+{i}",
                         f"Show the {name} panel and move the keyboard focus there")
        v.addSeparator()
        self._action(v, "&Fit Diagram", self.canvas.fit, "Ctrl+0")
        self._action(v, "Zoom &In", self.canvas.zoom_in, QKeySequence.ZoomIn)
        self._action(v, "Zoom &Out", self.canvas.zoom_out, QKeySequence.ZoomOut)
        v.addSeparator()
        for d in self.docks.values():
            a = d.toggleViewAction()
            a.setToolTip(f"Show or hide the {d.windowTitle()} panel")
            v.addAction(a)
        self.help_menu = self.menuBar().addMenu("&Help")

    def _fill_recent(self):
        self.recent_menu.clear()
        files = settings.recent_files()
        for p in files:
            self._action(self.recent_menu, p, lambda _=False, p=p: self.open_path(p))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- panels --------------------------------------------------------------
    def focus_panel(self, name: str) -> None:
        if name not in PANELS and name not in self.docks:
            raise ValueError(f"unknown panel {name!r}; one of {', '.join(PANELS + tuple(self.docks))}")
        if name == "canvas":
            self.canvas.setFocus(Qt.ShortcutFocusReason)
            return
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        w = dock.widget()
        target = w.focusWidget() or next((c for c in w.findChildren(QWidget) if c.focusPolicy() & Qt.TabFocus), w)
        target.setFocus(Qt.ShortcutFocusReason)

    def emphasize(self, name: str) -> None:
        """Give one panel a generous share of the window (screenshots of that panel)."""
        d = self.docks
        sizes = {"library": ([d["library"]], [420], Qt.Horizontal),
                 "recursion": ([d["recursion"], d["network"]], [520, 200], Qt.Vertical),
                 "network": ([d["recursion"], d["network"], d["results"]], [150, 760, 250], Qt.Vertical),
                 "results": ([d["results"]], [520], Qt.Vertical),
                 "validation": ([d["validation"]], [560], Qt.Vertical)}
        if name in sizes:
            self.resizeDocks(*sizes[name])
        shown = self.recursion.statistic()
        item = self.library.tensor_item(shown) if name == "library" and shown else None
        if item is not None:
            item.setExpanded(True)

    def say(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _progress(self, p):
        if p is None:
            self.progress.hide()
            return
        self.progress.setRange(0, p.total)
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{p.stage} %v/%m")
        self.progress.show()

    def show_diagram(self, entry_id, d) -> None:
        """A library, file or session diagram becomes the document (the undo history starts afresh)."""
        if not self.confirm_discard():
            return
        self.editor.load(d, entry_id)
        self.canvas.fit()
        self.drawing.check()
        self.validation.select_statistic(self.recursion.statistic())   # check the drawn diagram's statistic

    # -- the document ----------------------------------------------------------
    def session(self) -> Session:
        return Session(diagram=self.canvas.diagram(), network=self.network.settings(),
                       tensors=self.results.tensors(), width=self.results.width_spin.value(),
                       result=self.results.result())

    def apply_session(self, s: Session) -> None:
        self.network.set_settings(s.network)
        self.results.set_tensors(s.tensors)
        self.results.width_spin.setValue(s.width)
        self.show_diagram(None, s.diagram)
        if s.result is not None:
            self.results.show_result(s.result, "session")

    # -- files ---------------------------------------------------------------
    def error(self, text: str) -> None:
        """One non-blocking message naming the problem (never a stack of dialogs)."""
        self.last_error = text
        self.say(text)
        if self._error_box is not None:
            self._error_box.close()
        self._error_box = QMessageBox(QMessageBox.Warning, "fntk", text, QMessageBox.Ok, self)
        self._error_box.open()

    def open_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open", settings.last_folder("open"), FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path) -> bool:
        """Open a session, result or diagram file; on any problem the current work stays."""
        path = str(path)
        try:
            kind = document_kind(path)
            if kind == "session":
                s = Session.load(path)
                self.apply_session(s)
                self.session_path = path
            elif kind == "result":
                self.results.show_result(Result.load(path), Path(path).name)
                self.focus_panel("results")
            else:
                diagrams = load_diagrams(path)
                if not diagrams:
                    raise FntkError("no diagrams in this file")
                self.file_diagrams = diagrams
                self.library.show_diagrams(diagrams, Path(path).name)
                self.show_diagram(f"{Path(path).name}#1", diagrams[0])
                if len(diagrams) > 1:
                    self.say(f"{len(diagrams)} diagrams in {Path(path).name}: listed at the top of the Library")
        except (FntkError, ValueError, OSError) as exc:
            self.error(f"Could not open {Path(path).name}: {exc}")
            return False
        settings.add_recent(path)
        settings.set_last_folder("open", path)
        self.setWindowTitle(f"fntk — {Path(path).name}")
        return True

    def _save_path(self, path, title, kind, flt):
        if path:
            return path
        path, _ = QFileDialog.getSaveFileName(self, title, settings.last_folder(kind), flt)
        return path or None

    def save_session(self, path=None) -> bool:
        path = self._save_path(path, "Save session", "session", "fntk session (*.fntk-session.json)")
        if not path:
            return False
        try:
            self.session().save(path)
        except (FntkError, OSError, ValueError) as exc:
            self.error(f"Could not save the session: {exc}")
            return False
        self.session_path = path
        settings.add_recent(path)
        settings.set_last_folder("session", path)
        self.say(f"Saved the session to {path}")
        return True

    def save_diagram(self, path=None) -> bool:
        d = self.canvas.diagram()
        if d is None:
            self.say("No diagram on the canvas to save")
            return False
        path = self._save_path(path, "Save diagram", "diagram", "fntk diagram (*.json)")
        if not path:
            return False
        from fntk_core.diagrams.io import dumps

        try:
            atomic_write_text(path, dumps(d) + "\n")
        except (FntkError, OSError) as exc:
            self.error(f"Could not save the diagram: {exc}")
            return False
        settings.set_last_folder("diagram", path)
        self.editor.stack.setClean()
        self.say(f"Saved the diagram to {path}")
        return True

    def export_picture(self, path=None) -> bool:
        if self.canvas.diagram() is None:
            self.say("No diagram on the canvas to export")
            return False
        path = self._save_path(path, "Export picture", "picture", "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if not path:
            return False
        try:
            self.canvas.export_image(path)
        except (FntkError, OSError, ValueError) as exc:
            self.error(f"Could not export the picture: {exc}")
            return False
        settings.set_last_folder("picture", path)
        self.say(f"Exported the diagram to {path}")
        return True

    # -- drag and drop -----------------------------------------------------------
    def dragEnterEvent(self, event):
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        for u in event.mimeData().urls():
            if u.isLocalFile():
                self.open_path(u.toLocalFile())
        event.acceptProposedAction()

    def confirm_discard(self) -> bool:
        """True when the drawing may be dropped: nothing unsaved, or the user says so (Save/Discard/Cancel)."""
        if self.editor.stack.isClean() or self.editor.is_empty() or not self.persist:
            return True
        answer = QMessageBox.question(
            self, "fntk", "The diagram has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_diagram(None)
        return answer == QMessageBox.StandardButton.Discard

    def closeEvent(self, event):
        if not self.confirm_discard():
            event.ignore()
            return
        self.drawing.autosave.discard()
        self.results.runner.cancel()
        self.validation.shutdown()
        if self.persist:
            settings.save_window(self)
        qtfix.unfreeze(self.freeze_timer)   # this window's objects may be garbage now
        super().closeEvent(event)
