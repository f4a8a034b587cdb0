"""``fntk study NAME ...``: the command-line face of run_study."""
from __future__ import annotations

import argparse
import sys

from . import STUDIES

HELP = {
    "gradient-stability": "ReLU NTK vs depth for C_W in {0.25, 2, 4}; NNGP and first-order tensors at criticality",
    "finite-width-corrections": "GeLU NTK/NNGP means vs width against infinite width and first order",
    "scale-invariant-diagonal": "relative NTK deviation vs width: ReLU/LeakyReLU diagonal vs GeLU",
}


def configure_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, mod in STUDIES.items():
        d = mod.DEFAULTS
        s = sub.add_parser(name, help=HELP[name], description=(mod.__doc__ or "").strip().splitlines()[0])
        s.add_argument("--out", required=True, metavar="DIR", help="output folder (finished points there are reused)")
        s.add_argument("--networks", type=int, help=f"networks per point (default {d['networks']}; "
                                                    f"the paper: {mod.PAPER['networks']}, or --paper)")
        s.add_argument("--paper", action="store_true", help="the paper's sample count (a GPU is advisable)")
        s.add_argument("--seed", type=int, help=f"random seed (default {d['seed']})")
        s.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
        if "depths" in d:
            s.add_argument("--depths", help=f"depths, e.g. 1-30 or 1,2,5,10 (default {d['depths']}; one ensemble of "
                                            "the largest depth gives all)")
            s.add_argument("--width", type=int, help=f"hidden width (default {d['width']})")
            s.add_argument("--cw", dest="c_w", help=f"comma-separated C_W values (default {d['c_w']})")
            s.add_argument("--no-first-order", dest="first_order", action="store_const", const=False,
                           help="do not sample V, D, F, A, B at criticality")
        if "widths" in d:
            s.add_argument("--widths", help=f"hidden widths, e.g. 6,8,10 or 10-100:10 (default {d['widths']})")
        if "fit_min" in d:
            s.add_argument("--fit-min", dest="fit_min", type=int, help=f"smallest width in the coefficient fit "
                                                                      f"(default {d['fit_min']})")
        if "activations" in d:
            s.add_argument("--activations", help=f"comma-separated (default {d['activations']})")
            s.add_argument("--alpha", type=float, help=f"LeakyReLU slope (default {d['alpha']})")
            s.add_argument("--outputs", type=int, help=f"output width (default {d['outputs']})")


def run(args) -> int:
    from . import TextProgress, run_study

    mod = STUDIES[args.study]
    opts = {k: getattr(args, k) for k in mod.DEFAULTS if hasattr(args, k) and getattr(args, k) is not None}
    res = run_study(args.study, args.out, progress=TextProgress(), paper=args.paper, **opts)
    print(f"fntk study {args.study}: {len(res.computed)} points sampled, {len(res.reused)} reused, "
          f"{res.seconds:.0f} s", file=sys.stderr)
    for f in res.files:
        print(f"wrote {f}", file=sys.stderr)
    return 0
