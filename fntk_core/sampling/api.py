"""SamplingSession, sample(), iter_sample(): Monte-Carlo estimates of docs/theory.md §2.

This module itself imports no TensorFlow; the engine (which does) is imported when a
session starts.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import FntkError, NonFiniteError
from ..jobs import Progress, ProgressCallback, is_cancelled
from ..results import Result, ResultMeta, library_versions
from ..spec import NetworkSpec, SpecError, check_inputs
from ..tensors import DEFAULT_TENSORS, RANKS, check_tensor_names
from . import checkpoint as ckpt
from .estimators import (
    NEEDS,
    PAIR_TENSORS,
    PLAIN_ONLY,
    RB_FEATURES,
    Accumulator,
    estimate_with_errors,
    tensor_sources,
)

_CHUNK_BYTES = 96 * 2**20  # working memory aimed at per chunk
_MAX_CHUNK = 64
_BLOCK_BYTES = 64 * 2**20  # memory of the block sums
MAX_BLOCKS = 64
MIN_BLOCKS = 8


def check_devices(devices):
    """None (no tf.distribute), "all" or an integer >= 1; a ValueError naming ``devices`` otherwise."""
    if devices is None or devices == "all":
        return devices
    if isinstance(devices, bool) or not isinstance(devices, (int, np.integer, str)):
        raise ValueError(f"devices: a number of devices >= 1 or 'all', got {devices!r}")
    try:
        n = int(devices)
    except ValueError:
        raise ValueError(f"devices: a number of devices >= 1 or 'all', got {devices!r}") from None
    if n < 1:
        raise ValueError(f"devices: must be >= 1 or 'all', got {devices!r}")
    return n


def chief_from_env() -> bool | None:
    """Whether this process will be the chief of its cluster, from TF_CONFIG or Slurm (None: unknown).

    Known before TensorFlow starts, so that only the chief checks the files it will write
    (a worker's machine need not have the chief's output folder)."""
    if os.environ.get("TF_CONFIG"):
        try:
            conf = json.loads(os.environ["TF_CONFIG"])
            task, cluster = conf.get("task", {}), conf.get("cluster", {})
            if "chief" in cluster:
                return task.get("type") == "chief"
            return task.get("type") == "worker" and int(task.get("index", 0)) == 0
        except (ValueError, TypeError, AttributeError):
            return None  # TensorFlow's resolver reports a malformed TF_CONFIG
    if os.environ.get("SLURM_PROCID") is not None:
        return os.environ["SLURM_PROCID"] == "0"
    return None


def resolve_widths(spec: NetworkSpec, width=None, outputs=None) -> tuple[NetworkSpec, list[int]]:
    """(spec with widths, [n_1, ..., n_L]) from the spec and the width/outputs arguments."""
    L = spec.depth
    if width is None:
        if spec.widths is None:
            raise SpecError("widths: the sampler needs hidden widths (give width=n)")
        hidden = list(spec.widths[: L - 1])
        out = outputs or spec.output_width(default=hidden[-1] if hidden else None)
    else:
        if np.isscalar(width):
            hidden = [int(width)] * (L - 1)
        else:
            hidden = [int(w) for w in width]
            if len(hidden) != L - 1:
                raise SpecError(f"width: expected one value or {L - 1} hidden widths, got {len(hidden)}")
        out = outputs or (hidden[-1] if hidden else (int(width) if np.isscalar(width) else None))
    if out is None:
        raise SpecError("outputs: give the output width")
    spec_w = spec.with_widths(hidden + [int(out)])
    return spec_w, hidden + [int(out)]


def _auto_chunk(dims, N, need_ntk, need_dntk, dtype_bytes, full_ntk=True, need_ddntk=False) -> int:
    """Networks per chunk: working memory about _CHUNK_BYTES, at most _MAX_CHUNK.

    Per network and layer: NTK pairs (whole matrices, P = N(N+1)/2 pairs, a few copies) or
    per-input Jacobians (N n_l (n_1 + ... + n_{l-1})); the dNTK path keeps n^3 tensors, the
    ddNTK path n^4 ones (dd_I H, dd_II H and their partly lifted intermediates).
    Measured at width 100, depth 4, 2 inputs (2 CPU cores): 16 to 128 networks per chunk
    run within 5% of each other, so the cap only bounds memory and the reporting step.
    """
    P = N * (N + 1) // 2
    per = 0
    below = 0
    for l, n in enumerate(dims[1:], start=1):
        per += 4 * N * n
        if need_dntk:
            per += 6 * N * N * n * n + 6 * N**3 * n**3
        elif need_ntk:
            per += 5 * P * n * dims[l - 1] if full_ntk else 4 * N * n * below + 2 * N * n * dims[l - 1]
        if need_ddntk:  # dd_I H, dd_II H of every layer live until the features are taken
            per += 2 * N**4 * n**4
        below += dims[l - 1] if l > 1 else 0
    if need_ddntk:  # transients of one layer step (ddntk.forward_dd): about 14 tensors of (N max(n_l, n_{l-1}))^4
        per += 14 * N**4 * max(max(dims[l], dims[l - 1]) for l in range(2, len(dims))) ** 4 if len(dims) > 2 else 0
    per += 3 * sum(dims[l] * (dims[l - 1] + 1) for l in range(1, len(dims)))
    return int(max(1, min(_MAX_CHUNK, _CHUNK_BYTES // max(per * dtype_bytes, 1))))


def wanted_features(names, *, rb: bool = True, plain: bool = True, control_variates: bool = False) -> set[str]:
    """Per-network features that the estimates of ``names`` need.

    ``rb``, ``plain``: which estimators (Rao-Blackwellised, plain) of the tensors that have
    both to compute (both: the variance ratio; P, Q, R-U are always plain).  The
    defaults give everything.  ``control_variates``: also the Rao-Blackwellised k2 / t2 (the
    control variates are their layer-2 values; they correct every estimate made from k2 / t2)."""
    out = set()
    for name in names:
        for f in NEEDS[name]:
            if f not in RB_FEATURES:
                out.add(f)
                continue
            if plain:
                out.add(f)
            if rb:
                out.add("r" + f)
            if control_variates and f in ("k2", "t2"):
                out.add("r" + f)
    return out


class SamplingSession:
    """One sampling job, driven step by step (the app's worker, ``iter_sample``, ``sample``).

    ``SamplingSession(spec, inputs, networks=..., ...)`` checks its arguments (no TensorFlow);
    ``start()`` builds the ensemble (imports TensorFlow); each ``step()`` draws one chunk of
    networks and returns a :class:`~fntk_core.jobs.Progress`; ``snapshot()`` gives the
    estimates so far; ``cancel()`` stops it: ``result()`` then returns the estimates from the
    networks drawn so far with ``meta["cancelled"] is True``.  Arguments as :func:`sample`.
    """

    def __init__(self, spec: NetworkSpec, inputs, *, networks: int, width=None, outputs=None,
                 tensors: Iterable[str] = DEFAULT_TENSORS, seed: int = 0, dtype: str = "float64",
                 chunk: int | None = None, rao_blackwell: bool = True, control_variates: bool = True,
                 compare_plain: bool = False, allow_nonfinite: bool = False, max_chunk: int | None = None,
                 resume: dict | None = None, devices=None, cluster: bool = False, checkpoint=None,
                 checkpoint_every: float = 60.0):
        if isinstance(networks, bool) or not isinstance(networks, (int, np.integer)) or networks < 1:
            raise ValueError(f"networks: must be an integer >= 1, got {networks!r}")
        if dtype not in ("float64", "float32"):
            raise ValueError(f"dtype: float64 or float32, got {dtype!r}")
        if chunk is not None and (isinstance(chunk, bool) or int(chunk) < 1):
            raise ValueError(f"chunk: must be >= 1, got {chunk!r}")
        self.devices = check_devices(devices)
        self.cluster = bool(cluster)
        if self.cluster and self.devices is not None:
            raise ValueError("devices: a cluster worker uses all its local GPUs (or its CPU); do not combine "
                             "devices with cluster")
        if checkpoint is not None and not (self.cluster and chief_from_env() is False):
            from ..files import check_writable

            check_writable(checkpoint)
        self.checkpoint = checkpoint
        self.checkpoint_every = float(checkpoint_every)
        self.names = check_tensor_names(tensors, engine="sampler")
        self.x = check_inputs(inputs, spec.n0)
        self.spec, self.widths = resolve_widths(spec, width, outputs)
        self.networks = int(networks)
        self.seed = int(seed)
        self.dtype = dtype
        self.rb = bool(rao_blackwell)
        self.compare = bool(compare_plain)  # both estimators, for meta["variance_ratio"]
        self.allow_nonfinite = bool(allow_nonfinite)
        L, N = self.spec.depth, self.x.shape[0]
        self.dims = [self.spec.n0] + self.widths
        self.nprev = np.array(self.dims[:-1], dtype=float)  # n_{l-1} for l = 1..L
        sources = tensor_sources(self.names)
        self.need_ddntk = "ddntk" in sources
        self.need_dntk = self.need_ddntk or "dntk" in sources
        self.need_ntk = self.need_dntk or "ntk" in sources
        dbytes = 8 if dtype == "float64" else 4
        full_ntk = bool(wanted_features(self.names) & {"f4", "b4", "rf4", "rb4"})  # (either estimator: same path)
        self.chunk = int(chunk) if chunk else _auto_chunk(self.dims, N, self.need_ntk, self.need_dntk, dbytes,
                                                          full_ntk, self.need_ddntk)
        self.chunk = min(self.chunk, self.networks, max_chunk or self.networks)
        feat_floats = L * (3 * N * N + (16 if self.need_ddntk else 12) * N**4)
        self.blocks = int(max(MIN_BLOCKS, min(MAX_BLOCKS, _BLOCK_BYTES // (8 * feat_floats))))
        self.cv = bool(control_variates) and L >= 3 and any(n in ("K", "Theta", "K1", "Theta1") for n in self.names)
        self.cv_requested = self.cv
        self.dist = None  # DistributedEnsemble with devices / cluster
        self.chief = True  # this process writes results and checkpoints
        self.last_checkpoint = None
        self.stop_requested = False  # cluster: cancel at the end of the next step, on every worker
        self.resumed_from = 0  # networks [0, resumed_from) came from a checkpoint or resume state
        self.cv_note = None
        self.k_inf = self.theta_inf = None
        self.ens = None
        self.acc = Accumulator(self.blocks)
        self.networks_drawn = 0
        if resume is not None:  # network e's draws do not depend on the chunking: continue at acc.drawn
            if int(resume.get("drawn", 0)) > self.networks:
                raise ValueError("resume: the saved state belongs to a different sampling job")
            self._resume_from(resume)
        self.cancelled = False
        self.t0 = None
        self.warned = False

    # -- the job ------------------------------------------------------------------------
    def start(self) -> SamplingSession:
        """Solve the infinite-width reference (if needed) and build the ensemble (TensorFlow)."""
        if self.ens is not None:
            return self
        self.t0 = time.perf_counter()
        if "K1" in self.names or "Theta1" in self.names or self.cv:
            from ..solver import solve  # infinite-width K, Theta of the same network

            try:
                ref = solve(self.spec, self.x, tensors=["K", "Theta"])
                self.k_inf, self.theta_inf = np.asarray(ref.tensors["K"]), np.asarray(ref.tensors["Theta"])
            except Exception as exc:  # only the control variates need it: go on without them
                if "K1" in self.names or "Theta1" in self.names:
                    raise
                self.cv, self.cv_note = False, f"solver failed ({exc}); no control variates"
                warnings.warn(f"fntk sample: control variates switched off: {self.cv_note}", RuntimeWarning,
                              stacklevel=2)
        # Rao-Blackwellised only (the default): no plain features, so (without dNTK) the engine
        # draws no layer-L weights and runs no layer-L GEMMs (engine.Ensemble.skip_last)
        self.features = wanted_features(self.names, rb=self.rb or self.compare,
                                        plain=(not self.rb) or self.compare, control_variates=self.cv)

        from . import engine  # TensorFlow is imported here, not before

        strategy = None
        if self.devices is not None or self.cluster:  # before TensorFlow sets up its devices
            from . import distribute

            strategy = distribute.cluster_strategy() if self.cluster else distribute.local_strategy(self.devices)
        self.tfinfo = engine.configure_tf()
        ens = engine.cached_ensemble(self.spec, self.x, self.widths, seed=self.seed, dtype=self.dtype,
                                     chunk=self.chunk, blocks=self.blocks, need_ntk=self.need_ntk,
                                     need_dntk=self.need_dntk, control_variates=self.cv,
                                     features=self.features, need_ddntk=self.need_ddntk)
        if strategy is not None:
            self.dist = distribute.cached_distributed(strategy, ens)
            self.chief = distribute.is_chief(strategy)
            self.tfinfo.update(distribute.describe(strategy))
        if self.checkpoint is not None and self.chief:
            self._resume_from(ckpt.read(self.checkpoint, self))
        if self.dist is not None and self.cluster:  # every worker continues where the chief's checkpoint ends
            start = self.dist.agree_on(self.networks_drawn)
            if not self.chief:
                self.acc, self.networks_drawn = Accumulator(self.blocks), start
                self.acc.drawn = self.resumed_from = start
        self.ens = ens
        return self

    def _resume_from(self, state: dict | None) -> None:
        if state is not None:
            acc = Accumulator.from_state(state)
            if acc.blocks != self.blocks:
                raise ValueError("resume: the saved state belongs to a different sampling job")
            self.acc, self.networks_drawn = acc, acc.drawn
            self.resumed_from = acc.drawn

    @property
    def done(self) -> bool:
        return self.cancelled or self.networks_drawn >= self.networks

    def progress(self) -> Progress:
        return Progress(self.networks_drawn, self.networks, "sample")

    def step(self) -> Progress:
        """Draw one chunk of networks (starting the session first if needed)."""
        if not self.done:
            self.start()
            if self.done:  # resumed from a finished checkpoint
                return self.progress()
            if self.dist is None:
                valid = min(self.chunk, self.networks - self.networks_drawn)
                sums, counts, bad = self.ens.run_chunk(self.networks_drawn, valid, self.seed)
            else:  # replicas x chunk networks, one chunk per replica, block sums all-reduced
                valid = min(self.dist.step_networks, self.networks - self.networks_drawn)
                try:
                    sums, counts, bad, stop = self.dist.run_step(self.networks_drawn, valid, self.seed,
                                                                 self.stop_requested)
                except FntkError as exc:
                    if self.checkpoint is not None and self.chief:  # the finished steps are safe
                        ckpt.write(self.checkpoint, self)
                    raise type(exc)(f"{exc}; {self._resume_hint()}") from exc
            self.acc.add(sums, counts, bad, valid)
            self.networks_drawn += valid
            if self.dist is not None and stop:  # some worker was cancelled: all stop after this step
                self.cancel()
            self._maybe_checkpoint()
        return self.progress()

    def _resume_hint(self) -> str:
        if self.checkpoint is None:
            return ("no checkpoint was kept (pass checkpoint=FILE, fntk sample --checkpoint FILE, to make runs "
                    "resumable); rerun to start again")
        return (f"the checkpoint {self.checkpoint} holds the finished networks: restart every worker with the same "
                "arguments to resume from it")

    def _maybe_checkpoint(self) -> None:
        """Save the block sums (chief only) every ``checkpoint_every`` seconds and at the end."""
        if self.checkpoint is None or not self.chief:
            return
        now = time.perf_counter()
        if (self.done or self.last_checkpoint is None and now - self.t0 >= self.checkpoint_every
                or self.last_checkpoint is not None and now - self.last_checkpoint >= self.checkpoint_every):
            ckpt.write(self.checkpoint, self)
            self.last_checkpoint = now

    def state(self) -> dict:
        """JSON data from which ``SamplingSession(..., resume=state)`` continues this job."""
        return self.acc.state()

    def cancel(self) -> None:
        """Stop after the chunk in progress; ``result()`` keeps what was drawn (and checkpoints it)."""
        self.cancelled = self.networks_drawn < self.networks
        if self.cancelled and self.checkpoint is not None and self.chief and self.ens is not None:
            ckpt.write(self.checkpoint, self)

    def snapshot(self) -> Result:
        """The estimates from the networks drawn so far (meta ``partial`` until done)."""
        return self._estimates(partial=not self.done)

    def result(self) -> Result:
        """The final Result; after cancel(), the estimates so far with ``meta["cancelled"]``."""
        if not self.done:
            raise RuntimeError("SamplingSession.result(): not done; call step() until done, or cancel()")
        return self._estimates(partial=False)

    # -- estimates ------------------------------------------------------------------------
    def _ratio_note(self) -> str:
        skip_last = self.ens is not None and self.ens.skip_last
        why = ("only the " + ("Rao-Blackwellised" if self.rb else "plain") + " estimators were computed"
               + (" (they need no layer-L weights: those were not drawn)" if skip_last else ""))
        return (f"variance_ratio not computed: {why}; pass compare_plain=True (fntk sample --compare-plain) "
                "for Var(Rao-Blackwellised) / Var(plain)")

    def _meta(self, partial: bool) -> ResultMeta:
        acc, info = self.acc, getattr(self, "tfinfo", {})
        return ResultMeta(
            source="sampler", network=self.spec.to_dict(), inputs=self.x.tolist(), dtype=self.dtype,
            device=info.get("device"), seed=self.seed, networks=self.networks, networks_used=acc.used,
            seconds=round(time.perf_counter() - self.t0, 3) if self.t0 is not None else 0.0,
            versions=library_versions(), cancelled=self.cancelled, partial=partial,
            extra={
                "networks_drawn": acc.drawn,
                "nan_count": acc.bad,
                "gpu_memory_growth": info.get("gpu_memory_growth"),
                "tensor_float_32": info.get("tensor_float_32"),
                "tensorflow": info.get("tensorflow"),
                "chunk": self.chunk,
                "jackknife_blocks": self.blocks,
                "estimator": "rao_blackwell" if self.rb else "plain",
                "rao_blackwellised": [n for n in self.names if self.rb and n not in PLAIN_ONLY],
                "normalisation": "first-order tensors are n_{l-1} x cumulant (n_0 at l = 1); K1, Theta1 = "
                                 "n_{l-1} (sampled mean - infinite-width solver value); layer 1 exactly zero",
                "rng": "Philox (StatelessRandomNormalV2), key = seed, network e owns counters [e*M/2, (e+1)*M/2)",
                # False: Rao-Blackwellised only, W^(L), b^(L) not needed
                "last_layer_drawn": None if self.ens is None else not self.ens.skip_last,
                "tf_function_traces": None if self.ens is None else self.ens.traces,
                "replicas": info.get("replicas", 1), "workers": info.get("workers", 1),
                "devices": info.get("devices"), "strategy": info.get("strategy"),
                "chunk_per_device": self.chunk,
                "resumed_from": self.resumed_from,
            })

    def _check_finite(self, tensors: dict) -> None:
        """NonFiniteError for an inf/NaN estimate (not for layers a width of 1 leaves undefined)."""
        for name, arr in tensors.items():
            for li, layer in enumerate(range(1, self.spec.depth + 1)):
                undefined = (name in PAIR_TENSORS and li > 0 and self.widths[li] < 2
                             and not (self.rb and name not in PLAIN_ONLY))
                if not undefined and not np.all(np.isfinite(arr[li])):
                    what = "inf" if np.isinf(arr[li]).any() else "NaN"
                    raise NonFiniteError(
                        f"{name} at layer {layer} is {what} (sampled networks overflow: the inputs, C_W or the depth "
                        "are too large, or the activation diverges); pass allow_nonfinite=True "
                        "(fntk --allow-nonfinite) to keep such values", tensor=name, layer=layer)

    def _estimates(self, *, partial: bool) -> Result:
        acc = self.acc
        L = self.spec.depth
        meta = self._meta(partial)
        kw = dict(k_inf=self.k_inf, theta_inf=self.theta_inf, layer_widths=self.widths, control_variates=self.cv)
        if acc.used == 0 or acc.sums is None:
            if acc.drawn and not partial and not self.cancelled and not self.allow_nonfinite:
                raise NonFiniteError(f"all {acc.drawn} sampled networks produced inf or NaN (overflow: the inputs, "
                                     "C_W or the depth are too large, or the activation diverges); pass "
                                     "allow_nonfinite=True (fntk --allow-nonfinite) to keep such values")
            nan = {n: np.full((L,) + (self.x.shape[0],) * RANKS[n], np.nan) for n in self.names}
            meta["variance_ratio"] = {} if self.compare else None
            if not self.compare:
                meta["variance_ratio_note"] = self._ratio_note()
            self._warn_dropped(partial)
            return Result(list(range(1, L + 1)), nan, meta, {k: v.copy() for k, v in nan.items()})
        with np.errstate(all="ignore"):  # non-finite estimates are checked below
            tensors, stderr = estimate_with_errors(acc, self.names, self.nprev, rb=self.rb, **kw)
            if self.rb:  # conditional on nothing, layer 1 is exact: no error, only rounding
                for n in ("K", "Theta"):
                    if n in stderr:
                        stderr[n][0] = 0.0
            if self.compare:  # the other estimator, for the variance ratio (Rao-Blackwellised vs plain)
                _, other_se = estimate_with_errors(acc, self.names, self.nprev, rb=not self.rb, **kw)
                se_rb, se_plain = (stderr, other_se) if self.rb else (other_se, stderr)
                # Var(Rao-Blackwellised) / Var(plain), layers >= 2
                meta["variance_ratio"] = {n: _variance_ratio(se_rb[n][1:], se_plain[n][1:]) for n in self.names}
            else:
                meta["variance_ratio"] = None
                meta["variance_ratio_note"] = self._ratio_note()
            if self.cv:
                _, se0 = estimate_with_errors(acc, self.names, self.nprev, rb=self.rb, **dict(kw, control_variates=False))
                # Var(with) / Var(without), layers >= 3
                meta["variance_ratio_control_variates"] = {
                    n: _variance_ratio(stderr[n][2:], se0[n][2:]) for n in self.names
                    if n in ("K", "Theta", "K1", "Theta1")}
        if not self.allow_nonfinite and not partial and not self.cancelled:
            self._check_finite(tensors)
        meta["control_variates"] = self.cv
        slopes = self.spec.activation.slopes
        if self.need_dntk and slopes is not None and slopes[0] != slopes[1]:
            meta["dntk_note"] = ("piecewise-linear activation: sigma'' = 0 almost surely in sampled networks, so P, Q "
                                 "are the almost-sure (pathwise) values; the solver's P, Q also contain the "
                                 "delta-function terms of the ensemble average and differ from them")
        if self.need_ddntk and slopes is not None and slopes[0] != slopes[1]:
            meta["ddntk_note"] = ("piecewise-linear activation: sampled networks have vanishing second and third "
                                  "derivatives almost surely; R, S, T, U are those almost-sure values (the solver's "
                                  "distributional recursions do not apply)")
        if self.cv_note:
            meta["control_variates_note"] = self.cv_note
        self._warn_dropped(partial)
        return Result(list(range(1, L + 1)), tensors, meta, stderr)

    def _warn_dropped(self, partial: bool) -> None:
        acc = self.acc
        if acc.bad and not partial and not self.warned:
            self.warned = True
            warnings.warn(f"fntk sample: {acc.bad} of {acc.drawn} networks produced NaN or Inf and were dropped "
                          f"from the estimates", RuntimeWarning, stacklevel=4)


def _variance_ratio(se_a: np.ndarray, se_b: np.ndarray) -> float | None:
    """sum se_a^2 / sum se_b^2 over the components where both are finite (None if 0 / 0)."""
    ok = np.isfinite(se_a) & np.isfinite(se_b)
    den = float((se_b[ok] ** 2).sum())
    return float((se_a[ok] ** 2).sum() / den) if den > 0 else None


def iter_sample(spec: NetworkSpec, inputs, *, networks: int, width=None, outputs=None,
                tensors: Iterable[str] = DEFAULT_TENSORS, seed: int = 0, dtype: str = "float64",
                chunk: int | None = None, progress: ProgressCallback | None = None,
                cancel=None, rao_blackwell: bool = True, every: int | None = None,
                control_variates: bool = True, compare_plain: bool = False,
                allow_nonfinite: bool = False, devices=None, cluster: bool = False, checkpoint=None,
                checkpoint_every: float = 60.0) -> Iterator[Result]:
    """Yield partial Results every ``every`` networks (at chunk boundaries), then the final one.

    ``compare_plain``: compute the plain estimators too (besides the Rao-Blackwellised ones,
    or the other way round with ``rao_blackwell=False``) and report meta ``variance_ratio``
    = Var(Rao-Blackwellised) / Var(plain) per tensor.  Off by default: then only the
    estimator in use is computed, and with Rao-Blackwellised estimators only (tensors other
    than P, Q, R-U) the last layer's weights are neither drawn nor multiplied (the
    statistics of layer L are closed forms in layer L-1 quantities); meta ``variance_ratio``
    is None and ``variance_ratio_note`` says why.

    ``cancel``: a callable returning True or a threading.Event; it is polled between chunks.
    On cancellation the estimates from the networks drawn so far are yielded (meta
    ``cancelled`` True, ``networks_used``) and the generator ends.  ``progress`` receives a
    :class:`~fntk_core.jobs.Progress` (networks done of total) after every chunk.  An inf or
    NaN estimate raises NonFiniteError naming tensor and layer, unless ``allow_nonfinite``.

    ``devices``: N or "all": one ensemble over N local devices (tf.distribute.MirroredStrategy;
    N logical CPU devices without GPUs; ``chunk`` is then per device).  ``cluster``: this
    process is one worker of a MultiWorkerMirroredStrategy cluster (TF_CONFIG or Slurm); every
    worker gets the result, only the chief (``SamplingSession.chief``) should write it.  The
    same seed gives the same estimates (to rounding) on any number of devices and workers.
    ``checkpoint``: a file for the block sums of the finished networks, written atomically
    every ``checkpoint_every`` seconds, on cancellation and at the end; a run with the same
    arguments and file resumes from it.
    """
    if every is not None:
        every = max(1, int(every))
    session = SamplingSession(spec, inputs, networks=networks, width=width, outputs=outputs, tensors=tensors,
                              seed=seed, dtype=dtype, chunk=chunk, rao_blackwell=rao_blackwell,
                              control_variates=control_variates, compare_plain=compare_plain,
                              allow_nonfinite=allow_nonfinite,
                              max_chunk=every if (every and chunk is None) else None,  # auto chunk <= reporting interval
                              devices=devices, cluster=cluster, checkpoint=checkpoint,
                              checkpoint_every=checkpoint_every)
    yield from drive_iter(session, progress=progress, cancel=cancel, every=every)


def drive_iter(session: SamplingSession, *, progress=None, cancel=None, every: int | None = None) -> Iterator[Result]:
    """Run a session to the end: partial Results every ``every`` networks, then the final one."""
    session.start()
    next_report = every
    while not session.done:
        if is_cancelled(cancel):
            if not session.cluster:
                session.cancel()
                break
            session.stop_requested = True  # the workers must agree: stop together after one more step
        p = session.step()
        if progress is not None:
            progress(p)
        if every and p.done >= next_report and not session.done:
            while next_report <= p.done:
                next_report += every
            yield session.snapshot()
    yield session.result()


def drive(session: SamplingSession, *, progress=None, cancel=None) -> Result:
    """Run a session to the end (see ``iter_sample``) and return its final Result."""
    last = None
    for last in drive_iter(session, progress=progress, cancel=cancel):
        pass
    return last


def sample(spec: NetworkSpec, inputs, *, networks: int, width=None, outputs=None,
           tensors: Iterable[str] = DEFAULT_TENSORS, seed: int = 0, dtype: str = "float64",
           chunk: int | None = None, progress: ProgressCallback | None = None,
           cancel=None, rao_blackwell: bool = True, control_variates: bool = True,
           compare_plain: bool = False, allow_nonfinite: bool = False, devices=None, cluster: bool = False,
           checkpoint=None, checkpoint_every: float = 60.0) -> Result:
    """Draw ``networks`` networks and estimate ``tensors`` with standard errors (Result.stderr).

    ``compare_plain``: also compute the other estimator and report meta ``variance_ratio``
    (see ``iter_sample``, also for ``progress``, ``cancel``, ``allow_nonfinite``, ``devices``,
    ``cluster`` and ``checkpoint``)."""
    last = None
    for last in iter_sample(spec, inputs, networks=networks, width=width, outputs=outputs, tensors=tensors,
                            seed=seed, dtype=dtype, chunk=chunk, progress=progress, cancel=cancel,
                            rao_blackwell=rao_blackwell, every=None, control_variates=control_variates,
                            compare_plain=compare_plain, allow_nonfinite=allow_nonfinite, devices=devices,
                            cluster=cluster, checkpoint=checkpoint, checkpoint_every=checkpoint_every):
        pass
    return last


def configure_devices(devices) -> None:
    """Set up ``devices`` local devices for tf.distribute now (N logical CPU devices without GPUs).

    Needed only when this process runs other TensorFlow code before its first multi-device
    job: logical devices can be made only before TensorFlow sets up its devices."""
    from . import distribute

    distribute.local_strategy(check_devices(devices))
