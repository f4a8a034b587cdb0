"""Bad input and failures on the command line: one clear line naming the option, nothing lost."""
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import types

import pytest

from fntk_core import Result
from fntk_core.cli import main
from fntk_core.errors import FntkError

SOLVE = ["solve", "--activation", "relu", "--cw", "2", "--depth", "2"]
SAMPLE = ["sample", "--activation", "tanh", "--cw", "1", "--depth", "2", "--width", "4", "--input=0.5,-1"]


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _argparse_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("flag, message", [
    ("--input=1 2", "'1 2' is not a number"),
    ("--input=1,,2", "field 2 is empty"),
    ("--input=1,2,", "field 3 is empty"),
    ("--input=,1", "field 1 is empty"),
])
def test_input_is_parsed_strictly(flag, message, capsys):
    assert message in _error(SOLVE + [flag], capsys)


def test_input_and_inputs_together_are_refused(tmp_path, capsys):
    f = tmp_path / "in.json"
    f.write_text('{"inputs": [[1, 2]]}')
    assert "not both" in _error(SOLVE + ["--input=1,2", "--inputs", str(f)], capsys)


def test_binary_inputs_file_names_the_file(tmp_path, capsys):
    f = tmp_path / "in.bin"
    f.write_bytes(bytes(range(256)))
    err = _error(SOLVE + ["--inputs", str(f)], capsys)
    assert f"--inputs {f}: not a UTF-8 text file" in err


def test_empty_tensor_list_is_refused(capsys):
    assert "--tensors: empty" in _error(SOLVE + ["--input=1,2", "--tensors", ""], capsys)
    assert "--tensors 'K,,Theta': an empty name" in _error(SOLVE + ["--input=1,2", "--tensors", "K,,Theta"], capsys)


@pytest.mark.parametrize("kind", ["missing folder", "directory", "read-only folder"])
def test_bad_out_is_refused_before_any_work(kind, tmp_path, capsys, monkeypatch):
    if kind == "missing folder":
        out, message = tmp_path / "nope" / "r.json", "does not exist"
    elif kind == "directory":
        out, message = tmp_path, "is a directory"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out, message = ro / "r.json", "read-only"
    import fntk_core.sampling

    def no_work(*a, **k):
        raise AssertionError("sampling started before --out was checked")

    monkeypatch.setattr(fntk_core.sampling, "sample", no_work)
    monkeypatch.setattr(fntk_core.sampling, "SamplingSession", no_work)
    err = _error(SAMPLE + ["--networks", "8", "--out", str(out)], capsys)
    assert err.startswith("fntk sample: error: --out ") and message in err
    assert message in _error(SOLVE + ["--input=1,2", "--out", str(out)], capsys)


