"""``slamon up``: the whole stack on one machine, as child processes of one supervisor.

Steps:
  0. Make the home private: the folder 0700, every file in it 0600 (an older home is tightened
     too), and a umask of 077 for everything written from now on, by us and by every child.
  1. Lock the home (a second ``up`` on the same home says where the first one is and exits).
  2. Use the Redis the settings name, or start the embedded one in the home, locked with a
     password generated for this run (kept in ``run.json``, never printed).
  3. Migrate the database (a SQLite file in the home unless the settings name another).
  4. Take the API token from the settings, or generate one and keep it in the home (0600).
  5. Start worker, scheduler, API (and Flower) as ``python -m slamon <role>``, each logging to
     ``$SLAMON_HOME/logs/<role>.log``; record URLs and pids in ``run.json``.
  6. Watch the children: one that exits is logged (its code and the last lines of its log)
     and restarted after a backoff that doubles with each exit in a row, capped at
     SLAMON_SUPERVISOR_MAX_BACKOFF_SECONDS. One crash-looping role never stops the others (the
     API keeps taking events while the worker is down); meanwhile ``/readyz`` reports the role
     as down (:mod:`slamon.role_status`).
  7. On Ctrl-C / SIGTERM: stop the children (SIGTERM, then SIGKILL after a timeout), then Redis.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from slamon import log_masking
from slamon.embedded_redis import EmbeddedRedis
from slamon.models.db.engine import create_db_engine, display_url
from slamon.models.db.migrate import upgrade
from slamon.models.redaction import Redactor, mask_url
from slamon.role_status import clear_roles, write_roles
from slamon.settings import Settings, read_run_file, url_secrets

STOP_TIMEOUT_SECONDS = 20.0
FIRST_BACKOFF_SECONDS = 0.5  # doubled with each exit in a row, up to the setting's cap
STABLE_SECONDS = 60.0  # a child that ran this long before exiting starts its backoff afresh
LOG_TAIL_LINES = 10  # of the role's log, shown with each exit
PRIVATE_UMASK = 0o077  # files 0600, folders 0700


def restart_delay(exits_in_a_row: int, cap: float) -> float:
    """Seconds before restarting a child that exited ``exits_in_a_row`` times (>= 1)."""
    return float(min(cap, FIRST_BACKOFF_SECONDS * 2 ** min(exits_in_a_row - 1, 30)))


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a role's log (read from its end: a log may be large)."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16_384))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def make_private(home: Path) -> None:
    """The home and everything already in it readable by its owner only; new files too."""
    os.umask(PRIVATE_UMASK)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    for path in home.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


class AlreadyRunning(RuntimeError):
    pass


@dataclass
class Child:
    role: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    exits_in_a_row: int = 0
    started_at: float = 0.0
    restart_at: float | None = None  # set while the child waits out its backoff
    restarts: int = 0
    down_reason: str = ""  # why it is down, for /readyz, while restart_at is set

    def start(self, env: dict[str, str]) -> None:
        self.started_at = time.monotonic()
        self.restart_at = None
        log: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.log_path.chmod(0o600)  # a log from before the umask included
        self.process = subprocess.Popen(
            [sys.executable, "-m", "slamon", *self.args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Stack:
    def __init__(self, settings: Settings, port: int | None = None, flower: bool = False) -> None:
        self.settings = settings
        self.home = settings.home
        self.port = port or settings.api_port
        self.flower = flower
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []
        self.stopping = False
        self._lock: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def run(self, out: IO[str] = sys.stdout) -> int:
        make_private(self.home)
        self._take_lock()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            env = self._prepare(out)
            self._start_children(env, out)
            return self._watch(env, out)
        finally:
            self._shutdown(out)

    def _take_lock(self) -> None:
        self._lock = open(self.home / "up.lock", "a+")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = read_run_file(self.home) or {}
            raise AlreadyRunning(
                f"slamon is already running in {self.home} (pid {running.get('pid', '?')}, "
                f"API {running.get('api_url', '?')}); stop it first or use another --home"
            ) from None

    def _prepare(self, out: IO[str]) -> dict[str, str]:
        if not _port_free(self.settings.api_host, self.port):
            raise RuntimeError(
                f"port {self.port} on {self.settings.api_host} is in use; pass --port"
            )
        if self.flower and not _port_free("127.0.0.1", self.settings.flower_port):
            raise RuntimeError(
                f"Flower port {self.settings.flower_port} is in use; set SLAMON_FLOWER_PORT"
            )
        redis_url = self.settings.redis_url
        if not redis_url:
            self.redis = EmbeddedRedis(self.home / "redis")
            self.redis.start()
            redis_url = self.redis.url
            # Our own messages from now on mask the password we just made up, too.
            log_masking.install(Redactor([*self.settings.secrets(), *url_secrets(redis_url)]))
        database_url = self.settings.database
        engine = create_db_engine(database_url)
        upgrade(engine)
        engine.dispose()
        token = self.settings.api_token or _home_token(self.home)
        api_url = f"http://{self.settings.api_host}:{self.port}"
        env = dict(os.environ)
        env.update(
            SLAMON_HOME=str(self.home),
            SLAMON_REDIS_URL=redis_url,
            SLAMON_DATABASE_URL=database_url,
            SLAMON_API_TOKEN=token,
            SLAMON_API_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
        )
        run: dict[str, Any] = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(),
            "redis_url": redis_url,
            "embedded_redis": self.redis is not None,
            "database_url": display_url(database_url),
            "api_url": api_url,
            "api_token": token,
        }
        if self.flower:
            run["flower_url"] = f"http://127.0.0.1:{self.settings.flower_port}"
        _write_private(self.settings.run_file, json.dumps(run, indent=2))
        # Secrets stay in the files they live in (0600): the terminal's scrollback, a CI log
        # or a screen share is no place for them.
        print(f"slamon home   {self.home} (private: 0700)", file=out)
        embedded = f" (embedded, password in {self.settings.run_file})" if self.redis else ""
        print(f"redis         {mask_url(redis_url)}{embedded}", file=out)
        print(f"database      {display_url(database_url)}", file=out)
        print(f"api           {api_url}", file=out)
        print(f"dashboard     {api_url}/", file=out)
        if self.settings.api_token:
            print("api token     from SLAMON_API_TOKEN", file=out)
        else:
            print(f"api token     in {self.home / 'api_token'} (mode 0600)", file=out)
        if self.flower:
            print(f"flower        {run['flower_url']}", file=out)
        return env

    def _start_children(self, env: dict[str, str], out: IO[str]) -> None:
        logs = self.home / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        roles = ["worker", "scheduler", "api"] + (["flower"] if self.flower else [])
        for role in roles:
            child = Child(role, [role], logs / f"{role}.log")
            child.start(env)
            self.children.append(child)
            print(
                f"started {role:<9} pid {child.process.pid if child.process else '?'}, "
                f"log {child.log_path}",
                file=out,
            )
        print("slamon is up; Ctrl-C stops it", file=out, flush=True)

    def _watch(self, env: dict[str, str], out: IO[str]) -> int:
        write_roles(self.home, {})
        while not self.stopping:
            time.sleep(0.25)
            changed = False
            for child in self.children:
                if self.stopping or child.alive():
                    continue
                if child.restart_at is None:
                    self._exited(child, out)
                    changed = True
                elif time.monotonic() >= child.restart_at:
                    child.restarts += 1
                    child.start(env)
                    pid = child.process.pid if child.process else "?"
                    print(f"restarted {child.role} (pid {pid}, restart #{child.restarts})",
                          file=out, flush=True)
                    changed = True
            if changed:
                write_roles(self.home, {c.role: c.down_reason for c in self.children
                                        if c.restart_at is not None and c.down_reason})
        return 0

    def _exited(self, child: Child, out: IO[str]) -> None:
        """Log an exit (code, the last lines of the log) and schedule the restart."""
        code = child.process.returncode if child.process else None
        now = time.monotonic()
        ran = now - child.started_at
        child.exits_in_a_row = 1 if ran >= STABLE_SECONDS else child.exits_in_a_row + 1
        delay = restart_delay(child.exits_in_a_row, self.settings.supervisor_max_backoff_seconds)
        child.restart_at = now + delay
        child.down_reason = (f"exited with code {code} ({child.exits_in_a_row} in a row), "
                             f"restarting in {delay:g} s")
        tail = "".join(f"\n    | {line}" for line in log_tail(child.log_path))
        print(f"{child.role} exited with code {code} after {ran:.1f} s; restarting in "
              f"{delay:g} s; the last lines of {child.log_path}:{tail}", file=out, flush=True)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _shutdown(self, out: IO[str]) -> None:
        alive = [c for c in self.children if c.alive()]
        for child in alive:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in alive:
            assert child.process is not None
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{child.role} did not stop in time; killing it", file=out)
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        if self.redis is not None:
            self.redis.stop()
        # We hold the home's lock here, so run.json (and roles.json) are ours to remove.
        self.settings.run_file.unlink(missing_ok=True)
        clear_roles(self.home)
        print("slamon stopped", file=out, flush=True)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _home_token(home: Path) -> str:
    path = home / "api_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
