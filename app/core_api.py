"""The one place where the diagram widgets call fntk_core.

Everything here is a thin call into the core's public API (CONTRACT.md).  Where a
CONTRACT function is still missing from the installed core (branches ``core`` and
``diagrams`` deliver them), the closest existing API is used instead, inside the
``# PENDING-CORE`` blocks below, so that switching over is a deletion, not a rewrite.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fntk_core.diagrams import STATISTICS, Diagram, enumerate_diagrams, translate
from fntk_core.export import latex as _latex
from fntk_core.export.latex import label_tex


@dataclass(frozen=True)
class Entry:
    """One diagram of a statistic, as the widgets show it."""

    id: str  # "F/2": statistic / position in the core's list (1-based)
    statistic: str
    index: int
    diagram: Diagram
    coefficient: object  # sympy expression
    order: int
    symmetry_factor: object  # sympy Rational, 1/|Aut|
    description: str


@dataclass(frozen=True)
class TermRow:
    """One term of a recursion: its signed LaTeX and the library entry that produced it."""

    sign: str  # "+" or "-"
    body: str  # LaTeX without the sign
    source: str  # entry id such as "F/2"


def _core_library():
    """CONTRACT's ``fntk_core.diagrams.library()``, or None while only the module of that name exists."""
    from fntk_core import diagrams

    lib = getattr(diagrams, "library", None)
    return lib if callable(lib) else None  # PENDING-CORE: library() (branch diagrams)


def tensor_names() -> list[str]:
    """Every statistic with diagrams, in the order the library lists them."""
    library = _core_library()
    if library is None:  # PENDING-CORE
        from fntk_core.diagrams.library import library_tensors
        return library_tensors()
    return list(library())


def tensor_tex(name: str) -> str:
    """The tensor's symbol (K^{\\{1\\}}, \\Theta, ...)."""
    info = _tensor_info(name)
    if info is not None:
        return info.latex
    return _latex.TENSOR_TEX.get(name, name)  # PENDING-CORE: TENSORS[name].latex (branch core)


def tensor_description(name: str) -> str:
    """One sentence: what the tensor means (tooltips)."""
    info = _tensor_info(name)
    if info is not None:
        return f"{info.title}: {info.description}" if info.title else info.description
    return STATISTICS[name].description  # PENDING-CORE: TENSORS[name].description (branch core)


def _tensor_info(name: str):
    try:
        from fntk_core.tensors import TENSORS
    except ImportError:  # PENDING-CORE: fntk_core.tensors (branch core)
        return None
    return TENSORS.get(name)


def legs_tex(name: str) -> str:
    """The statistic's external legs with their sample labels, as mathtext."""
    kinds = {"z": "z", "ntk": r"\hat\Theta", "dntk": r"\widehat{dH}", "ddntkI": r"\widehat{dd_IH}",
             "ddntkII": r"\widehat{dd_{II}H}"}
    stat = STATISTICS[name]
    parts = [kinds.get(k, k) + "_{" + "".join(label_tex(s) for s in samples) + "}"
             for k, samples in zip(stat.legs, stat.samples)]
    return r",\ ".join(parts)


def entries(name: str) -> list[Entry]:
    """The packaged library's diagrams of ``name`` (fresh copies), with symmetry factors."""
    library = _core_library()
    if library is None:  # PENDING-CORE: library() (branch diagrams); the library is the enumeration
        return enumerated(name)
    return [Entry(f"{e.statistic}/{e.index}", e.statistic, e.index, e.diagram, e.coefficient, e.order,
                  e.symmetry_factor, e.description) for e in library()[name]]


def enumerated(name: str) -> list[Entry]:
    """Every diagram of ``name`` that the core's enumeration finds (fresh copies), with symmetry factors."""
    import sympy as sp

    from fntk_core.diagrams.library import describe

    return [Entry(f"{name}/{k}", name, k, e.diagram.copy(), e.coefficient, e.order,
                  sp.Rational(1, e.translation.automorphisms), describe(e))
            for k, e in enumerate(enumerate_diagrams(name), start=1)]


