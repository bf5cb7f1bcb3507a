"""Every log record of a slamon process passes the secret masks (:mod:`slamon.models.redaction`).

Installed as the logging module's record factory rather than as a handler filter: Celery,
uvicorn and Flower each set up their own handlers after we start, but all of them make their
records through this one factory. The message and each argument are masked separately
(uvicorn's access formatter unpacks ``record.args``), and a traceback is formatted and masked
at once, so a formatter later finds ``exc_text`` already filled in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slamon.models.redaction import Redactor

_FORMATTER = logging.Formatter()
_SCALARS = (int, float, bool, type(None))


def install(redactor: Redactor) -> None:
    """Mask every record made from now on in this process (and the children it forks)."""
    base = getattr(logging.getLogRecordFactory(), "unmasked", logging.getLogRecordFactory())

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        mask_record(record, redactor)
        return record

    factory.unmasked = base  # type: ignore[attr-defined]  # a second install replaces ours
    logging.setLogRecordFactory(factory)


def mask_record(record: logging.LogRecord, redactor: Callable[[str], str]) -> None:
    if isinstance(record.msg, str):
        record.msg = redactor(record.msg)
    elif not isinstance(record.msg, _SCALARS):
        record.msg = _masked(record.msg, redactor)
    if isinstance(record.args, tuple):
        record.args = tuple(_masked(arg, redactor) for arg in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {key: _masked(value, redactor) for key, value in record.args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = redactor(_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)


def _masked(value: Any, redactor: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, _SCALARS):
        return value
    text = str(value)
    masked = redactor(text)
    # Keep the object (a %r or %d may want it) unless its text gives a secret away.
    return value if masked == text else masked
