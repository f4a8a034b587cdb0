"""One way to colour a pyqtgraph plot from the Qt palette (light or dark), for every panel."""
from __future__ import annotations

from PySide6.QtGui import QPalette


def apply_palette(plot, legend, palette: QPalette) -> None:
    """Background, axes, title and legend text of ``plot`` in ``palette``'s base and text colours."""
    plot.setBackground(palette.color(QPalette.Base))
    text = palette.color(QPalette.Text)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setPen(text)
        plot.getAxis(axis).setTextPen(text)
    plot.getPlotItem().titleLabel.setAttr("color", text)
    legend.setLabelTextColor(text)
