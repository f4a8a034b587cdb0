"""Entry point of the PyInstaller bundle: the fntk command, plus the Validation panel's sampling process.

A frozen program has no ``python -m``, so the app starts its sampling worker as
``fntk --sampling-worker`` (fntk_app.sampling_worker.command); every other argument goes
to the ordinary ``fntk`` command line.
"""
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--sampling-worker"]:
        from fntk_app.sampling_worker import main
    else:
        from fntk_core.cli import main
    sys.exit(main())
