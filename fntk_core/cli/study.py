"""``fntk study NAME ...``: the command-line face of run_study.

Every option is checked (and the output folder tested) before the study creates anything,
so a typo never leaves an empty folder behind.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..studies import STUDIES
from ..studies.base import parse_int_list
from .common import CliError, cancel_on_interrupt, finite_float, parse_names, parse_vector, positive_int
from .progress import ProgressRenderer
from .sample import devices_arg

HELP = "the paper's three numerical studies: figures, tables, results"
DESCRIPTION = "Run (or resume) one of the paper's studies; writes results.json, figures, summary.md."
STUDY_HELP = {
    "gradient-stability": "ReLU NTK vs depth for C_W in {0.25, 2, 4}; NNGP and first-order tensors at criticality",
    "finite-width-corrections": "GeLU NTK/NNGP means vs width against infinite width and first order",
    "scale-invariant-diagonal": "relative NTK deviation vs width: ReLU/LeakyReLU diagonal vs GeLU",
}


def configure(p) -> None:
    sub = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, mod in STUDIES.items():
        d = mod.DEFAULTS
        s = sub.add_parser(name, help=STUDY_HELP[name], description=(mod.__doc__ or "").strip().splitlines()[0])
        s.add_argument("--out", required=True, metavar="DIR", help="output folder (finished points there are reused)")
        s.add_argument("--networks", type=positive_int, help=f"networks per point, at least 2 (default "
                                                             f"{d['networks']}; the paper: {mod.PAPER['networks']}, "
                                                             f"or --paper)")
        s.add_argument("--paper", action="store_true", help="the paper's sample count (a GPU is advisable)")
        s.add_argument("--seed", type=int, help=f"random seed (default {d['seed']})")
        s.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
        s.add_argument("--devices", type=devices_arg, default=None, metavar="N|all",
                       help="sample each point over N local devices (tf.distribute.MirroredStrategy; N logical CPU "
                            "devices without GPUs; 'all': every GPU); the same estimates as on one device")
        if "depths" in d:
            s.add_argument("--depths", help=f"depths, e.g. 1-30 or 1,2,5,10 (default {d['depths']}; one ensemble of "
                                            "the largest depth gives all)")
            s.add_argument("--width", type=positive_int, help=f"hidden width (default {d['width']})")
            s.add_argument("--cw", dest="c_w", help=f"comma-separated C_W values (default {d['c_w']})")
            s.add_argument("--no-first-order", dest="first_order", action="store_const", const=False,
                           help="do not sample V, D, F, A, B at criticality")
        if "widths" in d:
            s.add_argument("--widths", help=f"hidden widths, e.g. 6,8,10 or 10-100:10 (default {d['widths']})")
        if "fit_min" in d:
            s.add_argument("--fit-min", dest="fit_min", type=positive_int,
                           help=f"smallest width in the coefficient fit; at least one width must reach it "
                                f"(default {d['fit_min']})")
        if "activations" in d:
            s.add_argument("--activations", help=f"comma-separated, of {', '.join(mod.LABEL)} "
                                                  f"(default {d['activations']})")
            s.add_argument("--alpha", type=finite_float, help=f"LeakyReLU slope (default {d['alpha']})")
            s.add_argument("--outputs", type=positive_int, help=f"output width (default {d['outputs']})")


def _int_list(option: str, text: str) -> list[int]:
    try:
        values = parse_int_list(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: expected positive whole numbers, e.g. 6,8,10 or 10-100:10") from None
    if not values:
        raise CliError(f"{option} {text!r}: no values")
    return values


def study_options(mod, args) -> dict:
    """The options given on the command line, parsed and checked, each error naming its option."""
    d = mod.DEFAULTS
    opts = {k: getattr(args, k) for k in d if getattr(args, k, None) is not None}
    if opts.get("networks") == 1:
        raise CliError("--networks: at least 2 networks per point are needed for standard errors")
    if "depths" in opts:
        opts["depths"] = _int_list("--depths", opts["depths"])
    if "c_w" in opts:
        opts["c_w"] = parse_vector(opts["c_w"], "--cw")
        if any(not (c > 0) for c in opts["c_w"]):
            raise CliError(f"--cw {args.c_w!r}: C_W values must be positive")
    if "widths" in opts:
        opts["widths"] = _int_list("--widths", opts["widths"])
    if "activations" in opts:
        opts["activations"] = parse_names(opts["activations"], "--activations", list(mod.LABEL))
    if "fit_min" in d:
        widths = opts.get("widths") or _int_list("--widths", d["widths"])
        fit_min = opts.get("fit_min", d["fit_min"])
        if max(widths) < fit_min:
            default = "" if "fit_min" in opts else " (the default)"
            raise CliError(f"--fit-min {fit_min}{default}: no width reaches it (widths {','.join(map(str, widths))}); "
                           f"the fit uses the widths >= --fit-min, give at most {max(widths)}")
    return opts


def check_out_dir(path: str) -> None:
    """The output folder must be a folder we may write in, or creatable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CliError(f"--out {path}: exists and is not a folder")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"--out {path}: {existing} is not writable")


def run(args) -> int:
    from ..studies import run_study
    from .sample import load_engine

    mod = STUDIES[args.study]
    opts = study_options(mod, args)
    check_out_dir(args.out)
    load_engine(getattr(args, "verbose", False))
    bar = ProgressRenderer()
    with cancel_on_interrupt(f"fntk study {args.study}") as cancel:
        try:
            res = run_study(args.study, args.out, progress=bar, cancel=cancel, paper=args.paper,
                            devices=args.devices, **opts)
        finally:
            bar.close()
    if res.cancelled:
        print(f"fntk study {args.study}: cancelled; the finished points (and the interrupted one's partial "
              f"sums) stay in {Path(args.out) / 'points'} and a rerun resumes there", file=sys.stderr)
        return 130
    print(f"fntk study {args.study}: {len(res.computed)} points sampled, {len(res.reused)} reused, "
          f"{res.seconds:.0f} s", file=sys.stderr)
    for f in res.files:
        print(f"wrote {f}", file=sys.stderr)
    return 0
