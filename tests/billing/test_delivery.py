"""Delivery to an HTTP endpoint (a real local server) and to a drop folder; retry policy."""

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from pump_service.billing import (
    ChargeSet,
    DeliveryStatus,
    ExportFormat,
    FolderDestination,
    HttpDestination,
    ReferenceData,
    RetryPolicy,
    compute_charges,
    deliver,
)
from tests.billing.builders import LATER, hai_visit
from tests.charge_support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def charges(reference: ReferenceData) -> ChargeSet:
    return compute_charges(hai_visit(), reference)


def test_http_delivery_posts_one_bundle_per_visit(receiver: Receiver, charges: ChargeSet) -> None:
    outcomes = deliver(charges.lines, HttpDestination(receiver.url, ExportFormat.FHIR), now=LATER)
    assert [(o.event_id, o.status, o.attempt) for o in outcomes] == [
        (line.event_id, DeliveryStatus.DELIVERED, 1) for line in charges.lines
    ]
    [(content_type, body)] = receiver.bodies
    assert content_type == "application/fhir+json"
    assert [e["resource"]["id"] for e in json.loads(body)["entry"]] == [line.event_id for line in charges.lines]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, DeliveryStatus.DELIVERED),
        (400, DeliveryStatus.REJECTED),
        (422, DeliveryStatus.REJECTED),
        (408, DeliveryStatus.RETRY),
        (429, DeliveryStatus.RETRY),
        (500, DeliveryStatus.RETRY),
        (503, DeliveryStatus.RETRY),
    ],
)
def test_http_status_decides_the_outcome(
    receiver: Receiver, charges: ChargeSet, status: int, outcome: DeliveryStatus
) -> None:
    receiver.statuses.append(status)
    [first, *_] = deliver(charges.lines, HttpDestination(receiver.url, ExportFormat.CSV), now=LATER)
    assert first.status is outcome
    assert (first.retry_at is not None) is (outcome is DeliveryStatus.RETRY)
    if outcome is DeliveryStatus.REJECTED:
        assert first.reason == f"HTTP {status}"


def test_network_error_is_retried(charges: ChargeSet) -> None:
    def refuse(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
        raise ConnectionRefusedError("connection refused")

    outcomes = deliver(
        charges.lines, HttpDestination("http://billing.invalid/x", ExportFormat.FHIR), now=LATER, send=refuse
    )
    assert {o.status for o in outcomes} == {DeliveryStatus.RETRY}
    assert {o.retry_at for o in outcomes} == {outcomes[0].retry_at}  # a visit retries as one
    assert outcomes[0].reason == "network error: connection refused"


def test_gives_up_after_max_attempts(charges: ChargeSet) -> None:
    def unavailable(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
        return 503

    destination = HttpDestination("https://billing.example/x", ExportFormat.FHIR)
    attempts = {line.event_id: 4 for line in charges.lines}
    [outcome, *_] = deliver(
        charges.lines, destination, now=LATER, attempts=attempts, policy=RetryPolicy(max_attempts=5), send=unavailable
    )
    assert (outcome.status, outcome.attempt) == (DeliveryStatus.REJECTED, 5)
    assert outcome.reason == "gave up after 5 attempts (last: HTTP 503)"


def test_hl7_delivery_skips_not_billable_lines(receiver: Receiver, charges: ChargeSet) -> None:
    outcomes = deliver(charges.lines, HttpDestination(receiver.url, ExportFormat.HL7V2), now=LATER)
    assert [o.status for o in outcomes] == [DeliveryStatus.DELIVERED] * 2 + [DeliveryStatus.SKIPPED] * 2
    [(_, body)] = receiver.bodies
    parsed = parse_message(body.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert len(parsed.dft_p03_financial) == 2


def test_folder_delivery_writes_whole_files_only(tmp_path: Path, reference: ReferenceData, charges: ChargeSet) -> None:
    other = compute_charges(hai_visit(visit_key="V-200/b"), reference)
    destination = FolderDestination(tmp_path, ExportFormat.HL7V2)
    outcomes = deliver([*charges.lines, *other.lines], destination, now=LATER)
    assert {o.status for o in outcomes} == {DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED}
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2
    assert all(name.endswith(".hl7") and not name.startswith(".") for name in files)
    assert files[1].startswith("V-200_b-")
    deliver(charges.lines, destination, now=LATER + timedelta(hours=1))  # a redelivery overwrites, never adds
    assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_folder_that_cannot_be_written_is_retried(tmp_path: Path, charges: ChargeSet) -> None:
    outcomes = deliver(charges.lines, FolderDestination(tmp_path / "missing", ExportFormat.CSV), now=LATER)
    assert {o.status for o in outcomes} == {DeliveryStatus.RETRY}
    assert outcomes[0].reason is not None
    assert outcomes[0].reason.startswith("cannot write")
    assert list(tmp_path.iterdir()) == []


def test_retry_delays_grow_to_a_cap_with_deterministic_jitter() -> None:
    policy = RetryPolicy(base_delay_s=60, factor=2, max_delay_s=3600, jitter_ratio=0.2)
    delays = [policy.delay_s("event-a", attempt) for attempt in range(1, 12)]
    for attempt, delay in enumerate(delays, 1):
        nominal = min(3600, 60 * 2 ** (attempt - 1))
        assert 0.8 * nominal <= delay <= nominal
    assert delays == [policy.delay_s("event-a", attempt) for attempt in range(1, 12)]
    assert delays[0] != policy.delay_s("event-b", 1)
    assert policy.retry_at("event-a", 1, LATER) == LATER + timedelta(seconds=delays[0])


@pytest.mark.parametrize(
    "bad",
    [
        {"base_delay_s": 0},
        {"factor": 0.5},
        {"max_delay_s": 1, "base_delay_s": 10},
        {"jitter_ratio": 1.0},
        {"max_attempts": 0},
    ],
)
def test_retry_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need"):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_destinations_and_time_are_checked(charges: ChargeSet) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpDestination("file:///etc/passwd", ExportFormat.FHIR)
    with pytest.raises(ValueError, match="UTC offset"):
        deliver(charges.lines, HttpDestination("https://x.example", ExportFormat.FHIR), now=LATER.replace(tzinfo=None))


def test_events_that_cannot_form_one_message_are_rejected(charges: ChargeSet) -> None:
    stray = charges.lines[1].model_copy(update={"patient_ref": "P-2"})
    outcomes = deliver(
        [charges.lines[0], stray], FolderDestination(Path("/nonexistent"), ExportFormat.HL7V2), now=LATER
    )
    assert {o.status for o in outcomes} == {DeliveryStatus.REJECTED}
    assert outcomes[0].reason is not None
    assert outcomes[0].reason.startswith("cannot export: a DFT^P03 carries one visit")
