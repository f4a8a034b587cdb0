"""Feynman diagrams as first-class objects: model, rules, enumeration, translation.

Public API::

    Diagram, DiagramError, RuleError          -- the typed graph and its errors
    translate(diagram) -> Translation         -- check the rules, read off the Terms
    enumerate_diagrams(name) -> (Enumerated, ...)
    assembled_recursion(name), assembled_recursions(names) -> Recursion(s)
    load_diagram / dump_diagram / diagram_from_json / diagram_to_json
    STATISTICS, BRANCHES                      -- the rules as data (rules.py)
"""
from .enumerate import Enumerated, assembled_recursion, assembled_recursions, enumerate_diagrams
from .model import Diagram, DiagramError, RuleError
from .rules import BRANCHES, STATISTICS
from .translate import Translation, translate

__all__ = [
    "Diagram", "DiagramError", "RuleError", "Translation", "translate", "Enumerated",
    "enumerate_diagrams", "assembled_recursion", "assembled_recursions", "STATISTICS", "BRANCHES",
]
