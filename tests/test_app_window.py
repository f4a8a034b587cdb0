"""The main window, driven through its real widgets (pytest-qt, offscreen)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QLineEdit, QMessageBox, QWidget

from fntk_core import get_activation
from fntk_core.criticality import find_critical
from fntk_core.diagrams.io import dumps, load_diagram
from fntk_core.export.tikz import tikz_document, tikz_snippet
from fntk_core.results import Result
from fntk_core.session import spec_from_settings
from fntk_core.solver import solve

ROOT = Path(__file__).resolve().parents[1]  # the checkout: test data only
LIB = ROOT / "resources" / "diagrams"


@pytest.fixture(autouse=True)
def _own_places(own_places):
    """Every test of this file keeps its settings and autosaves in its own folder."""


@pytest.fixture
def win(qtbot):
    from fntk_app.main_window import MainWindow

    w = MainWindow()
    w.persist = False
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.results.result() is not None, timeout=60_000)
    return w


def _retype(qtbot, edit: QLineEdit, text: str):
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key_A, Qt.ControlModifier)
    qtbot.keyClicks(edit, text)


def _choose(qtbot, combo, text):
    combo.setFocus()
    qtbot.keyClicks(combo, text)
    assert combo.currentText() == text


def _solved_with(win, name, c_w):
    r = win.results.result()
    if r is None or r.meta.get("partial") or win.results.runner.busy():
        return False
    net = r.meta["network"]
    return net["activation"]["name"] == name and net["c_w"][0] == c_w


def test_activation_and_cw_re_solve_equal_to_solve(qtbot, win):
    net = win.network
    _choose(qtbot, net.activation, "tanh")
    _retype(qtbot, net.edits["c_w"], "1.5")
    qtbot.waitUntil(lambda: _solved_with(win, "tanh", 1.5), timeout=60_000)
    spec, x, errors = spec_from_settings(net.settings())
    assert errors == {} and spec.activation.name == "tanh"
    want = solve(spec, x, win.results.tensors())
    got = win.results.result()
    assert set(got.tensors) == set(want.tensors) == {"K", "Theta", "K1", "Theta1"}
    for name in want.tensors:
        np.testing.assert_array_equal(got[name], want[name])
    # the plot shows K[1,2] per layer and the prediction K + K1/n at the chosen width
    win.results.plot_tensor.setCurrentText("K")
    items = win.results.plot.getPlotItem().listDataItems()
    np.testing.assert_array_equal(items[0].getData()[1], want["K"][:, 0, 1])
    n = win.results.width_spin.value()
    np.testing.assert_allclose(items[1].getData()[1][1:], (want["K"] + want["K1"] / n)[1:, 0, 1], rtol=1e-15)
    # the table holds the same numbers and copies as tab-separated text
    text = win.results.table_text().splitlines()
    assert text[0].split("\t")[0] == "layer" and len(text) == 1 + spec.depth
    assert float(text[3].split("\t")[1]) == want["K"][2, 0, 1]


def test_progress_reaches_the_status_bar(qtbot, win):
    seen = []
    win.results.progress.connect(lambda p: seen.append(p))
    _retype(qtbot, win.network.edits["depth"], "30")
    qtbot.waitUntil(lambda: win.results.result().layers[-1] == 30 and not win.results.runner.busy(), timeout=60_000)
    done = [p for p in seen if p is not None]
    # iter_solve reports every layer as it finishes
    assert done and done[-1].total == 30 and done[-1].done == 30 and done[-1].stage == "solve"
    assert seen[-1] is None and not win.progress.isVisible()


def test_start_up_heap_is_frozen_for_the_collector_until_the_window_closes(qtbot, win):
    """Full collections on the GUI thread skip what the start-up made (no 0.2 s walk of it);
    closing the window hands it back, so its cycles can be collected."""
    import gc

    qtbot.waitUntil(lambda: not win.freeze_timer.isActive(), timeout=30_000)
    assert gc.get_freeze_count() > 10_000
    win.close()
    assert gc.get_freeze_count() == 0


def test_critical_for_gelu_fills_in_find_critical(qtbot, win):
    net = win.network
    _choose(qtbot, net.activation, "gelu")
    qtbot.mouseClick(net.critical_button, Qt.LeftButton)
    points = find_critical(get_activation("gelu"))["critical_points"]
    assert len(points) > 1
    qtbot.waitUntil(lambda: net.edits["c_w"].text() == repr(float(points[0]["C_W"])), timeout=30_000)
    assert net.edits["c_b"].text() == repr(float(points[0]["C_b"]))
    # several critical points: the choice is offered next to the button
    assert net.critical_choice.isVisible() and net.critical_choice.count() == len(points)
    net.critical_choice.setFocus()
    qtbot.keyClick(net.critical_choice, Qt.Key_Down)
    assert net.edits["c_w"].text() == repr(float(points[1]["C_W"]))
    assert net.edits["c_b"].text() == repr(float(points[1]["C_b"]))
    qtbot.waitUntil(lambda: _solved_with(win, "gelu", float(points[1]["C_W"])), timeout=60_000)


def test_bad_formula_error_shows_under_the_field_as_one_types(qtbot, win):
    net = win.network
    _choose(qtbot, net.activation, "custom")
    field = net.fields["formula"]
    assert field.isVisible()
    _retype(qtbot, net.edits["formula"], "z**")
    assert field.error.isVisible() and field.error.text()
    assert "border" in net.edits["formula"].styleSheet()
    assert "Fix the marked fields" in win.results.status.text()
    assert not [w for w in win.findChildren(QMessageBox) if w.isVisible()]
    qtbot.keyClicks(net.edits["formula"], "2")
    assert not field.error.isVisible() and net.edits["formula"].styleSheet() == ""
    # other fields too: a bad C_b is marked at C_b, nothing else
    _retype(qtbot, net.edits["c_b"], "-1")
    assert net.fields["c_b"].error.isVisible() and "c_b" in net.fields["c_b"].error.text()
    assert not net.fields["c_w"].error.isVisible()


def test_inputs_paste_from_a_spreadsheet(qtbot, win):
    net = win.network
    QGuiApplication.clipboard().setText("1\t2\t3\n4\t5\t6\n")
    rect = net.table.visualItemRect(net.table.item(0, 0))
    qtbot.mouseClick(net.table.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.keyClick(net.table, Qt.Key_V, Qt.ControlModifier)
    spec, x, errors = net.state()
    assert errors == {} and spec.n0 == 3
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 6]])


def test_malformed_diagram_file_named_and_work_untouched(qtbot, win, tmp_path):
    assert win.open_path(LIB / "F" / "2.json")
    _retype(qtbot, win.network.edits["c_w"], "1.7")
    before = (dumps(win.canvas.diagram()), win.network.settings())
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({"format": "fntk-diagram", "version": 1, "topology": {"nodes": 5, "edges": []}}))
    assert not win.open_path(bad)
    assert "broken.json" in win.last_error and "nodes" in win.last_error
    boxes = [w for w in win.findChildren(QMessageBox) if w.isVisible()]
    assert len(boxes) == 1 and boxes[0].text() == win.last_error
    assert dumps(win.canvas.diagram()) == before[0] and win.network.settings() == before[1]
    (tmp_path / "junk.json").write_text("{not json")
    assert not win.open_path(tmp_path / "junk.json")
    assert "not valid JSON" in win.last_error
    assert len([w for w in win.findChildren(QMessageBox) if w.isVisible()]) == 1


def test_save_and_reopen_a_session(qtbot, win, tmp_path):
    from fntk_app.main_window import MainWindow

    win.open_path(LIB / "F" / "2.json")
    _retype(qtbot, win.network.edits["c_w"], "1.9")
    qtbot.waitUntil(lambda: _solved_with(win, "relu", 1.9), timeout=60_000)
    path = tmp_path / "s.fntk-session.json"
    assert win.save_session(str(path))
    other = MainWindow()
    other.persist = False
    qtbot.addWidget(other)
    assert other.open_path(path)
    assert other.network.settings() == win.network.settings()
    assert dumps(other.canvas.diagram()) == dumps(win.canvas.diagram())
    assert other.results.tensors() == win.results.tensors()
    np.testing.assert_array_equal(other.results.result()["K1"], win.results.result()["K1"])
    assert str(path.resolve()) in __import__("fntk_app.settings", fromlist=["x"]).recent_files()


def test_open_a_tikz_export_shows_its_diagrams(qtbot, win, tmp_path):
    ds = [load_diagram(LIB / "F" / "2.json"), load_diagram(LIB / "V" / "1.json")]
    tex = tmp_path / "fig.tex"
    tex.write_text(tikz_document([tikz_snippet(d) for d in ds]))
    assert win.open_path(tex)
    assert [dumps(d) for d in win.file_diagrams] == [dumps(d) for d in ds]
    assert dumps(win.canvas.diagram()) == dumps(ds[0])
    assert win.library.tree.topLevelItem(0).text(0).startswith("fig.tex  (2 diagrams")


def test_open_a_sampled_result_shows_error_bars(qtbot, win, tmp_path):
    import pyqtgraph as pg

    rng = np.random.default_rng(0)
    k = rng.random((3, 2, 2)) + 1
    r = Result([1, 2, 3], {"K": k}, {"source": "sampler", "networks": 64}, {"K": 0.01 * k})
    r.save(tmp_path / "sampled.json")
    assert win.open_path(tmp_path / "sampled.json")
    assert win.results.plot_tensor.currentText() == "K"
    bars = [i for i in win.results.plot.getPlotItem().items if isinstance(i, pg.ErrorBarItem) and i.isVisible()]
    assert len(bars) == 1
    np.testing.assert_array_equal(bars[0].opts["height"], 2 * 0.01 * k[:, 0, 1])
    assert win.results.table_text().splitlines()[0].split("\t") == ["layer", "sampled", "stderr"]
    assert "sampler, 64 networks" in win.results.status.text()


def test_keyboard_reaches_every_panel(qtbot, win):
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    for key, name in zip((Qt.Key_1, Qt.Key_2, Qt.Key_3, Qt.Key_4, Qt.Key_5, Qt.Key_6),
                         ("library", "canvas", "recursion", "network", "results", "validation")):
        qtbot.keyClick(win, key, Qt.ControlModifier)
        focus = QGuiApplication.focusObject()
        target = win.canvas if name == "canvas" else win.docks[name]
        assert focus is target or target.isAncestorOf(focus), name


def test_every_control_has_a_tooltip(win):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
    )

    controls = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView)

    def inner_part(w, panel):  # e.g. a spin box's editor, a table's header: covered by the outer tooltip
        p = w.parentWidget()
        while p is not None and p is not panel:
            if p.toolTip() or isinstance(p, controls):
                return True
            p = p.parentWidget()
        return False

    missing = [f"{type(panel).__name__}: {type(w).__name__} {w.objectName() or w.property('text')}"
               for panel in (win.network, win.results, win.library, win.recursion, win.validation)
               for w in panel.findChildren(QWidget) if isinstance(w, controls) and not w.toolTip() and not inner_part(w, panel)]
    assert missing == []
    for a in win.menuBar().actions():
        for sub in a.menu().actions():
            assert sub.isSeparator() or sub.menu() or sub.toolTip(), sub.text()


def test_plot_follows_a_dark_palette(win):
    from PySide6.QtGui import QColor, QPalette

    dark = QPalette()
    dark.setColor(QPalette.Base, QColor("#202124"))
    dark.setColor(QPalette.Text, QColor("#e8eaed"))
    win.results.setPalette(dark)
    view = win.results.plot
    assert view.backgroundBrush().color().name() == "#202124"
    assert view.getAxis("left").textPen().color().name() == "#e8eaed"


def test_no_panel_is_a_placeholder_any_more(win):
    """Parts 2 and 3 replaced the placeholders: every dock holds a working panel."""
    from PySide6.QtWidgets import QLabel

    assert {"palette", "properties", "validation"} <= set(win.docks)
    assert not [w for w in win.findChildren(QLabel) if w.objectName() == "placeholder"]


FNTK = str(Path(sys.executable).with_name("fntk"))  # the installed command


def _run(args, env=None, timeout=180):
    """`fntk ARGS` outside the checkout, so that only the installed package is imported."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([FNTK, *args], check=False, capture_output=True, text=True, env=e, timeout=timeout,
                          cwd=str(Path(e.get("XDG_CONFIG_HOME", "/tmp"))))


