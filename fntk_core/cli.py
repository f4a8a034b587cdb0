"""The ``fntk`` command line: the same engine as the GUI, headless."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .activations import ACTIVATION_NAMES, FormulaError, get_activation
from .results import RESULT_FORMAT, TENSOR_RANKS, Result, ResultError
from .spec import NetworkSpec, SpecError, check_inputs

DEFAULT_TENSORS = "K,Theta,V,K1,Theta1,D,F,A,B"


class CliError(Exception):
    """A user error reported as one line, exit status 2."""


def parse_vector(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise CliError(f"--input {text!r}: expected comma-separated numbers, e.g. --input=-0.5,1.2") from None
    if not values:
        raise CliError(f"--input {text!r}: empty vector")
    return values


def add_network_arguments(p: argparse.ArgumentParser, *, widths_help: str) -> None:
    """Network and input flags shared by ``fntk solve`` and ``fntk sample``."""
    g = p.add_argument_group("network")
    g.add_argument("--activation", required=True, help=f"one of: {', '.join(ACTIVATION_NAMES)}")
    g.add_argument("--alpha", type=float, help="LeakyReLU negative slope (default 0.01)")
    g.add_argument("--formula", help="custom activation in z, e.g. 'z*tanh(softplus(z))' (with --activation custom)")
    g.add_argument("--cw", type=float, required=True, help="weight variance C_W (every layer)")
    g.add_argument("--cb", type=float, default=0.0, help="bias variance C_b (default 0)")
    g.add_argument("--lambda-w", type=float, default=1.0, help="weight learning-rate factor lambda_W (default 1)")
    g.add_argument("--lambda-b", type=float, default=0.0, help="bias learning-rate factor lambda_b (default 0)")
    g.add_argument("--depth", type=int, required=True, help="number of layers L (weight matrices)")
    g.add_argument("--width", type=int, help=widths_help)
    i = p.add_argument_group("inputs")
    i.add_argument("--input", action="append", default=[], metavar="x1,x2,...",
                   help="one input vector (repeat for several); negative values: --input=-0.5,1.2")
    i.add_argument("--inputs", metavar="FILE.json", help='inputs file {"inputs": [[...], [...]]}')


def spec_and_inputs_from_args(args) -> tuple[NetworkSpec, np.ndarray]:
    vectors = [parse_vector(t) for t in args.input]
    if args.inputs:
        try:
            data = json.loads(Path(args.inputs).read_text())
        except OSError as exc:
            raise CliError(f"--inputs {args.inputs}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CliError(f"--inputs {args.inputs}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
            raise CliError(f'--inputs {args.inputs}: expected {{"inputs": [[...], ...]}}')
        vectors += data["inputs"]
    if not vectors:
        raise CliError("no inputs: give --input x1,x2,... (repeatable) or --inputs FILE.json")
    if len({len(v) if isinstance(v, list) else -1 for v in vectors}) != 1:
        raise CliError("inputs: all input vectors must have the same dimension")
    x = check_inputs(vectors)
    act = get_activation(args.activation, alpha=args.alpha, formula=args.formula)
    spec = NetworkSpec(
        n0=x.shape[1], depth=args.depth, activation=act, c_w=args.cw, c_b=args.cb,
        lambda_w=args.lambda_w, lambda_b=args.lambda_b, widths=args.width,
    )
    return spec, x


def parse_tensor_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TENSOR_RANKS]
    if unknown:
        raise CliError(f"--tensors: unknown {', '.join(unknown)}; known: {','.join(TENSOR_RANKS)}")
    return names


def format_table(result: Result) -> str:
    """A plain-text table: one line per layer and tensor component."""
    lines = []
    for name, arr in result.tensors.items():
        err = None if result.stderr is None else result.stderr.get(name)
        lines.append(f"# {name}")
        for li, layer in enumerate(result.layers):
            a = arr[li]
            for idx in np.ndindex(a.shape):
                s = f"{name}[{','.join(map(str, idx))}]"
                v = f"{a[idx]: .12e}"
                if err is not None:
                    v += f" ± {err[li][idx]:.3e}"
                lines.append(f"l={layer:<3d} {s:<18s} {v}")
    return "\n".join(lines)


def write_result(result: Result, out: str | None, fmt: str) -> None:
    text = json.dumps(result.to_json_dict(), indent=1) if fmt == "json" else format_table(result)
    if out:
        Path(out).write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fntk",
        description="Finite-width NTK statistics from Feynman rules. Without a subcommand, opens the desktop app "
                    "(not part of this release yet: use the subcommands).",
    )
    p.add_argument("--screenshot", metavar="FILE", help="render the app window to FILE and exit (needs the desktop app)")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("solve", help="solve the layer recursions (docs/theory.md §3) for given inputs",
                       description="Solve the recursions for K, Theta and the first-order tensors, layer by layer.")
    add_network_arguments(s, widths_help="hidden width n (all layers; only ratios enter the recursions, "
                                         "the width is recorded and used for finite-width predictions)")
    s.add_argument("--tensors", default=DEFAULT_TENSORS, help=f"comma-separated (default {DEFAULT_TENSORS}); "
                                                              f"known: {','.join(TENSOR_RANKS)}")
    s.add_argument("--recursions", choices=("builtin", "diagrams"), default="builtin",
                   help="built-in recursions (docs/theory.md §3) or the ones assembled from Feynman diagrams")
    s.add_argument("--out", help="output file (default: standard output)")
    s.add_argument("--format", choices=("json", "table"), default="json", help=f"{RESULT_FORMAT} JSON or a text table")

    c = sub.add_parser("criticality", help="critical (C_b, C_W) and susceptibilities of an activation",
                       description="Find the critical initialisation (chi_par = chi_perp = 1) of an activation.")
    c.add_argument("--activation", required=True, help=f"one of: {', '.join(ACTIVATION_NAMES)}")
    c.add_argument("--alpha", type=float, help="LeakyReLU negative slope")
    c.add_argument("--formula", help="custom activation in z (with --activation custom)")

    dg = sub.add_parser("diagrams", help="enumerate, check and export Feynman diagrams",
                        description="Enumerate the O(1/n) diagrams of a statistic, check a diagram file, export LaTeX/TikZ.")
    from .diagrams.command import configure_parser as _configure_diagrams

    _configure_diagrams(dg)

    st = sub.add_parser("study", help="the paper's three numerical studies: figures, tables, results",
                        description="Run (or resume) one of the paper's studies; writes results.json, figures, summary.md.")
    from .studies.command import configure_parser as _configure_study

    _configure_study(st)

    m = sub.add_parser("sample", help="Monte-Carlo estimates from ensembles of finite-width networks (TensorFlow)",
                       description="Sample E networks at width n and estimate the statistics with standard errors.")
    add_network_arguments(m, widths_help="hidden width n of the sampled networks")
    m.add_argument("--networks", type=int, required=True, help="number of networks E")
    m.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    m.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    m.add_argument("--chunk", type=int, default=None, help="networks per chunk (default: automatic)")
    m.add_argument("--outputs", type=int, default=None, help="output width n_L (default: the hidden width)")
    m.add_argument("--tensors", default="K,Theta,K1,Theta1,V,D,F,A,B", help="comma-separated tensors to estimate")
    m.add_argument("--compare-plain", action="store_true",
                   help="also compute the plain estimators and report meta variance_ratio (Rao-Blackwellised vs "
                        "plain); slower: the last layer's weights are then drawn too")
    m.add_argument("--out", help="output file (default: standard output)")
    m.add_argument("--format", choices=("json", "table"), default="json")
    return p


def _cmd_solve(args) -> int:
    from .solver import solve

    spec, x = spec_and_inputs_from_args(args)
    names = parse_tensor_list(args.tensors)
    recursions = None
    if args.recursions == "diagrams":
        from .diagrams import assembled_recursions

        recursions = assembled_recursions(names)
    result = solve(spec, x, tensors=names, recursions=recursions)
    write_result(result, args.out, args.format)
    return 0


def _cmd_criticality(args) -> int:
    from .criticality import find_critical

    act = get_activation(args.activation, alpha=args.alpha, formula=args.formula)
    crit = find_critical(act)
    print(json.dumps(crit, indent=1))
    return 0


def _cmd_sample(args) -> int:
    from .sampling.command import run_sample

    spec, x = spec_and_inputs_from_args(args)
    if args.width is None:
        raise CliError("fntk sample needs --width n")
    return run_sample(spec, x, args)


def _cmd_diagrams(args) -> int:
    from .diagrams.command import run

    return run(args)


def _cmd_study(args) -> int:
    from .studies.command import run

    return run(args)


def _open_app(args) -> int:
    try:
        from app.main import main as app_main
    except ImportError as exc:
        raise CliError(f"the desktop app is not available in this installation ({exc}); "
                       "use the subcommands, see fntk --help") from None
    return app_main(screenshot=args.screenshot)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"solve": _cmd_solve, "criticality": _cmd_criticality, "sample": _cmd_sample,
                "diagrams": _cmd_diagrams, "study": _cmd_study}
    try:
        if args.command is None:
            return _open_app(args)
        return handlers[args.command](args)
    except (CliError, SpecError, FormulaError, ResultError, ValueError) as exc:
        prog = f"fntk {args.command}" if args.command else "fntk"
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fntk: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
