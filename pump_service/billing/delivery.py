"""Delivering charge events to the billing system: an HTTP endpoint or a drop folder.

Database-free on purpose: :func:`deliver` takes the pending events and returns one
:class:`DeliveryOutcome` per event; the scheduler tick persists the outcomes and calls again for
the events whose ``retry_at`` has come. Time is the caller's ``now``, never the wall clock.

* Events are sent per visit (one Bundle / DFT message / CSV file per visit key, in the order
  given); every event of a visit gets the same outcome, so a visit is never split.
* HTTP: POST with urllib; 2xx = delivered; 4xx other than 408/429 = rejected (the receiver refuses
  the content; retrying will not help); anything else, and any network error = retry.
* Folder: written to a hidden ``.part`` file in the same folder, flushed, then atomically renamed,
  so a reader never sees a partial file. The name derives from the event ids, so a redelivery
  overwrites the same file instead of adding a duplicate.
* Retries back off exponentially up to a cap, with jitter derived from the event id (stable across
  restarts, different across visits); after ``max_attempts`` the outcome is rejected. The policy and
  the HTTP POST are shared with notification delivery (``pump_service.outbound``).
* HL7 v2 has no not-billable charge: such events get ``skipped`` and are not sent.
"""

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pump_service.billing.charges import ChargeEvent
from pump_service.billing.exports import export_csv, export_dft_p03, export_fhir_bundle
from pump_service.billing.exports.dft_p03 import posts_in_dft
from pump_service.outbound import HttpSender, RetryPolicy, urllib_post
from schemas.clock import as_utc

__all__ = [
    "DeliveryOutcome",
    "DeliveryStatus",
    "ExportFormat",
    "FolderDestination",
    "HttpDestination",
    "HttpSender",
    "RetryPolicy",
    "deliver",
    "urllib_post",
]


class ExportFormat(StrEnum):
    FHIR = "fhir"
    HL7V2 = "hl7v2"
    CSV = "csv"


_MEDIA = {
    ExportFormat.FHIR: ("application/fhir+json", "json"),
    ExportFormat.HL7V2: ("x-application/hl7-v2+er7; charset=utf-8", "hl7"),
    ExportFormat.CSV: ("text/csv; charset=utf-8", "csv"),
}


@dataclass(frozen=True, slots=True)
class HttpDestination:
    """POST each visit's export to ``url``; ``headers`` carry whatever the receiver needs (auth)."""

    url: str
    format: ExportFormat
    timeout_s: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.url):
            raise ValueError(f"delivery URL must be http:// or https://, got {self.url!r}")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class FolderDestination:
    """Write each visit's export as one file in ``path`` (which must exist)."""

    path: Path
    format: ExportFormat


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one event on this attempt; ``retry_at`` is set only for ``retry``."""

    event_id: str
    status: DeliveryStatus
    attempt: int
    retry_at: datetime | None = None
    reason: str | None = None


def deliver(
    events: Iterable[ChargeEvent],
    destination: HttpDestination | FolderDestination,
    *,
    now: datetime,
    attempts: Mapping[str, int] | None = None,
    policy: RetryPolicy | None = None,
    send: HttpSender = urllib_post,
) -> list[DeliveryOutcome]:
    """Try to deliver ``events``; one outcome per event, in input order.

    ``attempts`` maps event ids to the number of attempts already made (missing = 0).

    Raises:
        ValueError: ``now`` is naive.
    """
    moment = as_utc(now, field="now")
    rules = policy or RetryPolicy()
    previous = attempts or {}
    visits: dict[str, list[ChargeEvent]] = {}
    for event in events:
        visits.setdefault(event.visit_key, []).append(event)
    outcomes: dict[str, DeliveryOutcome] = {}
    for group in visits.values():
        if destination.format is ExportFormat.HL7V2:
            for event in group:
                if not posts_in_dft(event):
                    outcomes[event.event_id] = DeliveryOutcome(
                        event.event_id, DeliveryStatus.SKIPPED, 0, reason="not billable: nothing to post in HL7 v2"
                    )
            group = [e for e in group if posts_in_dft(e)]
            if not group:
                continue
        attempt = 1 + max(previous.get(e.event_id, 0) for e in group)
        status, reason = _attempt(group, destination, moment, send)
        if status is DeliveryStatus.RETRY and attempt >= rules.max_attempts:
            status, reason = DeliveryStatus.REJECTED, f"gave up after {attempt} attempts (last: {reason})"
        retry_at = rules.retry_at(group[0].event_id, attempt, moment) if status is DeliveryStatus.RETRY else None
        for event in group:
            outcomes[event.event_id] = DeliveryOutcome(event.event_id, status, attempt, retry_at, reason)
    return [outcomes[event_id] for group in visits.values() for event_id in (e.event_id for e in group)]


def _render(group: list[ChargeEvent], export: ExportFormat, now: datetime) -> bytes:
    if export is ExportFormat.FHIR:
        return json.dumps(export_fhir_bundle(group), ensure_ascii=False).encode()
    if export is ExportFormat.HL7V2:
        return export_dft_p03(group, at=now).encode()
    return export_csv(group).encode()


def _attempt(
    group: list[ChargeEvent], destination: HttpDestination | FolderDestination, now: datetime, send: HttpSender
) -> tuple[DeliveryStatus, str | None]:
    try:
        body = _render(group, destination.format, now)
    except ValueError as exc:  # the events cannot form one message (e.g. two patients under one visit key)
        return DeliveryStatus.REJECTED, f"cannot export: {exc}"
    media, suffix = _MEDIA[destination.format]
    if isinstance(destination, FolderDestination):
        digest = hashlib.sha256("|".join(e.event_id for e in group).encode()).hexdigest()[:16]
        name = f"{re.sub(r'[^A-Za-z0-9._-]', '_', group[0].visit_key)}-{digest}.{suffix}"
        try:
            _write_atomically(destination.path, name, body)
        except OSError as exc:
            return DeliveryStatus.RETRY, f"cannot write {name}: {exc}"
        return DeliveryStatus.DELIVERED, None
    headers = {"Content-Type": media, **destination.headers}
    try:
        code = send(destination.url, body, headers, destination.timeout_s)
    except OSError as exc:
        return DeliveryStatus.RETRY, f"network error: {exc}"
    if 200 <= code < 300:
        return DeliveryStatus.DELIVERED, None
    if 400 <= code < 500 and code not in {408, 429}:
        return DeliveryStatus.REJECTED, f"HTTP {code}"
    return DeliveryStatus.RETRY, f"HTTP {code}"


def _write_atomically(folder: Path, name: str, body: bytes) -> None:
    partial = folder / f".{name}.part"
    try:
        with partial.open("wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)
