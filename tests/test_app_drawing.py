"""Drawing by hand on the real canvas: mouse presses, moves and releases at scene positions (pytest-qt)."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QToolButton

from fntk_core.diagrams import Diagram, library
from fntk_core.diagrams.io import load_diagram
from fntk_core.diagrams.layout import layout

WAIT = 20_000


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
    w.canvas.resetTransform()
    w.canvas.centerOn(150, 100)
    return w


# -- gestures ----------------------------------------------------------------------
def at(win, pos) -> QPoint:
    """The viewport point of a diagram position (x, y in diagram units)."""
    return win.canvas.mapFromScene(win.canvas.to_scene(pos))


def tool(qtbot, win, entry):
    """Pick a palette entry with the mouse (None: select)."""
    qtbot.mouseClick(win.palette.findChild(QToolButton, f"palette_{entry}"), Qt.LeftButton)


def place(qtbot, win, entry, pos) -> str:
    tool(qtbot, win, entry)
    before = set(win.editor.diagram.graph.nodes)
    qtbot.mouseClick(win.canvas.viewport(), Qt.LeftButton, pos=at(win, pos))
    tool(qtbot, win, "select")
    new = [n for n in win.editor.diagram.nodes(entry.split(".")[0]) if n not in before]
    assert len(new) == 1, win.statusBar().currentMessage()
    return new[0]


def drag(qtbot, win, a: QPoint, b: QPoint, modifier=Qt.NoModifier):
    vp = win.canvas.viewport()
    qtbot.mousePress(vp, Qt.LeftButton, modifier, a)
    for k in range(1, 6):
        qtbot.mouseMove(vp, a + (b - a) * (k / 5))
    qtbot.mouseRelease(vp, Qt.LeftButton, modifier, b)


def connect(qtbot, win, a: str, b: str):
    """Drag element a onto element b (b may be an internal line: its drawn curve)."""
    stack = win.editor.stack
    steps = stack.index()
    drag(qtbot, win, _point(win, a), _point(win, b))
    assert stack.index() == steps + 1 and stack.text(steps).startswith("Connect"), (a, b, win.statusBar().currentMessage())


def _point(win, nid) -> QPoint:
    items = win.canvas.element_items()
    d = win.editor.diagram
    if d.graph.nodes[nid]["kind"] == "line":
        line = next(it for it in items.values() if nid in it.element_ids and hasattr(it, "path"))
        return win.canvas.mapFromScene(line.path().pointAtPercent(0.5))
    return win.canvas.mapFromScene(items[nid].pos())


def line_of(win, leg):
    return next(e["target"] for e in win.editor.diagram.edges(leg, "src"))


def draw_F(qtbot, win, two_blobs):
    win.drawing.new_from_statistic("F")  # legs z1 (0, 0), z2 (0, -1.5), ntk1 (0, -3)
    c1, c2 = place(qtbot, win, "cubic.W", (1.5, 0)), place(qtbot, win, "cubic.W", (1.5, -1.5))
    b1 = place(qtbot, win, "blob", (3, -0.25))
    b2 = place(qtbot, win, "blob", (3, -1.75)) if two_blobs else b1
    for a, b in (("z1", c1), ("ntk1", c1), ("z2", c2), ("ntk1", c2), (c1, b1), (c2, b2)):
        connect(qtbot, win, a, b)
    if two_blobs:
        v = place(qtbot, win, "vertex.F", (4.5, -1))
        for target in (b1, b2, line_of(win, "ntk1")):
            connect(qtbot, win, v, target)


def shown(qtbot, win, entry_id):
    """Wait for the live check; the recursion panel shows the library entry's terms."""
    from fntk_app import core_api

    e = next(x for x in library()[entry_id.split("/")[0]] if x.id == entry_id)
    _, rows, _, _ = core_api.diagram_value(e.diagram)
    want = "".join((r.sign if k or r.sign == "-" else "") + " " + r.body for k, r in enumerate(rows))
    qtbot.waitUntil(lambda: win.recursion.value_tex == want, timeout=WAIT)
    assert entry_id in win.recursion.diagram_title.text()
    assert win.drawing.checks.rows() == []
    assert [s for s, _ in win.recursion.rows()].count(entry_id) >= 1
    selected = [win.recursion.terms.item(k).data(Qt.UserRole) for k in range(win.recursion.terms.count())
                if win.recursion.terms.item(k).isSelected()]
    assert selected and set(selected) == {entry_id}


