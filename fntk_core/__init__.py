"""fntk_core: finite-width NTK statistics from Feynman rules, without any window.

Public API::

    NetworkSpec, get_activation              -- describe the network
    solve, iter_solve                        -- the recursion solver (per layer, cancellable)
    sample, iter_sample, SamplingSession     -- the Monte-Carlo sampler (TensorFlow, when it runs)
    find_critical, chi_parallel, chi_perp    -- criticality
    Diagram, load_diagram, library           -- Feynman diagrams
    Result, ResultMeta, TENSORS              -- results and the registry of tensors
    Progress                                 -- what progress callbacks receive
    FntkError, NonFiniteError, SpecError, FormulaError, ResultError -- fntk's own errors

Names other than the descriptions and errors load on first use, so ``import fntk_core`` is
quick and never imports TensorFlow (the sampler imports it when a job starts).
"""
from importlib import import_module

from .activations import Activation, FormulaError, get_activation, parse_formula
from .errors import FntkError, NonFiniteError
from .jobs import Progress
from .results import Result, ResultError, ResultMeta
from .spec import NetworkSpec, SpecError
from .tensors import TENSORS, TensorInfo

# name -> module that defines it, imported when the name is first used
_LAZY = {
    "solve": "fntk_core.solver", "iter_solve": "fntk_core.solver",
    "sample": "fntk_core.sampling", "iter_sample": "fntk_core.sampling",
    "SamplingSession": "fntk_core.sampling",
    "find_critical": "fntk_core.criticality", "chi_parallel": "fntk_core.criticality",
    "chi_perp": "fntk_core.criticality",
    "Diagram": "fntk_core.diagrams", "load_diagram": "fntk_core.diagrams", "library": "fntk_core.diagrams",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fntk_core' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Activation", "get_activation", "parse_formula", "NetworkSpec",
    "Result", "ResultMeta", "TENSORS", "TensorInfo", "Progress",
    "FntkError", "NonFiniteError", "SpecError", "FormulaError", "ResultError",
    "solve", "iter_solve", "sample", "iter_sample", "SamplingSession",
    "find_critical", "chi_parallel", "chi_perp", "Diagram", "load_diagram", "library",
]
__version__ = "0.1.0"
