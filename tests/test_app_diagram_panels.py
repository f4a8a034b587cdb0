"""Library panel, canvas and recursion panel wired together, driven with mouse and keys (offscreen Qt)."""
import shutil
import subprocess

import pytest

pytest.importorskip("pytestqt")
from fntk_app import core_api
from fntk_app.canvas import DiagramCanvas
from fntk_app.diagram_items import NodeItem
from fntk_app.library_panel import LibraryPanel
from fntk_app.recursion_panel import RecursionPanel
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QWidget

from fntk_core.diagrams import assembled_recursion, enumerate_diagrams
from fntk_core.export.latex import mathtext_printer, recursion_latex, term_latex


class Trio(QWidget):
    """The three widgets wired the way the main window wires them."""

    def __init__(self):
        super().__init__()
        self.library, self.canvas, self.recursion = LibraryPanel(), DiagramCanvas(), RecursionPanel()
        lay = QHBoxLayout(self)
        for w in (self.library, self.canvas, self.recursion):
            lay.addWidget(w)
        self.library.diagramChosen.connect(self.choose)
        self.recursion.termClicked.connect(self.choose)

    def choose(self, entry_id, d):
        self.canvas.set_diagram(d)
        self.recursion.show_diagram(d, entry_id)


@pytest.fixture
def trio(qtbot):
    t = Trio()
    qtbot.addWidget(t)
    t.resize(1400, 700)
    t.show()
    qtbot.waitExposed(t)
    return t


def _click_tree_row(qtbot, tree, item):
    def visible():
        tree.scrollToItem(item)  # again once the rows of a just-expanded tensor are laid out
        return tree.viewport().rect().contains(tree.visualItemRect(item).center())

    qtbot.waitUntil(visible)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())


def _library(entry_id):
    name, k = entry_id.split("/")
    return core_api.entries(name)[int(k) - 1].diagram


def _check_recursion_matches_core(panel, name):
    rec = assembled_recursion(name)
    rows = panel.rows()
    assert len(rows) == len(rec.terms)
    expected = [term_latex(t, mathtext_printer(), rec.labels) for t in rec.terms]
    for (source, tex), want in zip(rows, expected):
        assert tex.startswith("-") == want.startswith("-")
        assert tex.lstrip("+- ") == want.lstrip("-")
    sources = [f"{name}/{k}" for k, e in enumerate(enumerate_diagrams(name), start=1) for _ in e.translation.terms]
    assert [s for s, _ in rows] == sources
    assert panel.latex() == recursion_latex(rec)


def test_clicking_each_tensors_first_diagram_shows_it_and_its_recursion(trio, qtbot):
    lib = trio.library
    for name in core_api.tensor_names():
        item = lib.diagram_item(f"{name}/1")
        assert item is not None and not item.icon(0).isNull(), name
        with qtbot.waitSignal(lib.diagramChosen) as sig:
            _click_tree_row(qtbot, lib.tree, item)
        assert sig.args[0] == f"{name}/1"
        shown = trio.canvas.diagram()
        assert shown.is_isomorphic(_library(f"{name}/1"))
        nodes = [i for i in trio.canvas.element_items().values() if isinstance(i, NodeItem)]
        assert nodes and all(shown.graph.nodes[i.element_id]["kind"] not in ("pair", "line") for i in nodes)
        assert trio.recursion.statistic() == name
        _check_recursion_matches_core(trio.recursion, name)
        assert f"{name}/1: a term of {name}" in trio.recursion.diagram_title.text()


