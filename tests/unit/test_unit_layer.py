"""The unit layer's guard (tests/unit/conftest.py) refuses sockets and processes."""

from __future__ import annotations

import socket
import subprocess

import pytest


def test_a_socket_cannot_connect_or_listen() -> None:
    with pytest.raises(AssertionError, match="may not open a socket"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with socket.socket() as listener, pytest.raises(AssertionError, match="may not open"):
        listener.bind(("127.0.0.1", 0))


def test_a_process_cannot_be_started() -> None:
    with pytest.raises(AssertionError, match="may not start a process"):
        subprocess.run(["true"], check=True)
