"""The programmer side of a visit: write once, prove it from the pump's log, check the read-back.

Every write carries a ``request_id`` the pump copies into the log entry it writes, so whether a
write landed is a question the pump's log answers, across retries, crashes and reconnects.
"""

import math
from dataclasses import dataclass

from pump_service.devices import ProgrammerClient
from pump_service.errors import ConflictError, DeviceError
from pump_service.persistence.visit_models import Visit
from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.status import DrugInPump, PumpStatus
from schemas.units import UnitError, to_canonical

__all__ = [
    "READBACK_TOLERANCE_ML",
    "Written",
    "check_prescription",
    "check_readback",
    "find_entry",
    "settle_unfinished",
    "write_prescription_once",
    "write_pump",
]

AnyPrescription = ContinuousPrescription | StepsPrescription | StoppedPrescription
READBACK_TOLERANCE_ML = 0.01
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Written:
    """What the pump now holds according to its log, and warnings for the nurse."""

    refilled: DeviceLogEntry
    warnings: tuple[str, ...]


def find_entry(entries: tuple[DeviceLogEntry, ...], request_id: str, entry_type: LogEntryType) -> DeviceLogEntry | None:
    return next((e for e in entries if e.type is entry_type and e.data.get("request_id") == request_id), None)


def write_pump(
    client: ProgrammerClient,
    visit: Visit,
    before: PumpStatus,
    *,
    fill_volume_ml: float,
    returned_volume_ml: float,
    drug: DrugInPump,
    new_prescription: AnyPrescription | None,
) -> Written:
    """Send what has not landed yet (``REFILL``, then ``RX_WRITE``) and return the ``REFILLED`` entry.

    Raises:
        DeviceError: the pump cannot take a prescription (it reports none to replace), or its log
            does not show the refill afterwards.
        DeviceOutcomeUnknownError: through the driver, a write without a verified answer.
    """
    if visit.refill_request_id is None or visit.rx_request_id is None:
        raise ConflictError(f"visit {visit.visit_key} has no request ids: it was never prepared for a pump write")
    cursor = visit.log_cursor or 0
    warnings: list[str] = []
    entries = client.read_log(cursor).entries
    expect = before.prescription.rx_id if before.prescription is not None else None
    rx_landed = find_entry(entries, visit.rx_request_id, LogEntryType.RX_CHANGED) is not None
    if new_prescription is not None and expect is None and not rx_landed:
        raise DeviceError("the pump reports no prescription id to replace: interrogate it and check it first")
    if find_entry(entries, visit.refill_request_id, LogEntryType.REFILLED) is None:
        # The programmer refuses more than capacity minus what its register says remains; rounded
        # down to 0.01 mL because the register keeps falling between STATUS and REFILL.
        room = math.floor((before.capacity_ml - max(0.0, before.reservoir_ml - returned_volume_ml)) * 100) / 100
        added = min(fill_volume_ml, room)
        if added < fill_volume_ml - READBACK_TOLERANCE_ML:
            warnings.append(
                f"programmer_register: recorded {added:.2f} mL added; the pump's register disagreed with the return"
            )
        client.refill(
            volume_removed_ml=returned_volume_ml,
            volume_added_ml=added,
            drug=drug,
            reservoir_after_ml=fill_volume_ml,
            request_id=visit.refill_request_id,
        )
    if new_prescription is not None and not rx_landed:
        current = client.status().prescription
        client.write_prescription(
            new_prescription,
            expect=(current.rx_id if current is not None else None) or expect or "",
            request_id=visit.rx_request_id,
        )
    refilled = find_entry(client.read_log(cursor).entries, visit.refill_request_id, LogEntryType.REFILLED)
    if refilled is None:
        raise DeviceError("the pump's log does not show the refill that was just acknowledged: check the pump")
    return Written(refilled, tuple(warnings))


