"""`slamon policy`: validate a policy file, show the loaded policies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.models.policy.policy import (
    Policy,
    PolicyError,
    PolicySet,
    load_policies,
    load_policy_file,
    shipped_folder,
)

policies_option = click.option(
    "--policies",
    "policy_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra policy TOML file or directory (repeatable; default: SLAMON_POLICY).",
)


def policy_set(policy_paths: Sequence[Path]) -> PolicySet:
    """The shipped policies plus the user's (option, else SLAMON_POLICY), or exit 1."""
    settings = settings_or_exit()
    extra = list(policy_paths) or ([settings.policy] if settings.policy else [])
    try:
        return load_policies(extra)
    except PolicyError as exc:
        fail(str(exc))


@click.group("policy")
def command() -> None:
    """SLA policies: the TOML files that say which cases are monitored, their deadlines and
    penalties. The shipped ones (tmall-2022, tmall-legacy) can be joined by your own through
    SLAMON_POLICY (a file or a directory of *.toml)."""


@command.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate FILE (a policy TOML file, or a directory of them).

    Prints one line per valid policy; on the first problem prints it as
    `FILE: path.in.file: what is wrong` and exits 1. A file is also checked against the
    shipped policies: its id and effective instant must not clash with theirs.
    """
    files = sorted(file.glob("*.toml")) if file.is_dir() else [file]
    try:
        checked = [load_policy_file(path) for path in files]
        # Loading with the shipped set finds id and effective-date clashes; the shipped
        # files themselves are checked alone (they would clash with themselves).
        user_files = [path for path in files if not _is_shipped(path)]
        load_policies(user_files)
    except PolicyError as exc:
        fail(str(exc))
    if not checked:
        fail(f"{file}: no *.toml policy files")
    for path, policy in zip(files, checked, strict=True):
        metrics = ", ".join(
            f"{name} {metric.hours} h {metric.clock}" for name, metric in policy.metrics.items()
        )
        click.echo(
            f"{path}: ok: policy {policy.id}, in force from "
            f"{policy.effective_at.isoformat()}; {metrics}"
        )


@command.command("show")
@click.argument("policy_id", metavar="[ID]", required=False)
@policies_option
def show(policy_id: str | None, policy_paths: tuple[Path, ...]) -> None:
    """Print policy ID in full as JSON, or without ID a summary of every loaded policy."""
    policies = policy_set(policy_paths)
    if policy_id is None:
        echo_json([_summary(policy, policies) for policy in policies])
        return
    try:
        policy = policies.get(policy_id)
    except PolicyError as exc:
        fail(str(exc))
    echo_json({**policy.model_dump(mode="json"), "effective_at": policy.effective_at.isoformat()})


def _summary(policy: Policy, policies: PolicySet) -> dict[str, Any]:
    return {
        "id": policy.id,
        "effective_at": policy.effective_at.isoformat(),
        "description": policy.description,
        "default": policy.id == policies.default.id,
        "metrics": {
            name: {"hours": str(metric.hours), "clock": metric.clock}
            for name, metric in policy.metrics.items()
        },
    }


def _is_shipped(path: Path) -> bool:
    shipped = Path(str(shipped_folder())).resolve()
    return path.resolve().parent == shipped
