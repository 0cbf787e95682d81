"""The background writer keeps order, and its first error reaches the caller."""

from __future__ import annotations

import pytest

from node.core.background import Background


def test_background__writes_every_item_in_order() -> None:
    written: list[int] = []
    background: Background[int] = Background(written.append, "test")
    for item in range(100):
        background.put(item)
    background.close()
    assert written == list(range(100))


def test_background__first_error_is_raised_and_nothing_written_after_it() -> None:
    written: list[int] = []

    def sink(item: int) -> None:
        if item == 3:
            raise OSError("disk full")
        written.append(item)

    background: Background[int] = Background(sink, "test")
    with pytest.raises(OSError, match="disk full"):
        for item in range(1000):
            background.put(item)
        background.close()
    background.close(check=False)
    assert written == [0, 1, 2]