def _printer():
    try:
        from fntk_core.export.latex import mathtext_printer
    except ImportError:  # PENDING-CORE: mathtext_printer() (branch diagrams); today's printer parses in mathtext
        return None
    return mathtext_printer()


def _signed(term, external) -> tuple[str, str]:
    printer = _printer() or _latex._PRINTER  # PENDING-CORE: term_latex(term, printer) (branch diagrams)
    return printer.signed(term, external)


def recursion_rows(name: str) -> tuple[str, list[TermRow]]:
    """(left-hand side, one row per term) of the statistic's recursion, each term with its diagram's id."""
    try:
        from fntk_core.diagrams import assembled_recursion_with_sources
    except ImportError:  # PENDING-CORE: assembled_recursion_with_sources (branch diagrams): same order
        pairs = [(t, f"{name}/{k}", e.translation.labels)
                 for k, e in enumerate(enumerate_diagrams(name), start=1) for t in e.translation.terms]
        labels = STATISTICS[name].labels
    else:
        rec, sources = assembled_recursion_with_sources(name)
        pairs = [(t, s, rec.labels) for t, s in zip(rec.terms, sources)]
        labels = rec.labels
    rows = [TermRow(*_signed(t, lab), src) for t, src, lab in pairs]
    return _latex.lhs_latex(name, labels), rows


def diagram_value(d: Diagram) -> tuple[str, list[TermRow], int, object]:
    """(statistic, its terms, order in 1/n, symmetry factor) of one diagram; raises the core's RuleError."""
    import sympy as sp

    tr = translate(d)
    rows = [TermRow(*_signed(t, tr.labels), "") for t in tr.terms]
    return tr.statistic, rows, tr.order, sp.Rational(1, tr.automorphisms)


def recursion_latex(name: str) -> str:
    """The statistic's recursion as an amsmath align block (the core's printer)."""
    from fntk_core.diagrams import assembled_recursion

    return _latex.recursion_latex(assembled_recursion(name))


def tex_document(name: str, diagrams: list[tuple[str, Diagram]]) -> str:
    """A pdfLaTeX document: the recursion of ``name`` and a TikZ-Feynman figure per (caption, diagram)."""
    from fntk_core.export.tikz import COMPAT, tikz_snippet

    body = [recursion_latex(name)]
    for caption, d in diagrams:
        body += [rf"\noindent {caption}\par\medskip", tikz_snippet(d, caption), r"\par\bigskip"]
    # PENDING-CORE: the core's document (branch diagrams) defines every symbol it uses (r included)
    return _latex.latex_document("\n".join(body), "\\usepackage{tikz-feynman}\n" + COMPAT + "\n")


def load_diagrams(path) -> list[Diagram]:
    """Every diagram in an fntk export (diagram JSON or TikZ/LaTeX with embedded diagrams)."""
    try:
        from fntk_core.diagrams import load_diagrams as core_load
    except ImportError:  # PENDING-CORE: load_diagrams(path) (branch diagrams)
        from fntk_core.diagrams.io import load_diagram
        from fntk_core.export.tikz import diagrams_from_tikz
        text = Path(path).read_text(encoding="utf-8")
        return diagrams_from_tikz(text) if "%fntk|" in text else [load_diagram(path)]
    return core_load(path)


def write_text(path, text: str) -> None:
    """Write atomically (temporary file in the same folder, then os.replace)."""
    try:
        from fntk_core.files import atomic_write_text
    except ImportError:  # PENDING-CORE: fntk_core.files.atomic_write_text (branch core)
        atomic_file(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return
    atomic_write_text(path, text)


def atomic_file(path, write) -> None:
    """Call ``write(tmp_path)`` for a temporary file next to ``path``, then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
