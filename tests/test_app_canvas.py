"""DiagramCanvas, drawing, style and mathtext, driven through the real widget (offscreen Qt)."""
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("pytestqt")
from fntk_app import core_api, mathtext
from fntk_app.canvas import DiagramCanvas
from fntk_app.diagram_items import LabelItem, LineItem, NodeItem
from fntk_app.style import parse_style, style
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from fntk_core.diagrams import STATISTICS, Diagram
from fntk_core.diagrams.model import CUBIC_TYPES
from fntk_core.diagrams.rules import SLOTS
from fntk_core.tensors import TENSORS

DRAWN = ("leg", "cubic", "blob", "vertex")


def _xy(p):
    return (round(p.x(), 6), round(p.y(), 6))


def _ends(item):
    return {_xy(item.path().pointAtPercent(0)), _xy(item.path().pointAtPercent(1))}


@pytest.fixture
def canvas(qtbot):
    c = DiagramCanvas()
    qtbot.addWidget(c)
    c.resize(640, 420)
    c.show()
    qtbot.waitExposed(c)
    return c


def _entry(entry_id):
    name, k = entry_id.split("/")
    return core_api.entries(name)[int(k) - 1]


def _drawn_ids(c):
    out = set()
    for it in c.element_items().values():
        out.update(it.element_ids)
    return out


@pytest.mark.parametrize("name", ["K", "Theta1", "F", "A", "Q", "T"])
def test_every_diagram_of_a_tensor_is_drawn_in_the_papers_vocabulary(canvas, name):
    for e in core_api.entries(name):
        canvas.set_diagram(e.diagram)
        g = e.diagram.graph
        items = canvas.element_items()
        nodes = {k: it for k, it in items.items() if isinstance(it, NodeItem)}
        # every node a physicist draws has its own item; book-keeping nodes have none
        assert set(nodes) == {n for n, a in g.nodes(data=True) if a["kind"] in DRAWN}, e.id
        assert not {n for n, a in g.nodes(data=True) if a["kind"] in ("pair", "line")} & set(nodes)
        # every edge that carries a line is drawn by some line item
        lines = [it for it in items.values() if isinstance(it, LineItem)]
        drawn = set().union(*(it.element_ids for it in lines)) if lines else set()
        for eid, ed in e.diagram.edge_list():
            if ed["type"] in ("slot", "neuron", "deriv", "end", "vend"):
                assert eid in drawn, (e.id, eid, ed)
        # line kinds: external legs in their own style, vertex legs solid, internal lines in the line's style
        for it in lines:
            assert it.kind in style().lines
            if it.element_id in g.nodes and g.nodes[it.element_id]["kind"] == "line":
                assert it.kind == g.nodes[it.element_id]["type"]
        # correction vertices carry their tensor's label; external legs their sample labels
        labels = {it.element_ids[1]: it.tex for it in items.values() if isinstance(it, LabelItem)}
        for v in e.diagram.nodes("vertex"):
            assert labels[v] == TENSORS[g.nodes[v]["tensor"]].latex
        for leg in e.diagram.nodes("leg"):
            assert labels[leg].startswith(r"\alpha") or labels[leg].startswith(r"\delta")


def test_an_internal_line_taken_by_a_vertex_runs_from_its_cubic_vertex_to_the_vertex(canvas):
    e = _entry("F/2")
    canvas.set_diagram(e.diagram)
    items = canvas.element_items()
    g = e.diagram.graph
    for end in e.diagram.edges("L1", "end"):
        it = items[end["id"]]
        assert it.kind == "ntk" and it.pen().style() == Qt.PenStyle.CustomDashLine
        assert _ends(it) == {_xy(items[end["target"]].pos()), _xy(items["v1"].pos())}
    # the vertex's z-legs are solid lines into the blobs
    for p in e.diagram.nodes("pair"):
        deriv = e.diagram.edges(p, "deriv")[0]
        assert items[deriv["id"]].kind == "z" and items[deriv["id"]].pen().style() == Qt.PenStyle.SolidLine
    assert g.nodes["v1"]["tensor"] == "F"


def test_parallel_lines_are_drawn_side_by_side(canvas):
    e = _entry("Theta1/5")  # V on one blob: four vertex legs into the same blob
    canvas.set_diagram(e.diagram)
    items = canvas.element_items()
    bundle = [it for it in items.values() if isinstance(it, LineItem)
              and _ends(it) == {_xy(items["v1"].pos()), _xy(items["b1"].pos())}]
    assert len(bundle) == 4
    middles = {(round(it.path().pointAtPercent(0.5).x()), round(it.path().pointAtPercent(0.5).y())) for it in bundle}
    assert len(middles) == 4


