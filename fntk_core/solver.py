"""solve() and iter_solve(): the layer-by-layer recursion solver (docs/theory.md §2-3)."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from .errors import DegenerateInputsError, NonFiniteError
from .gaussian import Interrupted
from .homogeneous import expand, rays
from .jobs import ProgressCallback, is_cancelled, report
from .memory import DEFAULT_MAX_MEMORY, MemoryEstimate, check_memory, estimate_memory
from .precision import extended_gram, working_digits
from .recursions.compiled import cached_plan
from .recursions.library import closure, get_recursion
from .results import Result, ResultMeta, library_versions
from .spec import NetworkSpec, check_inputs
from .tensors import DEFAULT_TENSORS, FIRST_ORDER, RANKS, TENSORS

__all__ = ["DEFAULT_TENSORS", "finite_width_prediction", "iter_solve", "memory_estimate", "solve"]


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
        a = np.asarray(state[name], dtype=float)  # extended precision: mpmath numbers, rounded here
        if not np.all(np.isfinite(a)):
            what = "inf" if np.isinf(a).any() else "NaN"
            return NonFiniteError(
                f"{name} at layer {layer} is {what} (overflow: the inputs, C_W or the depth are too large, or "
                "the activation diverges); pass allow_nonfinite=True (fntk --allow-nonfinite) to keep such values",
                tensor=name, layer=layer)
    return None


def _check_layers(layers, depth: int) -> list[int]:
    """The layers a solve keeps: all (None), or the given ones, each in 1..depth."""
    if layers is None:
        return list(range(1, depth + 1))
    try:
        kept = sorted({int(v) for v in layers})
    except (TypeError, ValueError):
        raise ValueError(f"layers: expected layer numbers 1..{depth}, got {layers!r}") from None
    bad = [v for v in kept if not 1 <= v <= depth]
    if not kept or bad:
        raise ValueError(f"layers: expected layer numbers 1..{depth}, got {bad or 'none'}")
    return kept


def _needed(names, recursions) -> dict:
    """Every recursion the requested tensors depend on, by name, in dependency order."""
    source = dict(recursions or {})
    return {n: source.get(n) or get_recursion(n) for n in closure(names, source)}


WITHIN_LAYER_EVERY_S = 0.25  # the least time between two progress reports inside one layer


def _within_layer(progress, depth: int):
    """``tick(layer, done, total)`` that reports how far a layer's expectations are, as a
    Progress whose ``done`` counts finished layers and whose stage says the rest; at most
    once per WITHIN_LAYER_EVERY_S, so a long layer (many inputs) still shows it is moving."""
    if progress is None:
        return None
    last = [time.perf_counter()]

    def tick(layer: int, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= WITHIN_LAYER_EVERY_S:
            last[0] = now
            report(progress, layer - 1, depth, f"solve (layer {layer}: {100 * done // max(total, 1)} %)")
    return tick


def _layers(spec: NetworkSpec, xu: np.ndarray, names, recursions, *, allow_nonfinite: bool, cancel, first, digits,
            within=None):
    """Yield (layer, state) for l = 1..L; stop early when cancelled (after a finished layer).

    ``cancel`` is also polled within a layer's expectations (the layer is then dropped);
    ``within(layer, done, total)``, if given, hears how far those expectations are.
    ``first``: for each row of ``xu``, the position of that input in the caller's list (for
    error messages); ``digits``: mpmath working precision, or 0 for float64."""
    recs = tuple(_needed(names, recursions).values())
    needed = [r.name for r in recs]
    n = xu.shape[0]
    plan = cached_plan(recs, n)
    act = spec.activation
    with np.errstate(all="ignore"):  # non-finite values are checked below, not warned about
        gram = extended_gram(xu, spec.n0, digits) if digits else xu @ xu.T / spec.n0
        p1 = spec.layer_params(1)
        state = {name: np.zeros((n,) * RANKS[name]) for name in needed}
        state["K"] = p1["C_b"] + p1["C_W"] * gram
        state["Theta"] = p1["lambda_b"] + p1["lambda_W"] * gram
    for layer in range(1, spec.depth + 1):
        if layer > 1:
            if is_cancelled(cancel):
                return
            params = dict(spec.layer_params(layer), r=spec.ratio(layer - 1))
            if _nonfinite(state, (), layer - 1) is not None:
                # allow_nonfinite: the recursion is undefined from here on
                state = {k: np.full_like(v, np.nan) for k, v in state.items()}
            else:
                poll = None if cancel is None else (lambda: is_cancelled(cancel))
                tick = None if within is None else (lambda done, total, _l=layer: within(_l, done, total))
                try:
                    with np.errstate(all="ignore"):
                        state = plan.step(act, state["K"], state["Theta"], state, params, poll=poll, progress=tick)
                except Interrupted:  # cancelled within the layer: the finished layers stand
                    return
                except (ValueError, FloatingPointError, OverflowError) as exc:
                    bad = _nonfinite(state, names, layer - 1)
                    if bad is not None:
                        raise bad from None
                    raise DegenerateInputsError(f"layer {layer - 1} -> {layer}: {exc}. "
                                                + _degenerate_inputs(state["K"], first, layer - 1, spec)) from None
        if not allow_nonfinite:
            bad = _nonfinite(state, names, layer)
            if bad is not None:
                raise bad
        yield layer, state


def _result(rays_, inverse, names, history, stored: list[int], meta) -> Result:
    """Rounded to float64, expanded from one input per ray to all inputs, then to repeated ones."""
    ray, scale, slot = rays_
    one_per_ray = np.array_equal(ray, np.arange(len(ray))) and np.all(scale == 1.0) \
        and np.array_equal(slot, np.arange(len(slot)))
    all_distinct = np.array_equal(inverse, np.arange(len(inverse)))
    out = {}
    for name in names:
        if not stored:   # cancelled before the first kept layer
            out[name] = np.zeros((0,) + (len(inverse),) * RANKS[name])
            continue
        arr = np.stack(history[name]).astype(float)
        if not one_per_ray:
            arr = expand(arr, ray, scale, slot)
        if not all_distinct:
            arr = arr[np.ix_(*([np.arange(len(stored))] + [inverse] * RANKS[name]))]
        out[name] = arr
    return Result(list(stored), out, meta)


def iter_solve(
    spec: NetworkSpec,
    inputs,
    tensors: Iterable[str] = DEFAULT_TENSORS,
    order: int = 1,
    *,
    recursions: dict | None = None,
    progress: ProgressCallback | None = None,
    cancel=None,
    allow_nonfinite: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    layers: Iterable[int] | None = None,
) -> Iterator[Result]:
    """Yield one Result per finished layer (layers 1..l, ``meta.partial`` True), the final one last.

    ``cancel`` is polled between layers and within a layer; when it fires, one more Result holding the finished
    layers is yielded with ``meta["cancelled"] is True`` and the generator ends (no exception).
    Arguments as :func:`solve`.
    """
    yield from _run(spec, inputs, tensors, order, recursions=recursions, cancel=cancel,
                    allow_nonfinite=allow_nonfinite, progress=progress, every_layer=True, max_memory=max_memory,
                    layers=layers)


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
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    layers: Iterable[int] | None = None,
) -> Result:
    """Solve the recursions for every layer l = 1..L.

    Returns a :class:`Result` whose tensors have the layer axis first, then sample
    indices in the order of ``fntk_core.tensors.TENSORS[name].axes``.  First-order tensors
    are the coefficients of 1/n_{l-1} (zero at l = 1).  ``recursions`` may replace the
    built-in recursions (e.g. the ones assembled from diagrams).  ``progress`` receives a
    :class:`~fntk_core.jobs.Progress` per layer (``done`` = layers finished) and, during a
    layer that takes long, up to four a second whose stage says how far it is; ``cancel`` (a callable or a
    threading.Event) is polled between layers and within a layer's Gaussian expectations:
    the finished layers are returned with
    ``meta["cancelled"] = True``.  An inf or NaN raises NonFiniteError naming the tensor and
    layer, unless ``allow_nonfinite``.  Before any work the memory the solve needs is
    estimated (:func:`fntk_core.memory.estimate_memory`); above ``max_memory`` bytes (None:
    no limit) it raises :class:`~fntk_core.memory.MemoryLimitError`.  ``layers`` (e.g.
    ``[spec.depth]``) keeps only those layers in the result: every layer is still computed,
    but only these are stored, which is what makes four-index tensors over many inputs fit.
    """
    last = None
    for last in _run(spec, inputs, tensors, order, recursions=recursions, cancel=cancel,
                     allow_nonfinite=allow_nonfinite, progress=progress, every_layer=False, max_memory=max_memory,
                     layers=layers):
        pass
    return last


def memory_estimate(spec: NetworkSpec, inputs, tensors: Iterable[str] = DEFAULT_TENSORS, order: int = 1, *,
                    recursions: dict | None = None, layers: Iterable[int] | None = None) -> MemoryEstimate:
    """What :func:`solve` would need for these inputs, without solving (see fntk_core.memory)."""
    x = check_inputs(inputs, spec.n0)
    names = _check_names(tensors, recursions, order)
    kept = _check_layers(layers, spec.depth)
    xu, inverse = _unique_inputs(x)
    reps = _one_input_per_ray(spec, xu, inverse)[3]
    return _estimate(spec, len(x), len(reps), names, recursions, bool(working_digits(spec, xu[reps])), len(kept))


def _estimate(spec, n_inputs, n_solved, names, recursions, extended, n_kept) -> MemoryEstimate:
    return estimate_memory(_needed(names, recursions), names, RANKS, n_inputs=n_inputs, n_solved=n_solved,
                           depth=n_kept, extended=extended, quadrature=not spec.activation.scale_invariant)


def _run(spec, inputs, tensors, order, *, recursions, cancel, allow_nonfinite, progress, every_layer,
         max_memory=DEFAULT_MAX_MEMORY, layers=None):
    x = check_inputs(inputs, spec.n0)
    names = _check_names(tensors, recursions, order)
    kept = _check_layers(layers, spec.depth)
    t0 = time.perf_counter()
    xu, inverse = _unique_inputs(x)
    ray, scale, slot, reps = _one_input_per_ray(spec, xu, inverse)
    first = np.array([int(np.argmax(inverse == u)) for u in reps])
    xu = xu[reps]
    digits = working_digits(spec, xu)  # nearly parallel inputs: every layer in mpmath
    check_memory(_estimate(spec, len(x), len(xu), names, recursions, bool(digits), len(kept)), max_memory)
    history = {name: [] for name in names}
    stored: list[int] = []

    def meta(**flags):
        return ResultMeta(source="solver", network=spec.to_dict(), inputs=x.tolist(), dtype="float64",
                          device="cpu", seconds=time.perf_counter() - t0, versions=library_versions(),
                          extra={"recursions": "custom" if recursions else "builtin", "order": order,
                                 **({"working_digits": digits} if digits else {})}, **flags)

    finished = 0
    for layer, state in _layers(spec, xu, names, recursions, allow_nonfinite=allow_nonfinite, cancel=cancel,
                                first=first, digits=digits, within=_within_layer(progress, spec.depth)):
        if layer in kept:
            stored.append(layer)
            for name in names:
                history[name].append(state[name])
        finished = layer
        report(progress, layer, spec.depth, "solve")
        if every_layer and layer < spec.depth and stored and stored[-1] == layer:
            yield _result((ray, scale, slot), inverse, names, history, stored, meta(partial=True))
    cancelled = finished < spec.depth
    yield _result((ray, scale, slot), inverse, names, history, stored, meta(cancelled=cancelled))


def _one_input_per_ray(spec: NetworkSpec, xu: np.ndarray, inverse):
    """(ray, scale, slot, representatives): bias-free ReLU-family networks are homogeneous, so
    exactly parallel inputs are solved once per ray (fntk_core.homogeneous) and scaled back."""
    act = spec.activation
    ray, scale = np.arange(len(xu)), np.ones(len(xu))
    if act.scale_invariant and not any(spec.c_b) and not any(spec.lambda_b):
        ray, scale, _ = rays(xu)
    elif act.scale_invariant and act.slopes[0] != act.slopes[1] and not any(spec.c_b):
        for r, b in rays(xu)[2]:
            i, j = (int(np.argmax(inverse == u)) for u in (r, b))
            raise DegenerateInputsError(
                f"Inputs {i} and {j} are parallel and C_b = 0 but lambda_b != 0: the NTK is then "
                "not homogeneous in the inputs, so they cannot be solved as one ray, and for exactly "
                "parallel preactivations the ReLU family's products of delta functions diverge; "
                "perturb one input, add a bias (C_b > 0) in layer 1, or set lambda_b = 0")
    reps = np.unique(ray)
    slot = np.zeros(len(xu), dtype=np.intp)
    slot[reps] = np.arange(len(reps))
    return ray, scale, slot, reps


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