# -- tests ---------------------------------------------------------------------------
@pytest.mark.parametrize("two_blobs,entry", [(False, "F/1"), (True, "F/2")])
def test_draw_F_diagrams_with_the_mouse(qtbot, win, two_blobs, entry):
    draw_F(qtbot, win, two_blobs)
    shown(qtbot, win, entry)


def test_draw_a_theta1_diagram_and_undo_redo_every_step(qtbot, win):
    win.drawing.new_from_statistic("Theta1")
    c = place(qtbot, win, "cubic.W", (1.5, 0))
    b = place(qtbot, win, "blob", (3, 0))
    connect(qtbot, win, "ntk1", c)
    connect(qtbot, win, "ntk1", c)
    connect(qtbot, win, c, b)
    v = place(qtbot, win, "vertex.F", (4, -1.5))
    connect(qtbot, win, v, b)
    connect(qtbot, win, b, v)
    connect(qtbot, win, v, line_of(win, "ntk1"))
    shown(qtbot, win, "Theta1/2")
    drawn = win.editor.diagram.copy()
    n = win.editor.stack.count()
    for _ in range(n):
        qtbot.keyClick(win.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert win.editor.diagram == Diagram() and win.editor.stack.index() == 0
    for _ in range(n):
        qtbot.keyClick(win.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert win.editor.diagram == drawn
    shown(qtbot, win, "Theta1/2")


def test_refused_connection_says_why_and_element_returns(qtbot, win):
    win.drawing.new_from_statistic("V")
    before = win.editor.diagram.copy()
    drag(qtbot, win, _point(win, "z1"), _point(win, "z2"))
    assert "cannot connect" in win.statusBar().currentMessage()
    assert win.editor.diagram == before


def test_move_keeps_lines_attached_and_snaps_unless_alt(qtbot, win):
    win.drawing.new_from_statistic("K")
    c = place(qtbot, win, "cubic.W", (1.5, -0.75))
    connect(qtbot, win, "z1", c)
    steps = win.editor.stack.count()
    drag(qtbot, win, _point(win, c), at(win, (2.02, -1.03)))
    assert win.editor.stack.count() == steps + 1  # one drag, one undo step (merged moves)
    assert win.editor.diagram.presentation["positions"][c] == [2.0, -1.0]
    line = win.canvas.element_items()[next(e["id"] for e in win.editor.diagram.edges(c, "slot"))]
    end = line.path().pointAtPercent(1.0)
    start = line.path().pointAtPercent(0.0)
    assert {(round(p.x()), round(p.y())) for p in (start, end)} == {(160, 80), (0, 0)}
    drag(qtbot, win, _point(win, c), at(win, (2.6, -1.1)), Qt.AltModifier)
    x, y = win.editor.diagram.presentation["positions"][c]
    assert abs(x - 2.6) < 0.02 and abs(y + 1.1) < 0.02


def test_copy_paste_a_subdiagram(qtbot, win):
    draw_F(qtbot, win, False)
    vp = win.canvas.viewport()
    qtbot.mouseClick(vp, Qt.LeftButton, pos=_point(win, "c1"))
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ShiftModifier, _point(win, "z1"))
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ShiftModifier, _point(win, "b1"))
    qtbot.keyClick(win.canvas, Qt.Key_C, Qt.ControlModifier)
    nodes = win.editor.diagram.graph.number_of_nodes()
    qtbot.keyClick(win.canvas, Qt.Key_V, Qt.ControlModifier)
    d = win.editor.diagram
    assert d.graph.number_of_nodes() == nodes + 3
    new = set(win.canvas.selected_nodes())
    assert len(new) == 3 and {d.graph.nodes[n]["kind"] for n in new} == {"leg", "cubic", "blob"}
    # the slot and neuron edges among them came along
    assert sum(1 for _, e in d.edge_list() if e["source"] in new and e["target"] in new) == 2
    qtbot.keyClick(win.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert win.editor.diagram.graph.number_of_nodes() == nodes


def test_save_reopen_compare(qtbot, win, tmp_path):
    draw_F(qtbot, win, True)
    drawn = win.editor.diagram.copy()
    path = tmp_path / "mine.json"
    assert win.save_diagram(str(path))
    assert win.editor.stack.isClean()
    assert load_diagram(path) == drawn
    win.editor.load(None)
    assert win.open_path(str(path))
    assert win.editor.diagram == drawn
    shown(qtbot, win, "F/2")


def test_a_newer_file_is_refused(win, tmp_path):
    path = tmp_path / "future.json"
    path.write_text('{"format": "fntk-diagram", "version": 99, "topology": {"nodes": [], "edges": []}}')
    assert not win.open_path(str(path))
    assert "newer" in win.last_error


def test_broken_rule_is_listed_and_highlighted(qtbot, win):
    draw_F(qtbot, win, False)
    shown(qtbot, win, "F/1")
    vp = win.canvas.viewport()
    qtbot.mouseClick(vp, Qt.LeftButton, pos=_point(win, "b1"))
    qtbot.keyClick(win.canvas, Qt.Key_Delete)
    checks = win.drawing.checks
    qtbot.waitUntil(lambda: checks.list.count() > 0, timeout=WAIT)
    rows = checks.rows()
    assert any(r.startswith("Neuron of a cubic vertex") for r in rows), rows
    k = next(i for i, r in enumerate(rows) if r.startswith("Neuron of a cubic vertex"))
    item = checks.list.item(k)
    qtbot.mouseClick(checks.list.viewport(), Qt.LeftButton, pos=checks.list.visualItemRect(item).center())
    assert set(win.canvas.highlighted_ids()) & {"c1", "c2"}
    assert "not a valid diagram" in win.recursion.diagram_title.text()


def test_help_lists_the_shortcuts(qtbot, win):
    qtbot.keyClick(win.canvas, Qt.Key_F1)
    keys = dict(win.drawing.shortcuts())
    assert keys["Undo"] == "Ctrl+Z" and "Ctrl+Shift+Z" in keys["Redo"] and keys["Delete"] == "Del"
    assert keys["Copy"] == "Ctrl+C" and keys["Select All"] == "Ctrl+A" and "F1" in keys.values()
    assert win.drawing.help_dialog is not None and win.drawing.help_dialog.isVisible()


DRAW_AND_WAIT = textwrap.dedent("""
    import sys, time
    from PySide6.QtWidgets import QApplication
    from fntk_app import settings
    settings.init_names()
    app = QApplication(["fntk"])
    from fntk_app.main_window import MainWindow
    w = MainWindow()
    w.show()
    w.drawing.new_from_statistic("K")
    print("edited", flush=True)
    app.exec()
""")


def test_killed_app_is_restored_at_next_start(qtbot, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-c", DRAW_AND_WAIT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    try:
        assert proc.stdout.readline().strip() == "edited"
        folder = Path(env["XDG_DATA_HOME"]) / "fntk" / "fntk" / "autosave"
        qtbot.waitUntil(lambda: any(folder.glob("autosave-*.json")), timeout=WAIT)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    from fntk_app import settings
    from fntk_app.main_window import MainWindow

    settings.init_names()
    w = MainWindow()
    w.persist = False
    qtbot.addWidget(w)
    w.show()
    w.drawing.offer_recovery()
    box = w.drawing.recovery_box
    assert box is not None and box.isVisible()
    qtbot.mouseClick(box.button(box.StandardButton.Yes), Qt.LeftButton)
    assert sorted(w.editor.diagram.nodes("leg")) == ["z1", "z2"]
    assert not w.editor.stack.isClean()
    assert not list(folder.glob(f"autosave-{proc.pid}.json"))


def test_palette_keys_choose_tools_on_the_canvas(qtbot, win):
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key_W)
    assert win.canvas.tool == ("cubic", "W")
    qtbot.keyClick(win.canvas, Qt.Key_X)
    qtbot.keyClick(win.canvas, Qt.Key_D)
    assert win.canvas.tool == ("vertex", "D")
    assert win.palette.actions_by_id["vertex.D"].isChecked()
    qtbot.keyClick(win.canvas, Qt.Key_Escape)
    assert win.canvas.tool is None and win.palette.actions_by_id["select"].isChecked()


def test_properties_edit_is_undoable(qtbot, win):
    win.drawing.new_from_statistic("K")
    qtbot.mouseClick(win.canvas.viewport(), Qt.LeftButton, pos=_point(win, "z1"))
    props = win.properties
    assert props.node == "z1" and props.samples.text() == "1"
    props.samples.setFocus()
    props.samples.selectAll()
    qtbot.keyClicks(props.samples, "a")
    qtbot.keyClick(props.samples, Qt.Key_Return)
    assert win.editor.diagram.graph.nodes["z1"]["samples"] == ["a"]
    win.editor.stack.undo()
    assert win.editor.diagram.graph.nodes["z1"]["samples"] == ["1"] and props.samples.text() == "1"


def test_rubber_band_select_all_tidy_and_grid(qtbot, win):
    win.drawing.new_from_statistic("K")
    c = place(qtbot, win, "cubic.W", (1.3, -0.4))
    drag(qtbot, win, at(win, (-0.5, 0.5)), at(win, (0.5, -2)))  # a rubber band around the two legs
    assert sorted(win.canvas.selected_nodes()) == ["z1", "z2"]
    qtbot.keyClick(win.canvas, Qt.Key_A, Qt.ControlModifier)
    assert sorted(win.canvas.selected_nodes()) == sorted(["z1", "z2", c])
    qtbot.mouseClick(win.canvas.viewport(), Qt.LeftButton, pos=_point(win, c))
    qtbot.keyClick(win.canvas, Qt.Key_T, Qt.ControlModifier)  # tidy the selection only
    assert win.editor.diagram.presentation["positions"][c] == layout(win.editor.diagram.copy()).presentation[
        "positions"][c] != [1.25, -0.5]
    assert win.editor.diagram.presentation["positions"]["z1"] == [0.0, 0.0]
    win.editor.stack.undo()
    assert win.editor.diagram.presentation["positions"][c] == [1.25, -0.5]  # placed on the grid
    qtbot.keyClick(win.canvas, Qt.Key_G, Qt.ControlModifier)
    assert not win.canvas.grid
    tool(qtbot, win, "blob")
    qtbot.mouseClick(win.canvas.viewport(), Qt.LeftButton, pos=at(win, (2.13, -0.61)))
    (b,) = win.editor.diagram.nodes("blob")
    x, y = win.editor.diagram.presentation["positions"][b]
    assert abs(x - 2.13) < 0.02 and abs(y + 0.61) < 0.02  # no grid, no snapping


def test_paste_into_another_window(qtbot, win):
    from fntk_app.main_window import MainWindow

    draw_F(qtbot, win, False)
    qtbot.keyClick(win.canvas, Qt.Key_A, Qt.ControlModifier)
    qtbot.keyClick(win.canvas, Qt.Key_C, Qt.ControlModifier)
    other = MainWindow()
    other.persist = False
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is other, timeout=WAIT)
    other.canvas.setFocus()
    qtbot.keyClick(other.canvas, Qt.Key_V, Qt.ControlModifier)
    assert other.editor.diagram.is_isomorphic(win.editor.diagram)
    qtbot.waitUntil(lambda: "F/1" in other.recursion.diagram_title.text(), timeout=WAIT)


