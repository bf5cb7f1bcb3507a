"""SQLite in the embedded mode: writers queue behind each other, readers block nobody."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from slamon.models.db.engine import create_db_engine, snapshot, transaction
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import DeadLetter


def _letter(n: int) -> dict[str, object]:
    return {"received_at": datetime.now(UTC), "source": "cli", "raw": str(n), "error": "e",
            "cause": "not_json"}


def test_a_reader_does_not_block_a_writer(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with snapshot(engine) as reader:
        assert reader.scalar(select(func.count()).select_from(DeadLetter)) == 0
        done = threading.Event()

        def write() -> None:
            with transaction(engine) as writer:
                writer.execute(insert(DeadLetter).values(**_letter(1)))
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        # With a write lock held by the reader this would wait for busy_timeout (30 s).
        assert done.wait(5), "the writer waited for a reader"
        thread.join()
        # The reader keeps its consistent view until its transaction ends.
        assert reader.scalar(select(func.count()).select_from(DeadLetter)) == 0
    with snapshot(engine) as reader:
        assert reader.scalar(select(func.count()).select_from(DeadLetter)) == 1


def test_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                with transaction(engine) as session:
                    session.execute(insert(DeadLetter).values(**_letter(n * 100 + i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with snapshot(engine) as reader:
        assert reader.scalar(select(func.count()).select_from(DeadLetter)) == 80
