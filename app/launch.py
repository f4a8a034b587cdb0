"""``fntk`` without a subcommand: open the window, or render it to a PNG (``--screenshot``).

Checks for a display before Qt starts, so a headless machine gets advice instead of
Qt's abort. Never imports TensorFlow (only sampling does, when it starts).
"""
from __future__ import annotations

import argparse
import os
import sys

NO_DISPLAY = """fntk: no display (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.
Without a display, use the subcommands (see `fntk --help`), e.g.
  fntk solve --activation relu --depth 10 --input 1,0.5 --input -0.5,1
or render the window to a picture offscreen:
  fntk --screenshot window.png        (or set QT_QPA_PLATFORM=offscreen)"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fntk", description="The fntk desktop app.")
    p.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen to FILE.png and exit")
    p.add_argument("--open", metavar="FILE", help="open a diagram, TikZ export, session or result file")
    p.add_argument("--panel", choices=("library", "canvas", "recursion", "network", "results", "validation",
                                       "palette", "checks"),
                   help="show this panel and give it the keyboard focus")
    p.add_argument("--size", metavar="WxH", type=_size, default=None, help="window size in pixels, e.g. 1400x900")
    p.add_argument("--reset-settings", action="store_true",
                   help="forget the window layout, recent files and last folders, then exit")
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size: expected WxH such as 1400x900, got {text!r}") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise argparse.ArgumentTypeError(f"--size: width and height must be 200..10000, got {text!r}")
    return w, h


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from . import settings

    if args.reset_settings:
        print(f"fntk: settings cleared ({settings.reset()})")
        return 0
    settings.init_names()
    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(["fntk"])
    from .main_window import MainWindow

    win = MainWindow()
    if args.screenshot:
        win.persist = False
        win.resize(*(args.size or (1600, 1000)))
    else:
        settings.restore_window(win)
        if args.size:
            win.resize(*args.size)
    win.show()
    if args.open and not win.open_path(args.open):
        print(f"fntk: {win.last_error}", file=sys.stderr)
        if args.screenshot:
            return 1
    if not args.screenshot:
        win.drawing.offer_recovery()
    if args.panel:
        if args.screenshot:
            win.emphasize(args.panel)
        win.focus_panel(args.panel)
    if not args.screenshot:
        return app.exec()  # ok-eval: the Qt event loop, not Python exec
    if args.panel == "validation" and not validation_run(win):
        return 1
    return screenshot(win, args.screenshot, args.size)


def validation_run(win) -> bool:
    """For a screenshot of the Validation panel: sample the Network panel's network first."""
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    if not win.validation.run() or not win.validation.wait(600_000):
        print(f"fntk: the validation run did not finish: {win.validation.status.text()}", file=sys.stderr)
        win.validation.shutdown()
        return False
    QApplication.processEvents()
    return True


def screenshot(win, path: str, size: tuple[int, int] | None = None) -> int:
    """Solve first (waiting for the runner), then grab the real window to ``path``.

    ``size``: the size asked for; a window whose panels need more says so on stderr."""
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    if not win.results.wait():
        print("fntk: the solve did not finish in time for the screenshot", file=sys.stderr)
        return 1
    win.library.finish_icons()
    win.recursion.finish_rendering()
    QApplication.processEvents()
    win.canvas.fit()   # after the layout has settled at its final size
    QApplication.processEvents()
    if size is not None and (win.width(), win.height()) != tuple(size):
        print(f"fntk: the window cannot be {size[0]}x{size[1]}; its panels need "
              f"{win.width()}x{win.height()}, the size of this screenshot", file=sys.stderr)
    if not win.grab().save(path):
        print(f"fntk: could not write {path}", file=sys.stderr)
        return 1
    print(f"fntk: wrote {path}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
