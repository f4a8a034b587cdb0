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
    p.add_argument("--check", metavar="FILE.json", help="validate one diagram file (JSON or exported .tex)")
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
            raise CliError("give --statistic NAME or --check FILE.json")
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
    from ..diagrams.io import load_diagram
    from ..diagrams.translate import translate
    from ..export.latex import translation_latex

    if path.endswith(".tex"):
        from ..export.tikz import diagram_from_tikz

        try:
            d = diagram_from_tikz(Path(path).read_text())
        except OSError as exc:
            raise DiagramError(f"{path}: {exc.strerror}") from None
    else:
        d = load_diagram(path)
    tr = translate(d)  # RuleError -> exit 2 with the rule
    print(json.dumps({"statistic": tr.statistic, "order": tr.order, "coefficient": str(tr.coefficient),
                      "terms": [str(t) for t in tr.terms], "latex": translation_latex(tr)}, indent=1))
    return 0


def _statistic(args) -> int:
    from ..export.latex import latex_document, recursion_latex, translation_latex
    from ..export.tikz import tikz_document, tikz_snippet
    from ..diagrams.enumerate import assembled_recursion, enumerate_diagrams
    from ..diagrams.io import diagram_to_json
    from ..diagrams.rules import STATISTICS

    name = args.statistic
    if name not in STATISTICS:
        raise DiagramError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    for option in ("json", "latex", "tikz"):
        if getattr(args, option):
            check_out(getattr(args, option), f"--{option}")
    found = enumerate_diagrams(name)
    if args.json:
        doc = {"statistic": name, "diagrams": [
            {"coefficient": str(e.coefficient), "order": e.order, "latex": translation_latex(e.translation),
             "diagram": diagram_to_json(e.diagram)} for e in found]}
        atomic_write_text(args.json, json.dumps(doc, indent=1) + "\n")
    if args.latex:
        atomic_write_text(args.latex, latex_document(recursion_latex(assembled_recursion(name))))
    if args.tikz:
        caps = [rf"{name}, diagram {k + 1}: coefficient \({_tex(e.coefficient)}\)" for k, e in enumerate(found)]
        atomic_write_text(args.tikz, tikz_document([tikz_snippet(e.diagram, c) for e, c in zip(found, caps)], caps))
    for option in ("json", "latex", "tikz"):
        if getattr(args, option):
            print(f"wrote {getattr(args, option)}", file=sys.stderr)
    if not (args.json or args.latex or args.tikz):
        for k, e in enumerate(found, 1):
            print(f"{name} #{k}: coefficient {e.coefficient}, O(1/n^{e.order}): {translation_latex(e.translation)}")
    return 0


def _tex(c) -> str:
    from ..export.latex import FntkLatexPrinter

    return FntkLatexPrinter().doprint(c)
