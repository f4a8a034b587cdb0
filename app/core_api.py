"""The one place where the diagram widgets call fntk_core (its public API)."""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from fntk_core.diagrams import (
    STATISTICS,
    Diagram,
    LibraryEntry,
    assembled_recursion,
    assembled_recursion_with_sources,
    enumerate_diagrams,
    library,
    load_diagrams,
    translate,
)
from fntk_core.diagrams.library import describe
from fntk_core.export import latex as _latex
from fntk_core.export.latex import label_tex
from fntk_core.files import atomic_write_bytes, atomic_write_text
from fntk_core.tensors import TENSORS

__all__ = [
    "TermRow",
    "atomic_write_bytes",
    "atomic_write_text",
    "diagram_value",
    "entries",
    "enumerated",
    "legs_tex",
    "load_diagrams",
    "recursion_latex",
    "recursion_rows",
    "tensor_description",
    "tensor_names",
    "tensor_tex",
    "tensor_title",
    "tex_document",
]


_MATHTEXT = _latex.mathtext_printer()


@dataclass(frozen=True)
class TermRow:
    """One term of a recursion: its sign, its LaTeX without the sign, the library entry that produced it."""

    sign: str  # "+" or "-"
    body: str
    source: str  # entry id such as "F/2" ("" for a diagram outside the library)


def tensor_names() -> list[str]:
    """Every statistic with diagrams, in the library's order."""
    return list(library())


def tensor_tex(name: str) -> str:
    """The tensor's symbol (K^{\\{1\\}}, \\Theta, ...)."""
    return TENSORS[name].latex


def tensor_title(name: str) -> str:
    """A few words naming the tensor ("NTK mean, 1/n correction")."""
    return TENSORS[name].title


def tensor_description(name: str) -> str:
    """One line: what the tensor means (tooltips)."""
    info = TENSORS[name]
    return f"{info.title}: {info.description}"


_LEG_TEX = {"z": "z", "ntk": r"\hat\Theta", "dntk": r"\widehat{dH}", "ddntkI": r"\widehat{dd_IH}",
            "ddntkII": r"\widehat{dd_{II}H}"}


def legs_tex(name: str) -> str:
    """The statistic's external legs with their sample labels, as mathtext."""
    stat = STATISTICS[name]
    parts = [_LEG_TEX.get(k, k) + "_{" + "".join(label_tex(s) for s in samples) + "}"
             for k, samples in zip(stat.legs, stat.samples)]
    return r",\ ".join(parts)


def entries(name: str) -> tuple[LibraryEntry, ...]:
    """The packaged library's diagrams of ``name`` (fresh copies), with symmetry factors."""
    return library()[name]


def enumerated(name: str) -> list[LibraryEntry]:
    """Every diagram of ``name`` that the core's enumeration finds (fresh copies), as library-style entries."""
    return [LibraryEntry(name, k, e.diagram, e.coefficient, e.order, sp.Rational(1, e.translation.automorphisms),
                         describe(e), e.translation)
            for k, e in enumerate(enumerate_diagrams(name), start=1)]


def _signed(term, external) -> tuple[str, str]:
    """(sign, body) of a term in the core's notation, in a form matplotlib's mathtext parses."""
    return _MATHTEXT.signed(term, external)


def recursion_rows(name: str) -> tuple[str, list[TermRow]]:
    """(left-hand side, one row per term) of the statistic's recursion, each term with its diagram's id."""
    rec, sources = assembled_recursion_with_sources(name)
    return _latex.lhs_latex(name, rec.labels), [TermRow(*_signed(t, rec.labels), s) for t, s in
                                                zip(rec.terms, sources)]


def diagram_value(d: Diagram) -> tuple[str, list[TermRow], int, sp.Rational]:
    """(statistic, its terms, order in 1/n, symmetry factor) of one diagram; raises the core's DiagramError."""
    tr = translate(d)
    return tr.statistic, [TermRow(*_signed(t, tr.labels), "") for t in tr.terms], tr.order, \
        sp.Rational(1, tr.automorphisms)


def recursion_latex(name: str) -> str:
    """The statistic's recursion as an amsmath align block (the core's printer)."""
    return _latex.recursion_latex(assembled_recursion(name))


def tex_document(name: str) -> str:
    """A pdfLaTeX document: the recursion of ``name``, then each diagram as TikZ-Feynman with its value."""
    from fntk_core.export.statistic import statistic_document

    return statistic_document(name)
