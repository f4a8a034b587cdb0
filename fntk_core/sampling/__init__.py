"""Monte-Carlo ensembles of finite-width MLPs (TensorFlow), docs/theory.md §1-2.

    sample(spec, inputs, *, networks, width=None, outputs=None, tensors=(...), seed=0,
           dtype="float64", chunk=None, progress=None, cancel=None, rao_blackwell=True,
           control_variates=True, compare_plain=False, allow_nonfinite=False) -> Result
    iter_sample(..., every=k)  -> generator of partial Results, then the final one
    SamplingSession(spec, inputs, networks=..., ...): start(), step(), snapshot(), cancel(),
           done, result() -- the same job driven step by step (e.g. by a GUI worker)

Importing this package does not import TensorFlow: the engine is loaded when a job starts.
"""
from __future__ import annotations

import os

# TensorFlow's C++ info and warning lines are noise in a progress display; set before
# TensorFlow is first imported (lazily, by the engine).  An explicit value still wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ..tensors import DEFAULT_TENSORS
from .api import SamplingSession, configure_devices, iter_sample, sample

__all__ = ["DEFAULT_TENSORS", "SamplingSession", "configure_devices", "iter_sample", "sample"]
