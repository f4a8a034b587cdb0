"""LaTeX and TikZ-Feynman export: notation, pdfLaTeX compiles, TikZ re-import, CLI."""
import io
import json
import shutil
import subprocess

import pytest
import sympy as sp

from fntk_core.cli import main
from fntk_core.diagrams import DiagramError, assembled_recursion, enumerate_diagrams, load_diagrams, translate
from fntk_core.diagrams.io import diagram_to_json
from fntk_core.diagrams.library import library_tensors
from fntk_core.diagrams.report import check_file, term_text
from fntk_core.export import (FntkLatexPrinter, diagram_from_tikz, diagram_term_latex, latex_document,
                              mathtext_printer, notation_latex, recursion_latex, term_latex, tikz_document,
                              tikz_snippet, translation_latex)
from fntk_core.export.latex import LAYER, tensor_tex
from fntk_core.export.statistic import statistic_json, statistic_latex, statistic_tikz
from fntk_core.export.tikz import diagrams_from_tikz, legend_latex
from fntk_core.recursions.terms import r
from fntk_core.recursions.library import IMPLEMENTED, get_recursion

PDFLATEX = shutil.which("pdflatex")
needs_tex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not installed (apt-get install texlive-latex-extra "
                                                        "texlive-pictures); CI installs it")


def compile_tex(tmp_path, name, text):
    (tmp_path / f"{name}.tex").write_text(text)
    res = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / f"{name}.pdf").exists()


def test_notation():
    tex = recursion_latex(get_recursion("Theta1"))
    for piece in [r"\Theta^{\{1\}(\ell+1)}_{\alpha_{1}\alpha_{2}}", r"\langle", r"\rangle_{K^{(\ell)}}",
                  r"\sum_{\beta_{1}\beta_{2}}", r"\sigma'_{\alpha_{1}}", r"K^{\{1\}(\ell)}", r"\lambda_{W}",
                  r"V^{(\ell)}_{(\beta_{1}\beta_{2})(\beta_{3}\beta_{4})}", r"\begin{align}", r"\nonumber\\"]:
        assert piece in tex, piece
    assert tex.count(r"\nonumber\\") == len(get_recursion("Theta1").terms) - 1  # one term per line
    short = recursion_latex(get_recursion("K"))
    assert "C_{b}" in short and r"\nonumber" not in short
    assert r"- C_{W}^{2}" in recursion_latex(get_recursion("V"))


@needs_tex
def test_recursions_and_all_diagrams_compile(tmp_path):
    body = "\n".join(recursion_latex(get_recursion(n)) for n in IMPLEMENTED)
    compile_tex(tmp_path, "recursions", latex_document(body))
    snippets, caps = [], []
    for name in library_tensors():
        for k, e in enumerate(enumerate_diagrams(name)):
            snippets.append(tikz_snippet(e.diagram, f"{name} {k + 1}"))
            caps.append(f"{name} diagram {k + 1}")
    doc = tikz_document(snippets, caps)
    compile_tex(tmp_path, "diagrams", doc)
    back = diagrams_from_tikz(doc)
    assert len(back) == len(snippets)
    compile_tex(tmp_path, "theta1_diagrams", statistic_tikz("Theta1"))  # captions with the full values
    compile_tex(tmp_path, "theta1", statistic_latex("Theta1"))


def test_tikz_reimport_gives_the_same_diagram():
    for name in library_tensors():
        for e in enumerate_diagrams(name):
            d = diagram_from_tikz(tikz_snippet(e.diagram))
            assert diagram_to_json(d) == diagram_to_json(e.diagram)
            assert d.is_isomorphic(e.diagram)
            assert translate(d).terms == e.translation.terms
    snippet = tikz_snippet(enumerate_diagrams("F")[1].diagram)
    assert r"\tikzfeynmanset{compat=1.1.0}" in snippet and " at (" in snippet


