"""The one chunking helper: lookups by id, judgement transactions and dispatches use it."""

from __future__ import annotations

import pytest

from slamon.models.db.bulk import LOOKUP_CHUNK, chunks


def test_consecutive_slices_in_order_the_last_one_short() -> None:
    assert list(chunks([1, 2, 3, 4, 5, 6, 7], 3)) == [[1, 2, 3], [4, 5, 6], [7]]
    assert list(chunks([], 3)) == []


def test_the_default_size_is_the_lookup_chunk() -> None:
    ids = [str(n) for n in range(2 * LOOKUP_CHUNK + 1)]
    assert [len(c) for c in chunks(ids)] == [LOOKUP_CHUNK, LOOKUP_CHUNK, 1]


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(chunks([1], 0))