def test_screenshot_writes_a_png_of_the_size_asked(tmp_path):
    out = tmp_path / "shot.png"
    p = _run(["--screenshot", str(out), "--size", "900x640", "--panel", "results",
              "--open", str(LIB / "F" / "2.json")], {"XDG_CONFIG_HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (900, 640)


def test_screenshot_smaller_than_the_panels_allow_says_so(tmp_path):
    out = tmp_path / "small.png"
    p = _run(["--screenshot", str(out), "--size", "300x200"], {"XDG_CONFIG_HOME": str(tmp_path)})
    assert p.returncode == 0 and "cannot be 300x200" in p.stderr
    img = QImage(str(out))
    assert img.width() >= 300 and img.height() > 200


def test_screenshot_of_a_bad_file_fails_with_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    p = _run(["--screenshot", str(tmp_path / "x.png"), "--open", str(bad)],
             {"XDG_CONFIG_HOME": str(tmp_path)})
    assert p.returncode == 1 and "bad.json" in p.stderr and not (tmp_path / "x.png").exists()


def test_without_a_display_it_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    p = subprocess.run([FNTK], check=False, capture_output=True, text=True, env=env, timeout=60, cwd=str(tmp_path))
    assert p.returncode == 2
    assert "QT_QPA_PLATFORM=offscreen" in p.stderr and "fntk --help" in p.stderr and "Aborted" not in p.stderr


def test_window_and_solve_never_import_tensorflow(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from fntk_app.main_window import MainWindow\n"
        "w = MainWindow(); w.persist = False; w.show()\n"
        "assert w.results.wait() and w.results.result() is not None\n"
        "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=180,
                       cwd=str(tmp_path), env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "NO-TF"


def test_drop_a_file_on_the_window_opens_it(qtbot, win, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(LIB / "V" / "1.json"))])
    pos = QPointF(win.width() / 2, win.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QGuiApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QGuiApplication.sendEvent(win, drop)
    assert dumps(win.canvas.diagram()) == dumps(load_diagram(LIB / "V" / "1.json"))


def test_layout_and_folders_persist_and_reset(qtbot, win, tmp_path):
    from fntk_app import settings
    from fntk_app.main_window import MainWindow

    win.docks["results"].hide()
    settings.save_window(win)
    settings.set_last_folder("open", tmp_path / "x.json")
    again = MainWindow()
    again.persist = False
    qtbot.addWidget(again)
    settings.restore_window(again)
    again.show()
    assert not again.docks["results"].isVisible() and again.docks["network"].isVisible()
    assert settings.last_folder("open") == str(tmp_path.resolve())
    settings.reset()
    assert settings.last_folder("open") == "" and settings.store().value("window/state") is None


def test_reset_settings_from_the_command_line(tmp_path):
    from fntk_app import settings

    code = "from fntk_app import settings; settings.set_last_folder('open', '/tmp/x'); print(settings.store().fileName())"
    p = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path), env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path)))
    ini = Path(p.stdout.strip())
    assert p.returncode == 0 and str(tmp_path) in str(ini) and "folders" in ini.read_text()
    p = _run(["--reset-settings"], {"XDG_CONFIG_HOME": str(tmp_path)})
    assert p.returncode == 0 and "settings cleared" in p.stdout
    assert "folders" not in ini.read_text()
    assert settings.ORG == settings.APP == "fntk"


