"""The paper's three studies (fntk_core.studies) at reduced sizes: their physics, resume, files, CLI."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from fntk_core.results import Result
from fntk_core.jobs import Progress
from fntk_core.studies import STUDIES, load_results, run_study
from fntk_core.studies import gradient_stability as gs

TINY_GS = dict(networks=8, width=6, depths="1-3", c_w="0.25,2", seed=3)


def test_gradient_stability_linear_at_criticality_exponential_otherwise(tmp_path):
    res = run_study("gradient-stability", tmp_path, networks=120, width=50, depths="1-12", c_w="0.25,2,4", seed=1)
    sq = (gs.INPUTS**2).sum(1) / 2  # |x|^2 / n0
    for ent, i in (("x0", 0), ("x1", 1)):
        fit = res.summary["critical_slope"][ent]
        assert fit["closed_form"] == pytest.approx(sq[i])
        assert fit["predicted_fit"] == pytest.approx(sq[i], rel=1e-9)  # the recursion is exactly linear
        assert abs(fit["fitted"] - sq[i]) < 3 * fit["se"]  # linear law from the samples
        assert abs(fit["fitted"] / sq[i] - 1) < 0.2
        assert abs(fit["intercept"]) < 3 * fit["intercept_se"] + 1e-12
    for cw in ("0.25", "4"):
        for ent in ("x0", "x1"):
            g = res.summary["growth_factor"][cw][ent]
            assert g["predicted_fit"] == pytest.approx(float(cw) / 2, rel=1e-6)
            assert abs(g["fitted"] - float(cw) / 2) < 3 * g["se"]
            assert abs(g["fitted"] / (float(cw) / 2) - 1) < 0.15
    # exponential is not linear: the sampled NTK at C_W = 4 grows by far more than the depth ratio
    p4 = next(p for p in res.points if p.coords["c_w"] == 4)
    th = p4.sampled.tensors["Theta"][:, 0, 0]
    assert th[11] / th[5] > 20 * (12 / 6)
    # first-order tensors at criticality were sampled and predicted
    p2 = next(p for p in res.points if p.coords["c_w"] == 2)
    for name in ("K", "V", "D", "F", "A", "B"):
        assert name in p2.sampled.tensors and name in p2.predicted.tensors
    assert (tmp_path / "gradient_stability_first_order.png").stat().st_size > 10_000


@pytest.mark.slow
def test_finite_width_first_order_beats_infinite_width(tmp_path):
    res = run_study("finite-width-corrections", tmp_path, networks=30000, widths="20,30", seed=5)
    for p in res.points:
        n = p.width
        s, e = p.sampled.tensors, p.sampled.stderr
        inf, first = p.predicted.tensors, p.predicted.tensors
        for lead in ("Theta", "K"):
            for idx in ((0, 0), (1, 1), (0, 1)):
                val = s[lead][-1][idx]
                infinite = inf[lead][-1][idx]
                corrected = infinite + first[lead + "1"][-1][idx] / n
                assert abs(val - corrected) < abs(val - infinite), (n, lead, idx)
                assert abs(val - corrected) < 3.5 * e[lead][-1][idx], (n, lead, idx)
    for w in res.summary["per_width"]:
        assert w["chi2_first_order"] < w["chi2_infinite"] / 4
    for key, c in res.summary["coefficients"].items():
        assert abs(c["z"]) < 3.5, key


@pytest.mark.slow
def test_scale_invariant_diagonal_vanishes_for_relu_not_gelu(tmp_path):
    res = run_study("scale-invariant-diagonal", tmp_path, networks=30000, widths="10,20", seed=2)
    acts = res.summary["activations"]
    for act in ("relu", "leaky_relu"):
        for ent in ("00", "11"):
            assert acts[act][ent]["predicted"] == pytest.approx(0.0, abs=1e-10)  # Theorem 5.2
            assert abs(acts[act][ent]["z_zero"]) < 3, (act, ent)
        assert abs(acts[act]["01"]["z_zero"]) > 5, act  # off-diagonal O(1/n) deviation is seen
        assert abs(acts[act]["01"]["z_predicted"]) < 3.5, act
    for ent in ("00", "11"):
        assert abs(acts["gelu"][ent]["z_zero"]) > 5  # GeLU's diagonal does move
        assert abs(acts["gelu"][ent]["z_predicted"]) < 3.5


def test_resume_reuses_finished_points_and_recomputes_changed_ones(tmp_path, monkeypatch):
    first = run_study("gradient-stability", tmp_path, **TINY_GS)
    assert sorted(first.computed) == sorted(p.key for p in first.points) and not first.reused
    stored = sorted(f.name for f in (tmp_path / "points").iterdir())
    assert len(stored) == 2

    import fntk_core.sampling as sampling

    def boom(*a, **k):
        raise AssertionError("a finished point was sampled again")

    monkeypatch.setattr(sampling, "sample", boom)
    again = run_study("gradient-stability", tmp_path, **TINY_GS)
    assert sorted(again.reused) == sorted(first.computed) and not again.computed
    for a, b in zip(first.points, again.points):
        np.testing.assert_array_equal(a.sampled.tensors["Theta"], b.sampled.tensors["Theta"])
    monkeypatch.undo()
    # a changed configuration (here one more C_W) samples only the new point
    more = run_study("gradient-stability", tmp_path, **dict(TINY_GS, c_w="0.25,2,4"))
    assert more.computed == ["cw4_L3"] and len(more.reused) == 2


def test_cancel_keeps_finished_points_and_resume_completes(tmp_path):
    pdir = tmp_path / "points"

    def cancel():
        return pdir.exists() and len(list(pdir.glob("*.json"))) >= 1

    res = run_study("gradient-stability", tmp_path, cancel=cancel, **TINY_GS)  # no exception
    assert res.cancelled is True and res.files == [] and len(res.computed) == 1
    assert len(list(pdir.glob("*.json"))) == 1
    assert not (tmp_path / "results.json").exists()
    seen = []
    res = run_study("gradient-stability", tmp_path, progress=seen.append, **TINY_GS)
    assert not res.cancelled and len(res.reused) == 1 and len(res.computed) == 1
    assert seen and all(isinstance(p, Progress) for p in seen)
    assert seen[-1].done == seen[-1].total and "sampling done" in seen[-1].stage


def test_interrupted_point_is_kept_and_continued(tmp_path):
    """Cancelled in the middle of a point: its networks so far are stored, and the next run
    continues from there to exactly the result of an uninterrupted run."""
    opts = dict(networks=200, width=6, depths="1-3", c_w="2", seed=3)
    steps = []

    def cancel():
        steps.append(1)
        return len(steps) > 2  # after two chunks of the only point

    res = run_study("gradient-stability", tmp_path / "a", cancel=cancel, **opts)
    assert res.cancelled and not res.computed
    partial = json.loads((tmp_path / "a" / "points" / "cw2_L3.partial.json").read_text())
    assert 0 < partial["sampler_state"]["drawn"] < 200
    resumed = run_study("gradient-stability", tmp_path / "a", **opts)
    whole = run_study("gradient-stability", tmp_path / "b", **opts)
    assert resumed.computed == whole.computed == ["cw2_L3"]
    assert not (tmp_path / "a" / "points" / "cw2_L3.partial.json").exists()
    for name in ("Theta", "K"):
        np.testing.assert_array_equal(resumed.points[0].sampled[name], whole.points[0].sampled[name])
        np.testing.assert_array_equal(resumed.points[0].sampled.stderr[name], whole.points[0].sampled.stderr[name])


def test_corrupt_point_is_recomputed_with_a_warning(tmp_path):
    run_study("gradient-stability", tmp_path, **TINY_GS)
    bad = sorted((tmp_path / "points").glob("*.json"))[0]
    bad.write_text("{truncated")
    with pytest.warns(RuntimeWarning, match="unreadable.*recomputing"):
        res = run_study("gradient-stability", tmp_path, **TINY_GS)
    assert res.computed == [bad.stem]


def test_figures_leave_matplotlib_state_alone():
    """Studies draw with the object-oriented API: a Qt app's backend and pyplot stay untouched."""
    code = ("import sys, tempfile, pathlib, matplotlib\n"
            "matplotlib.use('svg')\n"
            "from fntk_core.studies.base import new_figure, save_figure\n"
            "fig, axes = new_figure(1, 2)\n"
            "axes[0, 0].plot([1, 2], [3, 4])\n"
            "d = pathlib.Path(tempfile.mkdtemp())\n"
            "files = save_figure(fig, d, 'f', 'caption')\n"
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, all(f.stat().st_size > 500 for f in files))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["svg", "False", "True"]


