"""The paper's three numerical studies (docs/theory.md §7), headless.

    run_study(name, out_dir, *, progress=None, cancel=None, **options) -> StudyResult

Names: ``gradient-stability``, ``finite-width-corrections``, ``scale-invariant-diagonal``
(see STUDIES[name].DEFAULTS for the options of each).  Every point is stored in
``out_dir/points`` as soon as it is sampled, so a rerun resumes; ``out_dir`` then gets
``results.json`` (format ``fntk-study``), figures (PDF and PNG) and ``summary.md``.

``progress`` receives a :class:`fntk_core.jobs.Progress` (done and total in units of
estimated work, stage = the point's label); ``cancel`` is a callable returning True or a
threading.Event (polled between chunks of networks).  On cancellation run_study returns
with ``cancelled`` True and no analysis: finished points stay in ``out_dir/points`` and the
interrupted one in ``points/<key>.partial.json``, from where the next run continues it.
Figures use matplotlib's object-oriented API only (no pyplot, no backend switch).
Importing this package imports neither TensorFlow nor matplotlib.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..files import atomic_write_text
from . import finite_width, gradient_stability, scale_invariant
from .base import (
    StudyResult,
    TextProgress,
    load_results,
    run_points,
    write_results_json,
)

STUDIES = {m.NAME: m for m in (gradient_stability, finite_width, scale_invariant)}


def study_defaults(name: str) -> dict:
    return dict(_module(name).DEFAULTS)


def _module(name: str):
    try:
        return STUDIES[name]
    except KeyError:
        raise ValueError(f"unknown study {name!r}; known: {', '.join(STUDIES)}") from None


def run_study(name: str, out_dir, *, progress=None, cancel=None, paper: bool = False, devices=None,
              **options) -> StudyResult:
    """Run (or resume) a study and write its files into out_dir.

    ``paper=True`` uses the paper's sample counts (unless ``networks`` is given).
    ``devices``: sample each point over that many local devices (see ``fntk_core.sampling.sample``);
    it changes where the networks run, not the results, so it is no study option.
    Unknown options are refused.
    """
    mod = _module(name)
    unknown = set(options) - set(mod.DEFAULTS)
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(mod.DEFAULTS)}")
    if paper:
        options = {**mod.PAPER, **{k: v for k, v in options.items() if v is not None}}
    o = mod.normalise(options)
    points = mod.make_points(o)  # bad options fail here, before any folder is made
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = StudyResult(name, out, points)
    run_points(name, points, out, progress=progress, cancel=cancel, result=result, devices=devices)
    if result.cancelled:
        result.seconds = time.perf_counter() - t0
        return result
    summary, md = mod.analyse(points, o)
    result.summary = summary
    cap = mod.caption(o)
    result.files.append(write_results_json(name, points, o, summary, out))
    result.files += mod.figures(points, o, out, cap)
    result.seconds = time.perf_counter() - t0
    md += (f"\n_{cap}. Points sampled in this run: {len(result.computed)}, reused from {out / 'points'}: "
           f"{len(result.reused)}; {result.seconds:.0f} s._\n")
    atomic_write_text(out / "summary.md", md)
    result.files.append(out / "summary.md")
    return result


__all__ = ["STUDIES", "StudyResult", "TextProgress", "load_results", "run_study", "study_defaults"]