def test_inputs_load_and_save_and_leaky_slope(qtbot, win, tmp_path):
    net = win.network
    (tmp_path / "x.csv").write_text("# two vectors\n0.5,1,2\n-1,0,3\n")
    net.load_inputs(str(tmp_path / "x.csv"))
    spec, _, errors = net.state()
    assert errors == {} and spec.n0 == 3
    net.save_inputs(str(tmp_path / "y.csv"))
    assert (tmp_path / "y.csv").read_text() == "0.5,1,2\n-1,0,3\n"
    assert not net.fields["alpha"].isVisible()
    _choose(qtbot, net.activation, "leaky_relu")
    assert net.fields["alpha"].isVisible()
    _retype(qtbot, net.edits["alpha"], "0.2")
    spec, _, errors = net.state()
    assert errors == {} and spec.activation.describe()["alpha"] == 0.2


def test_library_click_shows_the_diagram_and_a_term_click_shows_its_source(qtbot, win):
    from fntk_core.diagrams.library import library

    entry = library()["F"][1]
    item = win.library.diagram_item("F/2")
    tree = win.library.tree
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())
    assert dumps(win.canvas.diagram()) == dumps(entry.diagram)
    assert win.recursion.statistic() == "F"
    terms = win.recursion.terms
    row = terms.item(0)   # the first term of F's recursion comes from the library's F/1
    qtbot.mouseClick(terms.viewport(), Qt.LeftButton, pos=terms.visualItemRect(row).center())
    assert dumps(win.canvas.diagram()) == dumps(library()["F"][0].diagram)


