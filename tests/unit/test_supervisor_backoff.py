"""The supervisor's restart backoff and the role status it leaves for /readyz."""

from __future__ import annotations

from pathlib import Path

from slamon.role_status import ROLES_FILE, clear_roles, down_roles, write_roles
from slamon.supervisor import log_tail, restart_delay


def test_the_backoff_doubles_and_is_capped() -> None:
    assert [restart_delay(n, 30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert restart_delay(10_000, 5) == 5


def test_a_down_role_is_reported_while_its_supervisor_lives(tmp_path: Path) -> None:
    write_roles(tmp_path, {"worker": "exited with code 1"})
    assert down_roles(tmp_path) == {"worker": "exited with code 1"}
    assert (tmp_path / ROLES_FILE).stat().st_mode & 0o777 == 0o600
    clear_roles(tmp_path)
    assert down_roles(tmp_path) == {}


def test_a_file_left_by_a_dead_supervisor_says_nothing(tmp_path: Path) -> None:
    gone = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / ROLES_FILE).write_text(f'{{"supervisor_pid": {gone}, "down": {{"api": "x"}}}}')
    assert down_roles(tmp_path) == {}
    (tmp_path / ROLES_FILE).write_text("not json")
    assert down_roles(tmp_path) == {}


def test_the_log_tail_is_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    assert log_tail(log, 3) == ["line 97", "line 98", "line 99"]
    assert log_tail(tmp_path / "missing.log") == []