def test_clicking_a_recursion_term_shows_its_diagram(trio, qtbot):
    lib, rec = trio.library, trio.recursion
    _click_tree_row(qtbot, lib.tree, lib.diagram_item("Theta1/1"))
    rows = rec.rows()
    k = next(i for i, (src, _) in enumerate(rows) if src == "Theta1/3")
    item = rec.terms.item(k)
    rec.terms.scrollToItem(item)
    with qtbot.waitSignal(rec.termClicked) as sig:
        qtbot.mouseClick(rec.terms.viewport(), Qt.MouseButton.LeftButton, pos=rec.terms.visualItemRect(item).center())
    assert sig.args[0] == "Theta1/3"
    assert trio.canvas.diagram().is_isomorphic(_library("Theta1/3"))
    selected = [rows[i][0] for i in range(rec.terms.count()) if rec.terms.item(i).isSelected()]
    assert selected and set(selected) == {"Theta1/3"}
    assert "symmetry factor 1/2" in rec.diagram_title.text() and "O(1/n)" in rec.diagram_title.text()


def test_filter_box_hides_tensors_that_do_not_match(trio, qtbot):
    lib = trio.library
    qtbot.keyClicks(lib.filter, "theta")
    visible = {lib.tree.topLevelItem(k).data(0, Qt.ItemDataRole.UserRole)
               for k in range(lib.tree.topLevelItemCount()) if not lib.tree.topLevelItem(k).isHidden()}
    assert {"Theta", "Theta1"} <= visible and "F" not in visible and "K" not in visible
    lib.filter.clear()
    assert not any(lib.tree.topLevelItem(k).isHidden() for k in range(lib.tree.topLevelItemCount()))
    qtbot.keyClicks(lib.filter, "kernel")  # by meaning, not only by name
    assert not lib.tensor_item("K").isHidden() and lib.tensor_item("B").isHidden()


def test_every_tensor_has_a_tooltip_that_says_what_it_means(trio):
    for name in core_api.tensor_names():
        assert trio.library.tensor_item(name).toolTip(0) == core_api.tensor_description(name) != ""


def test_enumerate_for_f_lists_two_diagrams_with_symmetry_factors(trio, qtbot):
    lib = trio.library
    qtbot.mouseClick(lib.enumerate_button, Qt.MouseButton.LeftButton)
    dialog = lib._dialog
    assert dialog is not None and dialog.isVisible()
    dialog.statistic.setFocus()
    dialog.set_statistic("F")
    assert dialog.legs.pixmap() is not None and not dialog.legs.pixmap().isNull()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.results.count() == 2 == len(enumerate_diagrams("F"))
    for k, e in enumerate(enumerate_diagrams("F")):
        text = dialog.results.item(k).text()
        assert f"symmetry factor {1 / __import__('sympy').Integer(e.translation.automorphisms)}" in text
        assert text.startswith(f"F/{k + 1}")
    assert "2 distinct diagrams of F" in dialog.summary.text()
    item = dialog.results.item(1)
    with qtbot.waitSignal(lib.diagramChosen) as sig:
        qtbot.mouseClick(dialog.results.viewport(), Qt.MouseButton.LeftButton,
                         pos=dialog.results.visualItemRect(item).center())
    assert sig.args[0] == "F/2" and trio.canvas.diagram().is_isomorphic(enumerate_diagrams("F")[1].diagram)
    dialog.set_statistic("Theta1")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    factors = [dialog.results.item(k).text().split("symmetry factor ")[1].split()[0] for k in range(5)]
    assert sorted(factors) == sorted(["1/2", "1", "1/2", "1", "1/8"])


def test_copy_latex_and_an_exported_tex_file_shows_its_diagrams_again(trio, qtbot, tmp_path):
    lib, rec = trio.library, trio.recursion
    _click_tree_row(qtbot, lib.tree, lib.diagram_item("F/2"))
    qtbot.mouseClick(rec.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == rec.latex() == recursion_latex(assembled_recursion("F"))
    path = tmp_path / "F.tex"
    rec.export_tex(path)
    text = path.read_text()
    assert r"\begin{align}" in text and r"\begin{tikzpicture}" in text
    loaded = core_api.load_diagrams(path)
    assert len(loaded) == 2
    lib.show_diagrams(loaded, "F.tex")
    item = lib.diagram_item("F.tex#2")
    with qtbot.waitSignal(lib.diagramChosen) as sig:
        _click_tree_row(qtbot, lib.tree, item)
    assert sig.args[0] == "F.tex#2"
    assert trio.canvas.diagram().is_isomorphic(_library("F/2"))
    assert "a term of F" in rec.diagram_title.text()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_exported_tex_compiles_with_pdflatex(qtbot, tmp_path):
    panel = RecursionPanel()
    qtbot.addWidget(panel)
    panel.show_statistic("Theta1")
    panel.export_tex(tmp_path / "theta1.tex")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "theta1.tex"], cwd=tmp_path, check=False,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "theta1.pdf").read_bytes().startswith(b"%PDF")