def check_readback(written: Written, before: PumpStatus, after: PumpStatus, *, fill_volume_ml: float) -> None:
    """The pump must now hold the fill, less what it delivered since the refill entry (any retry later).

    Raises:
        DeviceError: the register is outside that band, or the prescription is not the one written.
    """
    try:
        written_ml = to_canonical(str(written.refilled.data.get("reservoir", "")), "volume")
    except UnitError:
        written_ml = fill_volume_ml
    elapsed_days = max(0.0, (after.clock_at - written.refilled.device_time_at).total_seconds() / SECONDS_PER_DAY)
    rates = [rx.mean_rate_ml_per_day() for rx in (before.prescription, after.prescription) if rx is not None]
    allowed_drop = elapsed_days * max(rates, default=0.0) * 1.05 + READBACK_TOLERANCE_ML
    if abs(written_ml - fill_volume_ml) > READBACK_TOLERANCE_ML or not (
        written_ml - allowed_drop <= after.reservoir_ml <= written_ml + READBACK_TOLERANCE_ML
    ):
        raise DeviceError(
            f"after the refill the pump reports {after.reservoir_ml:.2f} mL (written {written_ml:.2f} mL "
            f"for a {fill_volume_ml:.2f} mL fill): check the pump before recording"
        )


def check_prescription(after: PumpStatus, wanted: AnyPrescription) -> None:
    """The pump's prescription must be the one written (rates within 1e-6 mL/day).

    Raises:
        DeviceError: it is not.
    """
    got = after.prescription
    same = (
        got is not None
        and type(got) is type(wanted)
        and abs(got.mean_rate_ml_per_day() - wanted.mean_rate_ml_per_day()) <= 1e-6
    )
    if not same:
        raise DeviceError("after the write the pump reports a different prescription than was written")


def write_prescription_once(
    client: ProgrammerClient, visit: Visit, before: PumpStatus, new_prescription: AnyPrescription
) -> DeviceLogEntry:
    """Send ``RX_WRITE`` unless the pump's log shows it landed; return the ``RX_CHANGED`` entry.

    A reprogramming without a refill: the same write-once discipline as :func:`write_pump`.

    Raises:
        ConflictError: the visit was never prepared for a pump write.
        DeviceError: the pump reports no prescription to replace, or its log does not show the write.
        DeviceOutcomeUnknownError: through the driver, a write without a verified answer.
    """
    if visit.rx_request_id is None:
        raise ConflictError(f"visit {visit.visit_key} has no request id: it was never prepared for a pump write")
    cursor = visit.log_cursor or 0
    if find_entry(client.read_log(cursor).entries, visit.rx_request_id, LogEntryType.RX_CHANGED) is None:
        current = client.status().prescription
        expect = (current.rx_id if current is not None else None) or (
            before.prescription.rx_id if before.prescription is not None else None
        )
        if not expect:
            raise DeviceError("the pump reports no prescription id to replace: interrogate it and check it first")
        client.write_prescription(new_prescription, expect=expect, request_id=visit.rx_request_id)
    changed = find_entry(client.read_log(cursor).entries, visit.rx_request_id, LogEntryType.RX_CHANGED)
    if changed is None:
        raise DeviceError("the pump's log does not show the prescription that was just acknowledged: check the pump")
    return changed


def settle_unfinished(client: ProgrammerClient, other: Visit) -> bool:
    """Whether another unfinished visit of this pump wrote to it (True) or never did (False).

    A refill visit is looked up by its ``REFILLED`` entry, a reprogramming by its ``RX_CHANGED``.

    Raises:
        ConflictError: it did: that visit must be retried (same request) before a new one.
    """
    wanted = [
        (request_id, entry_type)
        for request_id, entry_type in (
            (other.refill_request_id, LogEntryType.REFILLED),
            (other.rx_request_id, LogEntryType.RX_CHANGED),
        )
        if request_id is not None
    ]
    if not wanted:
        raise ConflictError(f"unfinished visit {other.visit_key} has no request id to look up in the pump log")
    entries = client.read_log(other.log_cursor or 0).entries
    if any(find_entry(entries, request_id, entry_type) is not None for request_id, entry_type in wanted):
        raise ConflictError(
            f"visit {other.visit_key} wrote to this pump but was never recorded: retry that request "
            "(same idempotency key) before starting another"
        )
    return False
