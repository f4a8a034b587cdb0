"""LaTeX and TikZ-Feynman export: notation, pdfLaTeX compiles, TikZ re-import, CLI."""
import json
import shutil
import subprocess

import pytest

from fntk_core.cli import main
from fntk_core.diagrams import enumerate_diagrams, translate
from fntk_core.diagrams.io import diagram_to_json
from fntk_core.diagrams.library import library_tensors
from fntk_core.export import diagram_from_tikz, latex_document, recursion_latex, tikz_document, tikz_snippet
from fntk_core.export.tikz import diagrams_from_tikz
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
    assert all(d["order"] == 1 and d["latex"] for d in doc["diagrams"])
    one = tmp_path / "one.json"
    one.write_text(json.dumps(doc["diagrams"][1]["diagram"]))
    assert main(["diagrams", "--check", str(one)]) == 0
    assert '"statistic": "F"' in capsys.readouterr().out
    assert main(["diagrams", "--check", str(tmp_path / "F_tikz.tex")]) == 0
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
