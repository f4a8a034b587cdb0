"""solve() and iter_solve(): the layer-by-layer recursion solver (docs/theory.md sections 2-3)."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from .errors import NonFiniteError
from .jobs import ProgressCallback, is_cancelled, report
from .recursions.compiled import cached_plan
from .recursions.library import closure, get_recursion
from .results import Result, ResultMeta, library_versions
from .spec import NetworkSpec, check_inputs
from .tensors import DEFAULT_TENSORS, FIRST_ORDER, RANKS, TENSORS

__all__ = ["DEFAULT_TENSORS", "finite_width_prediction", "iter_solve", "solve"]


def _unique_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coinciding inputs give identical rows of every tensor: solve once, then copy."""
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    return uniq, np.asarray(inverse).reshape(-1)


def _check_names(tensors, recursions, order) -> list[str]:
    names = list(dict.fromkeys(tensors))
    if not names:
        raise ValueError("tensors: none requested")
    for name in names:
        if name not in TENSORS:
            raise ValueError(f"unknown tensor {name!r}; known: {', '.join(TENSORS)}")
        if not TENSORS[name].solver and (recursions is None or name not in recursions):
            solver_names = [n for n, t in TENSORS.items() if t.solver]
            raise ValueError(f"tensor {name!r} has no recursion yet; implemented: {', '.join(solver_names)}")
    if order not in (0, 1):
        raise ValueError("order must be 0 (infinite width) or 1 (first order in 1/n)")
    if order == 0 and any(n in FIRST_ORDER for n in names):
        raise ValueError("first-order tensors need order=1")
    return names


def _nonfinite(state: dict, names, layer: int) -> NonFiniteError | None:
    """The first requested (or kernel) tensor with inf/NaN at ``layer``, as an error to raise."""
    for name in dict.fromkeys(("K", "Theta", *names)):
        a = state[name]
        if not np.all(np.isfinite(a)):
            what = "inf" if np.isinf(a).any() else "NaN"
            return NonFiniteError(
                f"{name} at layer {layer} is {what} (overflow: the inputs, C_W or the depth are too large, or "
                "the activation diverges); pass allow_nonfinite=True (fntk --allow-nonfinite) to keep such values",
                tensor=name, layer=layer)
    return None


def _layers(spec: NetworkSpec, xu: np.ndarray, names, recursions, *, allow_nonfinite: bool, cancel):
    """Yield (layer, state) for l = 1..L; stop early when cancelled (after a finished layer)."""
    source = dict(recursions or {})
    needed = closure(names, source)
    recs = tuple(source.get(n) or get_recursion(n) for n in needed)
    n = xu.shape[0]
    plan = cached_plan(recs, n)
    act = spec.activation
    with np.errstate(all="ignore"):  # non-finite values are checked below, not warned about
        gram = xu @ xu.T / spec.n0
        p1 = spec.layer_params(1)
        state = {name: np.zeros((n,) * RANKS[name]) for name in needed}
        state["K"] = p1["C_b"] + p1["C_W"] * gram
        state["Theta"] = p1["lambda_b"] + p1["lambda_W"] * gram
    for layer in range(1, spec.depth + 1):
        if layer > 1:
            if is_cancelled(cancel):
                return
            params = dict(spec.layer_params(layer), r=spec.ratio(layer - 1))
            if not (np.all(np.isfinite(state["K"])) and np.all(np.isfinite(state["Theta"]))):
                # allow_nonfinite: the recursion is undefined from here on
                state = {k: np.full_like(v, np.nan) for k, v in state.items()}
            else:
                try:
                    with np.errstate(all="ignore"):
                        state = plan.step(act, state["K"], state["Theta"], state, params)
                except (ValueError, FloatingPointError, OverflowError) as exc:
                    bad = _nonfinite(state, names, layer - 1)
                    if bad is not None:
                        raise bad from None
                    raise ValueError(f"layer {layer - 1} -> {layer}: {exc}. An input whose kernel vanishes "
                                     "(x = 0 without biases) makes the ReLU family's delta-function terms "
                                     "singular; drop that input or add a bias (C_b > 0).") from None
        if not allow_nonfinite:
            bad = _nonfinite(state, names, layer)
            if bad is not None:
                raise bad
        yield layer, state