def test_a_free_ntk_line_on_one_cubic_vertex_is_a_loop(canvas):
    d = Diagram()
    d.add_node("ntk1", "leg", leg="ntk", samples=["1", "2"], neural=["i1", "i2"], branch="W")
    d.add_node("c1", "cubic", type="W")
    d.add_node("L1", "line", type="ntk")
    d.add_node("b1", "blob")
    d.add_edge("ntk1", "c1", "slot", 0)
    d.add_edge("ntk1", "c1", "slot", 1)
    d.add_edge("ntk1", "L1", "src", 0)
    d.add_edge("L1", "c1", "end", 0)
    d.add_edge("L1", "c1", "end", 1)
    d.add_edge("c1", "b1", "neuron")
    canvas.set_diagram(d)  # no positions: the core's layout places it
    loop = canvas.element_items()["L1"]
    assert _ends(loop) == {_xy(canvas.element_items()["c1"].pos())}
    assert loop.path().boundingRect().width() > 10 and loop.path().boundingRect().height() > 10
    assert loop.kind == "ntk"


def test_zoom_keys_wheel_and_fit_change_the_view_transform(canvas, qtbot):
    canvas.set_diagram(_entry("F/2").diagram)
    canvas.setFocus()
    fitted = canvas.zoom()
    qtbot.keyClick(canvas, Qt.Key.Key_Plus)
    assert canvas.zoom() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus)
    assert canvas.zoom() == pytest.approx(fitted / 1.25)
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted)
    centre = QPointF(canvas.viewport().rect().center())
    wheel = QWheelEvent(centre, canvas.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.zoom() == pytest.approx(fitted * 1.25)


def test_middle_button_drag_pans(canvas, qtbot):
    canvas.set_diagram(_entry("F/2").diagram)
    for _ in range(6):
        canvas.zoom_in()
    h, v = canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=QPoint(200, 200))
    qtbot.mouseMove(vp, QPoint(150, 170))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=QPoint(150, 170))
    assert canvas.horizontalScrollBar().value() == h + 50
    assert canvas.verticalScrollBar().value() == v + 30


def test_clicking_an_item_selects_it_and_says_so(canvas, qtbot):
    canvas.set_diagram(_entry("F/2").diagram)
    blob = canvas.element_items()["b1"]
    with qtbot.waitSignal(canvas.selectionChanged):
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(blob.pos()))
    assert canvas.selected_ids() == ["b1"]


