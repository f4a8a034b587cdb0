"""Stand-in until branch core lands (CONTRACT: fntk_core/errors.py); replaced at merge."""
from __future__ import annotations


class FntkError(Exception):
    """An error caused by the user's input or environment; its message says what to change."""
