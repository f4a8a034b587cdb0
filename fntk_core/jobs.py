"""The one protocol of long jobs (solver, sampler, studies), so a GUI drives them alike.

- progress: a callable receiving one :class:`Progress` after each unit of work;
- cancel: ``None``, a callable returning True when the job should stop, or an object with
  ``is_set()`` (a ``threading.Event``); jobs poll it between units of work;
- on cancellation a job returns what it finished, with ``meta["cancelled"] is True``;
  it never raises for it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import Result


@dataclass(frozen=True)
class Progress:
    done: int  # units finished (layers for the solver, networks for the sampler)
    total: int
    stage: str  # "solve", "sample", or a study's point label
    partial: Result | None = None  # the result so far, when the job has one

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


def is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def report(progress: ProgressCallback | None, done: int, total: int, stage: str, partial=None) -> None:
    """Call ``progress`` (if any) with one Progress record."""
    if progress is not None:
        progress(Progress(int(done), int(total), stage, partial))
