"""The runtime builds this process's points issuer once, and a forked child builds its own."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from slamon.worker import runtime as runtime_mod
from slamon.worker.points.memory import InMemoryPointsIssuer
from tests.support.runtime import runtime_for


def test_the_issuer_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Engine] = []

    def factory(engine: Engine) -> InMemoryPointsIssuer:
        built.append(engine)
        return InMemoryPointsIssuer()

    runtime = runtime_for("sqlite://", issuer_factory=factory)
    first = runtime.issuer()
    assert runtime.issuer() is first and len(built) == 1
    monkeypatch.setattr(runtime_mod.os, "getpid", lambda: -1)  # as in a forked pool child
    child = runtime.issuer()
    assert child is not first and len(built) == 2


def test_a_runtime_without_a_factory_says_where_issuers_come_from() -> None:
    with pytest.raises(RuntimeError, match="no points issuer"):
        runtime_for("sqlite://").issuer()
