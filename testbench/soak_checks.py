"""The soak drill's verdict, read from the database with plain SQL, the pumps' own record and a replay.

The promises: every visit the service acknowledged is stored once (one refill per idempotency
key; none for a visit it refused), its charge events are the ones it answered with and no charge
is without its refill; no visit is left ``writing`` (or ``open``); no pump log entry is stored
twice; each notification key exists once; no pump has two booked appointments; each pump took
each refill write once; and every acknowledged visit, sent again as it was, is replayed with the
same result. Each broken promise becomes one line of :attr:`SoakVerdict.problems`.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text

from testbench.soak import SoakRun
from testbench.soak_process import WorkerProcess

__all__ = ["SoakVerdict", "judge_soak"]

UNFINISHED = ("writing", "open")
REPLAY_TIMEOUT_S = 60.0


@dataclass
class SoakVerdict:
    """The counts read back and every broken promise, one line each (empty: the drill passed)."""

    refills: int = 0
    charge_events: int = 0
    visits_by_state: Counter[str] = field(default_factory=Counter)
    device_log_rows: int = 0
    notifications: int = 0
    replayed: int = 0
    problems: list[str] = field(default_factory=list)


def _rows(connection: Connection, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text(query))]


def _check_refills_and_charges(connection: Connection, run: SoakRun, verdict: SoakVerdict) -> None:
    keys = Counter(str(row[0]) for row in _rows(connection, "SELECT idempotency_key FROM refill"))
    verdict.refills = sum(keys.values())
    acknowledged = {visit.key for visit in run.acknowledged}
    verdict.problems += [f"refill {key} stored {keys[key]} times" for key in sorted(keys) if keys[key] > 1]
    verdict.problems += [f"acknowledged visit {key} lost" for key in sorted(acknowledged - set(keys))]
    verdict.problems += [f"refill {key} stored but never acknowledged" for key in sorted(set(keys) - acknowledged)]
    charges = _rows(
        connection,
        "SELECT refill.idempotency_key, charge_event.event_id FROM charge_event"
        " LEFT JOIN refill ON refill.id = charge_event.refill_id",
    )
    verdict.charge_events = len(charges)
    verdict.problems += [f"charge {event} without its refill" for key, event in charges if key is None]
    stored: dict[str, Counter[str]] = {}
    for key, event in charges:
        stored.setdefault(str(key), Counter())[str(event)] += 1
    for visit in run.acknowledged:
        answered = Counter(str(line["event_id"]) for line in visit.result["charges"])
        if not answered:
            verdict.problems.append(f"visit {visit.key} was acknowledged without charges")
        if stored.get(visit.key, Counter()) != answered:
            verdict.problems.append(f"visit {visit.key}: charges stored {stored.get(visit.key)} != answered {answered}")


def _check_visits(connection: Connection, run: SoakRun, verdict: SoakVerdict) -> None:
    rows = _rows(connection, "SELECT visit_key, state, refill_request_id FROM visit")
    verdict.visits_by_state = Counter(str(state) for _, state, _ in rows)
    verdict.problems += [f"visit {key} left {state}" for key, state, _ in rows if state in UNFINISHED]
    committed = {str(key) for key, state, _ in rows if state == "committed"}
    missing = {v.key for v in run.acknowledged} - committed
    verdict.problems += [f"acknowledged visit {key} has no committed visit row" for key in sorted(missing)]
    # The pumps' side: each refill write landed once, and exactly the committed programmable visits' writes.
    executed = Counter(str(rid) for command, rid in run.programmer.executed if command == "REFILL")
    verdict.problems += [f"pump took refill write {rid} {n} times" for rid, n in executed.items() if n > 1]
    written = {str(rid) for key, state, rid in rows if state == "committed" and rid is not None}
    if set(executed) != written:
        verdict.problems.append(
            f"refill writes on the pumps {sorted(set(executed) - written)} not committed; "
            f"committed but not on a pump {sorted(written - set(executed))}"
        )


def _check_the_rest(connection: Connection, verdict: SoakVerdict) -> None:
    log = _rows(connection, "SELECT pump_id, source, entry_type, device_time_at, log_index, data FROM device_log")
    verdict.device_log_rows = len(log)
    entries = Counter((p, e, str(t), json.dumps(d, sort_keys=True)) for p, s, e, t, _, d in log if s == "pump")
    verdict.problems += [f"pump log entry {entry} stored {n} times" for entry, n in entries.items() if n > 1]
    indexes = Counter((p, i) for p, s, _, _, i, _ in log if s == "pump")
    verdict.problems += [f"pump log index {entry} stored {n} times" for entry, n in indexes.items() if n > 1]
    keys = Counter(str(row[0]) for row in _rows(connection, "SELECT key FROM notification"))
    verdict.notifications = sum(keys.values())
    verdict.problems += [f"notification {key} stored {n} times" for key, n in keys.items() if n > 1]
    booked = Counter(row[0] for row in _rows(connection, "SELECT pump_id FROM appointment WHERE status = 'booked'"))
    verdict.problems += [f"pump {pump} has {n} booked appointments" for pump, n in booked.items() if n > 1]


def _check_replays(run: SoakRun, log_path: Path, verdict: SoakVerdict) -> None:
    """Every acknowledged visit sent again, as last sent, to a fresh worker: replayed, with the same result."""
    with log_path.open("a") as log:
        worker = WorkerProcess(run.settings_json, log)
        try:
            for visit in run.acknowledged:
                worker.send({**visit.command, "at": run.end_at.isoformat(), "device": "socket://127.0.0.1:9"})
                answer = worker.answer(REPLAY_TIMEOUT_S)
                if not answer["ok"]:
                    verdict.problems.append(f"replay of {visit.key}: {answer}")
                    continue
                again = answer["result"]
                if not again["replayed"]:
                    verdict.problems.append(f"replay of {visit.key} was not replayed: stored twice?")
                first = {k: v for k, v in visit.result.items() if k != "replayed"}
                if first != {k: v for k, v in again.items() if k != "replayed"}:
                    changed = sorted(k for k in first if first[k] != again.get(k))
                    verdict.problems.append(f"replay of {visit.key} differs in {changed}")
                verdict.replayed += 1
        finally:
            worker.close()


def judge_soak(run: SoakRun, database_url: str, *, log_path: Path) -> SoakVerdict:
    """Read the store back after ``run`` and replay its acknowledged visits; the verdict lists what broke."""
    verdict = SoakVerdict()
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            _check_refills_and_charges(connection, run, verdict)
            _check_visits(connection, run, verdict)
            _check_the_rest(connection, verdict)
    finally:
        engine.dispose()
    _check_replays(run, log_path, verdict)
    return verdict
