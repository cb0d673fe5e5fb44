"""HL7 v2.5 ``DFT^P03`` (post detail financial transaction) as ER7 text, one message per visit.

Segments, separated by carriage returns: MSH, EVN, PID (pseudonymous: PID-3 the patient reference, PID-5
the same reference with name type ``S``, a coded pseudonym), PV1 (PV1-19 the visit key), then one
FT1 per event::

    FT1-1 set id        FT1-2 event id        FT1-4 service date    FT1-5 recorded at
    FT1-6 CG charge | CD credit (voids and credits)                 FT1-7 code^descriptor^C4|HCPCS
    FT1-8 narrative     FT1-10 units          FT1-19 ICD-10-CM dx (I10C), repeating
    FT1-20 performer    FT1-25 code           FT1-26 modifiers, repeating
    FT1-29 NDC          FT1-31 the original event id of a credit

HL7 2.5 types FT1-31 as SI (a number), so a strict parser refuses the UUID this service puts
there; billing.md §6.3 and the receivers we target use it as the link to the original charge.
Agree the field with each receiver (docs/billing.md). Not-billable lines are left out unless
``include_not_billable``: a DFT posts charges, and a not-billable line is not one.
"""

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from pump_service.billing.charges import ChargeEvent, ChargeStatus, EventKind
from pump_service.billing.reference import CodeSystem
from schemas.clock import as_utc

__all__ = ["export_dft_p03", "posts_in_dft"]

_CODING = {CodeSystem.CPT: "C4", CodeSystem.HCPCS: "HCPCS"}
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("~", "\\R\\"), ("&", "\\T\\"))


def _text(value: str) -> str:
    for raw, escaped in _ESCAPES:
        value = value.replace(raw, escaped)
    return " ".join(value.split())  # no segment or line breaks inside a field


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _segment(name: str, fields: dict[int, str]) -> str:
    last = max(i for i, value in fields.items() if value)
    return "|".join([name, *(fields.get(i, "") for i in range(1, last + 1))])


def posts_in_dft(event: ChargeEvent, include_not_billable: bool = False) -> bool:
    """True if ``event`` becomes an FT1: billable charges, and corrections of billable charges."""
    status = event.status if event.kind is EventKind.CHARGE else event.original_status
    return include_not_billable or status is ChargeStatus.BILLABLE


def export_dft_p03(
    events: Iterable[ChargeEvent],
    *,
    at: datetime,
    sending_application: str = "PUMP-SERVICE",
    sending_facility: str = "CLINIC",
    receiving_application: str = "BILLING",
    receiving_facility: str = "CLINIC",
    assigning_authority: str = "PUMPSVC",
    include_not_billable: bool = False,
) -> str:
    """One DFT^P03 message for the events of one visit.

    ``at`` is the message time (MSH-7, EVN-2); the control id (MSH-10) is derived from the event
    ids, so a re-export of the same events is the same message apart from ``at``.

    Raises:
        ValueError: events of more than one visit or patient, nothing to post, or a naive ``at``.
    """
    chosen = [e for e in events if posts_in_dft(e, include_not_billable)]
    if not chosen:
        raise ValueError("no event to post: a DFT^P03 needs at least one FT1")
    visits = {(e.visit_key, e.patient_ref) for e in chosen}
    if len(visits) != 1:
        raise ValueError("a DFT^P03 carries one visit of one patient: split the events by visit")
    first = chosen[0]
    stamp = _ts(as_utc(at, field="at"))
    control_id = hashlib.sha256("|".join(e.event_id for e in chosen).encode()).hexdigest()[:20]
    patient = _text(first.patient_ref)
    segments = [
        "MSH|^~\\&|"
        + "|".join(
            [
                _text(sending_application),
                _text(sending_facility),
                _text(receiving_application),
                _text(receiving_facility),
                stamp,
                "",
                "DFT^P03^DFT_P03",
                control_id,
                "P",
                "2.5",
            ]
        ),
        _segment("EVN", {1: "P03", 2: stamp}),
        _segment("PID", {1: "1", 3: f"{patient}^^^{_text(assigning_authority)}^PI", 5: f"{patient}^^^^^^S"}),
        _segment("PV1", {1: "1", 2: "O", 19: _text(first.visit_key)}),
    ]
    for number, event in enumerate(chosen, 1):
        segments.append(_segment("FT1", _ft1_fields(number, event)))
    return "\r".join(segments) + "\r"


def _ft1_fields(number: int, event: ChargeEvent) -> dict[int, str]:
    coding = _CODING[event.code_system]
    fields = {
        1: str(number),
        2: event.event_id,
        4: event.service_date.strftime("%Y%m%d"),
        5: _ts(event.recorded_at),
        6: "CG" if event.kind is EventKind.CHARGE else "CD",
        7: f"{event.code}^{_text(event.descriptor)}^{coding}",
        8: _text(event.narrative or event.descriptor),
        10: str(event.units),
        19: "~".join(f"{event.diagnoses[p - 1]}^^I10C" for p in event.dx_pointers),
        20: _text(event.performer_id),
        25: f"{event.code}^^{coding}",
        26: "~".join(_text(m) for m in event.modifiers),
        29: f"{event.ndc}^^NDC" if event.ndc else "",
    }
    if event.original_event_id is not None:
        fields[31] = event.original_event_id
    return fields
