"""How much memory a solve needs, estimated before it starts, and the limit it must respect.

The four-index statistics (V, D, F, A, B) hold N^4 numbers per layer: 16.7 M (134 MB in
float64) at N = 64. A solve keeps (1) the requested tensors of every layer, then the result
expanded to all inputs, and (2) a working set for one layer step: the state of every tensor
the recursions need (this layer and the next), the compiled plan's index tables (one entry
per component of each expectation factor), the operands of the largest term (each expectation
factor dense over its field labels, once per pattern of its derivative labels) and one chunk of
quadrature nodes per quadrature thread (smooth activations) or one block of closed forms (the
ReLU family). The
estimate counts these from the recursions themselves, so a refused solve costs nothing.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import FntkError
from .gaussian import CLOSED_FORM_ROWS, quadrature_threads

FLOAT = 8  # bytes per float64 entry
OBJECT = 200  # bytes per mpmath number in an object array (pointer, mpf, its mantissa)
INDEX = 16  # bytes per plan-table entry: flat position and key id (two intp)
# Smooth activations: the quadrature of one set of sample indices evaluates its rule in chunks
# of 2^15 nodes (gaussian/smooth.py): coordinates, weights and the activation columns of a chunk.
QUADRATURE = 12 * 2**20
# The ReLU family: one block of at most CLOSED_FORM_ROWS sample-index sets evaluated together,
# with everything its reduction memoises (gaussian/piecewise_batch.py; measured 4 KiB per set).
CLOSED_FORM_ROW = 5 * 2**10
DEFAULT_MAX_MEMORY = 8 * 2**30
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryLimitError(FntkError, ValueError):
    """A solve whose estimated memory exceeds the limit; the message says how to raise it."""


@dataclass(frozen=True)
class MemoryEstimate:
    storage: int  # bytes: requested tensors of every layer and the result
    working: int  # bytes: one layer step
    n_inputs: int
    n_solved: int  # after merging coinciding inputs and rays

    @property
    def total(self) -> int:
        return self.storage + self.working

    def describe(self) -> str:
        return (f"memory estimate for {self.n_inputs} inputs ({self.n_solved} solved): {format_bytes(self.total)} "
                f"({format_bytes(self.storage)} results, {format_bytes(self.working)} working set)")


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def parse_bytes(text: str) -> int:
    """'8G', '500M', '24GB', '1.5GiB', '1000000' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"expected a positive size such as 8G, 500M or 24GB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def estimate_memory(recursions: dict, names, ranks: dict[str, int], *, n_inputs: int, n_solved: int,
                    depth: int, extended: bool = False, quadrature: bool = False) -> MemoryEstimate:
    """``recursions``: every needed recursion by name; ``names``: the requested tensors;
    ``quadrature``: the activation is smooth (expectations by quadrature, not closed forms)."""
    entry = OBJECT if extended else FLOAT
    n, big = n_solved, n_inputs
    history = depth * sum(n ** ranks[k] for k in names) * entry
    result = 2 * depth * sum(big ** ranks[k] for k in names) * FLOAT  # expanded, then indexed
    state = 2 * sum(n ** ranks[k] for k in recursions) * entry
    tables, operands = 0, 0
    for rec in recursions.values():
        for t in rec.terms:
            tables += INDEX * sum(_components(e, n) for e in t.expectations)
            # each factor is held as one dense array over its fields per pattern (compiled.py),
            # next to the lower tensor, the contraction's result and the output
            parts = sum(_fields(e) ** (len(e.labels) - _fields(e)) * n ** _fields(e) for e in t.expectations)
            tensor = n ** len(t.tensor.labels) if t.tensor is not None else 0
            operands = max(operands, entry * (parts + tensor + 2 * n ** max(4, len(rec.labels))))
    sets = sum(math.comb(n, d) for d in range(1, 5))
    quad = QUADRATURE * quadrature_threads() if quadrature else CLOSED_FORM_ROW * min(sets, CLOSED_FORM_ROWS)
    return MemoryEstimate(history + result, state + tables + operands + quad, n_inputs, n_solved)


def _fields(e) -> int:
    return len({f.label for f in e.fields})


def _components(e, n: int) -> int:
    """At most how many nonzero components the plan stores for an expectation factor: its field
    labels take any of n inputs, a derivative-only label only one of those fields' inputs."""
    fields = _fields(e)
    return n ** fields * min(fields, n) ** (len(e.labels) - fields)


def check_memory(estimate: MemoryEstimate, limit: int | None) -> None:
    if limit is not None and estimate.total > limit:
        raise MemoryLimitError(f"{estimate.describe()} exceeds the limit of {format_bytes(limit)}; raise it with "
                               "max_memory (fntk solve --max-memory), or solve fewer inputs or tensors")
