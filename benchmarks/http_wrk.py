"""Single-event requests under a real load generator: ``wrk`` (Debian's ``wrk`` package;
elsewhere build it from https://github.com/wg/wrk), driven by a Lua script.

Each request of :data:`EVENT_SCRIPT` is a new ``help.opened`` with an event id of its own
(the wrk thread and a counter), so every request is real work for the API and, after it, for
the worker. wrk's ``--latency`` distribution gives p50 and p99; the script's ``done`` hook
prints the counts wrk keeps (completed requests, non-2xx answers, socket errors) as one line
of JSON, which is what is parsed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

EVENT_SCRIPT = r"""
local counter, threads = 0, {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  prefix, opened, token = args[1], args[2], args[3]
end
function request()
  counter = counter + 1
  local id = prefix .. "-t" .. tid .. "-" .. counter
  local body = '{"event_id":"' .. id .. '","type":"help.opened","case_id":"' .. id ..
    '","occurred_at":"' .. opened .. '","order_id":"O1","buyer_account":"tb_buyer_1",' ..
    '"merchant_id":"M1","category":"家装家具","services":["送货入户并安装"],' ..
    '"item_price":"1299.00"}'
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, body)
end
"""

PLAIN_SCRIPT = r"""
function init(args) end
"""

DONE = r"""
function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests": %d, "non2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "seconds": %f}\n',
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99), summary.duration / 1e6))
end
"""


@dataclass(frozen=True)
class WrkRun:
    requests: int
    failed: int  # non-2xx answers and socket errors
    p50_ms: float
    p99_ms: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_available() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu), or build "
                         "it from https://github.com/wg/wrk; or pass --no-wrk")
    return path


def run_wrk(url: str, script: str, args: list[str], threads: int, connections: int,
            seconds: float, workdir: Path) -> WrkRun:
    """``wrk`` against ``url`` with ``script`` (given ``args``); its counts and latencies."""
    path = workdir / "wrk.lua"
    path.write_text(script + DONE, encoding="utf-8")
    argv = [wrk_available(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s",
            "--latency", "-s", str(path), url, "--", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    match = re.search(r"^WRKJSON (\{.*\})$", out.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    data = json.loads(match.group(1))
    failed = sum(data[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    return WrkRun(data["requests"], failed, data["p50_us"] / 1e3, data["p99_us"] / 1e3,
                  data["seconds"])
