"""Run a producer of batches one step ahead of its consumer, in its own thread.

Publishing reads, maps and checks the source's batches and turns each into the stored
layout, then makes archive text, digests and Parquet of it: two long chains of Arrow
kernels, which release the GIL. Run one after the other they leave one of the machine's
cores idle; with the producer in a thread they overlap. The queue holds two batches, so
memory stays at a few batches whatever the size of the data.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DEPTH = 2
_POLL_SECONDS = 0.1


class _End:
    """The producer is done; `error` is what it raised, if anything."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def prefetched(items: Iterable[T], name: str) -> Iterator[T]:
    """Yield `items` in order while the next ones are produced in a thread named `name`.

    What the producer raises is raised here after the items produced before it, so a
    source found invalid at its end fails the consumer exactly where it would have
    without the thread. A consumer that stops early (an error of its own, or `close`)
    stops the producer before its next item, and waits for it so nothing runs on behind.
    """
    slots: queue.Queue[tuple[T] | _End] = queue.Queue(maxsize=_DEPTH)
    stop = threading.Event()

    def offer(slot: tuple[T] | _End) -> bool:
        while not stop.is_set():
            try:
                slots.put(slot, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer((item,)):
                    return
        except BaseException as exc:  # re-raised in the consumer's thread
            offer(_End(exc))
            return
        finally:
            # A generator is closed in the thread that ran it, releasing its files.
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        offer(_End(None))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            slot = slots.get()
            if isinstance(slot, _End):
                if slot.error is not None:
                    raise slot.error
                return
            yield slot[0]
    finally:
        stop.set()
        thread.join()