def test_a_diagram_that_breaks_a_rule_is_named_not_raised(qtbot):
    panel = RecursionPanel()
    qtbot.addWidget(panel)
    d = _library("F/2")
    d.remove_node("v1")
    panel.show_diagram(d, "broken")
    assert "broken is not a valid diagram" in panel.diagram_title.text()
    assert panel.diagram_value.pixmap() is None or panel.diagram_value.pixmap().isNull()


def _ink(pixmap):
    """Lightness of the most opaque pixel of a rendered formula."""
    image = pixmap.toImage()
    best = max((image.pixelColor(x, y).alpha(), x, y) for x in range(0, image.width(), 2)
                for y in range(0, image.height(), 2))
    return image.pixelColor(best[1], best[2]).lightness()


def test_formulas_follow_the_system_palette(qtbot, qapp):
    from PySide6.QtGui import QColor, QPalette

    panel = RecursionPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_statistic("F")
    assert _ink(panel.lhs.pixmap()) < 80
    old = qapp.palette()
    dark = QPalette(old)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    try:
        qapp.setPalette(dark)
        qtbot.waitUntil(lambda: _ink(panel.lhs.pixmap()) > 180)
        assert panel.statistic() == "F" and len(panel.rows()) == len(assembled_recursion("F").terms)
    finally:
        qapp.setPalette(old)


def test_arrow_keys_in_the_library_show_the_next_diagram(trio, qtbot):
    lib = trio.library
    _click_tree_row(qtbot, lib.tree, lib.diagram_item("F/1"))
    lib.tree.setFocus()
    with qtbot.waitSignal(lib.diagramChosen) as sig:
        qtbot.keyClick(lib.tree, Qt.Key.Key_Down)
    assert sig.args[0] == "F/2" and trio.canvas.diagram().is_isomorphic(_library("F/2"))


def test_a_diagram_with_odd_sample_labels_still_shows_its_value(qtbot):
    panel = RecursionPanel()
    qtbot.addWidget(panel)
    d = _library("F/1")
    d.graph.nodes["z1"]["samples"] = ["a{b"]
    panel.show_diagram(d)
    assert "a term of F" in panel.diagram_title.text()
    assert not panel.diagram_value.pixmap().isNull()


def test_symbols_wait_for_the_parsers_start_up_in_the_background_not_on_the_gui_thread(qtbot, monkeypatch):
    """While matplotlib's mathtext starts (about 0.3 s, in a background thread), the idle renderers
    leave their rows pending and poll; once it is ready they render, and a direct render waits for it."""
    import threading

    from fntk_app import mathtext

    mathtext.warm_up()
    mathtext.wait_ready()          # the real start-up is over; now pretend it is still going on
    starting = threading.Event()
    monkeypatch.setattr(mathtext, "_warm", starting)
    lib = LibraryPanel()
    qtbot.addWidget(lib)
    pending = len(lib._pending)
    assert pending > 0 and not mathtext.ready()
    lib._icon_step()
    assert len(lib._pending) == pending and lib._idle.interval() == 20
    threading.Timer(0.05, starting.set).start()
    pixmap = mathtext.render(r"\Theta^{\{1\}}")   # waits for the warm-up, then parses on this thread
    assert mathtext.ready() and not pixmap.isNull()
    lib._icon_step()
    assert len(lib._pending) == pending - 1 and lib._idle.interval() == 0
