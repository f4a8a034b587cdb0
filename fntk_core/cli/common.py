"""What the subcommands share: strict option parsing, network flags, writing results."""
from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from contextlib import contextmanager

import numpy as np

from ..activations import ACTIVATION_NAMES, get_activation
from ..errors import FntkError
from ..files import atomic_write_text, check_writable
from ..results import RESULT_FORMAT, Result
from ..spec import NetworkSpec, check_inputs
from ..tensors import TENSORS


class CliError(FntkError):
    """A user error in the command line, reported as one line with exit status 2."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the message names the option through argparse)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def parse_vector(text: str, option: str = "--input") -> list[float]:
    """'x1,x2,...' -> floats; every field must be one number (no blanks inside, none empty)."""
    fields = text.split(",")
    values = []
    for k, field in enumerate(fields, 1):
        f = field.strip()
        if not f:
            raise CliError(f"{option} {text!r}: field {k} is empty; expected comma-separated numbers, "
                           f"e.g. {option}=-0.5,1.2")
        try:
            values.append(float(f))
        except ValueError:
            raise CliError(f"{option} {text!r}: {f!r} is not a number; expected comma-separated numbers, "
                           f"e.g. {option}=-0.5,1.2") from None
    return values


def parse_names(text: str, option: str, known) -> list[str]:
    """'A,B' -> ['A', 'B'], every name known, none empty, at least one."""
    if not text.strip():
        raise CliError(f"{option}: empty; give comma-separated names from {','.join(known)}")
    names = [t.strip() for t in text.split(",")]
    if "" in names:
        raise CliError(f"{option} {text!r}: an empty name between commas")
    unknown = [t for t in names if t not in known]
    if unknown:
        raise CliError(f"{option}: unknown {', '.join(unknown)}; known: {','.join(known)}")
    return names


def tensor_names(engine: str) -> list[str]:
    """The tensors an engine ("solver" or "sampler") computes, from the one registry."""
    return [name for name, info in TENSORS.items() if getattr(info, engine)]


def parse_tensor_list(text: str, engine: str = "solver") -> list[str]:
    return parse_names(text, "--tensors", tensor_names(engine))


def add_network_arguments(p: argparse.ArgumentParser, *, widths_help: str) -> None:
    """Network and input flags shared by ``fntk solve`` and ``fntk sample``."""
    g = p.add_argument_group("network")
    g.add_argument("--activation", required=True, help=f"one of: {', '.join(ACTIVATION_NAMES)}")
    g.add_argument("--alpha", type=finite_float, help="LeakyReLU negative slope (default 0.01)")
    g.add_argument("--formula", help="custom activation in z, e.g. 'z*tanh(softplus(z))' (with --activation custom)")
    g.add_argument("--cw", type=finite_float, required=True, help="weight variance C_W (every layer)")
    g.add_argument("--cb", type=finite_float, default=0.0, help="bias variance C_b (default 0)")
    g.add_argument("--lambda-w", type=finite_float, default=1.0, help="weight learning-rate factor lambda_W (default 1)")
    g.add_argument("--lambda-b", type=finite_float, default=0.0, help="bias learning-rate factor lambda_b (default 0)")
    g.add_argument("--depth", type=positive_int, required=True, help="number of layers L (weight matrices)")
    g.add_argument("--width", type=positive_int, help=widths_help)
    i = p.add_argument_group("inputs (give --input or --inputs)")
    i.add_argument("--input", action="append", default=[], metavar="x1,x2,...",
                   help="one input vector (repeat for several); negative values: --input=-0.5,1.2")
    i.add_argument("--inputs", metavar="FILE", help='a data set, N x n0: FILE.json ({"inputs": [[...], ...]}), '
                   'FILE.csv (one input per line) or FILE.npy (docs/formats.md)')


def read_inputs_file(path: str) -> np.ndarray:
    """The inputs of a JSON, CSV or .npy file (fntk_core.datasets); failures name the option and file."""
    from ..datasets import InputsFileError, read_inputs

    try:
        return read_inputs(path)
    except InputsFileError as exc:
        raise CliError(f"--inputs {exc}") from None


def spec_and_inputs_from_args(args) -> tuple[NetworkSpec, np.ndarray]:
    if args.input and args.inputs:
        raise CliError("give either --input (repeatable) or --inputs FILE, not both")
    if args.inputs:
        vectors = read_inputs_file(args.inputs)
    else:
        vectors = [parse_vector(t) for t in args.input]
    if len(vectors) == 0:
        raise CliError("no inputs: give --input x1,x2,... (repeatable) or --inputs FILE")
    if not args.inputs and len({len(v) for v in vectors}) != 1:
        raise CliError("inputs: all input vectors must have the same dimension")
    x = check_inputs(vectors)
    act = get_activation(args.activation, alpha=args.alpha, formula=args.formula)
    spec = NetworkSpec(
        n0=x.shape[1], depth=args.depth, activation=act, c_w=args.cw, c_b=args.cb,
        lambda_w=args.lambda_w, lambda_b=args.lambda_b, widths=args.width,
    )
    return spec, x


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-nonfinite", action="store_true",
                   help='keep inf/NaN values (written as "inf", "-inf", "nan") instead of stopping with an error')
    p.add_argument("--out", metavar="FILE", help="output file (default: standard output); checked before any work")
    p.add_argument("--format", choices=("json", "table"), default="json", help=f"{RESULT_FORMAT} JSON or a text table")


def check_out(out: str | None, option: str = "--out") -> None:
    """Refuse a destination that cannot be written before the work starts."""
    if out:
        try:
            check_writable(out)
        except FntkError as exc:
            raise CliError(f"{option} {exc}") from None


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
    """Write atomically to ``out`` (and say where) or print to standard output."""
    if fmt == "json":   # streamed: the JSON of many inputs is gigabytes
        if out:
            result.save(out)
        else:
            for chunk in result.json_chunks():
                sys.stdout.write(chunk)
    elif out:
        atomic_write_text(out, format_table(result) + "\n")
    else:
        print(format_table(result))
    if out:
        print(f"wrote {out}", file=sys.stderr)


@contextmanager
def cancel_on_interrupt(prog: str):
    """While a job runs, the first Ctrl-C sets the returned event (the job stops after the
    current chunk and returns what it has); a second Ctrl-C interrupts at once."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        print(f"\n{prog}: stopping after the current chunk (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)
