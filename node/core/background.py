"""A consumer thread with a short queue, for writers whose work runs in native code.

zlib and Parquet's encoders release the GIL, so handing each batch's write to a thread
overlaps it with preparing the next batch; the queue holds two items, so memory stays at
a few batches whatever the size of the data.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """Calls `sink(item)` for each item put, in order, in one thread.

    The first error the sink raises is raised again in the caller's thread at the next
    `put` or at `close`; later items are dropped, so nothing is written after a failure.
    """

    def __init__(self, sink: Callable[[T], object], name: str) -> None:
        self.sink = sink
        self.queue: queue.Queue[tuple[T] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.sink(item[0])
                except BaseException as exc:  # re-raised in the caller's thread
                    self.error = exc

    def put(self, item: T) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((item,))

    def close(self, check: bool = True) -> None:
        """Wait for every item to be written; `check=False` when an error is already
        on its way up (the first error is the one to report)."""
        self.queue.put(None)
        self.thread.join()
        if check and self.error is not None:
            raise self.error
