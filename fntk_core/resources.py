"""Where fntk's data files are: the package ``fntk_resources`` (the repository's resources/).

Read through importlib.resources so the installed wheel works from any directory,
without the checkout.
"""
from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def resource_path(relative: str = "") -> Traversable:
    """The resource at ``relative`` ("diagrams/F/1.json", "style.json"); "" is the root."""
    node = files("fntk_resources")
    for part in relative.replace("\\", "/").split("/"):
        if part in ("..",):
            raise ValueError(f"resource path {relative!r} leaves the resources")
        if part not in ("", "."):
            node = node / part
    return node
