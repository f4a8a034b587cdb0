"""The core names the app uses (CONTRACT, branch core), in one place.

Until branch core's iter_solve / Progress / TENSORS land, the fallbacks below stand in
with the same names and meaning; the merge with core removes them (see the report).
"""
from __future__ import annotations

from dataclasses import dataclass

try:
    from fntk_core.jobs import Progress
except ImportError:  # stand-in until core lands
    @dataclass(frozen=True)
    class Progress:
        done: int
        total: int
        stage: str
        partial: object = None

try:
    from fntk_core.solver import iter_solve
except ImportError:  # stand-in until core lands: one solve, yielding only the final result
    def iter_solve(spec, inputs, tensors, *, recursions=None, cancel=None):
        from fntk_core.solver import solve

        yield solve(spec, inputs, tensors, recursions=recursions, cancel=cancel)

try:
    from fntk_core.tensors import TENSORS
except ImportError:  # stand-in until core lands
    from fntk_core.recursions.library import IMPLEMENTED
    from fntk_core.results import FIRST_ORDER, TENSOR_RANKS

    @dataclass(frozen=True)
    class _TensorInfo:
        name: str
        rank: int
        order: int
        axes: tuple
        title: str
        description: str
        solver: bool

    TENSORS = {n: _TensorInfo(n, r, int(n in FIRST_ORDER), tuple(f"sample index {i + 1}" for i in range(r)),
                              n, n, n in IMPLEMENTED) for n, r in TENSOR_RANKS.items()}

__all__ = ["TENSORS", "Progress", "iter_solve"]