def _result(spec, x, inverse, names, history, meta) -> Result:
    n_layers = len(history[names[0]])
    out = {}
    for name in names:
        arr = np.stack(history[name])
        idx = np.ix_(*([np.arange(n_layers)] + [inverse] * RANKS[name]))
        out[name] = arr[idx]
    return Result(list(range(1, n_layers + 1)), out, meta)


def iter_solve(
    spec: NetworkSpec,
    inputs,
    tensors: Iterable[str] = DEFAULT_TENSORS,
    order: int = 1,
    *,
    recursions: dict | None = None,
    cancel=None,
    allow_nonfinite: bool = False,
) -> Iterator[Result]:
    """Yield one Result per finished layer (layers 1..l, ``meta.partial`` True), the final one last.

    ``cancel`` is polled between layers; when it fires, one more Result holding the finished
    layers is yielded with ``meta["cancelled"] is True`` and the generator ends (no exception).
    Arguments as :func:`solve`.
    """
    yield from _run(spec, inputs, tensors, order, recursions=recursions, cancel=cancel,
                    allow_nonfinite=allow_nonfinite, progress=None, every_layer=True)


def solve(
    spec: NetworkSpec,
    inputs,
    tensors: Iterable[str] = DEFAULT_TENSORS,
    order: int = 1,
    *,
    recursions: dict | None = None,
    progress: ProgressCallback | None = None,
    cancel=None,
    allow_nonfinite: bool = False,
) -> Result:
    """Solve the recursions for every layer l = 1..L.

    Returns a :class:`Result` whose tensors have the layer axis first, then sample
    indices in the order of ``fntk_core.tensors.TENSORS[name].axes``.  First-order tensors
    are the coefficients of 1/n_{l-1} (zero at l = 1).  ``recursions`` may replace the
    built-in recursions (e.g. the ones assembled from diagrams).  ``progress`` receives a
    :class:`~fntk_core.jobs.Progress` per layer; ``cancel`` (a callable or a
    threading.Event) is polled between layers: the finished layers are returned with
    ``meta["cancelled"] = True``.  An inf or NaN raises NonFiniteError naming the tensor and
    layer, unless ``allow_nonfinite``.
    """
    last = None
    for last in _run(spec, inputs, tensors, order, recursions=recursions, cancel=cancel,
                     allow_nonfinite=allow_nonfinite, progress=progress, every_layer=False):
        pass
    return last


def _run(spec, inputs, tensors, order, *, recursions, cancel, allow_nonfinite, progress, every_layer):
    x = check_inputs(inputs, spec.n0)
    names = _check_names(tensors, recursions, order)
    t0 = time.perf_counter()
    xu, inverse = _unique_inputs(x)
    history = {name: [] for name in names}

    def meta(**flags):
        return ResultMeta(source="solver", network=spec.to_dict(), inputs=x.tolist(), dtype="float64",
                          device="cpu", seconds=time.perf_counter() - t0, versions=library_versions(),
                          extra={"recursions": "custom" if recursions else "builtin", "order": order}, **flags)

    finished = 0
    for layer, state in _layers(spec, xu, names, recursions, allow_nonfinite=allow_nonfinite, cancel=cancel):
        for name in names:
            history[name].append(state[name])
        finished = layer
        report(progress, layer, spec.depth, "solve")
        if every_layer and layer < spec.depth:
            yield _result(spec, x, inverse, names, history, meta(partial=True))
    cancelled = finished < spec.depth
    yield _result(spec, x, inverse, names, history, meta(cancelled=cancelled))


def finite_width_prediction(result: Result, spec: NetworkSpec, width: int | None = None) -> dict[str, np.ndarray]:
    """K + K1/n_{l-1} and Theta + Theta1/n_{l-1} per layer (the paper's Fig. 2 curves).

    n_{l-1} is the hidden width of layer l-1 from ``spec.widths`` or ``width``
    (equal hidden widths); at l = 1 the correction is zero.
    """
    if width is None and spec.widths is None:
        raise ValueError("finite_width_prediction needs a width (or spec.widths)")
    out = {}
    for lead, first in (("K", "K1"), ("Theta", "Theta1")):
        if lead not in result.tensors or first not in result.tensors:
            continue
        pred = np.array(result.tensors[lead], copy=True)
        for i, layer in enumerate(result.layers):
            if layer >= 2:
                nprev = width if width is not None else spec.hidden_width(layer - 1)
                pred[i] += result.tensors[first][i] / nprev
        out[lead] = pred
    return out