def test_files_written_and_results_json_reloads(tmp_path):
    res = run_study("scale-invariant-diagonal", tmp_path, networks=16, widths="4,6", activations="relu,gelu", seed=1)
    for name in ("results.json", "summary.md", "scale_invariant_diagonal.pdf", "scale_invariant_diagonal.png"):
        assert (tmp_path / name).stat().st_size > 200, name
        assert tmp_path / name in res.files
    assert "| activation |" in (tmp_path / "summary.md").read_text()
    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw["format"] == "fntk-study" and raw["version"] == 1 and raw["study"] == "scale-invariant-diagonal"
    d = load_results(tmp_path)
    assert [(p["activation"], p["width"]) for p in d["points"]] == [("relu", 4), ("relu", 6), ("gelu", 4), ("gelu", 6)]
    for pt, p in zip(d["points"], res.points):
        assert isinstance(pt["sampled"], Result) and pt["sampled"].stderr is not None
        np.testing.assert_allclose(pt["sampled"].tensors["Theta"], p.sampled.tensors["Theta"])
        np.testing.assert_allclose(pt["predicted"].tensors["Theta1"], p.predicted.tensors["Theta1"])
        assert pt["sampled"].meta["network"]["widths"] == [pt["width"]] * 3 + [2]
    assert math.isfinite(d["summary"]["activations"]["relu"]["01"]["predicted"])


def test_cli_study_and_option_errors(tmp_path, capsys):
    from fntk_core.cli import main

    rc = main(["study", "finite-width-corrections", "--out", str(tmp_path), "--networks", "16", "--widths", "4,5",
               "--seed", "4"])
    assert rc == 0
    assert (tmp_path / "finite_width_corrections.png").exists() and (tmp_path / "finite_width_scaling.pdf").exists()
    assert "2 points sampled" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown option"):
        run_study("finite-width-corrections", tmp_path, depths="1-3")
    with pytest.raises(ValueError, match="unknown study"):
        run_study("no-such-study", tmp_path)
    capsys.readouterr()
    assert main(["study", "scale-invariant-diagonal", "--out", str(tmp_path / "x"), "--activations", "tanh"]) == 2
    assert "activation 'tanh' not one of relu, leaky_relu, gelu" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any folder is made
    assert set(STUDIES) == {"gradient-stability", "finite-width-corrections", "scale-invariant-diagonal"}


def test_importing_studies_imports_neither_tensorflow_nor_matplotlib():
    code = ("import sys, fntk_core.studies, fntk_core.cli; fntk_core.cli.build_parser(); "
            "print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.split() == ["False", "False"]