def test_results_save_and_copy(qtbot, win, tmp_path):
    win.results.save_result(str(tmp_path / "r.json"))
    back = Result.load(tmp_path / "r.json")
    np.testing.assert_array_equal(back["K1"], win.results.result()["K1"])
    from PySide6.QtWidgets import QPushButton

    copy = next(b for b in win.results.findChildren(QPushButton) if b.text() == "Copy")
    qtbot.mouseClick(copy, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == win.results.table_text()


def test_export_picture_from_the_file_menu(qtbot, win, tmp_path, monkeypatch):
    """Ctrl+Shift+E asks for a file name and writes the canvas picture in the format of its suffix."""
    from PySide6.QtWidgets import QFileDialog

    assert win.open_path(LIB / "F" / "2.json")
    for suffix in ("png", "svg", "pdf"):
        target = tmp_path / f"diagram.{suffix}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), ""))
        win.activateWindow()
        qtbot.keyClick(win, Qt.Key_E, Qt.ControlModifier | Qt.ShiftModifier)
        qtbot.waitUntil(target.exists, timeout=10_000)
        data = target.read_bytes()
        if suffix == "svg":
            assert b"<svg" in data[:1000] and b"</svg>" in data[-100:]
        else:
            assert data.startswith({"png": b"\x89PNG\r\n", "pdf": b"%PDF-"}[suffix])
    assert "Exported the diagram" in win.statusBar().currentMessage()