def test_cli_diagrams_json_and_check(tmp_path, capsys):
    out = tmp_path / "F.json"
    assert main(["diagrams", "--statistic", "F", "--json", str(out), "--tikz", str(tmp_path / "F_tikz.tex"),
                 "--latex", str(tmp_path / "F.tex")]) == 0
    doc = json.loads(out.read_text())
    assert doc["statistic"] == "F" and len(doc["diagrams"]) == 2
    assert [d["coefficient"] for d in doc["diagrams"]] == ["C_W**2", "C_W**2"]
    assert [d["id"] for d in doc["diagrams"]] == ["F/1", "F/2"]
    assert all(d["order"] == 1 and d["latex"] for d in doc["diagrams"])
    one = tmp_path / "one.json"
    one.write_text(json.dumps(doc["diagrams"][1]["diagram"]))
    assert main(["diagrams", "--check", str(one)]) == 0
    report = json.loads(capsys.readouterr().out)
    (rep,) = report["diagrams"]
    assert rep["ok"] and rep["statistic"] == "F" and rep["coefficient"] == "C_W**2" and rep["prefactor"] == "C_W**2*r"
    assert rep["terms"] == ["C_W**2*r * sum_{b1 b2} <d_b1 (sigma_1 sigma'_3)> <d_b2 (sigma_2 sigma'_4)> F[b1 3 b2 4]"]
    broken = doc["diagrams"][1]["diagram"]
    broken["topology"]["nodes"] = [n for n in broken["topology"]["nodes"] if n["kind"] not in ("vertex", "pair")]
    broken["topology"]["edges"] = [e for e in broken["topology"]["edges"] if e["type"] not in ("pair", "deriv", "vend")]
    broken["presentation"]["positions"] = {k: v for k, v in broken["presentation"]["positions"].items()
                                           if k[0] not in "vp"}
    one.write_text(json.dumps(broken))
    capsys.readouterr()
    assert main(["diagrams", "--check", str(one)]) == 2
    err = capsys.readouterr().err.strip()
    assert "[rule mean-line]" in err and len(err.splitlines()) == 1
    assert main(["diagrams", "--statistic", "Nope"]) == 2
    assert main(["diagrams", "--check", str(tmp_path / "missing.json")]) == 2


def test_cli_check_reads_every_diagram_of_fntks_own_exports(tmp_path, capsys):
    """The multi-diagram JSON of --json and every diagram of a TikZ export, by content whatever the name."""
    assert main(["diagrams", "--statistic", "Theta1", "--json", str(tmp_path / "t.json"),
                 "--tikz", str(tmp_path / "t.tex")]) == 0
    n = len(enumerate_diagrams("Theta1"))
    # names that lie about the content: JSON called .TEX, TeX called .Json, no extension
    (tmp_path / "a.TEX").write_bytes((tmp_path / "t.json").read_bytes())
    (tmp_path / "b.Json").write_bytes((tmp_path / "t.tex").read_bytes())
    (tmp_path / "c").write_bytes((tmp_path / "t.tex").read_bytes())
    for name in ("t.json", "t.tex", "a.TEX", "b.Json", "c"):
        capsys.readouterr()
        assert main(["diagrams", "--check", str(tmp_path / name)]) == 0, name
        out = capsys.readouterr().out
        reports = json.loads(out)["diagrams"]
        assert [r["diagram"] for r in reports] == list(range(1, n + 1)) and all(r["ok"] for r in reports)
        assert "Term(" not in out and "Expectation(" not in out and "Field(" not in out
    want = [term_text(t, e.translation.labels) for e in enumerate_diagrams("Theta1") for t in e.translation.terms]
    assert [t for r in reports for t in r["terms"]] == want
    (tmp_path / "junk.json").write_text("hello")
    assert main(["diagrams", "--check", str(tmp_path / "junk.json")]) == 2
    assert "not an fntk diagram file" in capsys.readouterr().err


