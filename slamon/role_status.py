"""Which roles of ``slamon up`` are down right now, as its supervisor sees them.

The supervisor (:mod:`slamon.supervisor`) writes ``$SLAMON_HOME/roles.json`` whenever a role
exits or is started again; ``/readyz`` reads it (:func:`down_roles`) and reports a role that is
waiting to be restarted as down. The file names the supervisor's pid: a file left behind by a
supervisor that is gone says nothing (a stack run without ``up`` has none).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROLES_FILE = "roles.json"


def write_roles(home: Path, down: dict[str, str]) -> None:
    """Record the roles that are down (role -> why), atomically and private (0600)."""
    path = home / ROLES_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"supervisor_pid": os.getpid(), "down": down}, handle)
    tmp.replace(path)


def clear_roles(home: Path) -> None:
    (home / ROLES_FILE).unlink(missing_ok=True)


def down_roles(home: Path) -> dict[str, str]:
    """The roles a live supervisor reports down, with why; {} without one."""
    try:
        data: Any = json.loads((home / ROLES_FILE).read_text())
        pid = int(data["supervisor_pid"])
        down = data["down"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(down, dict) or not _alive(pid):
        return {}
    return {str(role): str(why) for role, why in down.items()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
