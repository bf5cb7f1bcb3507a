"""Unit tests are pure: no sockets, no processes. Each test runs with both forbidden, so one
that needs a server, a broker or a child process fails here and belongs in tests/integration
(real databases, Redis, HTTP servers) or tests/e2e (real slamon processes)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest


def _forbidden(what: str) -> Any:
    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError(f"a unit test may not {what}; move it to tests/integration")

    return refuse


@pytest.fixture(autouse=True)
def _no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for method in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, method, _forbidden(f"open a socket ({method})"))
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _forbidden("start a process"))
    monkeypatch.setattr(os, "fork", _forbidden("fork"))
    monkeypatch.setattr(os, "posix_spawn", _forbidden("start a process"))
    yield
