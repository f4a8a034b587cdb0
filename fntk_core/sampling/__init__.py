"""Monte-Carlo ensembles of finite-width MLPs (TensorFlow), docs/theory.md §1-2.

    sample(spec, inputs, *, networks, width=None, outputs=None, tensors=(...), seed=0,
           dtype="float64", chunk=None, progress=None, cancel=None, rao_blackwell=True,
           control_variates=True, compare_plain=False) -> Result
    iter_sample(..., every=k)  -> generator of partial Results, then the final one

Importing this package does not import TensorFlow: the engine is loaded when a job starts.
"""
from __future__ import annotations

import os

# TensorFlow's C++ info and warning lines are noise in a progress display; set before
# TensorFlow is first imported (lazily, by the engine).  An explicit value still wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_TENSORS = ("K", "Theta", "K1", "Theta1", "V", "D", "F", "A", "B")


def sample(spec, inputs, **kwargs):
    from .api import sample as _sample

    return _sample(spec, inputs, **kwargs)


def iter_sample(spec, inputs, **kwargs):
    from .api import iter_sample as _iter_sample

    return _iter_sample(spec, inputs, **kwargs)


sample.__doc__ = "Draw `networks` networks and estimate `tensors` with standard errors; see fntk_core.sampling.api.sample."
iter_sample.__doc__ = "Generator of partial Results every `every` networks; see fntk_core.sampling.api.iter_sample."

__all__ = ["sample", "iter_sample", "DEFAULT_TENSORS"]
