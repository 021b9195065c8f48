"""The next stacks' engines, built and traced on a thread of their own while the lanes train.

A stack's first epoch call traces its functions, Python holding the GIL, for much of that call.
On the lane that is time its core does nothing for training, and while the lane traces, the other lane's
per-epoch Python waits for the GIL. Traced ahead here, it overlaps the lanes' epochs, which run in
TF without the GIL. No files are written while preparing, so a preparation that is never used
(the run stops, or a lane got there first) leaves nothing behind.
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, Callable, Optional, Sequence


class StackPrefetch:
    """Prepares ``groups`` in the order the lanes take them, on one thread, at most ``depth`` ahead.

    ``take(i)`` (a lane starting group i; the lanes take them in order): its preparation if done,
    or once done if it is under way; None if it never started (the lane prepares it itself rather
    than wait behind another) or failed (the lane then prepares it again, and meets the error in
    its run's own context, where it is reported). ``top_up()`` (a lane, once its stack trains)
    queues the next groups until ``depth`` are queued or ready and not taken. ``close()`` drops
    what is queued and waits for a preparation under way, which is thrown away.
    """

    def __init__(self, groups: Sequence[Any], prepare: Callable[[Any], Any], depth: int = 1) -> None:
        self._groups, self._prepare, self._depth = groups, prepare, depth
        self._futures: dict[int, Future] = {}  # queued or ready, not taken
        self._next = 0  # the first group neither queued nor taken
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._closed = False

    def top_up(self) -> None:
        with self._lock:
            while not self._closed and len(self._futures) < self._depth and self._next < len(self._groups):
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="dlexp-prepare")
                self._futures[self._next] = self._pool.submit(self._prepare, self._groups[self._next])
                self._next += 1

    def queued(self) -> list[int]:
        """The groups queued or prepared and not taken."""
        with self._lock:
            return sorted(self._futures)

    def take(self, i: int) -> Any:
        with self._lock:
            future = self._futures.pop(i, None)
            self._next = max(self._next, i + 1)
        if future is None or future.cancel():
            return None
        try:
            prepared = future.result()
        except CancelledError:
            return None
        except Exception:  # prepared again on the lane, which reports the error where it belongs
            return None
        self.top_up()  # this lane traces nothing now: the next one can start
        return prepared

    def close(self) -> None:
        """Drop what is queued, wait for a preparation under way (at most one: tracing cannot be
        interrupted, and it must not go on behind a caller that has stopped), queue nothing more."""
        with self._lock:
            self._closed = True
            futures, self._futures = list(self._futures.values()), {}
            pool, self._pool = self._pool, None
        for future in futures:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
