"""Network panel: activation, C_W, C_b, lambda_W, lambda_b, depth, widths, inputs, "Critical".

Widgets only: the fields are text, ``fntk_core.session.spec_from_settings`` turns them
into a NetworkSpec or one message per field, shown under that field as one types (red
border + message), never in a dialog.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fntk_core.activations import ACTIVATION_NAMES, get_activation
from fntk_core.errors import FntkError
from fntk_core.files import atomic_write_text
from fntk_core.session import (
    DEFAULT_SETTINGS,
    check_settings,
    format_table,
    parse_table,
    spec_from_settings,
)

from . import settings
from .runner import Runner

ERROR_STYLE = "QLineEdit, QTableWidget { border: 1px solid #d0302f; }"

_LABELS = {  # field -> (label, tooltip)
    "activation": ("Activation", "The activation function σ(z) of every hidden layer"),
    "alpha": ("LeakyReLU slope", "Slope of LeakyReLU for z < 0"),
    "formula": ("Formula σ(z)", ("A custom activation in z, e.g. z*tanh(softplus(z)); functions: sin, exp, "
                "tanh, erf, sigmoid, softplus, …")),
    "c_w": ("C_W", "Weight variance C_W: one value, or one per layer separated by commas"),
    "c_b": ("C_b", "Bias variance C_b: one value, or one per layer separated by commas"),
    "lambda_w": ("λ_W", "Learning-rate factor λ_W of the weights (one value or one per layer)"),
    "lambda_b": ("λ_b", "Learning-rate factor λ_b of the biases (one value or one per layer)"),
    "depth": ("Depth L", "Number of layers L (the solver gives layers 1..L)"),
    "widths": ("Hidden widths", ("Hidden widths n_1..n_{L-1} separated by commas; empty: equal widths "
               "(the width for the 1/n prediction is set in the Results panel)")),
    "inputs": ("Inputs", ("One input vector x per row, its components in the columns (n0 = columns). "
               "Ctrl+V pastes from a spreadsheet")),
}


class _Field(QWidget):
    """An editor with its error message underneath."""

    def __init__(self, editor: QWidget, tooltip: str):
        super().__init__()
        self.editor = editor
        editor.setToolTip(tooltip)
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setStyleSheet("color: #d0302f;")
        self.error.setWordWrap(True)
        self.error.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(editor)
        lay.addWidget(self.error)

    def set_error(self, message: str | None) -> None:
        self.editor.setStyleSheet(ERROR_STYLE if message else "")
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


class NetworkPanel(QWidget):
    """Emits ``changed((spec or None, inputs or None, errors))`` on every edit."""

    changed = Signal(object)
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.fields: dict[str, _Field] = {}
        self._loading = False
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.activation = QComboBox()
        self.activation.addItems(ACTIVATION_NAMES)
        self.activation.currentTextChanged.connect(self._activation_changed)
        self.edits: dict[str, QLineEdit] = {}
        for key in ("activation", "alpha", "formula", "c_w", "c_b", "lambda_w", "lambda_b", "depth", "widths"):
            label, tip = _LABELS[key]
            editor = self.activation if key == "activation" else QLineEdit()
            if key != "activation":
                editor.setObjectName(key)
                editor.textChanged.connect(self._emit)
                self.edits[key] = editor
            f = self.fields[key] = _Field(editor, tip)
            form.addRow(label, f)
            if key == "c_b":
                form.addRow("", self._critical_row())
        self._form = form
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("inputs")
        self.table.itemChanged.connect(self._emit)
        self.table.setMinimumHeight(90)
        paste = QShortcut(QKeySequence.Paste, self.table, context=Qt.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)
        self.fields["inputs"] = _Field(self.table, _LABELS["inputs"][1])
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Inputs x (rows) × components (columns)"))
        lay.addWidget(self.fields["inputs"], 1)
        lay.addLayout(self._table_buttons())
        self.critical_runner = Runner(self)
        self.critical_runner.finished.connect(self._critical_done)
        self.critical_runner.failed.connect(lambda e: self.message.emit(f"Critical: {e}"))
        self._critical_points: list[dict] = []
        self.set_settings(DEFAULT_SETTINGS)

    # -- building ------------------------------------------------------------
    def _critical_row(self) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        self.critical_button = QPushButton("&Critical")
        self.critical_button.setToolTip("Fill in C_W and C_b at criticality (χ∥ = χ⊥ = 1) for this activation")
        self.critical_button.clicked.connect(self.find_critical)
        self.critical_choice = QComboBox()
        self.critical_choice.setToolTip("This activation has several critical points; choose one")
        self.critical_choice.activated.connect(self._apply_critical)
        self.critical_choice.hide()
        h.addWidget(self.critical_button)
        h.addWidget(self.critical_choice, 1)
        return w

    def _table_buttons(self) -> QGridLayout:
        h = QGridLayout()
        for text, tip, slot in (
            ("+ Row", "Add an input vector", lambda: self._resize(self.table.rowCount() + 1, None)),
            ("− Row", "Remove the last input vector", lambda: self._resize(max(self.table.rowCount() - 1, 1), None)),
            ("+ Col", "Add a component (n0 + 1)", lambda: self._resize(None, self.table.columnCount() + 1)),
            ("− Col", "Remove the last component", lambda: self._resize(None, max(self.table.columnCount() - 1, 1))),
            ("Paste", "Paste rows from a spreadsheet (tab or comma separated) at the current cell", self.paste),
            ("Load…", "Load inputs from a .csv/.tsv/.txt file", self.load_inputs),
            ("Save…", "Save the inputs as a .csv file", self.save_inputs),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            h.addWidget(b, h.count() // 4, h.count() % 4)
        return h

    # -- settings as a value -------------------------------------------------
    def settings(self) -> dict:
        s = {k: e.text() for k, e in self.edits.items()}
        s["activation"] = self.activation.currentText()
        s["inputs"] = [[(self.table.item(r, c).text() if self.table.item(r, c) else "")
                        for c in range(self.table.columnCount())] for r in range(self.table.rowCount())]
        return s

    def set_settings(self, settings: dict) -> None:
        s = check_settings(settings)
        self._loading = True
        try:
            for k, e in self.edits.items():
                e.setText(s[k])
            self.activation.setCurrentText(s["activation"])
            self._set_rows(s["inputs"])
        finally:
            self._loading = False
        self._activation_changed(s["activation"])

    def state(self):
        return spec_from_settings(self.settings())

    # -- validation ----------------------------------------------------------
    def _emit(self, *_):
        if self._loading:
            return
        spec, x, errors = self.state()
        for key, f in self.fields.items():
            f.set_error(errors.get(key))
        self.changed.emit((spec, x, errors))

    def _activation_changed(self, name: str):
        for key, visible in (("alpha", name == "leaky_relu"), ("formula", name == "custom")):
            self.fields[key].setVisible(visible)
            self._form.labelForField(self.fields[key]).setVisible(visible)
        self.critical_choice.hide()
        self._emit()

    # -- inputs table --------------------------------------------------------
    def _set_rows(self, rows):
        cols = max((len(r) for r in rows), default=1)
        self._loading, was = True, self._loading
        self.table.setRowCount(max(len(rows), 1))
        self.table.setColumnCount(max(cols, 1))
        for r, row in enumerate(rows):
            for c in range(cols):
                self.table.setItem(r, c, QTableWidgetItem(row[c] if c < len(row) else "0"))
        self._loading = was
        self._emit()

    def _resize(self, rows, cols):
        self._loading = True
        if rows is not None:
            self.table.setRowCount(rows)
        if cols is not None:
            self.table.setColumnCount(cols)
        for r in range(self.table.rowCount()):
            for c in range(self.table.columnCount()):
                if self.table.item(r, c) is None:
                    self.table.setItem(r, c, QTableWidgetItem("0"))
        self._loading = False
        self._emit()

    def paste(self):
        rows = parse_table(QGuiApplication.clipboard().text())
        if not rows:
            return
        r0, c0 = max(self.table.currentRow(), 0), max(self.table.currentColumn(), 0)
        self._loading = True
        self.table.setRowCount(max(self.table.rowCount(), r0 + len(rows)))
        self.table.setColumnCount(max(self.table.columnCount(), c0 + max(len(r) for r in rows)))
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                self.table.setItem(r0 + i, c0 + j, QTableWidgetItem(cell))
        self._loading = False
        self._resize(None, None)

    def load_inputs(self, path: str | None = None):
        path = path or QFileDialog.getOpenFileName(self, "Load inputs", settings.last_folder("inputs"),
                                                   "Tables (*.csv *.tsv *.txt);;All files (*)")[0]
        if not path:
            return
        try:
            rows = parse_table(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.fields["inputs"].set_error(f"{path}: {exc}")
            return
        if not rows:
            self.fields["inputs"].set_error(f"{path}: no rows of numbers")
            return
        settings.set_last_folder("inputs", path)
        self._set_rows(rows)

    def save_inputs(self, path: str | None = None):
        path = path or QFileDialog.getSaveFileName(self, "Save inputs", settings.last_folder("inputs"),
                                                   "CSV (*.csv)")[0]
        if not path:
            return
        try:
            atomic_write_text(path, format_table(self.settings()["inputs"]))
        except (OSError, FntkError) as exc:
            self.message.emit(f"Could not save the inputs: {exc}")
            return
        self.message.emit(f"Saved the inputs to {path}")

    # -- criticality ---------------------------------------------------------
    def find_critical(self):
        s = self.settings()
        _spec, _, errors = spec_from_settings(s)
        bad = {k: v for k, v in errors.items() if k in ("activation", "alpha", "formula")}
        if bad:
            return
        name = s["activation"]
        act = get_activation(name, alpha=float(s["alpha"]) if name == "leaky_relu" else None,
                             formula=s["formula"] if name == "custom" else None)
        # SciPy's root finder: imported when first needed, not at start-up
        from fntk_core.criticality import find_critical

        self.critical_button.setEnabled(False)
        self.message.emit(f"Finding the critical points of {name}…")
        self.critical_runner.start(lambda cancel, report: find_critical(act)["critical_points"])

    def _critical_done(self, points):
        self.critical_button.setEnabled(True)
        self._critical_points = list(points)
        if not points:
            self.fields["c_w"].set_error("this activation has no critical point with C_b ≥ 0")
            return
        self.critical_choice.clear()
        for p in points:
            k = p["K_star"]
            k_text = k if isinstance(k, str) else f"{float(k):.4g}"
            self.critical_choice.addItem(f"K* = {k_text}: C_W = {float(p['C_W']):.6g}, C_b = {float(p['C_b']):.6g}")
        self.critical_choice.setVisible(len(points) > 1)
        self._apply_critical(0)
        n = len(points)
        self.message.emit("Critical point filled in" if n == 1 else f"{n} critical points: the first is filled in; "
                          "choose another in the list next to the Critical button")

    def _apply_critical(self, i: int):
        p = self._critical_points[i]
        self.edits["c_w"].setText(repr(float(p["C_W"])))
        self.edits["c_b"].setText(repr(float(p["C_b"])))
