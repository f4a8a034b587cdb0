"""Exporters: LaTeX (amsmath, one SymPy printer owns the notation) and TikZ-Feynman."""
from .latex import FntkLatexPrinter, latex_document, recursion_latex, term_latex, translation_latex
from .tikz import diagram_from_tikz, tikz_document, tikz_snippet

__all__ = ["FntkLatexPrinter", "recursion_latex", "term_latex", "translation_latex", "latex_document",
           "tikz_snippet", "tikz_document", "diagram_from_tikz"]
