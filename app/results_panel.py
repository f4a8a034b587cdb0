"""Results panel: the chosen statistics solved off the GUI thread, plotted per layer.

Settings changes restart a debounced solve (``iter_solve`` on the panel's Runner, cancelled
when superseded). The plot shows one component of one tensor per layer: the solver's
value (the infinite-width value for K, Θ; the 1/n coefficient for first-order tensors), the
first-order prediction K + K¹/n at the chosen width, and error bars for sampled results.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fntk_core.errors import FntkError
from fntk_core.jobs import Progress
from fntk_core.results import Result
from fntk_core.solver import finite_width_prediction, iter_solve
from fntk_core.spec import NetworkSpec
from fntk_core.tensors import TENSORS

from . import qtfix, settings
from .runner import Runner
from .plot_palette import apply_palette

DEBOUNCE_MS = 250


def solve_task(spec, inputs, tensors):
    """The runner task: iter_solve, reporting each finished layer as Progress (with the result
    so far) and, inside a long layer (many inputs), how far its expectations are."""
    def task(cancel, report):
        def within(p):
            if p.stage != "solve":   # the core's end-of-layer reports: the loop below sends them, with the result
                report(p)

        last = None
        for last in iter_solve(spec, inputs, tensors, cancel=cancel, progress=within):
            report(Progress(len(last.layers), spec.depth, "solve", last))
        return last
    return task


class ResultsPanel(QWidget):
    """``set_network((spec, inputs, errors))`` schedules a solve; ``result()`` is what is shown."""

    message = Signal(str)
    progress = Signal(object)     # Progress, or None when idle
    resultChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        qtfix.ensure()
        self._spec: NetworkSpec | None = None
        self._inputs = None
        self._result: Result | None = None
        self._source = ""
        self.runner = Runner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.solve_now)

        self.tensor_list = QListWidget()
        self.tensor_list.setToolTip("The statistics to solve; tick to add, untick to drop")
        self.tensor_list.setMinimumWidth(120)
        for name, info in TENSORS.items():
            if not getattr(info, "solver", True):
                continue
            it = QListWidgetItem(f"{name}  {info.title}" if info.title != name else name)
            it.setData(Qt.UserRole, name)
            it.setToolTip(info.description)
            it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
            it.setCheckState(Qt.Unchecked)
            self.tensor_list.addItem(it)
        self.tensor_list.itemChanged.connect(lambda *_: self.schedule())

        self.plot_tensor = QComboBox()
        self.plot_tensor.setToolTip("The tensor to plot")
        self.plot_tensor.currentTextChanged.connect(self._tensor_picked)
        self.index_box = QHBoxLayout()
        self.index_spins: list[QSpinBox] = []
        self.width_spin = QSpinBox(minimum=1, maximum=10**7, value=100)
        self.width_spin.setToolTip("Hidden width n for the first-order prediction K + K¹/n "
                                   "(ignored where the network sets hidden widths)")
        self.width_spin.valueChanged.connect(self.redraw)

        self.plot = pg.PlotWidget()
        self.plot.setToolTip("Per layer: the solver's value, the first-order prediction at width n, "
                             "and ±1 standard error for sampled results")
        self.plot.setLabel("bottom", "layer l")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.plot.addLegend(offset=(10, 10))
        colours = ("#1f77b4", "#d62728")   # the value, the first-order prediction
        self._curve_items = [self.plot.plot([], [], pen=pg.mkPen(c, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=c) for c in colours]
        self._labels = [""] * len(self._curve_items)
        self._error_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.2,
                                           pen=pg.mkPen(colours[0]))
        self._error_bars.setVisible(False)
        self.plot.addItem(self._error_bars)
        self.table = QTableWidget(0, 0)
        self.table.setToolTip("The plotted numbers; Ctrl+C copies the selection (all if none) as tab-separated text")
        QShortcut(QKeySequence.Copy, self.table, context=Qt.WidgetWithChildrenShortcut).activated.connect(self.copy_table)
        self.tabs = QTabWidget()
        self.tabs.setToolTip("The chosen component as a plot or a table (Ctrl+Tab switches)")
        self.tabs.addTab(self.plot, "&Plot")
        self.tabs.addTab(self.table, "&Table")

        top = QHBoxLayout()
        top.addWidget(QLabel("Tensor"))
        top.addWidget(self.plot_tensor)
        top.addLayout(self.index_box)
        top.addStretch(1)
        top.addWidget(QLabel("width n"))
        top.addWidget(self.width_spin)
        for text, tip, slot in (("Copy", "Copy the table as tab-separated text", self.copy_table),
                                ("Save…", "Save the result as fntk-result JSON", self.save_result),
                                ("Open…", "Open a result saved by fntk solve or fntk sample", self.open_result)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            top.addWidget(b)
        self.status = QLabel("No result yet")
        self.status.setToolTip("Where the shown numbers come from")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(top)
        rl.addWidget(self.tabs, 1)
        rl.addWidget(self.status)
        split = QSplitter()
        split.addWidget(self.tensor_list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)
        self.set_tensors(("K", "Theta", "K1", "Theta1"))
        self._apply_palette()

    # -- the system's light or dark palette -------------------------------------
    def _apply_palette(self):
        apply_palette(self.plot, self.legend, self.palette())
        self.redraw()

    def changeEvent(self, event):
        if event.type() == event.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    # -- what to solve -------------------------------------------------------
    def tensors(self) -> tuple[str, ...]:
        items = (self.tensor_list.item(i) for i in range(self.tensor_list.count()))
        return tuple(it.data(Qt.UserRole) for it in items if it.checkState() == Qt.Checked)

    def set_tensors(self, names) -> None:
        self.tensor_list.blockSignals(True)
        for i in range(self.tensor_list.count()):
            it = self.tensor_list.item(i)
            it.setCheckState(Qt.Checked if it.data(Qt.UserRole) in names else Qt.Unchecked)
        self.tensor_list.blockSignals(False)
        self.schedule()

    def set_network(self, state) -> None:
        spec, inputs, errors = state
        self._spec, self._inputs = (spec, inputs) if not errors else (None, None)
        if errors:
            self.runner.cancel()
            self._timer.stop()
            self.progress.emit(None)
            self.status.setText("Fix the marked fields in the Network panel to solve")
            return
        self.schedule()

    def schedule(self) -> None:
        if self._spec is not None:
            self._timer.start()

    def solve_now(self) -> None:
        self._timer.stop()
        names = self.tensors()
        if self._spec is None or not names:
            return
        self.status.setText("Solving…")
        self.runner.start(solve_task(self._spec, self._inputs, names))

    def wait(self, timeout_ms: int = 120_000) -> bool:
        """Finish any pending solve now (for --screenshot and tests)."""
        if self._timer.isActive():
            self.solve_now()
        return self.runner.wait(timeout_ms)

    def _on_progress(self, p):
        self.progress.emit(p)
        if p.partial is not None and p.done < p.total:
            self._show(p.partial, "partial")

    def _on_finished(self, result):
        self.progress.emit(None)
        if result is None:
            return
        self._show(result, "cancelled" if result.meta.get("cancelled") else "solved")

    def _on_failed(self, exc):
        self.progress.emit(None)
        self.status.setText(f"Solve failed: {exc}")
        self.message.emit(f"Solve failed: {exc}")

    # -- showing a result ----------------------------------------------------
    def result(self) -> Result | None:
        return self._result

    def show_result(self, result: Result, source: str) -> None:
        """Show a result from a file or a session (the next settings change re-solves)."""
        self.runner.cancel()
        self._timer.stop()
        self._show(result, source)

    def _show(self, result: Result, source: str):
        self._result, self._source = result, source
        names = [n for n in result.tensors]
        current = self.plot_tensor.currentText()
        self.plot_tensor.blockSignals(True)
        self.plot_tensor.clear()
        self.plot_tensor.addItems(names)
        self.plot_tensor.setCurrentText(current if current in names else names[0] if names else "")
        self.plot_tensor.blockSignals(False)
        self._tensor_picked(self.plot_tensor.currentText())
        meta = result.meta
        kind = meta.get("source", "?")
        extra = f", {meta.get('networks_used') or meta.get('networks')} networks" if kind == "sampler" else ""
        self.status.setText(f"{source}: {kind}{extra}, layers 1..{result.layers[-1] if result.layers else 0}")
        if source in ("solved", "cancelled"):
            self.resultChanged.emit(result)

    def _tensor_picked(self, name: str):
        for sp in self.index_spins:
            self.index_box.removeWidget(sp)
            sp.deleteLater()
        self.index_spins = []
        if self._result is None or name not in self._result.tensors:
            self.redraw()
            return
        arr = self._result.tensors[name]
        axes = getattr(TENSORS.get(name), "axes", ()) or ()
        for i, size in enumerate(arr.shape[1:]):
            sp = QSpinBox(minimum=1, maximum=size)
            meaning = axes[i] if i < len(axes) else f"sample index {i + 1}"
            sp.setPrefix(f"α{i + 1}=")
            sp.setToolTip(f"{meaning} (inputs 1..{size})")
            sp.setValue(min(i % 2 + 1, size))
            sp.valueChanged.connect(self.redraw)
            self.index_box.addWidget(sp)
            self.index_spins.append(sp)
        self.redraw()

    def component(self) -> tuple[int, ...]:
        return tuple(sp.value() - 1 for sp in self.index_spins)

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """{label: (layers, values, stderr or None)} for the chosen tensor and component."""
        r, name = self._result, self.plot_tensor.currentText()
        if r is None or name not in r.tensors:
            return {}
        idx = (slice(None),) + self.component()
        layers = np.asarray(r.layers, dtype=float)
        err = r.stderr[name][idx] if r.stderr and name in r.stderr else None
        is_first = getattr(TENSORS.get(name), "order", 0) == 1
        sampled = r.meta.get("source") == "sampler"
        label = "sampled" if sampled else (f"{name} (1/n coefficient)" if is_first else f"{name} (infinite width)")
        out = {label: (layers, r.tensors[name][idx], err)}
        spec = self._prediction_spec()
        if not sampled and spec is not None:
            width = None if spec.widths is not None else self.width_spin.value()
            # the core knows which tensors have a first-order prediction (K, Θ with K¹, Θ¹ solved)
            pred = finite_width_prediction(r, spec, width).get(name)
            if pred is not None:
                out[f"{name} + {name}¹/n (n = {width or 'network widths'})"] = (layers, pred[idx], None)
        return out

    def _prediction_spec(self):
        meta_net = self._result.meta.get("network") if self._result is not None else None
        if isinstance(meta_net, dict):
            try:
                return NetworkSpec.from_dict(meta_net)
            except (ValueError, KeyError, TypeError):
                return None
        return self._spec

    def redraw(self, *_):
        # The plot items are made once and updated with setData: removing items from a
        # pyqtgraph plot goes through GraphicsObject.itemChange, where PySide6 6.12 loses
        # a reference per call (see fntk_app.__init__), and redraws should be cheap anyway.
        curves = list(self.curves().items())
        for i, item in enumerate(self._curve_items):
            label, (x, y, _) = curves[i] if i < len(curves) else ("", (np.zeros(0), np.zeros(0), None))
            item.setData(x, y)
            item.setVisible(i < len(curves))
            if label != self._labels[i]:
                if self._labels[i]:
                    self.legend.removeItem(item)
                if label:
                    self.legend.addItem(item, label)
                self._labels[i] = label
        err = curves[0][1] if curves and curves[0][1][2] is not None else None
        if err is not None:
            self._error_bars.setData(x=err[0], y=err[1], height=2 * err[2])
        self._error_bars.setVisible(err is not None)
        name = self.plot_tensor.currentText()
        comp = ",".join(str(i + 1) for i in self.component())
        self.plot.setTitle(f"{name}[{comp}] per layer" if name else "")
        self._fill_table(dict(curves))

    def _fill_table(self, curves):
        cols = []
        for label, (_, y, err) in curves.items():
            cols.append((label, y))
            if err is not None:
                cols.append(("stderr", err))
        layers = next(iter(curves.values()))[0] if curves else []
        self.table.clear()
        self.table.setRowCount(len(layers))
        self.table.setColumnCount(1 + len(cols))
        self.table.setHorizontalHeaderLabels(["layer"] + [c[0] for c in cols])
        for r, layer in enumerate(layers):
            self.table.setItem(r, 0, QTableWidgetItem(str(int(layer))))
            for c, (_, y) in enumerate(cols, start=1):
                self.table.setItem(r, c, QTableWidgetItem(repr(float(y[r]))))
        self.table.resizeColumnsToContents()

    def table_text(self) -> str:
        rows = range(self.table.rowCount())
        cols = range(self.table.columnCount())
        sel = self.table.selectedIndexes()
        if sel:
            rows = sorted({i.row() for i in sel})
            cols = sorted({i.column() for i in sel})
        head = "\t".join(self.table.horizontalHeaderItem(c).text() for c in cols)
        body = ["\t".join(self.table.item(r, c).text() if self.table.item(r, c) else "" for c in cols) for r in rows]
        return "\n".join([head, *body]) + "\n"

    def copy_table(self):
        QGuiApplication.clipboard().setText(self.table_text())
        self.message.emit("Copied the table")

    # -- files ---------------------------------------------------------------
    def save_result(self, path: str | None = None):
        if self._result is None:
            self.message.emit("No result to save yet")
            return
        path = path or QFileDialog.getSaveFileName(self, "Save result", settings.last_folder("result"),
                                                   "fntk result (*.json)")[0]
        if not path:
            return
        try:
            self._result.save(path)
        except (OSError, FntkError, ValueError) as exc:
            self.message.emit(f"Could not save the result: {exc}")
            return
        settings.set_last_folder("result", path)
        self.message.emit(f"Saved the result to {path}")

    def open_result(self, path: str | None = None) -> bool:
        path = path or QFileDialog.getOpenFileName(self, "Open result", settings.last_folder("result"),
                                                   "fntk result (*.json);;All files (*)")[0]
        if not path:
            return False
        try:
            result = Result.load(path)
        except (OSError, ValueError, FntkError) as exc:
            self.message.emit(f"Could not open {path}: {exc}")
            return False
        settings.set_last_folder("result", path)
        self.show_result(result, Path(path).name)
        return True

