"""fntk_core: finite-width NTK statistics from Feynman rules, without any window.

Public API (see README):
    NetworkSpec, get_activation       -- describe the network
    solve, finite_width_prediction    -- recursion engine (docs/theory.md §3)
    chi_parallel, chi_perp, find_critical -- criticality (docs/theory.md §6)
    Result                            -- fntk-result data shared by solver and sampler
TensorFlow is never imported here; ``fntk_core.sampling`` imports it lazily.
"""
from .activations import Activation, get_activation, parse_formula, FormulaError
from .spec import NetworkSpec, SpecError
from .results import Result, ResultError

__all__ = [
    "Activation", "get_activation", "parse_formula", "FormulaError",
    "NetworkSpec", "SpecError", "Result", "ResultError",
]
__version__ = "0.1.0"
