"""The log line formats (SLAMON_LOG_FORMAT): ``text`` for people, ``json`` for log pipelines.

In ``json`` every record is one JSON object on one line; a decision's record
(:mod:`slamon.models.decisions`) adds its name and ids (case, event, deadline kind, deadline,
breach, compensation). Records of Celery, uvicorn or Flower come out as JSON lines too, so the
stream stays parseable line by line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from slamon.models.decisions import RECORD_ATTRIBUTE

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        line.update(getattr(record, RECORD_ATTRIBUTE, None) or {})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)
