"""Feynman diagrams as values: model, rules, enumeration, translation, files, edits.

Public API::

    Diagram, DiagramError, RuleError            -- the typed graph and its errors
    Rule, RuleViolation, check_all(diagram)     -- the rules as an enumeration; every broken one
    translate(diagram) -> Translation           -- check the rules, read off the Terms
    enumerate_diagrams(name) -> (Enumerated, ...)   (fresh copies on every call)
    assembled_recursion(name), assembled_recursions(names), assembled_recursion_with_sources(name)
    library() -> {statistic: (LibraryEntry, ...)}   -- the packaged library (fresh copies)
    load_diagram(path), load_diagrams(path), dump_diagram, diagram_from_json, diagram_to_json
    check_file(path), violation_lines(reports), term_text(term)  -- `fntk diagrams --check` (report.py)
    STATISTICS, BRANCHES                        -- the rules as data (rules.py)
    fntk_core.diagrams.edit                     -- pure edit operations with inverses: apply(d, op)
    model.LINE_STYLE                            -- how each leg/line kind is drawn (TikZ and the canvas)
"""
from .enumerate import (Enumerated, assembled_recursion, assembled_recursion_with_sources, assembled_recursions,
                        enumerate_diagrams)
from .io import diagram_from_json, diagram_to_json, dump_diagram, load_diagram, load_diagrams
from .library import LibraryEntry, library
from .model import Diagram, DiagramError, RuleError
from .report import check_file, term_text, violation_lines
from .rules import BRANCHES, STATISTICS
from .translate import Translation, check_all, translate
from .violations import Rule, RuleViolation

__all__ = [
    "Diagram", "DiagramError", "RuleError", "Rule", "RuleViolation", "check_all", "Translation", "translate",
    "Enumerated", "enumerate_diagrams", "assembled_recursion", "assembled_recursions",
    "assembled_recursion_with_sources", "load_diagram", "load_diagrams", "dump_diagram", "diagram_from_json",
    "diagram_to_json", "library", "LibraryEntry", "check_file", "term_text", "violation_lines", "STATISTICS",
    "BRANCHES",
]
