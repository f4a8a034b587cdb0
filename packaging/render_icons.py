"""Render icons/fntk.svg to the PNG sizes of the .desktop entry (Qt's SVG renderer, offscreen)."""
import os
import sys
from pathlib import Path

SIZES = (16, 32, 48, 64, 128, 256)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["render_icons"])  # noqa: F841 - fonts need it
    here = Path(__file__).resolve().parent / "icons"
    svg = QSvgRenderer(str(here / "fntk.svg"))
    if not svg.isValid():
        print("render_icons: icons/fntk.svg is not valid SVG", file=sys.stderr)
        return 1
    for n in SIZES:
        img = QImage(n, n, QImage.Format_ARGB32)
        img.fill(Qt.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.Antialiasing)
        svg.render(p)
        p.end()
        if not img.save(str(here / f"fntk-{n}.png")):
            print(f"render_icons: could not write fntk-{n}.png", file=sys.stderr)
            return 1
    print(f"render_icons: {', '.join(f'fntk-{n}.png' for n in SIZES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
