"""Shared machinery of the paper's studies: points, resume, progress, files, fits.

A study is a list of *points* (a width, a depth range, an activation ...).  Each point is
sampled with :func:`fntk_core.sampling.sample` and predicted with
:func:`fntk_core.solver.solve`; the pair is stored at once in ``DIR/points/<key>.json``
so that an interrupted study resumes where it stopped (a stored point is reused when its
configuration - network, inputs, networks, seed, dtype, tensors - is unchanged).
"""
from __future__ import annotations

import json
import math
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_write_text
from ..jobs import Progress, is_cancelled, report
from ..results import Result, library_versions
from ..spec import NetworkSpec

STUDY_FORMAT = "fntk-study"
STUDY_VERSION = 1
POINT_FORMAT = "fntk-study-point"


@dataclass
class Point:
    """One sampled-and-predicted configuration of a study."""

    key: str  # file name stem, unique within the study
    coords: dict  # e.g. {"width": 20} or {"c_w": 2.0, "depth": 30}
    spec: NetworkSpec  # without widths
    inputs: np.ndarray
    width: int
    networks: int
    seed: int
    tensors: tuple  # sampled
    predicted_tensors: tuple
    outputs: int | None = None
    dtype: str = "float64"
    sampled: Result | None = None
    predicted: Result | None = None
    reused: bool = False

    def config(self) -> dict:
        return json.loads(json.dumps({
            "network": self.spec.to_dict(), "inputs": np.asarray(self.inputs).tolist(), "width": self.width,
            "outputs": self.outputs, "networks": self.networks, "seed": self.seed, "dtype": self.dtype,
            "tensors": list(self.tensors), "predicted_tensors": list(self.predicted_tensors),
        }))

    def cost(self) -> float:
        """Rough relative cost (for the progress bar): networks x layers x width^2.5."""
        return self.networks * self.spec.depth * (float(self.width) ** 2.5 + 3000.0)


@dataclass
class StudyResult:
    """What run_study returns: the points with their Results, the key numbers, the files."""

    name: str
    out_dir: Path
    points: list[Point]
    summary: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)  # keys sampled in this run
    reused: list[str] = field(default_factory=list)  # keys loaded from DIR/points
    seconds: float = 0.0
    cancelled: bool = False  # stopped by cancel: finished points (and the partial one) are stored


def point_seed(seed: int, key: str) -> int:
    """A sampler seed per point: independent streams, stable under resume and reordering."""
    return int((int(seed) * 1_000_003 + zlib.crc32(key.encode())) % 2**31)


def parse_int_list(text) -> list[int]:
    """'6,8,10' or '1-30' or '1-30:2' (or a list) -> sorted unique ints."""
    if text is None:
        return []
    if isinstance(text, (list, tuple, range, np.ndarray)):
        vals = [int(v) for v in text]
    else:
        vals = []
        for part in str(text).replace(" ", "").split(","):
            if not part:
                continue
            if "-" in part[1:]:
                rng, _, step = part.partition(":")
                a, b = rng.split("-", 1)
                vals += list(range(int(a), int(b) + 1, int(step) if step else 1))
            else:
                vals.append(int(part))
    if any(v < 1 for v in vals):
        raise ValueError(f"expected positive integers, got {text!r}")
    return sorted(set(vals))


def parse_float_list(text) -> list[float]:
    if isinstance(text, (list, tuple, np.ndarray)):
        return [float(v) for v in text]
    return [float(v) for v in str(text).replace(" ", "").split(",") if v]


# -- progress --------------------------------------------------------------------------
class TextProgress:
    """A progress bar on stderr; a progress callback (receives fntk_core.jobs.Progress)."""

    def __init__(self, stream=None, width: int = 28):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.t0 = time.perf_counter()
        self.last_pct = -1

    def __call__(self, progress: Progress) -> None:
        frac = progress.fraction
        elapsed = time.perf_counter() - self.t0
        eta = f" ETA {elapsed * (1 - frac) / frac:5.0f}s" if 0.01 < frac < 1 else ""
        bar = "#" * int(round(frac * self.width))
        line = f"[{bar:<{self.width}}] {100 * frac:5.1f}% {elapsed:5.0f}s{eta}  {progress.stage}"
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
            if frac >= 1:
                self.stream.write("\n")
            self.stream.flush()
        else:  # logs: one line per 5 %
            pct = int(100 * frac) // 5
            if pct != self.last_pct:
                self.last_pct = pct
                print(line, file=self.stream, flush=True)


