"""The ``fntk`` command line (entry point ``fntk_core.cli:main``), one module per subcommand.

The domain packages never import this package; it only parses, calls them and prints.
"""
from .main import build_parser, main

__all__ = ["main", "build_parser"]
