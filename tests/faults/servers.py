"""Servers a fault test starts, stops and breaks on its own: a PostgreSQL cluster (Debian's
binaries, a data directory of its own) and a Redis with AOF, each on a port of the fault
suite's range (16900-16999), so that killing them harms nothing else on the machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

PG_BIN = Path(os.environ.get("SLAMON_FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PORT, REDIS_PORT, POINTS_PORT = 16901, 16902, 16903


def _wait(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


class PostgresCluster:
    """``initdb`` once, then ``start`` / ``stop`` (fast shutdown, as a failover does) at will.

    PostgreSQL refuses to run as root; under root the cluster belongs to user ``postgres``."""

    def __init__(
        self, port: int = PG_PORT, listen: str = "127.0.0.1", netns: str | None = None
    ) -> None:
        self.port = port
        self.listen = listen
        self.netns = netns  # run the postmaster inside this network namespace
        self.root = Path(tempfile.mkdtemp(prefix="slamon-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        # The partition test reaches the cluster over its veth subnet, not loopback.
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.201.0.0/24 trust\n")

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"{args[0]} failed: {result.stdout}{result.stderr}\n"
                                 f"{self.log.read_text() if self.log.exists() else ''}")

    def url(self, database: str = "postgres", host: str | None = None) -> str:
        return f"postgresql+psycopg://postgres@{host or self.listen}:{self.port}/{database}"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses={self.listen} "
                   "-c fsync=off -c max_connections=200")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"host={self.listen} port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(AssertionError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class AofRedis:
    """A redis-server with the append-only file on, in a directory of its own."""

    def __init__(self, port: int = REDIS_PORT) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="slamon-faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def start(self) -> float:
        """Start it; seconds until it answers PING with its data loaded."""
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec",
                 "--save", ""],
                stdout=log, stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        return _wait(ready, 30, f"redis on {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill: what the AOF wrote is all that survives."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Partition:
    """A network namespace holding one end of a veth pair: the host reaches ``inside`` through
    ``outside``, and :meth:`cut` / :meth:`heal` take the host's end down and up."""

    def __init__(self, name: str = "slamon-f-db", outside: str = "10.201.0.1",
                 inside: str = "10.201.0.2") -> None:
        self.name, self.outside, self.inside = name, outside, inside
        self.host_link, self.peer_link = f"{name[:8]}-h", f"{name[:8]}-p"
        self.destroy()  # what a killed earlier run left
        for command in (
            f"ip netns add {name}",
            f"ip link add {self.host_link} type veth peer name {self.peer_link}",
            f"ip link set {self.peer_link} netns {name}",
            f"ip addr add {outside}/30 dev {self.host_link}",
            f"ip link set {self.host_link} up",
            f"ip netns exec {name} ip addr add {inside}/30 dev {self.peer_link}",
            f"ip netns exec {name} ip link set {self.peer_link} up",
            f"ip netns exec {name} ip link set lo up",
        ):
            subprocess.run(command.split(), check=True, capture_output=True, timeout=30)

    def cut(self) -> None:
        subprocess.run(["ip", "link", "set", self.host_link, "down"], check=True, timeout=30)

    def heal(self) -> None:
        subprocess.run(["ip", "link", "set", self.host_link, "up"], check=True, timeout=30)

    def destroy(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
