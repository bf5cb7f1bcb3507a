"""Run the real ``slamon`` processes for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from slamon.embedded_redis import free_port

SLAMON = [sys.executable, "-m", "slamon"]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer: no SLAMON_* settings but the ones a test names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
    env["SLAMON_HOME"] = str(home)
    env.update(extra)
    return env


class RunningStack:
    def __init__(self, home: Path, env: dict[str, str], flower: bool = False) -> None:
        self.home = home
        self.env = env
        self.port = free_port()
        args = [*SLAMON, "up", "--home", str(home), "--port", str(self.port)]
        if flower:
            args.append("--flower")
        self.log = open(home.parent / "up.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Seconds until GET /healthz answered 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"slamon up exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"no /healthz within {timeout}s:\n{self.output()}")

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SLAMON, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def case(self, case_id: str) -> dict[str, Any] | None:
        result = self.run("case", case_id)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_case(
        self, case_id: str, predicate: Any = lambda c: True, timeout: float = 30
    ) -> dict[str, Any]:
        started = time.monotonic()
        last = None
        while time.monotonic() - started < timeout:
            last = self.case(case_id)
            if last is not None and predicate(last):
                return last
            time.sleep(0.5)
        raise AssertionError(f"case {case_id} never matched; last: {last}\n{self.output()}")

    def token(self) -> str:
        return str(json.loads((self.home / "run.json").read_text())["api_token"])

    def stop(self, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"slamon up did not stop on SIGTERM:\n{self.output()}"
                ) from None
        self.log.close()
        return self.process.returncode

    def output(self) -> str:
        self.log.flush()
        text = (self.home.parent / "up.log").read_text(errors="replace")
        logs = self.home / "logs"
        for path in sorted(logs.glob("*.log")) if logs.exists() else []:
            text += f"\n--- {path.name} (tail)\n" + path.read_text(errors="replace")[-3000:]
        return text
