"""The embedded Redis is locked with a password that no other user can read, and `slamon up`
makes an existing home private (a home from before this lock was world-readable)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import redis

from slamon.embedded_redis import EmbeddedRedis
from slamon.supervisor import make_private


def test_the_embedded_redis_refuses_a_client_without_its_password(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        assert redis.Redis.from_url(server.url).ping()
        bare = f"redis://127.0.0.1:{server.port}/0"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare).rpush("sla.events", "forged")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(f"redis://:guess@127.0.0.1:{server.port}/0").ping()
        # Not on its command line, which any local user reads in `ps`.
        assert server.process is not None
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert server.password.encode() not in cmdline and b"requirepass" not in cmdline
        assert len(server.password) >= 32
    finally:
        server.stop()
    assert EmbeddedRedis(tmp_path / "other").password != server.password  # one per start


def test_an_existing_home_is_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    for name in ("slamon.db", "logs/worker.log", "api_token"):
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    home.chmod(0o755)
    before = os.umask(0o022)
    try:
        make_private(home)
        assert os.umask(0o022) == 0o077  # what every file written next gets
    finally:
        os.umask(before)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "logs").stat().st_mode) == 0o700
    for name in ("slamon.db", "logs/worker.log", "api_token"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
