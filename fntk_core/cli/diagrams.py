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
    p.add_argument("--check", metavar="FILE.json", help="validate one diagram file (JSON or exported .tex)")
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
    from ..export.latex import translation_latex
    from .io import load_diagram
    from .translate import translate

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
    from .enumerate import assembled_recursion, enumerate_diagrams
    from .io import diagram_to_json
    from .rules import STATISTICS

    name = args.statistic
    if name not in STATISTICS:
        raise DiagramError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    found = enumerate_diagrams(name)
    if args.json:
        doc = {"statistic": name, "diagrams": [
            {"coefficient": str(e.coefficient), "order": e.order, "latex": translation_latex(e.translation),
             "diagram": diagram_to_json(e.diagram)} for e in found]}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    if args.latex:
        Path(args.latex).write_text(latex_document(recursion_latex(assembled_recursion(name))))
    if args.tikz:
        caps = [rf"{name}, diagram {k + 1}: coefficient \({_tex(e.coefficient)}\)" for k, e in enumerate(found)]
        Path(args.tikz).write_text(tikz_document([tikz_snippet(e.diagram, c) for e, c in zip(found, caps)], caps))
    if not (args.json or args.latex or args.tikz):
        for k, e in enumerate(found, 1):
            print(f"{name} #{k}: coefficient {e.coefficient}, O(1/n^{e.order}): {translation_latex(e.translation)}")
    return 0


def _tex(c) -> str:
    from ..export.latex import FntkLatexPrinter

    return FntkLatexPrinter().doprint(c)