def test_out_is_written_atomically(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.json"
    out.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        main(SOLVE + ["--input=1,2", "--out", str(out)])
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("flag, message", [
    (["--chunk", "0"], "argument --chunk: must be at least 1, got '0'"),
    (["--chunk", "-1"], "argument --chunk: must be at least 1, got '-1'"),
    (["--outputs", "0"], "argument --outputs: must be at least 1, got '0'"),
    (["--networks", "x"], "argument --networks: expected a whole number, got 'x'"),
])
def test_sample_count_options_name_the_option(flag, message, capsys):
    args = SAMPLE + (["--networks", "8"] if "--networks" not in flag else []) + flag
    assert message in _argparse_error(args, capsys)


def test_one_network_is_refused(capsys):
    assert "--networks: at least 2 networks" in _error(SAMPLE + ["--networks", "1"], capsys)


def test_sample_tensor_unknown_to_the_sampler(capsys):
    assert "--tensors: unknown Zeta" in _error(SAMPLE + ["--networks", "8", "--tensors", "K,Zeta"], capsys)


def test_ctrl_c_during_sample_writes_the_partial_result(tmp_path, capsys, monkeypatch):
    import fntk_core.cli.sample as cli_sample

    class InterruptAfterFirstChunk(cli_sample.ProgressRenderer):
        def __call__(self, *a, **k):
            super().__call__(*a, **k)
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a terminal

    monkeypatch.setattr(cli_sample, "ProgressRenderer", InterruptAfterFirstChunk)
    before = signal.getsignal(signal.SIGINT)   # ignored where the tests run as a background job
    out = tmp_path / "s.json"
    rc = main(SAMPLE + ["--networks", "64", "--chunk", "8", "--tensors", "K,Theta", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 130
    assert f"cancelled after 8 of 64 networks; writing the partial result (meta cancelled: true) to {out}" in err
    r = Result.load(out)
    assert r.meta["cancelled"] is True and r.meta["networks_used"] == 8
    assert signal.getsignal(signal.SIGINT) is before   # the command line's handler is gone again


def test_study_options_are_checked_before_the_folder_is_made(tmp_path, capsys):
    out = tmp_path / "study"
    err = _error(["study", "finite-width-corrections", "--out", str(out), "--widths", "6,8", "--fit-min", "20"], capsys)
    assert "--fit-min 20: no width reaches it (widths 6,8)" in err
    err = _error(["study", "finite-width-corrections", "--out", str(out), "--widths", "abc"], capsys)
    assert "--widths 'abc': expected positive whole numbers" in err
    err = _error(["study", "gradient-stability", "--out", str(out), "--cw", "2,,4"], capsys)
    assert "--cw '2,,4': field 2 is empty" in err
    err = _error(["study", "scale-invariant-diagonal", "--out", str(out), "--activations", ""], capsys)
    assert "--activations: empty" in err
    err = _error(["study", "finite-width-corrections", "--out", str(out), "--networks", "1"], capsys)
    assert "--networks: at least 2" in err
    assert not out.exists()
    (tmp_path / "file").write_text("")
    assert "exists and is not a folder" in _error(["study", "finite-width-corrections", "--out",
                                                  str(tmp_path / "file"), "--widths", "20"], capsys)


def test_only_fntk_errors_are_user_errors(monkeypatch, capsys):
    import fntk_core.cli.solve as cli_solve

    def bug(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(cli_solve, "run", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(SOLVE + ["--input=1,2"])


def test_debug_shows_the_traceback_of_a_user_error(capsys):
    with pytest.raises(FntkError, match="is not a number"):
        main(SOLVE + ["--input=1 2", "--debug"])
    with pytest.raises(FntkError):
        main(["--debug"] + SOLVE + ["--input=1 2"])


def test_broken_pipe_ends_quietly(tmp_path):
    argv = [sys.executable, "-m", "fntk_core.cli", "solve", "--activation", "tanh", "--cw", "1", "--depth", "30",
            "--input=1,2", "--input=0.5,-1", "--input=2,1", "--tensors", "K,Theta,V", "--format", "table"]
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()  # as `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b"# K")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


def test_tensorflow_notices_hidden_unless_verbose(monkeypatch, capfd):
    import fntk_core.cli.sample as cli_sample

    def noisy_import(name):
        os.write(2, b"E0000 failed call to cuInit\n")
        return types.ModuleType(name)

    monkeypatch.setattr(importlib, "import_module", noisy_import)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as in a fresh process
    cli_sample.load_engine(verbose=False)
    assert "cuInit" not in capfd.readouterr().err
    cli_sample.load_engine(verbose=True)
    assert "cuInit" in capfd.readouterr().err


def test_tensorflow_log_level(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # what importing fntk_core.sampling sets
    main(["criticality", "--activation", "relu"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    main(["criticality", "--activation", "relu", "--verbose"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_no_subcommand_opens_the_app(monkeypatch):
    seen = []
    launch = types.ModuleType("fntk_app.launch")
    launch.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "fntk_app.launch", launch)
    assert main(["--screenshot", "shot.png", "--size", "800x600"]) == 7
    assert main([]) == 7
    assert seen == [["--screenshot", "shot.png", "--size", "800x600"], []]


def test_app_without_pyside6_says_so(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PySide6" else real(name, *a))
    assert "the desktop app needs PySide6" in _error(["--reset-settings"], capsys)


def test_write_library_defaults_to_the_current_folder(tmp_path, monkeypatch, capsys):
    library = importlib.import_module("fntk_core.diagrams.library")  # the package exports a function of that name
    monkeypatch.setattr(library, "library_files", lambda: {"index.json": "{}\n", "F/1.json": "{}\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["diagrams", "--write-library"]) == 0
    assert f"wrote 2 files under {tmp_path.resolve()}" in capsys.readouterr().err
    assert (tmp_path / "index.json").exists() and (tmp_path / "F" / "1.json").exists()


def test_diagrams_outputs_checked_before_enumeration(tmp_path, capsys):
    err = _error(["diagrams", "--statistic", "K1", "--json", str(tmp_path / "no" / "d.json")], capsys)
    assert "--json" in err and "does not exist" in err



def test_nonfinite_result_is_an_error_unless_allowed(tmp_path, capsys):
    argv = ["solve", "--activation", "custom", "--formula", "z**1000", "--cw", "1", "--depth", "2", "--input=1,2",
            "--tensors", "K", "--out", str(tmp_path / "r.json")]
    err = _error(argv, capsys)
    assert "K at layer 2 is inf" in err and "--allow-nonfinite" in err
    assert not (tmp_path / "r.json").exists()
    assert main(argv + ["--allow-nonfinite"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["tensors"]["K"][1][0][0] == "inf"


@pytest.mark.parametrize("argv, message", [
    (["--activation", "relu", "--input=0,0", "--input=1,1"], "Input 0: its kernel vanishes"),
    (["--activation", "leaky_relu", "--lambda-b", "1", "--input=1,1", "--input=2,2"], "Inputs 0 and 1 are parallel"),
])
def test_inputs_without_an_answer_are_one_line_errors(argv, message, capsys):
    """Degenerate inputs are the user's to change: a one-line error naming them, no traceback."""
    assert message in _error(["solve", "--cw", "2", "--depth", "3", *argv], capsys)


def test_layers_outside_the_network_or_not_numbers(capsys):
    assert "--layers: layers run from 1 to --depth 2, got 0,3" in _error(SOLVE + ["--input=1,0", "--layers", "0,3"], capsys)
    assert "--layers: expected all, last or layer numbers" in _argparse_error(SOLVE + ["--input=1,0", "--layers", "two"], capsys)


def test_layers_last_keeps_only_the_output_layer(tmp_path):
    out = tmp_path / "r.json"
    assert main(SOLVE + ["--input=1,0", "--input=0.5,1", "--layers", "last", "--out", str(out)]) == 0
    r = Result.load(out)
    assert r.layers == [2] and r.tensors["K"].shape == (1, 2, 2)
