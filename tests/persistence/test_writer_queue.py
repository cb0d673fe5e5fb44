"""Writers of one SQLite file wait for their turn in the process, in arrival order, not in SQLite's busy handler."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from pump_service.persistence.db import make_engine, read_transaction, transaction
from pump_service.persistence.writer_queue import WriterQueue, writer_queue_for

pytestmark = pytest.mark.sqlite_only("the in-process queue of one SQLite file's writers")


def _wait_until_waiting(queue: WriterQueue, count: int) -> None:
    done = threading.Event()
    while queue.waiting < count:
        done.wait(0.001)


def test_turns_are_served_in_arrival_order() -> None:
    queue = WriterQueue()
    assert queue.acquire(timeout_s=1)
    served: list[int] = []

    def writer(n: int) -> None:
        assert queue.acquire(timeout_s=30)
        served.append(n)
        queue.release()

    threads = []
    for n in range(5):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        _wait_until_waiting(queue, n + 1)  # writer n is queued before writer n + 1 arrives
        threads.append(thread)
    queue.release()
    for thread in threads:
        thread.join()
    assert served == [0, 1, 2, 3, 4]
    assert queue.acquire(timeout_s=0)  # free again


def test_a_turn_not_given_in_time_leaves_the_queue_as_it_was() -> None:
    queue = WriterQueue()
    assert queue.acquire(timeout_s=1)
    assert not queue.acquire(timeout_s=0.01)
    assert queue.waiting == 0
    queue.release()
    assert queue.acquire(timeout_s=0)


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/q.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def test_a_second_writer_queues_until_the_first_commits_and_readers_do_not(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    queue = writer_queue_for(f"{tmp_path}/q.db")
    second_done = threading.Event()
    with transaction(engine) as first:
        first.execute(text("INSERT INTO t VALUES (1)"))  # BEGIN IMMEDIATE: the write lock is held

        def second() -> None:
            with transaction(engine) as session:
                session.execute(text("INSERT INTO t VALUES (2)"))
            second_done.set()

        thread = threading.Thread(target=second)
        thread.start()
        _wait_until_waiting(queue, 1)  # queued in the process, not polling SQLite
        with read_transaction(engine) as reader:  # a reader neither queues nor sees uncommitted rows
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert not second_done.is_set()
    thread.join()
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    assert queue.waiting == 0
    engine.dispose()


def _insert_then_refuse(engine: Engine) -> None:
    with transaction(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise LookupError("the use case refused")


def test_a_failed_transaction_gives_its_turn_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    queue = writer_queue_for(f"{tmp_path}/q.db")
    with pytest.raises(LookupError):
        _insert_then_refuse(engine)
    assert queue.acquire(timeout_s=0)  # nobody holds it
    queue.release()
    engine.dispose()
