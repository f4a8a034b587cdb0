"""fntk's own user-facing errors: one base class so front ends catch only these.

A front end (the cli, the app) reports an ``FntkError`` as a one-line message and lets
anything else surface as a bug. Errors that used to be plain ``ValueError`` subclasses keep
``ValueError`` as a second base so existing ``except ValueError`` code still works.
"""
from __future__ import annotations


class FntkError(Exception):
    """An error caused by the user's input or environment; its message says what to change."""


class NonFiniteError(FntkError, ValueError):
    """A computed statistic is inf or NaN; the message names the tensor and layer.

    Pass ``allow_nonfinite=True`` to the solver or sampler to keep such values instead.
    """

    def __init__(self, message: str, *, tensor: str | None = None, layer: int | None = None):
        super().__init__(message)
        self.tensor = tensor
        self.layer = layer


class DegenerateInputsError(FntkError, ValueError):
    """Inputs for which a statistic has no value (a vanishing kernel, or exactly parallel
    preactivations under the ReLU family's delta functions); the message names the inputs."""
