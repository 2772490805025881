"""The installed layout: envs/, agents/, fits/ ship as cogmodels.envs, .agents, .fits."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"envs": "cogmodels.envs", "agents": "cogmodels.agents", "fits": "cogmodels.fits"}


def _expected_packages() -> list[str]:
    pkgs = []
    for folder, dotted in MAPPED.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            pkgs.append(".".join([dotted, *rel.parts]))
    for init in sorted((ROOT / "cogmodels").rglob("__init__.py")):
        rel = init.parent.relative_to(ROOT)
        pkgs.append(".".join(rel.parts))
    return pkgs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("cogmodels-*.whl")
    return whl


def test_wheel_contains_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in _expected_packages():
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, f"{pkg} missing from the wheel"
    assert "cogmodels/py.typed" in names
    assert not any(n.startswith(("envs/", "agents/", "fits/")) for n in names)


def test_non_editable_install_imports_every_subpackage(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import importlib, sys\n"
        f"pkgs = {_expected_packages()!r}\n"
        "for p in pkgs:\n"
        "    m = importlib.import_module(p)\n"
        f"    assert m.__file__.startswith({str(target)!r}), (p, m.__file__)\n"
        "print('ok', len(pkgs))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok")


def test_pyproject_lists_packages_explicitly():
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    assert listed == set(_expected_packages())
