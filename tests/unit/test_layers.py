"""The import-linter contracts in pyproject.toml stay complete as modules are added.

`lint-imports` (run by .ci/run) enforces the contracts; this test makes sure the contract for
the pure domain names every module of slamon.models outside its database package, so a new
pure module cannot slip past it unlisted.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def pure_domain_modules() -> set[str]:
    models = ROOT / "models"
    names = set()
    for path in models.iterdir():
        if path.name in {"db", "__init__.py", "__pycache__"}:
            continue
        if path.suffix == ".py" or (path / "__init__.py").exists():
            names.add(f"slamon.models.{path.stem}")
    return names


def test_the_pure_domain_contract_lists_every_pure_module() -> None:
    (pure,) = [c for c in contracts() if str(c["name"]).startswith("The pure domain")]
    assert set(pure["source_modules"]) == pure_domain_modules()  # type: ignore[arg-type]
    for library in ("sqlalchemy", "celery", "kombu", "redis", "fastapi", "httpx"):
        assert library in pure["forbidden_modules"]  # type: ignore[operator]


def test_worker_and_scheduler_are_independent() -> None:
    (independence,) = [c for c in contracts() if c["type"] == "independence"]
    assert set(independence["modules"]) == {"slamon.worker", "slamon.scheduler"}  # type: ignore[arg-type]


def test_each_top_level_folder_is_reached_through_the_namespace() -> None:
    for folder in ("models", "scheduler", "worker", "api"):
        link = ROOT / "slamon" / folder
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve()
