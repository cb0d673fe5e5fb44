"""Writers of one SQLite database take turns in this process, first come first served.

SQLite has one write lock per database. Twenty threads asking for it with ``BEGIN IMMEDIATE``
all sleep in SQLite's busy handler, which polls with growing sleeps, serves no one in order and
gives up after ``busy_timeout`` ("database is locked": 28 HTTP 500 in 600 refills at 20 clients).
Queueing them here instead hands the lock from one transaction to the next the moment it ends,
in arrival order; ``busy_timeout`` still guards against writers in other processes.
"""

import sqlite3
import threading
from collections import deque
from pathlib import Path

__all__ = ["QueuedWriterConnection", "WriterQueue", "writer_queue_for"]


class WriterQueue:
    """A fair (FIFO) lock: one writing transaction at a time, the others wait in arrival order.

    Unlike a ``threading.Lock`` it may be released by another thread than the one that took it
    (FastAPI runs a request's dependencies and its endpoint on different worker threads).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._taken = False

    @property
    def waiting(self) -> int:
        """How many callers wait for their turn now."""
        with self._mutex:
            return len(self._waiting)

    def acquire(self, timeout_s: float) -> bool:
        """Wait for this caller's turn; False if it did not come within ``timeout_s`` (then not taken)."""
        with self._mutex:
            if not self._taken:
                self._taken = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout_s):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        """End the current turn: hand it to the longest waiting caller, or leave the lock free."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # stays taken: the turn passes straight on
            else:
                self._taken = False


class QueuedWriterConnection(sqlite3.Connection):
    """A sqlite3 connection that ends its writer turn once its transaction has committed or rolled back.

    The turn is ended after the COMMIT itself, so the next writer's ``BEGIN IMMEDIATE`` never meets a
    write lock still held by this one (it would sleep in the busy handler again).
    """

    writer_turn: WriterQueue | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_writer_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_writer_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_writer_turn()

    def end_writer_turn(self) -> None:
        """Release the turn this connection holds, if any (idempotent)."""
        queue, self.writer_turn = self.writer_turn, None
        if queue is not None:
            queue.release()


_queues: dict[str, WriterQueue] = {}
_queues_mutex = threading.Lock()


def writer_queue_for(database: str | None) -> WriterQueue:
    """The queue of the SQLite database file ``database``, shared by every engine of this process over it.

    An in-memory database belongs to its engine alone: it gets a queue of its own.
    """
    if not database or database == ":memory:":
        return WriterQueue()
    with _queues_mutex:
        return _queues.setdefault(str(Path(database).resolve()), WriterQueue())
