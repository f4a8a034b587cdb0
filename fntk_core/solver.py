"""solve(): the layer-by-layer recursion solver (theory.md sections 2-3)."""
from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from .homogeneous import expand, rays
from .jobs import is_cancelled
from .precision import extended_gram, working_digits
from .recursions.compiled import cached_plan
from .recursions.library import IMPLEMENTED, closure, get_recursion
from .results import FIRST_ORDER, TENSOR_RANKS, Result, library_versions
from .spec import NetworkSpec, check_inputs

DEFAULT_TENSORS = ("K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B")


def _unique_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coinciding inputs give identical rows of every tensor: solve once, then copy."""
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    return uniq, np.asarray(inverse).reshape(-1)


def _degenerate_inputs(K: np.ndarray, first: np.ndarray, layer: int, spec: NetworkSpec) -> str:
    """Why the delta functions of a ReLU-family activation have no value here, naming inputs."""
    diag = np.diag(K)
    for i in range(len(K)):
        if diag[i] <= 1e-12 * max(float(np.max(np.abs(diag))), 1e-300):
            return (f"Input {first[i]}: its kernel vanishes at layer {layer} (x = 0 without biases), so its "
                    "preactivations are identically 0, where the delta functions sigma'' = delta of the ReLU "
                    "family have no value; drop that input or add a bias (C_b > 0)")
        for j in range(i):
            if K[i, j] ** 2 >= (1 - 1e-12) * diag[i] * diag[j]:
                kind = "parallel" if K[i, j] > 0 else "antiparallel"
                why = ("C_b = 0 but lambda_b != 0, so the NTK is not homogeneous in the inputs and they "
                       "cannot be solved as one ray" if any(spec.lambda_b) and not any(spec.c_b) else
                       "no bias separates them before this layer")
                return (f"Inputs {first[j]} and {first[i]} have exactly proportional ({kind}) preactivations at layer "
                        f"{layer}, where products of delta functions diverge, and {why}; perturb one input, "
                        "add a bias (C_b > 0) in layer 1, or set lambda_b = 0")
    return "A degenerate kernel made a delta-function expectation of the ReLU family diverge"


def solve(
    spec: NetworkSpec,
    inputs,
    tensors: Iterable[str] = DEFAULT_TENSORS,
    order: int = 1,
    *,
    recursions: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Result:
    """Solve the recursions for every layer l = 1..L.

    Returns a :class:`Result` whose tensors have the layer axis first, then sample
    indices in theory.md order.  First-order tensors are the coefficients of
    1/n_{l-1} (zero at l = 1).  ``recursions`` may replace the built-in
    recursions (e.g. the ones assembled from diagrams).  ``cancel`` (a callable or a
    threading.Event, see :mod:`fntk_core.jobs`) is polled once per layer; on cancellation the layers finished so far are returned with
    ``meta["cancelled"] = True``.
    """
    x = check_inputs(inputs, spec.n0)
    names = list(dict.fromkeys(tensors))
    for name in names:
        if name not in TENSOR_RANKS:
            raise ValueError(f"unknown tensor {name!r}; known: {', '.join(TENSOR_RANKS)}")
        if name not in IMPLEMENTED and (recursions is None or name not in recursions):
            raise ValueError(f"tensor {name!r} has no recursion yet; implemented: {', '.join(IMPLEMENTED)}")
    if order not in (0, 1):
        raise ValueError("order must be 0 (infinite width) or 1 (first order in 1/n)")
    if order == 0 and any(n in FIRST_ORDER for n in names):
        raise ValueError("first-order tensors need order=1")
    t0 = time.perf_counter()
    source = dict(recursions or {})
    needed = closure(names, source)
    recs = tuple(source.get(n) or get_recursion(n) for n in needed)
    xu, inverse = _unique_inputs(x)
    act = spec.activation
    ray, scale = np.arange(len(xu)), np.ones(len(xu))
    if act.scale_invariant and not any(spec.c_b) and not any(spec.lambda_b):
        ray, scale, _ = rays(xu)  # homogeneous network: one solve per ray
    elif act.scale_invariant and act.slopes[0] != act.slopes[1] and not any(spec.c_b):
        for r, b in rays(xu)[2]:
            i, j = (int(np.argmax(inverse == u)) for u in (r, b))
            raise ValueError(f"Inputs {i} and {j} are parallel and C_b = 0 but lambda_b != 0: the NTK is then "
                             "not homogeneous in the inputs, so they cannot be solved as one ray, and for exactly "
                             "parallel preactivations the ReLU family's products of delta functions diverge; "
                             "perturb one input, add a bias (C_b > 0) in layer 1, or set lambda_b = 0")
    reps = np.unique(ray)
    slot = np.zeros(len(xu), dtype=np.intp)
    slot[reps] = np.arange(len(reps))
    xu = xu[reps]
    n = xu.shape[0]
    plan = cached_plan(recs, n)

    digits = working_digits(spec, xu)  # nearly parallel inputs: every layer in mpmath
    gram = extended_gram(xu, spec.n0, digits) if digits else xu @ xu.T / spec.n0
    p1 = spec.layer_params(1)
    state = {name: np.zeros((n,) * TENSOR_RANKS[name]) for name in needed}
    state["K"] = p1["C_b"] + p1["C_W"] * gram
    state["Theta"] = p1["lambda_b"] + p1["lambda_W"] * gram
    history = {name: [state[name]] for name in names}
    cancelled = False
    for layer in range(1, spec.depth):
        if is_cancelled(cancel):
            cancelled = True
            break
        params = dict(spec.layer_params(layer + 1), r=spec.ratio(layer))
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by name
                state = plan.step(act, state["K"], state["Theta"], state, params)
        except ValueError as exc:
            first = np.array([int(np.argmax(inverse == u)) for u in reps])
            raise ValueError(f"layer {layer} -> {layer + 1}: {exc}. "
                             + _degenerate_inputs(state["K"], first, layer, spec)) from None
        bad = [k for k, v in state.items() if not np.all(np.isfinite(np.asarray(v, dtype=float)))]
        if bad:
            raise FloatingPointError(f"{', '.join(bad)} overflowed float64 at layer {layer + 1} (the kernel there: "
                                     f"{np.max(np.abs(state['K'])):.3g}); reduce C_W or the depth")
        for name in names:
            history[name].append(state[name])
        if progress is not None:
            progress(layer + 1, spec.depth)
    layers = list(range(1, len(history[names[0]]) + 1)) if names else []
    out = {}
    for name in names:
        arr = expand(np.stack(history[name]).astype(float), ray, scale, slot)
        idx = np.ix_(*([np.arange(len(layers))] + [inverse] * TENSOR_RANKS[name]))
        out[name] = arr[idx]
    meta = {
        "source": "solver",
        "recursions": "custom" if source else "builtin",
        "network": spec.to_dict(),
        "inputs": x.tolist(),
        "dtype": "float64",
        "order": order,
        "seconds": time.perf_counter() - t0,
        "versions": library_versions(),
    }
    if digits:
        meta["working_digits"] = digits
    if cancelled:
        meta["cancelled"] = True
    return Result(layers, out, meta)


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
