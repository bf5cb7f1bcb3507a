"""``slamon send``: validate JSON-lines events and queue them with the producer SDK."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from slamon.commands.common import fail, settings_or_exit
from slamon.models.event_fields import ID_PATTERN
from slamon.models.redaction import mask_url

CHUNK = 500  # events per queued message: one SDK batch


@click.command(name="send")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: on when stderr is a terminal).",
)
def command(source: IO[str], progress: bool | None) -> None:
    """Queue help events from SOURCE (a JSON-lines file, or - for stdin).

    Each line is validated first; prints one JSON line per event, {"event_id", "status":
    "queued"} or {"event_id", "line", "status": "rejected", "error"}, and exits 1 if any was
    rejected. Valid events travel in batches of 500 (one queue message each).
    """
    from slamon.models.events import EventError, parse_event
    from slamon.sdk import Producer
    from slamon.settings import NoBrokerError

    settings = settings_or_exit()
    try:
        broker = settings.broker
    except NoBrokerError as exc:
        fail(str(exc))
    rejected = 0
    show = progress if progress is not None else sys.stderr.isatty()
    producer = Producer(broker, max_clock_skew=settings.max_clock_skew)
    with producer, _progress(source, show) as lines, _queueing(broker):
        # Results are printed in input order, each batch once it is on the queue.
        events: list[Any] = []
        records: list[dict[str, Any]] = []
        for number, line in _numbered(lines):
            data: Any = None
            try:
                data = json.loads(line)
                event = producer.validate(parse_event(data))  # future events too
            except (ValueError, RecursionError, EventError) as exc:
                rejected += 1
                records.append(
                    {
                        "event_id": _event_id(data),
                        "line": number,
                        "status": "rejected",
                        "error": str(exc),
                    }
                )
                continue
            events.append(event)
            records.append({"event_id": event.event_id, "status": "queued"})
            if len(events) >= CHUNK:
                _flush(producer, events, records)
        _flush(producer, events, records)
    raise SystemExit(1 if rejected else 0)


def _flush(producer: Any, events: list[Any], records: list[dict[str, Any]]) -> None:
    if events:
        producer.publish_many(events)
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False))
    events.clear()
    records.clear()


def _event_id(data: Any) -> str | None:
    # Echoed only when valid: the error already describes an invalid one, printably.
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) and re.fullmatch(ID_PATTERN, event_id) else None


def _numbered(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


@contextmanager
def _queueing(broker: str) -> Iterator[None]:
    """A broker that fails mid-file ends the command with one line; what was printed is queued."""
    from kombu.exceptions import KombuError

    try:
        yield
    except (KombuError, OSError) as exc:
        fail(f"could not queue events to {mask_url(broker)}: {exc} "
             "(the events printed above are queued)")


def _count_lines(source: IO[str]) -> int | None:
    """How many lines a regular file holds (for the bar's total), or None for a stream."""
    if not source.seekable():
        return None
    start = source.tell()
    total = sum(1 for _ in source)
    source.seek(start)
    return total


class _progress:
    """A tqdm bar over the lines when asked for, or the plain lines."""

    def __init__(self, source: IO[str], show: bool) -> None:
        self.source, self.show = source, show
        self.bar: Any = None

    def __enter__(self) -> Iterator[str]:
        if not self.show:
            return iter(self.source)
        from tqdm import tqdm

        self.bar = tqdm(
            self.source,
            total=_count_lines(self.source),
            unit="line",
            file=sys.stderr,
            desc="sending",
            mininterval=0.5,
        )
        return iter(self.bar)  # type: ignore[no-any-return]

    def __exit__(self, *_exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
