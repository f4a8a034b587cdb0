"""LaTeX (mathtext subset) -> QPixmap, through matplotlib's mathtext parser only.

No pyplot and no ``matplotlib.use``: the Agg mathtext parser rasterises the
formula into a coverage mask, which becomes the alpha channel of a QImage in the
requested colour.  Pixmaps are cached, so redrawing a scene costs nothing, and
carry a device-pixel ratio, so they stay sharp on high-DPI screens and when the
canvas is zoomed in.

matplotlib builds its mathtext grammar and loads its fonts on the first parse
(about 0.3 s); ``warm_up`` does that in a background thread so the window never
waits for it, and ``ready`` tells idle-time renderers whether to go on.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPixmap

_PARSER = MathTextParser("agg")
_BASE_DPI = 72.0  # at ratio 1, 1 pt = 1 logical pixel
_warm = threading.Event()
_warming: threading.Thread | None = None


def warm_up() -> None:
    """Build the parser and load the fonts off the GUI thread (once; later calls do nothing)."""
    global _warming
    if _warming is None and not _warm.is_set():
        def first_parse():
            try:
                _PARSER.parse("$K^{\\{1\\}}_{\\alpha}$", dpi=_BASE_DPI, prop=FontProperties(size=12))
            finally:
                _warm.set()
        _warming = threading.Thread(target=first_parse, name="mathtext warm-up", daemon=True)
        _warming.start()


def ready() -> bool:
    """Whether a render now costs milliseconds rather than the parser's start-up."""
    return _warm.is_set()


def ready_for(timer) -> bool:
    """For an idle-time renderer driven by ``timer``: whether to render now. Until the
    parser's start-up (in the background) is done, the timer polls every 20 ms instead."""
    ok = ready()
    timer.setInterval(0 if ok else 20)
    return ok


def wait_ready() -> None:
    """Block until a started warm-up is done (the parser is not thread-safe: one parse at a time)."""
    if _warming is not None:
        _warm.wait()


class MathTextError(ValueError):
    """A formula that matplotlib's mathtext cannot parse; the message quotes it."""


def _as_math(tex: str) -> str:
    tex = tex.strip()
    return tex if tex.startswith("$") else f"${tex}$"


@lru_cache(maxsize=2048)
def _render(tex: str, size: float, color: str, ratio: float) -> QImage:
    wait_ready()
    try:
        parsed = _PARSER.parse(tex, dpi=_BASE_DPI * ratio, prop=FontProperties(size=size))
    except ValueError as exc:  # mathtext reports parse errors as ValueError
        raise MathTextError(f"cannot render {tex!r}: {str(exc).splitlines()[0]}") from exc
    mask = np.ascontiguousarray(np.asarray(parsed.image, dtype=np.uint8))
    h, w = mask.shape
    c = QColor(color)
    argb = np.empty((h, w, 4), dtype=np.uint8)  # QImage ARGB32 is BGRA in memory (little endian)
    argb[..., 0], argb[..., 1], argb[..., 2] = c.blue(), c.green(), c.red()
    argb[..., 3] = mask
    image = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32).copy()  # own the buffer
    image.setDevicePixelRatio(ratio)
    return image


def render(tex: str, *, size: float = 12.0, color: str | QColor = "#000000", ratio: float = 2.0) -> QPixmap:
    """The formula as a pixmap of logical size ~ ``size`` pt text, drawn at ``ratio`` device pixels per pixel.

    ``tex`` may be given with or without surrounding ``$``.  Raises MathTextError on
    a formula mathtext does not understand.
    """
    name = QColor(color).name(QColor.NameFormat.HexArgb)
    return QPixmap.fromImage(_render(_as_math(tex), float(size), name, float(round(ratio, 2))))


def render_or_text(tex: str, text: str, *, size: float = 12.0, color: str | QColor = "#000000",
                   ratio: float = 2.0) -> QPixmap:
    """The formula, or ``text`` set in plain type when the formula does not parse (user-supplied labels)."""
    try:
        return render(tex, size=size, color=color, ratio=ratio)
    except MathTextError:
        font = QFont()
        font.setPointSizeF(size * 0.75)  # mathtext's size is in pixels at ratio 1; Qt's point is 4/3 pixel
        box = QFontMetricsF(font).boundingRect(text)
        pm = QPixmap(max(1, int((box.width() + 2) * ratio)), max(1, int((box.height() + 2) * ratio)))
        pm.setDevicePixelRatio(ratio)
        pm.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pm)
        painter.setFont(font)
        painter.setPen(QColor(color))
        painter.drawText(QPointF(1 - box.x(), 1 - box.y()), text)
        painter.end()
        return pm


def cache_info():
    """Hits and misses of the pixmap cache (tests check that redraws hit it)."""
    return _render.cache_info()
