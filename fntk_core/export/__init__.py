"""Exporters: LaTeX (amsmath, one SymPy printer owns the notation; a mathtext mode) and TikZ-Feynman.

Depends on fntk_core.diagrams, never the reverse.
"""
from .latex import (FntkLatexPrinter, diagram_term_latex, latex_document, mathtext_printer, notation_latex,
                    recursion_latex, term_latex, translation_latex)
from .tikz import diagram_from_tikz, tikz_document, tikz_snippet

__all__ = ["FntkLatexPrinter", "mathtext_printer", "recursion_latex", "term_latex", "translation_latex",
           "diagram_term_latex", "latex_document", "notation_latex", "tikz_snippet", "tikz_document",
           "diagram_from_tikz"]
