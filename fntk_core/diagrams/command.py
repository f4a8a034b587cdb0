"""`fntk diagrams`: enumerate a statistic's diagrams, check a diagram file, export LaTeX/TikZ."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .model import DiagramError


def configure_parser(p) -> None:
    p.add_argument("--statistic", metavar="NAME", help="statistic to enumerate (as in fntk solve --tensors)")
    p.add_argument("--json", metavar="FILE", help="write the diagrams with coefficients and LaTeX as JSON")
    p.add_argument("--latex", metavar="FILE", help="write the assembled recursion as a LaTeX document")
    p.add_argument("--tikz", metavar="FILE", help="write the diagrams as a TikZ-Feynman document")
    p.add_argument("--check", metavar="FILE", help="validate every diagram in an fntk export (diagram JSON, "
                                                  "the --json output, or an exported .tex)")
    p.add_argument("--write-library", metavar="DIR", nargs="?", const="",
                   help="regenerate the diagram library (default resources/diagrams)")


def run(args) -> int:
    try:
        if getattr(args, "write_library", None) is not None:
            from .library import ROOT, write_library

            paths = write_library(args.write_library or ROOT)
            print(f"wrote {len(paths)} files", file=sys.stderr)
            return 0
        if args.check:
            return _check(args.check)
        if not args.statistic:
            raise DiagramError("give --statistic NAME or --check FILE.json")
        return _statistic(args)
    except (DiagramError, ValueError, OSError) as exc:
        msg = getattr(exc, "strerror", None) or str(exc)
        print(f"fntk diagrams: error: {msg}", file=sys.stderr)
        return 2


def _check(path: str) -> int:
    from fntk_core.diagrams.report import check_file, violation_lines

    reports = check_file(path)
    print(json.dumps({"file": str(path), "diagrams": reports}, indent=1))
    for line in violation_lines(reports):
        print(f"fntk diagrams: {line}", file=sys.stderr)
    return 2 if any(not r["ok"] for r in reports) else 0


def _statistic(args) -> int:
    from fntk_core.export.statistic import statistic_json, statistic_latex, statistic_lines, statistic_tikz

    name = args.statistic
    outputs = [(args.json, statistic_json), (args.latex, statistic_latex), (args.tikz, statistic_tikz)]
    for path, make in outputs:
        if path:
            Path(path).write_text(make(name))
    if not any(path for path, _ in outputs):
        print("\n".join(statistic_lines(name)))
    return 0
