"""``python -m fntk_core.cli``: the same as the ``fntk`` command."""
import sys

from .main import main

sys.exit(main())
