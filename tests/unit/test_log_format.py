"""SLAMON_LOG_FORMAT: text by default; json gives one line a record, a decision's with its ids."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from slamon.log_format import JsonFormatter, formatter
from slamon.models.decisions import Decision, decision
from slamon.models.states import InboxOutcome
from slamon.settings import Settings


def record(**extra: object) -> logging.LogRecord:
    logger = logging.getLogger("slamon.test")
    return logger.makeRecord(
        "slamon.test", logging.INFO, __file__, 1, "case %s: %s", ("H1", "破"), None, extra=extra
    )


def test_a_decision_is_one_json_line_with_every_id() -> None:
    extra = decision(Decision.BREACH_RECORDED, case_id="H1", kind="response", deadline_id=7,
                     breach_id=3, compensation_id=5, points=35000)
    line = JsonFormatter().format(record(**extra))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "case H1: 破" and parsed["level"] == "INFO"
    assert parsed["decision"] == "breach.recorded"
    assert (parsed["case_id"], parsed["kind"], parsed["deadline_id"]) == ("H1", "response", 7)
    assert (parsed["breach_id"], parsed["compensation_id"], parsed["points"]) == (3, 5, 35000)
    assert parsed["event_id"] is None  # named, unknown: a filter finds the field on every line


def test_any_other_record_is_a_json_line_too_with_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failing = record()
        failing.exc_info = sys.exc_info()
    parsed = json.loads(JsonFormatter().format(failing))
    assert "decision" not in parsed
    assert "RuntimeError: boom" in parsed["traceback"]


def test_text_is_the_default_and_ignores_the_decision(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).log_format == "text"
    applied = record(**decision(Decision.EVENT_APPLIED, case_id="H1"))
    text = formatter("text").format(applied)
    assert text.endswith(f"INFO slamon.test [{applied.process}] case H1: 破")
    assert isinstance(formatter("json"), JsonFormatter)


def test_an_unknown_format_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'text' or 'json'"):
        Settings(home=tmp_path, log_format="xml")  # type: ignore[arg-type]


def test_every_ingest_outcome_names_a_decision() -> None:
    # worker.ingest logs Decision(f"event.{outcome}"): an outcome without one would fail there.
    for outcome in [*InboxOutcome, "dead_lettered"]:
        assert Decision(f"event.{outcome}")
