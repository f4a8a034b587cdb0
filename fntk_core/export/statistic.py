"""A statistic's diagrams as the documents ``fntk diagrams --statistic`` writes (JSON, LaTeX, TikZ).

Captions and JSON state each diagram's value exactly as its terms print
(symmetry factor, vertex weights and r included).
"""
from __future__ import annotations

import json

from ..diagrams.enumerate import assembled_recursion, enumerate_diagrams
from ..diagrams.io import diagram_to_json
from ..diagrams.model import DiagramError
from ..diagrams.rules import STATISTICS
from .latex import FntkLatexPrinter, latex_document, recursion_latex, translation_latex
from .tikz import COMPAT, legend_latex, tikz_document, tikz_snippet


def _found(name: str):
    if name not in STATISTICS:
        raise DiagramError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    return enumerate_diagrams(name)


def statistic_json(name: str) -> str:
    """{"statistic", "diagrams": [{"id", "coefficient", "order", "latex", "diagram"}]} (load_diagrams reads it)."""
    doc = {"statistic": name, "diagrams": [
        {"id": e.translation.source, "coefficient": str(e.coefficient), "order": e.order,
         "latex": translation_latex(e.translation), "diagram": diagram_to_json(e.diagram)} for e in _found(name)]}
    return json.dumps(doc, indent=1) + "\n"


def statistic_latex(name: str) -> str:
    """The assembled recursion of ``name`` as a LaTeX document."""
    _found(name)
    return latex_document(recursion_latex(assembled_recursion(name)))


def diagram_caption(e, printer: FntkLatexPrinter | None = None) -> str:
    """"F/2: <its value>", the value as the recursion prints that diagram's terms."""
    return rf"{e.translation.source}: \({translation_latex(e.translation, printer)}\)"


def statistic_tikz(name: str) -> str:
    """Every diagram of ``name`` as TikZ-Feynman, each captioned with its value."""
    found = _found(name)
    caps = [diagram_caption(e) for e in found]
    return tikz_document([tikz_snippet(e.diagram, e.translation.source) for e in found], caps)


def statistic_document(name: str) -> str:
    """One pdfLaTeX document: the recursion of ``name``, the line legend, then each of its
    diagrams as TikZ-Feynman captioned with its value (the app's "Export .tex")."""
    body = [recursion_latex(assembled_recursion(name)), legend_latex()]
    for e in _found(name):
        body += [rf"\noindent {diagram_caption(e)}\par\medskip", tikz_snippet(e.diagram, e.translation.source),
                 r"\par\bigskip"]
    return latex_document("\n".join(body), "\\usepackage{tikz-feynman}\n" + COMPAT + "\n")


def statistic_lines(name: str) -> list[str]:
    """One line per diagram for a terminal: id, coefficient, order, value."""
    return [f"{e.translation.source}: coefficient {e.coefficient}, O(1/n^{e.order}): "
            f"{translation_latex(e.translation)}" for e in _found(name)]
