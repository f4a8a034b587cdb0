"""The visual vocabulary (resources/style.json): node and line kinds, colours, meaning, keys.

One file, read once, so canvas, thumbnails, palette and tooltips agree; the TikZ
export of fntk_core uses the same names (``tikz`` entries).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

FORMAT = "fntk-style"


def _style_text() -> str:
    """The text of the packaged style.json (fntk_resources)."""
    from fntk_core.resources import resource_path

    return resource_path("style.json").read_text(encoding="utf-8")


@dataclass(frozen=True)
class NodeStyle:
    kind: str  # "leg", "cubic.W", ..., "blob", "vertex"
    label: str
    meaning: str
    shape: str  # dot | square | diamond | cross | circle | disc
    size: float
    fill: str  # palette entry
    stroke: str
    key: str
    tikz: str


@dataclass(frozen=True)
class LineStyle:
    kind: str  # "z", "ntk", "dntk", "ddntkI", "ddntkII"
    name: str  # fntk_core.diagrams.model.LINE_STYLE[kind]: "solid", "dotted", ...
    label: str
    meaning: str
    dash: tuple[float, ...]  # empty: solid
    width: float  # relative to geometry.line_width
    double: bool  # two parallel strokes (TikZ's double)
    cap: str
    key: str
    tikz: str


@dataclass(frozen=True)
class VertexStyle:
    """A correction vertex's palette key (its symbol and meaning: fntk_core.tensors.TENSORS)."""

    tensor: str
    key: str


@dataclass(frozen=True)
class Style:
    geometry: dict
    palettes: dict
    nodes: dict
    lines: dict
    vertices: dict
    tools: dict = None  # the drawing palette: "order" of entries and the "select" tool (style.json "palette")

    def node(self, kind: str, subtype: str | None = None) -> NodeStyle:
        """Style of a node kind; cubic vertices by type (``node("cubic", "W")``)."""
        key = f"{kind}.{subtype}" if kind == "cubic" else kind
        return self.nodes[key]

    def line(self, kind: str) -> LineStyle:
        return self.lines.get(kind, self.lines["z"])

    def vertex(self, tensor: str) -> VertexStyle:
        return self.vertices.get(tensor) or VertexStyle(tensor, "")

    def palette(self, dark: bool | None = None) -> dict[str, QColor]:
        """Colours by name; ``dark=None`` follows the application palette (light or dark)."""
        if dark is None:
            dark = is_dark()
        return {k: QColor(v) for k, v in self.palettes["dark" if dark else "light"].items()}


def is_dark() -> bool:
    """True when the running application's window colour is dark (system dark mode)."""
    app = QApplication.instance()
    if app is None:
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def parse_style(text: str) -> Style:
    """Style from the JSON text; a malformed file names the field that is wrong."""
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise ValueError(f"style file: format must be {FORMAT!r}")
    try:
        nodes = {k: NodeStyle(k, v["label"], v["meaning"], v["shape"], float(v["size"]), v["fill"], v["stroke"],
                              v["key"], v["tikz"]) for k, v in data["nodes"].items()}
        lines = {k: LineStyle(k, v["name"], v["label"], v["meaning"], tuple(float(x) for x in v["dash"]),
                              float(v["width"]), bool(v.get("double", False)), v.get("cap", "flat"), v["key"],
                              v["tikz"]) for k, v in data["lines"].items()}
        vertices = {k: VertexStyle(k, v["key"]) for k, v in data["vertices"].items()}
    except KeyError as exc:
        raise ValueError(f"style file: missing field {exc.args[0]!r}") from None
    for name, pal in data["palettes"].items():
        for entry in {n.fill for n in nodes.values()} | {n.stroke for n in nodes.values()} | set(lines):
            if entry not in pal:
                raise ValueError(f"style file: palette {name!r} lacks colour {entry!r}")
    return Style(data["geometry"], data["palettes"], nodes, lines, vertices, data.get("palette", {}))


@lru_cache(maxsize=1)
def style() -> Style:
    """The application's style (read once)."""
    return parse_style(_style_text())
