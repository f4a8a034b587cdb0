"""The installed package works without the checkout (the wheel test), and the tests use it."""
import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import fntk_core

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "fntk_core", "app", "resources")


def _editable() -> bool:
    direct = metadata.distribution("fntk").read_text("direct_url.json") or "{}"
    return bool(json.loads(direct).get("dir_info", {}).get("editable"))


def test_tests_import_the_installed_fntk():
    """A non-editable install must be what the tests import, not the checkout on sys.path."""
    if _editable():
        pytest.skip("editable install: the checkout is the installed package")
    site = Path(metadata.distribution("fntk").locate_file("")).resolve()
    assert Path(fntk_core.__file__).resolve().is_relative_to(site), fntk_core.__file__


def _run(argv, cwd, extra_env=None, **kw):
    env = {**os.environ, "PYTHONSAFEPATH": "1", **(extra_env or {})}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=env, **kw)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc


def _build_wheel(tmp: Path) -> Path:
    """Build from a copy of the sources, so the checkout gets no build/ or egg-info."""
    src = tmp / "src"
    for name in SOURCES:
        s = ROOT / name
        if s.is_dir():
            shutil.copytree(s, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(s, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
          str(src)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("fntk-*.whl")
    return wheel


def _package_dirs(top: Path, name: str) -> set[str]:
    return {name + "".join("." + p for p in d.relative_to(top).parts)
            for d in [top, *top.rglob("*")] if d.is_dir() and (d / "__init__.py").exists()}


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert _package_dirs(ROOT / "fntk_core", "fntk_core") <= packages, "a package is missing from pyproject"
    assert {"fntk_app", "fntk_resources"} <= packages
    assert not any(n.startswith(("app/", "resources/", "tests/")) for n in names)
    assert "fntk_resources/diagrams/index.json" in names and "fntk_resources/diagrams/F/1.json" in names

    # A fresh venv outside the checkout; its dependencies come from the test environment
    # through a .pth file (appended after the venv's own site-packages, so they cannot shadow it).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path)
    purelib = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=tmp_path).stdout.strip())
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    deps.append(sysconfig.get_path("purelib"))
    (purelib / "zz_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import fntk_core, fntk_resources, fntk_core.cli; "
                                 "print(fntk_core.__file__); print(fntk_resources.__file__)"], cwd=work).stdout.split()
    assert all(Path(w).resolve().is_relative_to(venv.resolve()) for w in where), where

    fntk = str(venv / "bin" / "fntk")
    _run([fntk, "diagrams", "--statistic", "Theta1", "--json", "out.json"], cwd=work)
    doc = json.loads((work / "out.json").read_text())
    assert doc["statistic"] == "Theta1" and len(doc["diagrams"]) > 0

    code = ("import fntk_core; from fntk_core.resources import resource_path; "
            "e = fntk_core.library()['F'][1]; d = fntk_core.load_diagram(resource_path('diagrams/F/2.json')); "
            "print(e.id, len(d.graph.nodes) == len(e.diagram.graph.nodes) > 0)")
    assert _run([str(py), "-c", code], cwd=work).stdout.split() == ["F/2", "True"]

    _run([fntk, "solve", "--activation", "relu", "--cw", "2", "--depth", "3", "--input=1,2", "--tensors", "K,Theta",
          "--out", "r.json"], cwd=work)
    r = json.loads((work / "r.json").read_text())
    assert r["tensors"]["Theta"][2][0][0] == pytest.approx(3 * 5 / 2)  # Theta^(l) = l |x|^2 / n0 for ReLU, C_W = 2

    # The desktop app from the installed package, offscreen: `fntk --screenshot`.
    _run([fntk, "--screenshot", "shot.png", "--size", "900x640", "--panel", "canvas", "--open",
          str(resource_dir(venv) / "diagrams" / "F" / "2.json")], cwd=work,
         extra_env={"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")})
    png = (work / "shot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (900, 640)


def _imported(package: list[str], node) -> list[str]:
    """Absolute names an import statement in ``package`` refers to."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = package[:len(package) - node.level + 1] if node.level else []
    base = ".".join(base + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def test_domain_packages_never_import_the_cli():
    pkg = Path(fntk_core.__file__).parent
    offenders = []
    for f in pkg.rglob("*.py"):
        package = ["fntk_core", *f.parent.relative_to(pkg).parts]
        if package[1:2] == ["cli"]:
            continue
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if any(n == "fntk_core.cli" or n.startswith("fntk_core.cli.") for n in _imported(package, node)):
                    offenders.append(f"{f.relative_to(pkg)}:{node.lineno}")
    assert not offenders


def resource_dir(venv: Path) -> Path:
    """The installed fntk_resources folder inside ``venv``."""
    (init,) = venv.glob("lib/python*/site-packages/fntk_resources/__init__.py")
    return init.parent