def test_check_reports_every_broken_rule_of_every_diagram(tmp_path, capsys):
    good, bad = enumerate_diagrams("F")
    bad = bad.diagram
    bad.graph.nodes["v1"]["tensor"] = "D"
    bad.add_node("b9", "blob")
    (tmp_path / "two.tex").write_text(tikz_document([tikz_snippet(good.diagram), tikz_snippet(bad)]))
    reports = check_file(tmp_path / "two.tex")
    assert reports[0]["ok"] and not reports[1]["ok"]
    rules = {v["rule"] for v in reports[1]["violations"]}
    assert {"vertex-pattern", "blob-empty"} <= rules
    assert main(["diagrams", "--check", str(tmp_path / "two.tex")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(reports[1]["violations"]) and all(line.startswith("fntk diagrams: diagram 2:") for line in err)


def test_load_diagrams_reads_each_export(tmp_path):
    found = enumerate_diagrams("Q")
    (tmp_path / "q.tex").write_text(statistic_tikz("Q"))
    (tmp_path / "q.json").write_text(statistic_json("Q"))
    (tmp_path / "one").write_text(json.dumps(diagram_to_json(found[0].diagram)))
    for name in ("q.tex", "q.json"):
        assert load_diagrams(tmp_path / name) == [e.diagram for e in found]
    assert load_diagrams(tmp_path / "one") == [found[0].diagram]
    (tmp_path / "bad.json").write_text('{"statistic": "Q", "diagrams": [{"diagram": {"format": "x"}}]}')
    with pytest.raises(DiagramError, match="diagram 1"):
        load_diagrams(tmp_path / "bad.json")


class _Marked(FntkLatexPrinter):
    def _print_Field(self, f):
        return "MARK"


def test_recursion_latex_uses_the_printer_it_is_given():
    rec = get_recursion("F")
    assert "MARK" in recursion_latex(rec, printer=_Marked()) and "MARK" not in recursion_latex(rec)
    t = rec.terms[0]
    assert "MARK" in term_latex(t, printer=_Marked())
    assert "MARK" in diagram_term_latex(enumerate_diagrams("F")[0].diagram, printer=_Marked())


def test_mathtext_renders_every_diagram_term_and_every_recursion():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext

    printer = mathtext_printer()
    texts = []
    for name in library_tensors():
        for e in enumerate_diagrams(name):
            texts.append(diagram_term_latex(e.diagram, printer))
        texts.append(recursion_latex(assembled_recursion(name), printer))
    texts += [recursion_latex(get_recursion(n), printer) for n in IMPLEMENTED]
    for text in texts:
        for banned in (r"\left", r"\right", r"\!", "&", r"\begin", r"\nonumber"):
            assert banned not in text, (banned, text)
        buf = io.BytesIO()
        mathtext.math_to_image(f"${text}$", buf, format="png", dpi=40)
        assert buf.getvalue().startswith(b"\x89PNG")


def test_documents_define_every_symbol_they_use():
    legend = notation_latex()
    printer = FntkLatexPrinter()
    recs = [assembled_recursion(n) for n in library_tensors()]
    symbols = {s for rec in recs for t in rec.terms for s in sp.sympify(t.coeff).free_symbols}
    assert r in symbols
    for s in symbols:
        assert f"\\item[$ {printer.doprint(s)} $]" in legend, s
    tensors = {t.tensor.name for rec in recs for t in rec.terms if t.tensor} | {rec.name for rec in recs}
    for name in tensors:
        assert tensor_tex(name, (), LAYER).rsplit("_{", 1)[0] in legend, name
    assert "\\item[$ r $]" in legend
    for doc in (latex_document("x"), tikz_document([]), statistic_latex("F"), statistic_tikz("F")):
        assert legend in doc
    assert legend_latex() in statistic_tikz("F")


def test_tikz_captions_state_the_value_the_terms_print():
    for name in ("F", "Theta1", "K", "V"):
        doc = statistic_tikz(name)
        for e in enumerate_diagrams(name):
            value = translation_latex(e.translation)
            assert rf"{e.translation.source}: \({value}\)" in doc
            # r is printed in the caption exactly when the diagram has a vertex
            assert (" r " in f" {value} ".replace("}", " ")) == bool(e.diagram.nodes("vertex"))
        assert r"\(C_{W}^{2}\)" not in doc  # the old caption left out r


def test_line_styles_have_one_source():
    from fntk_core.diagrams.model import LINE_STYLE
    from fntk_core.export.tikz import TIKZ_LINE, _LINE_STYLE

    assert set(LINE_STYLE) == {"z", "ntk", "dntk", "ddntkI", "ddntkII"}
    assert LINE_STYLE["z"] == "solid" and LINE_STYLE["ntk"] == "dotted" and LINE_STYLE["dntk"] == "dash-dotted"
    assert _LINE_STYLE == {k: TIKZ_LINE[v] for k, v in LINE_STYLE.items()}
    dntk = tikz_snippet(enumerate_diagrams("P")[-1].diagram)
    ntk = tikz_snippet(enumerate_diagrams("Theta1")[-1].diagram)
    assert "[plain, dash dot" in dntk and "[plain, dotted" in ntk
    assert "charged scalar" not in dntk and "ghost" not in ntk


def test_export_depends_on_diagrams_never_the_reverse():
    """No module of fntk_core.diagrams imports fntk_core.export (the command module moves to the cli)."""
    import ast
    import pathlib

    import fntk_core.diagrams as pkg

    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        if path.name == "command.py":  # the `fntk diagrams` command, moving to fntk_core/cli/diagrams.py
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert "export" not in mod, f"{path.name} imports {mod}"
