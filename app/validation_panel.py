"""Validation panel: sampled finite-width networks against the recursions' predictions, live.

A run solves the predictions and samples the network of the Network panel at one width
(per-layer view) or at several (width views) in a child process (``sampling_worker``):
neither TensorFlow (its import held the GIL for seconds when it ran in a worker thread)
nor the solver run in the window's process. The child steps a ``SamplingSession`` and
streams snapshots, which a QProcess reads on the GUI thread into a buffer; a QTimer
(20 Hz) redraws from it. The curves themselves come from ``fntk_core.validation``.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEventLoop, QObject, QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fntk_core import validation as val
from fntk_core.errors import FntkError
from fntk_core.files import atomic_write_text
from fntk_core.jobs import Progress
from fntk_core.results import Result
from fntk_core.session import document_kind
from fntk_core.spec import NetworkSpec
from fntk_core.studies.base import parse_int_list
from fntk_core.tensors import SAMPLER_TENSORS, TENSORS

from . import qtfix, sampling_worker, settings
from .plot_palette import apply_palette

REDRAW_MS = 50          # at most 20 redraws a second
COLOURS = {"sampled": "#1f77b4", "infinite": "#7f7f7f", "first-order": "#d62728", "coefficient": "#d62728"}


class RunBuffer:
    """What one run has so far: filled as the child's messages arrive, drawn by the panel's timer."""

    def __init__(self, widths):
        self.lock = threading.Lock()
        self.widths = list(widths)
        self.theory: Result | None = None
        self.sampled: dict[int, Result] = {}
        self.device: str | None = None
        self.version = 0

    def put(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "sampled":
                    self.sampled[v[0]] = v[1]
                else:
                    setattr(self, k, v)
            self.version += 1

    def view(self):
        with self.lock:
            return self.theory, dict(self.sampled), self.device, self.version


class SamplingProcess(QObject):
    """One run: the child process ``sampling_worker`` solves the predictions and samples, streaming
    them into ``buf``. Its output is read on the GUI thread (a QSocketNotifier on the pipe), so no
    Python thread of this process competes with the event loop for the GIL (a reader thread
    stalled it 100-350 ms on a loaded machine); subprocess starts it with vfork (QProcess's fork
    of this large process took about 100 ms)."""

    progress = Signal(object)   # fntk_core.jobs.Progress
    finished = Signal()
    failed = Signal(str)

    def __init__(self, job: dict, buf: RunBuffer, parent=None):
        super().__init__(parent)
        self.buf, self.error, self.ended, self._rest = buf, None, False, b""
        try:
            self.popen = subprocess.Popen(sampling_worker.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise FntkError(f"could not start the sampling process: {exc}") from None
        self._fd = self.popen.stdout.fileno()
        os.set_blocking(self._fd, False)
        self.notifier = QSocketNotifier(self._fd, QSocketNotifier.Read, self)
        self.notifier.activated.connect(self._read)
        self._send(json.dumps(job) + "\n")

    def _send(self, text: str) -> None:
        try:
            self.popen.stdin.write(text.encode())
            self.popen.stdin.flush()
        except (OSError, ValueError):  # it ended meanwhile
            pass

    def running(self) -> bool:
        return self.popen.poll() is None

    def cancel(self) -> None:
        """The child stops after its chunk and sends what it has (then ``finished``)."""
        if self.running():
            self._send("cancel\n")

    def abandon(self) -> None:
        """Superseded: nobody listens any more; the child sees its input close and stops."""
        self.notifier.setEnabled(False)
        for sig in (self.progress, self.finished, self.failed):
            try:
                sig.disconnect()
            except (RuntimeError, TypeError):
                pass
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        self.popen.stdout.close()
        threading.Thread(target=self.popen.wait, daemon=True).start()   # reap it without blocking

    def _read(self, *_):
        chunks, eof = [], False
        while True:
            try:
                data = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                eof = True
                break
            chunks.append(data)
        *lines, self._rest = (self._rest + b"".join(chunks)).split(b"\n")
        for line in lines:
            self._handle(json.loads(line))
        if eof:
            self.notifier.setEnabled(False)
            code = self.popen.wait()
            self.popen.stdout.close()
            if self.error or not self.ended:
                self.failed.emit(self.error or f"the sampling process ended unexpectedly (exit status {code})")
            else:
                self.finished.emit()
            self.deleteLater()

    def _handle(self, msg: dict) -> None:
        if "progress" in msg:
            self.progress.emit(Progress(*msg["progress"]))
        elif "result" in msg:
            self.buf.put(sampled=(int(msg["width"]), Result.from_json_dict(msg["result"])))
        elif "theory" in msg:
            self.buf.put(theory=Result.from_json_dict(msg["theory"]))
        elif "device" in msg:
            self.buf.put(device=msg["device"])
        elif "error" in msg:
            self.error = msg["error"]
        self.ended = self.ended or msg.get("end", False)


class ValidationPanel(QWidget):
    """``set_network((spec, inputs, errors))``; ``run()``, ``cancel()``; ``curves()`` is what is plotted."""

    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        qtfix.ensure()
        self.setToolTip("Sampled finite-width networks against the recursions' predictions")
        self._spec: NetworkSpec | None = None
        self._inputs = None
        self._buf: RunBuffer | None = None
        self._seen = -1
        self._source = ""
        self._t0 = None
        self._cancelled = False
        self.proc: SamplingProcess | None = None
        self._progress = None
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self._refresh)

        self.statistic = QComboBox()
        for name in SAMPLER_TENSORS:
            self.statistic.addItem(f"{name}  {TENSORS[name].title}", name)
            self.statistic.setItemData(self.statistic.count() - 1, TENSORS[name].description, Qt.ToolTipRole)
        self.statistic.setToolTip("The statistic to check (the diagram on the canvas selects its own)")
        self.statistic.currentIndexChanged.connect(self._statistic_changed)
        self.view = QComboBox()
        for v in val.VIEWS:
            self.view.addItem(val.VIEW_TITLES[v], v)
        self.view.setToolTip("Per layer at width n; across the widths at one layer; or n·(sampled − infinite "
                             "width), whose flat line at large n is the first-order coefficient (K, Θ)")
        self.view.setCurrentIndex(val.VIEWS.index("widths"))   # where finite width shows: n small to large
        self.view.currentIndexChanged.connect(self._redraw)
        self.index_box = QHBoxLayout()
        self.index_spins: list[QSpinBox] = []
        self.axes_label = QLabel()
        self.axes_label.setWordWrap(True)
        self.axes_label.setToolTip("What each index of the component means")
        self.layer_spin = QSpinBox(minimum=1, maximum=1, prefix="layer ")
        self.layer_spin.setToolTip("The layer the width views show")
        self.layer_spin.valueChanged.connect(self._redraw)

        self.width_spin = QSpinBox(minimum=1, maximum=100000, value=32, prefix="n = ")
        self.width_spin.setToolTip("Hidden width of the per-layer run")
        self.widths_edit = QLineEdit("8,12,16,24,32,48,64")
        self.widths_edit.setToolTip("Hidden widths of the width views, comma-separated (ranges a:b:step allowed)")
        self.networks_spin = QSpinBox(minimum=1, maximum=10**8, value=1000, singleStep=500)
        self.networks_spin.setToolTip("Networks sampled per width")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0, prefix="seed ")
        self.seed_spin.setToolTip("Random seed: the same seed gives the same networks as fntk sample --seed")
        self.dtype = QComboBox()
        self.dtype.addItems(["float64", "float32"])
        self.dtype.setToolTip("Floating-point type of the sampled networks (float32 is faster on GPUs)")
        self.devices = QComboBox()
        self.devices.addItems(["1 device", "2 devices", "4 devices", "all devices"])
        self.devices.setToolTip("Spread each ensemble over local devices (tf.distribute): GPUs, or logical CPU "
                                "devices without GPUs; the same seed gives the same estimates on any number")
        self.run_button = QPushButton("&Run")
        self.run_button.setToolTip("Sample networks now (a running sampling is cancelled)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sampling; what was sampled stays plotted")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)

        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.plot.addLegend(offset=(-10, 10))   # top right
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)   # "(x0.001)" on the axis read as a wrong value
        self.items = {}
        for kind in ("infinite", "first-order", "sampled"):
            c = COLOURS[kind]
            if kind == "sampled":
                it = self.plot.plot([], [], pen=None, symbol="o", symbolSize=7, symbolBrush=c, symbolPen=c)
            else:
                style = Qt.DashLine if kind == "infinite" else Qt.SolidLine
                it = self.plot.plot([], [], pen=pg.mkPen(c, width=2, style=style))
            self.items[kind] = it
        self._labels = {k: "" for k in self.items}
        self._axis_texts = None
        self.error_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.0,
                                          pen=pg.mkPen(COLOURS["sampled"], width=1.5))
        self.plot.addItem(self.error_bars)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setMaximumWidth(260)
        self.note.setToolTip("What the sampler says about these estimates")
        self.note.hide()

        self.progress_bar = QProgressBar(textVisible=True)
        self.progress_bar.setToolTip("Networks sampled of the run's total")
        self.rate = QLabel("")
        self.rate.setToolTip("Networks per second and the time left")
        self.device = QLabel("Device: not known until sampling starts")
        self.device.setToolTip("Where TensorFlow samples (asked when a run starts, not at start-up)")
        self.status = QLabel("No samples yet: press Run")
        self.status.setToolTip("Where the plotted numbers come from")

        grid = QGridLayout()
        grid.addWidget(QLabel("Statistic"), 0, 0)
        grid.addWidget(self.statistic, 0, 1)
        row0 = QHBoxLayout()
        row0.addLayout(self.index_box)
        row0.addWidget(self.view)
        row0.addWidget(self.layer_spin)
        row0.addStretch(1)
        grid.addLayout(row0, 0, 2)
        grid.addWidget(QLabel("Sample"), 1, 0)
        row1 = QHBoxLayout()
        for w in (self.width_spin, QLabel("widths"), self.widths_edit, QLabel("networks"), self.networks_spin,
                  self.seed_spin, self.dtype, self.devices, self.run_button, self.cancel_button):
            row1.addWidget(w)
        grid.addLayout(row1, 1, 1, 1, 2)
        files = QHBoxLayout()
        for text, tip, slot in (("Figure…", "Export the plot as a publication figure (PNG, PDF, SVG)",
                                 self.export_figure),
                                ("Data…", "Export the plotted numbers (CSV) or the sampled result (fntk-result "
                                          "JSON)", self.export_data),
                                ("Open…", "Plot a result of fntk sample or a study of fntk study", self.open_path)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=slot: s())
            files.addWidget(b)
        files.addStretch(1)
        files.addWidget(self.device)
        middle = QHBoxLayout()
        middle.addWidget(self.plot, 1)
        middle.addWidget(self.note)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress_bar)
        bottom.addWidget(self.rate)
        bottom.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(grid)
        lay.addWidget(self.axes_label)
        lay.addLayout(middle, 1)
        lay.addLayout(files)
        lay.addLayout(bottom)
        self._statistic_changed()
        self._apply_palette()

    # -- palette ----------------------------------------------------------------
    def _apply_palette(self):
        apply_palette(self.plot, self.legend, self.palette())

    def changeEvent(self, event):
        if event.type() == event.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    # -- inputs -------------------------------------------------------------------
    def set_network(self, state) -> None:
        spec, inputs, errors = state
        self._spec, self._inputs = (spec, inputs) if not errors else (None, None)
        if spec is not None and not errors:
            self.layer_spin.setMaximum(spec.depth)
            if self._buf is None:
                self.layer_spin.setValue(spec.depth)
        self.run_button.setEnabled(self._spec is not None)

    def select_statistic(self, name: str | None) -> None:
        """Show ``name`` (the canvas diagram's statistic) if the sampler estimates it."""
        i = self.statistic.findData(name)
        if i >= 0:
            self.statistic.setCurrentIndex(i)

    def name(self) -> str:
        return self.statistic.currentData()

    def view_name(self) -> str:
        return self.view.currentData()

    def widths(self) -> list[int]:
        if self.view_name() == "layers":
            return [self.width_spin.value()]
        ws = parse_int_list(self.widths_edit.text())
        if not ws or min(ws) < 1:
            raise FntkError("widths: give positive hidden widths, e.g. 8,16,32,64")
        return sorted(set(ws))

    def _statistic_changed(self, *_):
        name = self.name()
        info = TENSORS[name]
        for sp in self.index_spins:
            self.index_box.removeWidget(sp)
            sp.deleteLater()
        self.index_spins = []
        n_inputs = len(self._inputs) if self._inputs is not None else 2
        for i, meaning in enumerate(info.axes):
            sp = QSpinBox(minimum=1, maximum=max(n_inputs, 1), prefix=f"{meaning.split(':')[0]}=")
            sp.setValue(1)   # the diagonal: the component with the clearest finite-width effect
            sp.setToolTip(meaning)
            sp.valueChanged.connect(self._redraw)
            self.index_box.addWidget(sp)
            self.index_spins.append(sp)
        self.axes_label.setText(f"<b>{info.title}</b> — {info.description} Indices: " + "; ".join(info.axes)
                                + f". Stored as {info.storage}.")
        self._redraw()

    def component(self) -> tuple[int, ...]:
        return tuple(sp.value() - 1 for sp in self.index_spins)

    # -- running ----------------------------------------------------------------
    def run(self) -> bool:
        """Start sampling (cancelling a running one); False with a message if it cannot start."""
        if self._spec is None:
            self._say("Fix the Network panel's settings to sample")
            return False
        try:
            widths = self.widths()
        except (FntkError, ValueError) as exc:
            self._say(str(exc))
            return False
        self.shutdown()
        name = self.name()
        self._buf = RunBuffer(widths)
        self._seen = -1
        self._source = "sampling"
        self._cancelled = False
        self._t0 = self._progress = None
        for sp in self.index_spins:
            sp.setMaximum(len(self._inputs))
        self.progress_bar.setRange(0, self.networks_spin.value() * len(widths))
        self.progress_bar.setValue(0)
        self.rate.setText("starting (TensorFlow loads on the first run)…")
        self.device.setText("Device: asking TensorFlow…")
        self.cancel_button.setEnabled(True)
        job = {"theory": val.theory_tensors(name), "network": self._spec.to_dict(),
               "inputs": np.asarray(self._inputs).tolist(), "widths": widths, "networks": self.networks_spin.value(),
               "seed": self.seed_spin.value(), "dtype": self.dtype.currentText(), "tensors": [name],
               "devices": self.devices.currentText().split()[0]}
        try:
            self.proc = SamplingProcess(job, self._buf, self)
        except FntkError as exc:
            self._say(str(exc))
            return False
        self.proc.progress.connect(self._on_progress)
        self.proc.finished.connect(self._on_finished)
        self.proc.failed.connect(self._on_failed)
        self.timer.start()
        return True

    def cancel(self) -> None:
        """Stop sampling; what the run has sampled stays (its last snapshot is plotted)."""
        if not self.busy():
            return
        self.proc.cancel()   # the child sends its estimates so far; _on_finished then shows them
        self._cancelled = True
        self.rate.setText("cancelling…")

    def busy(self) -> bool:
        return self.proc is not None

    def shutdown(self) -> None:
        """Drop the running sampling, if any (a new run, the window closing)."""
        if self.proc is not None:
            self.proc.abandon()
            self.proc = None
            self.timer.stop()

    def wait(self, timeout_ms: int = 120_000) -> bool:
        """Run the event loop until the run ends (for --screenshot and tests); False on timeout."""
        if self.proc is None:
            return True
        loop = QEventLoop()
        self.proc.finished.connect(loop.quit)
        self.proc.failed.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()  # ok-eval: the Qt event loop, not Python exec
        return self.proc is None

    def _on_progress(self, p: Progress):
        """Kept for the next timer tick: labels change at most 20 times a second."""
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = (now, p.done)     # rates from the first chunk on (TensorFlow's start-up excluded)
        self._progress = (now, p)

    def _show_progress(self):
        if self._progress is None:
            return
        now, p = self._progress
        self._progress = None
        self.progress_bar.setValue(p.done)
        t, d0 = self._t0
        if now > t and p.done > d0:
            rate = (p.done - d0) / (now - t)
            self.rate.setText(f"{rate:,.0f} networks/s, {_duration((p.total - p.done) / rate)} left ({p.stage})")

    def _on_finished(self):
        self.proc = None
        self._finish("cancelled" if self._cancelled else "sampled")

    def _on_failed(self, exc):
        self.proc = None
        self._finish(None)
        self._say(f"Sampling failed: {exc}")

    def _finish(self, source):
        self.timer.stop()
        self.cancel_button.setEnabled(False)
        self._refresh(force=True)
        if source:
            self._source = source
            self.rate.setText("cancelled: showing what was sampled" if source == "cancelled" else "done")
            self._update_texts()

    # -- results from files -------------------------------------------------------
    def open_path(self, path: str | None = None) -> bool:
        """Plot an fntk-result of ``fntk sample`` or the results.json of ``fntk study`` (points over width)."""
        path = path or QFileDialog.getOpenFileName(self, "Open sampled result or study", settings.last_folder("result"),
                                                   "fntk results (*.json);;All files (*)")[0]
        if not path:
            return False
        try:
            theory, sampled, view = self._load(path)
        except (OSError, ValueError, KeyError, FntkError) as exc:
            self._say(f"Could not open {Path(path).name}: {exc}")
            return False
        self.shutdown()
        self._finish(None)
        self._buf = RunBuffer(sorted(sampled))
        self._buf.put(theory=theory, device=next(iter(sampled.values())).meta.get("device"))
        for n, r in sampled.items():
            self._buf.put(sampled=(n, r))
        r0 = next(iter(sampled.values()))
        names = [n for n in r0.tensors if n in SAMPLER_TENSORS]
        if self.name() not in names and names:
            self.select_statistic(names[0])
        self.layer_spin.setMaximum(len(r0.layers))
        self.layer_spin.setValue(len(r0.layers))
        if view == "layers":
            self.width_spin.setValue(next(iter(sampled)))
        self.view.setCurrentIndex(val.VIEWS.index(view))
        self._source = Path(path).name
        self._refresh(force=True)
        settings.set_last_folder("result", path)
        return True

    def _load(self, path):
        if document_kind(path) == "result":
            r = Result.load(path)
            if r.meta.get("source") != "sampler":
                raise FntkError("not a sampled result (made by fntk solve); open it in the Results panel")
            spec = NetworkSpec.from_dict(r.meta["network"])
            names = [n for n in r.tensors if n in SAMPLER_TENSORS]
            from fntk_core.solver import solve

            want = sorted({t for n in names for t in val.theory_tensors(n)}, key=list(TENSORS).index)
            theory = solve(spec, np.asarray(r.meta["inputs"]), want)   # the solver ignores widths
            return theory, {spec.hidden_width(1) if spec.depth > 1 else spec.widths[0]: r}, "layers"
        from fntk_core.studies import load_results

        doc = load_results(path)
        points = [p for p in doc["points"] if "width" in p]
        if not points:
            raise FntkError(f"study {doc.get('study')!r} varies {', '.join(k for k in doc['points'][0] if k not in ('key', 'sampled', 'predicted'))}, "
                            "not the width; only width studies plot here")
        return points[0]["predicted"], {int(p["width"]): p["sampled"] for p in points}, "widths"

    # -- drawing ----------------------------------------------------------------
    def _refresh(self, force: bool = False):
        self._show_progress()
        if self._buf is None:
            return
        version = self._buf.view()[3]
        if version != self._seen or force:
            self._seen = version
            self._redraw()

    def curves(self) -> list[val.Curve]:
        """The plotted curves (the buffer's latest snapshot), from fntk_core.validation."""
        if self._buf is None:
            return []
        theory, sampled, device, _ = self._buf.view()
        name, idx, view = self.name(), self.component(), self.view_name()
        try:
            if view == "layers":
                n = self._buf.widths[0] if len(self._buf.widths) == 1 else self.width_spin.value()
                return val.per_layer(name, idx, theory, sampled.get(n), n)
            if view == "scaled" and not val.has_scaled_view(name):
                return []
            layer = min(self.layer_spin.value(), len(theory.layers) if theory else self.layer_spin.value())
            return val.across_widths(name, idx, layer, theory, sampled, scaled=view == "scaled")
        except (IndexError, KeyError, ValueError):   # a component or layer the run does not have
            return []

    def labels(self) -> tuple[str, str, str]:
        """(title, x label, y label) of the current plot."""
        name, view = self.name(), self.view_name()
        comp = ",".join(str(i + 1) for i in self.component())
        sym = f"{name}[{comp}]"
        if view == "layers":
            return f"{sym} per layer", "layer l", sym
        layer = self.layer_spin.value()
        if view == "scaled":
            return f"n·({sym} − infinite width) at layer {layer}", "hidden width n", f"n·Δ{sym}"
        return f"{sym} at layer {layer}", "hidden width n", sym

    def _redraw(self, *_):
        curves = {c.kind if c.kind != "coefficient" else "first-order": c for c in self.curves()}
        for kind, item in self.items.items():
            c = curves.get(kind)
            item.setData(*(c.x, c.y) if c is not None else (np.zeros(0), np.zeros(0)))
            item.setVisible(c is not None)
            label = c.label if c is not None else ""
            if label != self._labels[kind]:
                if self._labels[kind]:
                    self.legend.removeItem(item)
                if label:
                    self.legend.addItem(item, label)
                self._labels[kind] = label
        s = curves.get("sampled")
        if s is not None and s.err is not None:
            ok = np.isfinite(s.err)
            self.error_bars.setData(x=s.x[ok], y=s.y[ok], height=2 * s.err[ok])
            self.error_bars.setVisible(True)
        else:
            self.error_bars.setVisible(False)
        labels = self.labels()
        if labels != self._axis_texts:   # relayouts of the axes are the costly part of a redraw
            self._axis_texts = labels
            self.plot.setTitle(labels[0])
            self.plot.setLabel("bottom", labels[1])
            self.plot.setLabel("left", labels[2])
        self._update_texts()

    def _update_texts(self):
        if self._buf is None:
            return
        theory, sampled, device, _ = self._buf.view()
        if device:
            self.device.setText(f"Device: {device}" if device != "CPU" else "Device: CPU (TensorFlow sees no GPU)")
        notes = []
        for r in sampled.values():
            for key in ("dntk_note", "ddntk_note"):
                if r.meta.get(key) and self.name() in (("P", "Q") if key == "dntk_note" else ("R", "S", "T", "U")):
                    notes.append(r.meta[key])
            break
        if self.view_name() == "scaled" and not val.has_scaled_view(self.name()):
            notes.append("n·(sampled − infinite width) has a first-order prediction only for K and Θ; "
                         "the sampler's first-order tensors are already n × cumulant: use the width view")
        self.note.setText("\n\n".join(dict.fromkeys(notes)))
        self.note.setVisible(bool(notes))
        if sampled:
            used = ", ".join(f"n={n}: {r.meta.get('networks_used')}" for n, r in sorted(sampled.items()))
            self.status.setText(f"{self._source}: networks used {used}; ±1 standard error")

    def _say(self, text: str):
        self.status.setText(text)
        self.message.emit(text)

    # -- exports ----------------------------------------------------------------
    def figure(self):
        title, xl, yl = self.labels()
        return val.figure(self.curves(), title=title, xlabel=xl, ylabel=yl)

    def export_figure(self, path: str | None = None) -> bool:
        path = path or QFileDialog.getSaveFileName(self, "Export figure", settings.last_folder("figure"),
                                                   "PNG (*.png);;PDF (*.pdf);;SVG (*.svg)")[0]
        if not path:
            return False
        if not self.curves():
            self._say("Nothing plotted to export yet")
            return False
        try:
            val.save_figure(self.figure(), path)
        except (OSError, FntkError) as exc:
            self._say(f"Could not export the figure: {exc}")
            return False
        settings.set_last_folder("figure", path)
        self._say(f"Exported the figure to {path}")
        return True

    def export_data(self, path: str | None = None) -> bool:
        """``.csv``: the plotted curves; ``.json``: the sampled fntk-result at width n (per-layer view)
        or at the largest width."""
        path = path or QFileDialog.getSaveFileName(self, "Export data", settings.last_folder("data"),
                                                   "CSV (*.csv);;fntk result (*.json)")[0]
        if not path:
            return False
        try:
            if path.lower().endswith(".json"):
                sampled = self._buf.view()[1] if self._buf else {}
                if not sampled:
                    raise FntkError("no sampled result yet")
                n = self.width_spin.value() if self.view_name() == "layers" and self.width_spin.value() in sampled \
                    else max(sampled)
                sampled[n].save(path)
            elif path.lower().endswith(".csv"):
                xname = "layer" if self.view_name() == "layers" else "width"
                atomic_write_text(path, val.curves_csv(self.curves(), xname))
            else:
                raise FntkError(f"data: the file must end in .csv or .json, got {Path(path).name!r}")
        except (OSError, FntkError, ValueError) as exc:
            self._say(f"Could not export the data: {exc}")
            return False
        settings.set_last_folder("data", path)
        self._say(f"Exported the data to {path}")
        return True


def _duration(s: float) -> str:
    s = max(0.0, s)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