# -- running points ----------------------------------------------------------------------
def _load_point(p: Point, f: Path) -> bool:
    """Fill p from its stored file if that holds the same configuration; warn if it is corrupt."""
    try:
        d = json.loads(f.read_text())
        if d.get("format") != POINT_FORMAT or d.get("config") != p.config():
            return False  # another configuration (changed options): recomputed, as expected
        p.sampled = Result.from_json_dict(d["sampled"])
        p.predicted = Result.from_json_dict(d["predicted"])
        return True
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{f}: stored study point is unreadable ({exc}); recomputing it", RuntimeWarning,
                      stacklevel=3)
        return False


def _resume_state(p: Point, f: Path) -> dict | None:
    """The sampler state of an interrupted point (``<key>.partial.json``) with the same configuration."""
    if not f.exists():
        return None
    try:
        d = json.loads(f.read_text())
        if d.get("format") == POINT_FORMAT + "-partial" and d.get("config") == p.config():
            return d["sampler_state"]
        return None
    except (OSError, ValueError, KeyError) as exc:
        warnings.warn(f"{f}: interrupted study point is unreadable ({exc}); sampling it from the start",
                      RuntimeWarning, stacklevel=3)
        return None


def run_points(study: str, points: list[Point], out_dir: Path, *, progress=None, cancel=None,
               result: StudyResult, devices=None) -> None:
    """Sample and predict every point not yet stored in out_dir/points (in place).

    On cancellation ``result.cancelled`` is set and the sampler state of the interrupted point
    is kept in ``points/<key>.partial.json``: the next run continues it where it stopped
    (network e's draws do not depend on when the job was cut, so the result is the same).
    """
    from ..sampling import SamplingSession
    from ..solver import solve

    pdir = out_dir / "points"
    pdir.mkdir(parents=True, exist_ok=True)
    todo = []
    for p in points:
        f = pdir / f"{p.key}.json"
        if f.exists() and _load_point(p, f):
            p.reused = True
            result.reused.append(p.key)
        else:
            todo.append(p)
    total = round(sum(p.cost() for p in todo)) or 1
    done = 0.0
    for i, p in enumerate(todo, 1):
        label = f"{study}: point {i}/{len(todo)} ({', '.join(f'{k}={v}' for k, v in p.coords.items())})"
        partial_file = pdir / f"{p.key}.partial.json"
        session = SamplingSession(p.spec, p.inputs, networks=p.networks, width=p.width, outputs=p.outputs,
                                  tensors=list(p.tensors), seed=p.seed, dtype=p.dtype,
                                  resume=_resume_state(p, partial_file), devices=devices)
        while not session.done:
            if is_cancelled(cancel):
                session.cancel()
                break
            report(progress, round(done + p.cost() * session.networks_drawn / p.networks), total, label)
            session.step()
        if session.cancelled:
            if session.networks_drawn == 0:  # not started: nothing to keep
                result.cancelled = True
                return
            doc = {"format": POINT_FORMAT + "-partial", "version": STUDY_VERSION, "study": study, "key": p.key,
                   "config": p.config(), "sampler_state": session.state()}
            atomic_write_text(partial_file, json.dumps(doc, allow_nan=False))
            result.cancelled = True
            return
        s = session.result()
        widths = [p.width] * (p.spec.depth - 1) + ([p.outputs] if p.outputs else [p.width])
        pred = solve(p.spec.with_widths(widths), p.inputs, tensors=list(p.predicted_tensors))
        pred.meta["width"] = p.width
        p.sampled, p.predicted = s, pred
        doc = {"format": POINT_FORMAT, "version": STUDY_VERSION, "study": study, "key": p.key,
               "coords": p.coords, "config": p.config(),
               "sampled": s.to_json_dict(), "predicted": pred.to_json_dict()}
        atomic_write_text(pdir / f"{p.key}.json", json.dumps(doc, allow_nan=False))
        partial_file.unlink(missing_ok=True)
        result.computed.append(p.key)
        done += p.cost()
    if todo:
        report(progress, total, total, f"{study}: sampling done")


