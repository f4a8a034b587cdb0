"""`fntk diagrams`: enumerate a statistic's diagrams, check a diagram file, export LaTeX/TikZ."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..diagrams.model import DiagramError
from ..files import atomic_write_text
from .common import CliError, check_out

HELP = "enumerate, check and export Feynman diagrams"
DESCRIPTION = "Enumerate the O(1/n) diagrams of a statistic, check a diagram file, export LaTeX/TikZ."


def configure(p) -> None:
    p.add_argument("--statistic", metavar="NAME", help="statistic to enumerate (as in fntk solve --tensors)")
    p.add_argument("--json", metavar="FILE", help="write the diagrams with coefficients and LaTeX as JSON")
    p.add_argument("--latex", metavar="FILE", help="write the assembled recursion as a LaTeX document")
    p.add_argument("--tikz", metavar="FILE", help="write the diagrams as a TikZ-Feynman document")
    p.add_argument("--check", metavar="FILE", help="validate every diagram in an fntk export (diagram JSON, "
                                                  "the --json output, or an exported .tex)")
    p.add_argument("--write-library", metavar="DIR", nargs="?", const=".",
                   help="write the diagram library into DIR (default: the current folder; "
                        "in a checkout, resources/diagrams regenerates the shipped one)")


def run(args) -> int:
    try:
        if getattr(args, "write_library", None) is not None:
            return _write_library(args.write_library)
        if args.check:
            return _check(args.check)
        if not args.statistic:
            raise CliError("give --statistic NAME or --check FILE")
        return _statistic(args)
    except DiagramError as exc:  # fntk's own error type (also an FntkError once diagrams says so)
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)) from None


def _write_library(folder: str) -> int:
    from ..diagrams.library import write_library

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise CliError(f"--write-library {folder}: exists and is not a folder")
    paths = write_library(root)
    print(f"wrote {len(paths)} files under {root.resolve()}", file=sys.stderr)
    return 0


def _check(path: str) -> int:
    from ..diagrams.report import check_file, violation_lines

    reports = check_file(path)
    print(json.dumps({"file": str(path), "diagrams": reports}, indent=1))
    for line in violation_lines(reports):
        print(f"fntk diagrams: {line}", file=sys.stderr)
    return 2 if any(not r["ok"] for r in reports) else 0


def _statistic(args) -> int:
    from ..diagrams.rules import STATISTICS
    from ..export.statistic import statistic_json, statistic_latex, statistic_lines, statistic_tikz

    name = args.statistic
    if name not in STATISTICS:
        raise DiagramError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    outputs = [("json", statistic_json), ("latex", statistic_latex), ("tikz", statistic_tikz)]
    for option, _ in outputs:
        if getattr(args, option):
            check_out(getattr(args, option), f"--{option}")
    for option, make in outputs:
        if getattr(args, option):
            atomic_write_text(getattr(args, option), make(name))
            print(f"wrote {getattr(args, option)}", file=sys.stderr)
    if not any(getattr(args, option) for option, _ in outputs):
        print("\n".join(statistic_lines(name)))
    return 0
