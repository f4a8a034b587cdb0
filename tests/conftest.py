"""Test settings: headless Qt, TensorFlow on the CPU and quiet."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("CI") or os.environ.get("FNTK_TEST_CPU", "1") == "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"

# No sys.path changes here: the tests import the installed fntk (tests/test_packaging.py checks it).


@pytest.fixture
def own_places(tmp_path, monkeypatch):
    """The app's settings and autosaves go to this test's folder, never the user's."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
