"""Conventions shared by long jobs (solver, sampler, studies) so a GUI drives them alike.

``cancel`` is either a callable returning True when the job should stop or an object
with ``is_set()`` (a ``threading.Event``); jobs poll it between units of work and return
what they finished.
"""
from __future__ import annotations


def is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())
