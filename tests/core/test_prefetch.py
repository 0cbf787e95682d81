"""The prefetching thread keeps order, raises where the source raised, and stops with
its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from node.core.prefetch import prefetched


def test_prefetched__yields_every_item_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for item in range(1000):
            threads.add(threading.current_thread().name)
            yield item

    assert list(prefetched(produce(), "test-producer")) == list(range(1000))
    assert threads == {"test-producer"}


def test_prefetched__error_comes_after_the_items_produced_before_it() -> None:
    def produce() -> Iterator[int]:
        yield from range(5)
        raise ValueError("line 7: not a number")

    received: list[int] = []
    with pytest.raises(ValueError, match="line 7: not a number"):
        for item in prefetched(produce(), "test-producer"):
            received.append(item)
    assert received == [0, 1, 2, 3, 4]


def test_prefetched__stops_the_producer_when_the_consumer_stops() -> None:
    produced: list[int] = []
    closed_in: list[str] = []

    def produce() -> Iterator[int]:
        try:
            for item in range(1_000_000):
                produced.append(item)
                yield item
        finally:
            closed_in.append(threading.current_thread().name)

    items = prefetched(produce(), "test-producer")
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # what a consumer's own error does to the generator
    # At most the queue's two items and the one being offered were produced ahead.
    assert len(produced) <= 6
    assert closed_in == ["test-producer"]
    assert "test-producer" not in {t.name for t in threading.enumerate()}