def write_results_json(study: str, points: list[Point], options: dict, summary: dict, out_dir: Path) -> Path:
    doc = {
        "format": STUDY_FORMAT, "version": STUDY_VERSION, "study": study,
        "options": _jsonable(options), "versions": library_versions(),
        "summary": _jsonable(summary),
        "points": [dict(p.coords, key=p.key, sampled=p.sampled.to_json_dict(),
                        predicted=p.predicted.to_json_dict()) for p in points],
    }
    path = out_dir / "results.json"
    atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False))
    return path


def load_results(path) -> dict:
    """Read a study's results.json; points' "sampled"/"predicted" become Results."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    d = json.loads(p.read_text())
    if d.get("format") != STUDY_FORMAT:
        raise ValueError(f"{p}: not an {STUDY_FORMAT} file")
    if d.get("version") != STUDY_VERSION:
        raise ValueError(f"{p}: unsupported {STUDY_FORMAT} version {d.get('version')!r}")
    for pt in d["points"]:
        pt["sampled"] = Result.from_json_dict(pt["sampled"])
        pt["predicted"] = Result.from_json_dict(pt["predicted"])
    return d


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, Path):
        return str(x)
    return x


# -- figures -----------------------------------------------------------------------------
def new_figure(nrows: int, ncols: int, size=(4.2, 3.3)):
    """A matplotlib Figure and its axes, without pyplot: no global backend or figure state
    changes, so a Qt application's matplotlib backend survives a study."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig, out_dir: Path, stem: str, caption: str) -> list[Path]:
    fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    paths = [out_dir / f"{stem}.pdf", out_dir / f"{stem}.png"]
    fig.savefig(paths[0])
    fig.savefig(paths[1], dpi=130)
    return paths


# -- statistics ---------------------------------------------------------------------------
def weighted_mean(y, se):
    """Inverse-variance weighted mean, its standard error and chi^2/dof."""
    y, se = np.asarray(y, float), np.asarray(se, float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    if not ok.any():
        return math.nan, math.nan, math.nan
    w = 1 / se[ok] ** 2
    m = float((w * y[ok]).sum() / w.sum())
    chi2 = float((w * (y[ok] - m) ** 2).sum())
    dof = max(int(ok.sum()) - 1, 1)
    return m, float(1 / math.sqrt(w.sum())), chi2 / dof


def linear_fit(x, y, se, *, intercept: bool = True, correlated: bool = False, ols: bool = False):
    """Weighted least squares y = a + b x (or y = b x). Returns (params, stderr, chi2/dof).

    ``correlated=True``: the points may be arbitrarily (positively) correlated, as the
    layers of one ensemble are; the standard error is then the conservative bound
    sum_l |c_l| se_l of the linear estimator beta = sum_l c_l y_l (exact for full correlation).
    ``ols=True``: unweighted least squares (errors still propagated from ``se``).
    """
    x, y, se = (np.asarray(v, float) for v in (x, y, se))
    ok = np.isfinite(y) & np.isfinite(se) & ((se > 0) | ols)
    x, y, se = x[ok], y[ok], se[ok]
    X = np.stack([np.ones_like(x), x], 1) if intercept else x[:, None]
    W = np.ones_like(x) if ols else 1 / se**2
    cov = np.linalg.inv(X.T @ (X * W[:, None]))
    beta = cov @ (X.T @ (W * y))
    coef = cov @ (X.T * W[None, :])  # beta = coef @ y
    err = np.abs(coef) @ se if correlated else np.sqrt((coef**2) @ se**2)
    res = y - X @ beta
    dof = max(len(x) - X.shape[1], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = float(np.nansum(res**2 / se**2) / dof)
    return beta, err, chi2


def fmt_pm(v, e, digits: int = 3) -> str:
    if not np.isfinite(e):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g} ± {e:.2g}"


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def width_axis(ax) -> None:
    """Log-scaled width axis with plain tick labels (6, 10, 20, ... not 6x10^0)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"hidden width $n$ (neurons per layer)")