def test_unsaved_changes_are_asked_about_on_close(qtbot, win, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    win.persist = True
    win.drawing.new_from_statistic("K")
    asked = []

    def answer(*args, **kw):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert not win.close() and asked and win.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    win.persist = False
    assert win.close()


def test_picking_a_library_diagram_asks_before_dropping_a_drawing(qtbot, win, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    win.persist = True
    win.drawing.new_from_statistic("K")
    drawn = win.editor.diagram.copy()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    e = library()["F"][0]
    win.show_diagram(e.id, e.diagram)
    assert win.editor.diagram == drawn
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    win.show_diagram(e.id, e.diagram)
    assert win.editor.diagram == e.diagram and win.editor.stack.count() == 0
    win.persist = False


def test_a_drag_back_to_the_start_leaves_no_undo_step(qtbot, win):
    win.drawing.new_from_statistic("K")
    steps = win.editor.stack.index()
    start = _point(win, "z1")
    vp = win.canvas.viewport()
    qtbot.mousePress(vp, Qt.LeftButton, pos=start)
    qtbot.mouseMove(vp, start + QPoint(40, 30))
    qtbot.mouseMove(vp, start)
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=start)
    assert win.editor.stack.index() == steps and win.editor.stack.count() == steps
    assert win.editor.diagram.presentation["positions"]["z1"] == [0.0, 0.0]
