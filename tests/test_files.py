"""fntk_core.files: destination checks before the work, atomic writes, and the error types."""
import os

import pytest

from fntk_core.errors import FntkError, NonFiniteError
from fntk_core.files import atomic_write_bytes, atomic_write_text, check_writable


def test_user_errors_derive_from_fntk_error_and_stay_value_errors():
    from fntk_core.activations import FormulaError
    from fntk_core.results import ResultError
    from fntk_core.spec import SpecError

    for cls in (SpecError, FormulaError, ResultError):
        assert issubclass(cls, FntkError) and issubclass(cls, ValueError)
    err = NonFiniteError("K at layer 2 is inf", tensor="K", layer=2)
    assert isinstance(err, FntkError) and (err.tensor, err.layer) == ("K", 2)


def test_check_writable_names_each_problem(tmp_path):
    with pytest.raises(FntkError, match="does not exist"):
        check_writable(tmp_path / "missing" / "out.json")
    with pytest.raises(FntkError, match="is a directory"):
        check_writable(tmp_path)
    assert check_writable(tmp_path / "ok.json") == tmp_path / "ok.json"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_check_writable_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(FntkError, match="read-only"):
            check_writable(ro / "out.json")
    finally:
        ro.chmod(0o700)


def test_atomic_write_replaces_whole_file_and_keeps_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "first")
    atomic_write_text(p, "second")
    assert p.read_text() == "second"
    assert os.listdir(tmp_path) == ["a.txt"]
    mode = p.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "a.bin"
    atomic_write_bytes(p, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_check_writable_read_only_message(tmp_path, monkeypatch):
    """The read-only branch, also when the tests run as root (which ignores permissions)."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(FntkError, match="folder .* is read-only"):
        check_writable(tmp_path / "out.json")
