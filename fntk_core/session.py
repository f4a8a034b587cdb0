"""The app's document as a value: diagram, network settings, chosen tensors and width, result.

Saved as versioned JSON (format "fntk-session"). Loading is strict: plain ``json`` only,
every field type-checked, a newer version refused; anything wrong is a
:class:`SessionError` naming the field, so a front end never misreads a file.

The network settings are the fields as the user typed them (strings), so a session
restores even half-finished input; :func:`spec_from_settings` turns them into a
:class:`NetworkSpec` and inputs, or into one message per field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .activations import ACTIVATION_NAMES, get_activation
from .errors import FntkError
from .files import atomic_write_text
from .results import TENSOR_RANKS, Result
from .spec import NetworkSpec, SpecError

SESSION_FORMAT, SESSION_VERSION = "fntk-session", 1
MAX_BYTES = 50_000_000

# Field name -> default text. Per-layer fields take one value or one per layer (comma separated).
DEFAULT_SETTINGS: dict = {
    "activation": "relu", "alpha": "0.01", "formula": "z*tanh(softplus(z))",
    "c_w": "2", "c_b": "0", "lambda_w": "1", "lambda_b": "0",
    "depth": "10", "widths": "",
    "inputs": [["1", "0.5"], ["-0.5", "1"]],
}
TEXT_FIELDS = tuple(k for k in DEFAULT_SETTINGS if k != "inputs")
PER_LAYER = ("c_w", "c_b", "lambda_w", "lambda_b")
DEFAULT_TENSORS = ("K", "Theta", "K1", "Theta1")


class SessionError(FntkError, ValueError):
    """A session file that cannot be read; the message names the problem."""


@dataclass(frozen=True)
class Session:
    """One saved state of the app: a value (frozen); the window builds a new one to save."""

    diagram: object | None = None          # fntk_core.diagrams.Diagram
    network: dict = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_SETTINGS)))
    tensors: tuple[str, ...] = DEFAULT_TENSORS
    width: int = 100                       # hidden width for the first-order prediction
    result: Result | None = None

    def to_json_dict(self) -> dict:
        from .diagrams.io import diagram_to_json

        return {
            "format": SESSION_FORMAT, "version": SESSION_VERSION,
            "diagram": None if self.diagram is None else diagram_to_json(self.diagram),
            "network": self.network, "tensors": list(self.tensors), "width": self.width,
            "result": None if self.result is None else self.result.to_json_dict(),
        }

    def save(self, path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_json_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def from_json_dict(cls, d) -> Session:
        if not isinstance(d, dict) or d.get("format") != SESSION_FORMAT:
            raise SessionError(f"not an {SESSION_FORMAT} file (missing or wrong 'format')")
        v = d.get("version")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SessionError(f"{SESSION_FORMAT}: 'version' must be a positive integer, got {v!r}")
        if v > SESSION_VERSION:
            raise SessionError(f"{SESSION_FORMAT} version {v} is newer than this fntk reads "
                               f"({SESSION_VERSION}); update fntk to open it")
        unknown = set(d) - {"format", "version", "diagram", "network", "tensors", "width", "result"}
        if unknown:
            raise SessionError(f"{SESSION_FORMAT}: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(diagram=_diagram(d.get("diagram")), network=check_settings(d.get("network", DEFAULT_SETTINGS)),
                   tensors=_tensors(d.get("tensors", list(DEFAULT_TENSORS))), width=_width(d.get("width", 100)),
                   result=_result(d.get("result")))

    @classmethod
    def load(cls, path) -> Session:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise SessionError(f"{path}: {exc.strerror}") from None
        if len(raw) > MAX_BYTES:
            raise SessionError(f"{path}: file too large ({len(raw)} bytes)")
        try:
            d = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError as exc:
            raise SessionError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except json.JSONDecodeError as exc:
            raise SessionError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        try:
            return cls.from_json_dict(d)
        except SessionError as exc:
            raise SessionError(f"{path}: {exc}") from None


def _no_constant(name):
    raise SessionError(f"JSON constant {name} is not allowed")


def _diagram(x):
    if x is None:
        return None
    from .diagrams import DiagramError
    from .diagrams.io import diagram_from_json

    try:
        return diagram_from_json(x)
    except DiagramError as exc:
        raise SessionError(f"'diagram': {exc}") from None


def _tensors(x) -> tuple[str, ...]:
    if not isinstance(x, list) or not all(isinstance(t, str) for t in x):
        raise SessionError("'tensors' must be a list of tensor names")
    bad = [t for t in x if t not in TENSOR_RANKS]
    if bad:
        raise SessionError(f"'tensors': unknown tensor(s) {', '.join(bad)}")
    return tuple(x)


def _width(x) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise SessionError(f"'width' must be an integer >= 1, got {x!r}")
    return x


def _result(x):
    if x is None:
        return None
    try:
        return Result.from_json_dict(x)
    except ValueError as exc:
        raise SessionError(f"'result': {exc}") from None


def check_settings(x) -> dict:
    """The network settings with every field type-checked (strings; inputs: rows of strings)."""
    if not isinstance(x, dict):
        raise SessionError("'network' must be an object")
    unknown = set(x) - set(DEFAULT_SETTINGS)
    if unknown:
        raise SessionError(f"'network': unknown field(s) {', '.join(sorted(unknown))}")
    out = json.loads(json.dumps(DEFAULT_SETTINGS))
    for k in TEXT_FIELDS:
        if k in x:
            if not isinstance(x[k], str):
                raise SessionError(f"'network.{k}' must be text, got {type(x[k]).__name__}")
            out[k] = x[k]
    if "inputs" in x:
        rows = x["inputs"]
        if not isinstance(rows, list) or not all(isinstance(r, list) and all(isinstance(c, str) for c in r) for r in rows):
            raise SessionError("'network.inputs' must be a list of rows of text cells")
        out["inputs"] = [list(r) for r in rows]
    return out


def _floats(text: str) -> list[float] | float:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    if not any(parts):
        raise ValueError("empty")
    vals = [float(p) for p in parts]
    return vals[0] if len(vals) == 1 else vals


def spec_from_settings(s: dict) -> tuple[NetworkSpec | None, np.ndarray | None, dict[str, str]]:
    """(spec, inputs, {}) for valid settings, else (None or partial, ..., {field: message}).

    Every field is checked, so a form can mark all bad fields at once.
    """
    errors: dict[str, str] = {}
    act = None
    name = s.get("activation", "")
    try:
        if name == "leaky_relu":
            try:
                alpha = float(s.get("alpha", ""))
            except ValueError:
                raise _FieldError("alpha", "not a number") from None
            act = get_activation(name, alpha=alpha)
        elif name == "custom":
            try:
                act = get_activation(name, formula=s.get("formula", ""))
            except ValueError as exc:
                raise _FieldError("formula", str(exc)) from None
        elif name in ACTIVATION_NAMES:
            act = get_activation(name)
        else:
            raise _FieldError("activation", f"unknown activation {name!r}")
    except _FieldError as exc:
        errors[exc.field] = exc.message
    depth = None
    try:
        depth = int(s.get("depth", "").strip())
        if depth < 1:
            raise ValueError
    except ValueError:
        errors["depth"] = "an integer >= 1"
        depth = None
    kw = {}
    for k in PER_LAYER:
        try:
            kw[k] = _floats(s.get(k, ""))
        except ValueError:
            errors[k] = "a number, or one per layer separated by commas"
    widths_text = s.get("widths", "").strip()
    if widths_text:
        try:
            kw["widths"] = [int(p) for p in widths_text.replace(";", ",").split(",")]
        except ValueError:
            errors["widths"] = "integers separated by commas (or empty: equal widths)"
    x = None
    try:
        x = np.array([[float(c) for c in row] for row in s.get("inputs", [])], dtype=float)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise SpecError("at least one input vector is needed")
        if not np.all(np.isfinite(x)):
            raise SpecError("contain NaN or infinity")
    except (ValueError, SpecError) as exc:
        msg = str(exc)
        errors["inputs"] = msg if isinstance(exc, SpecError) else f"every cell must be a number ({msg})"
        x = None
    if errors or act is None or depth is None or x is None:
        return None, x, errors
    try:
        spec = NetworkSpec(n0=x.shape[1], depth=depth, activation=act, **kw)
    except SpecError as exc:
        msg = str(exc)
        key = msg.split(":", 1)[0].split(" ", 1)[0]
        errors[key if key in DEFAULT_SETTINGS else "network"] = msg
        return None, x, errors
    return spec, x, {}


class _FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def parse_table(text: str) -> list[list[str]]:
    """Rows of cells from pasted spreadsheet text or a .csv/.tsv file (tab, comma or blanks).

    Blank lines and lines starting with '#' are skipped; cells stay text (checked later by
    spec_from_settings, which names the bad cell's problem).
    """
    rows = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "\t" in s:
            cells = s.split("\t")
        elif "," in s or ";" in s:
            cells = s.replace(";", ",").split(",")
        else:
            cells = s.split()
        rows.append([c.strip() for c in cells])
    return rows


def format_table(rows) -> str:
    """The inverse of parse_table for saving inputs: comma separated, one vector per line."""
    return "".join(",".join(str(c) for c in row) + "\n" for row in rows)


def document_kind(path) -> str:
    """What a file holds, by content: "session", "result", "diagrams" (anything else fntk reads).

    Only the JSON "format" field is looked at; the loaders check the rest. A file that is
    not JSON (a TikZ/LaTeX export) is "diagrams".
    """
    try:
        raw = Path(path).read_bytes()[:MAX_BYTES]
        d = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, SessionError):
        return "diagrams"
    fmt = d.get("format") if isinstance(d, dict) else None
    return {SESSION_FORMAT: "session", "fntk-result": "result"}.get(fmt, "diagrams")