def test_export_png_svg_pdf(canvas, tmp_path):
    canvas.set_diagram(_entry("F/2").diagram)
    png, svg, pdf = tmp_path / "f.png", tmp_path / "f.svg", tmp_path / "f.pdf"
    for p in (png, svg, pdf):
        canvas.export_image(p)
        assert p.stat().st_size > 0
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 200
    assert image.pixelColor(0, 0).lightness() > 240  # white paper
    dark = sum(image.pixelColor(x, image.height() // 2).lightness() < 100 for x in range(image.width()))
    assert dark > 0  # something drawn across the middle
    ET.parse(svg)
    assert QSvgRenderer(str(svg)).isValid()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.svg"]  # no temporary files left
    with pytest.raises(ValueError, match="unknown picture format"):
        canvas.export_image(tmp_path / "f.bmp")


def test_style_covers_every_kind_of_the_model():
    st = style()
    for t in CUBIC_TYPES:
        assert st.node("cubic", t).meaning
    for kind in ("leg", "blob", "vertex"):
        assert st.node(kind).meaning
    for kind in SLOTS:
        assert st.line(kind).kind == kind
    looks = {(st.line(k).dash, st.line(k).double) for k in SLOTS}
    assert len(looks) == len(SLOTS) and ((), False) in looks  # z solid, every other kind distinct
    # the same names as the model, and the same TikZ options as the TikZ export
    from fntk_core.diagrams.model import LINE_STYLE
    from fntk_core.export.tikz import TIKZ_LINE

    for kind, name in LINE_STYLE.items():
        assert st.line(kind).name == name and st.line(kind).tikz == TIKZ_LINE[name]
        assert st.line(kind).double == name.startswith("double")
    for name, stat in STATISTICS.items():
        if stat.order == 1:
            assert name in st.vertices
    keys = [n.key for n in st.nodes.values()] + [ln.key for ln in st.lines.values()] + \
        [v.key for v in st.vertices.values()]
    assert len(keys) == len(set(keys))


def test_a_style_file_without_a_field_says_which():
    with pytest.raises(ValueError, match="format"):
        parse_style('{"format": "other"}')
    with pytest.raises(ValueError, match="'meaning'"):
        parse_style('{"format": "fntk-style", "geometry": {}, "palettes": {}, "vertices": {}, "lines": {},'
                    ' "nodes": {"blob": {"label": "b"}}}')


def test_mathtext_pixmaps_are_cached_and_sized_for_the_ratio(qapp):
    a = mathtext.render(r"\alpha_1\alpha_2", size=12, ratio=1)
    hits = mathtext.cache_info().hits
    b = mathtext.render(r"$\alpha_1\alpha_2$", size=12, ratio=1)
    assert mathtext.cache_info().hits == hits + 1 and a.size() == b.size()
    hi = mathtext.render(r"\alpha_1\alpha_2", size=12, ratio=2)
    assert hi.devicePixelRatio() == 2 and abs(hi.width() - 2 * a.width()) <= 2
    with pytest.raises(mathtext.MathTextError, match="cannot render"):
        mathtext.render(r"\frac{", size=12)


def test_export_to_a_missing_folder_names_it(canvas, tmp_path):
    from fntk_core.errors import FntkError

    canvas.set_diagram(_entry("F/1").diagram)
    with pytest.raises(FntkError, match="does not exist"):
        canvas.export_image(tmp_path / "nowhere" / "f.png")


def test_vertex_tooltips_say_what_the_tensor_means(canvas):
    canvas.set_diagram(_entry("F/2").diagram)
    assert TENSORS["F"].description in canvas.element_items()["v1"].toolTip()


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex not installed")
def test_the_tikz_names_of_the_style_compile_with_tikz_feynman(tmp_path):
    import subprocess

    st = style()
    vertices = [rf"\vertex [{n.tikz}] (v{k}) at ({1.5 * k}, 0) {{}};" for k, n in enumerate(st.nodes.values())]
    edges = [rf"(v{k}) -- [{ln.tikz}] (v{k + 1})" for k, ln in enumerate(st.lines.values())]
    (tmp_path / "s.tex").write_text("\\documentclass{article}\n\\usepackage{tikz-feynman}\n"
                                    "\\tikzfeynmanset{compat=1.1.0}\n\\begin{document}\n"
                                    "\\begin{tikzpicture}\n\\begin{feynman}\n" + "\n".join(vertices) +
                                    "\n\\diagram* {" + ",\n".join(edges) + "};\n"
                                    "\\end{feynman}\n\\end{tikzpicture}\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "s.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


def test_a_dark_system_palette_gives_a_dark_canvas(canvas, qapp, qtbot):
    from PySide6.QtGui import QColor, QPalette

    canvas.set_diagram(_entry("F/2").diagram)
    assert canvas.scene().backgroundBrush().color().lightness() > 200
    old = qapp.palette()
    dark = QPalette(old)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    try:
        qapp.setPalette(dark)  # delivered to widgets as posted events
        qtbot.waitUntil(lambda: canvas.scene().backgroundBrush().color().lightness() < 60)
        blob = canvas.element_items()["b1"]
        assert blob.stroke.lightness() > 200  # ink turns light
    finally:
        qapp.setPalette(old)
    qtbot.waitUntil(lambda: canvas.scene().backgroundBrush().color().lightness() > 200)


def test_space_and_left_drag_pans(canvas, qtbot):
    canvas.set_diagram(_entry("F/2").diagram)
    for _ in range(6):
        canvas.zoom_in()
    canvas.setFocus()
    h = canvas.horizontalScrollBar().value()
    vp = canvas.viewport()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(vp, QPoint(160, 200))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(160, 200))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.horizontalScrollBar().value() == h + 40
    assert canvas.selected_ids() == []  # a pan selects nothing


def test_the_drawing_stays_fitted_when_the_view_grows_until_the_user_zooms(canvas):
    canvas.set_diagram(_entry("F/2").diagram)
    small = canvas.zoom()
    canvas.resize(1280, 840)
    assert canvas.zoom() > small * 1.2  # (fit never magnifies beyond 2x)
    canvas.zoom_in()
    zoomed = canvas.zoom()
    canvas.resize(640, 420)
    assert canvas.zoom() == pytest.approx(zoomed)


def test_a_line_left_without_its_vertex_shows_a_junction_with_every_end(canvas):
    d = _entry("P/3").diagram  # a dNTK line (three ends) taken by a P vertex
    for n in [*d.nodes("pair"), "v1"]:
        d.remove_node(n)
    canvas.set_diagram(d)
    items = canvas.element_items()
    assert items["L1"].role == "junction"
    ends = d.edges("L1", "end")
    assert len(ends) == 3
    for e in ends:
        assert items[e["id"]].kind == "dntk"
        assert _ends(items[e["id"]]) == {_xy(items[e["target"]].pos()), _xy(items["L1"].pos())}


def test_set_diagram_keeps_a_copy_and_none_clears(canvas):
    d = _entry("F/1").diagram
    canvas.set_diagram(d)
    d.remove_node("b1")
    assert "b1" in canvas.diagram().graph and "b1" in canvas.element_items()
    shown = canvas.diagram()
    shown.remove_node("c1")
    assert "c1" in canvas.diagram().graph
    canvas.set_diagram(None)
    assert canvas.diagram() is None and canvas.element_items() == {} and not canvas.scene().items()


def test_the_diagram_widgets_never_import_pyplot_or_tensorflow():
    import subprocess
    import sys

    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
            "from fntk_app import canvas, library_panel, recursion_panel, mathtext\n"
            "mathtext.render(r'\\alpha_1')\n"
            "bad = [m for m in ('matplotlib.pyplot', 'tensorflow') if m in sys.modules]\n"
            "assert not bad, bad\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


def test_labels_that_are_no_formula_are_drawn_as_plain_text(canvas):
    d = _entry("F/1").diagram
    d.graph.nodes["z1"]["samples"] = ["a{b"]  # a file may name its samples anything short
    canvas.set_diagram(d)
    label = canvas.element_items()["z1:label"]
    assert label.pixmap().width() > 0 and label.pixmap().height() > 0
    with pytest.raises(mathtext.MathTextError):
        mathtext.render(label.tex)
