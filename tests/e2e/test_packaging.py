"""The wheel claims one import name, ``slamon``, so it cannot shadow a producer's packages.

The repository keeps models/, scheduler/, worker/ and api/ at its top (the product brief's
layout); the wheel installs them only as ``slamon.models`` etc. This builds the real wheel and
installs it into a fresh virtual environment that already has an unrelated package named
``models``: that package must still be the one ``import models`` finds, before and after
slamon is uninstalled again.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
THEIRS = '"""Someone else\'s package that happens to be called models."""\nOWNER = "theirs"\n'


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
        "-w", out, ROOT)
    (built,) = out.glob("slamon-*.whl")
    return built


def test_the_wheel_holds_only_the_slamon_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"slamon"}
    # The folders the brief puts at the top arrive under the namespace, data files included.
    for expected in (
        "slamon/models/events.py",
        "slamon/models/db/migrations/env.py",
        "slamon/models/policy/shipped/tmall-2022.toml",
        "slamon/worker/tasks.py",
        "slamon/scheduler/sweeper.py",
        "slamon/api/static/dashboard.html",
    ):
        assert expected in names


def test_a_users_own_models_package_survives_install_and_uninstall(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    theirs = tmp_path / "theirs"
    (theirs / "models").mkdir(parents=True)
    (theirs / "models" / "__init__.py").write_text(THEIRS)
    (theirs / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "their-models"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["models"]\n'
    )
    run(python, "-m", "pip", "install", "-q", theirs)
    owner = [python, "-c", "import models; print(models.OWNER)"]
    assert run(*owner, cwd=tmp_path).strip() == "theirs"

    # Layout only: the dependencies are not what this test is about.
    run(python, "-m", "pip", "install", "-q", "--no-deps", wheel)
    assert run(*owner, cwd=tmp_path).strip() == "theirs"
    located = run(python, "-c", "import slamon.models, slamon.worker; "
                  "print(slamon.models.__file__)", cwd=tmp_path)
    assert "/site-packages/slamon/models/" in located

    run(python, "-m", "pip", "uninstall", "-q", "-y", "slamon")
    assert run(*owner, cwd=tmp_path).strip() == "theirs"
