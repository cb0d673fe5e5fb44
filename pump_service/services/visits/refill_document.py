"""The printable refill record: one stored refill as a PDF for the patient's chart (reportlab).

Everything comes from the stored rows, never from the request that recorded them, so a record
printed a year later says what was recorded. Times are shown in the pump's clinic's zone and
labelled with it; figures keep their units.
"""

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlmodel import Session, col, select

from pump_service.errors import NotFoundError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import PrescriptionRow, Pump, Refill
from pump_service.persistence.visit_models import Visit
from pump_service.services.contracts import RefillResult
from pump_service.services.scheduling.clinics import pump_clinic
from pump_service.services.visits.refill_views import refill_result
from pump_service.settings import Settings
from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model

__all__ = ["refill_document"]

_STYLES = getSampleStyleSheet()
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
    ]
)


def _text(value: object) -> Paragraph:
    return Paragraph(escape("—" if value is None else str(value)), _STYLES["BodyText"])


def _ml(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} mL"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} mL/d"


class _Clock:
    """Clinic-local times, labelled with the zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def __call__(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        return f"{at.astimezone(self.zone):%Y-%m-%d %H:%M} ({self.zone.key})"


def _table(rows: Sequence[Sequence[object]], widths: Sequence[float] | None = None) -> Table:
    table = Table([[_text(cell) for cell in row] for row in rows], colWidths=widths, repeatRows=1)
    table.setStyle(_GRID)
    return table


def _settings_text(row: PrescriptionRow | None) -> str:
    if row is None:
        return "none on record"
    parts = [f"mode {row.mode}"]
    if row.rate_ml_per_day is not None:
        parts.append(f"rate {row.rate_ml_per_day:.3f} mL/d")
    for step in row.steps:
        parts.append(f"from {step['start']} {float(step['rate_ml_per_day']):.3f} mL/d")
    if row.bolus_volume_ml:
        parts.append(f"bolus {row.bolus_volume_ml:g} mL x {row.bolus_max_per_day or 0}/d")
    parts.append(f"daily volume {row.daily_volume_ml:.3f} mL")
    if row.rx_id:
        parts.append(f"rx {row.rx_id}")
    return "; ".join(parts)


def _settings_around(session: Session, refill: Refill) -> tuple[PrescriptionRow | None, PrescriptionRow | None]:
    """The pump's prescription before and after the refill (the same row when the visit changed none)."""
    rows = session.exec(
        select(PrescriptionRow)
        .where(PrescriptionRow.pump_id == refill.pump_id, col(PrescriptionRow.effective_at) <= refill.performed_at)
        .order_by(col(PrescriptionRow.effective_at), col(PrescriptionRow.id))
    ).all()
    visit = session.exec(select(Visit).where(Visit.refill_id == refill.id)).first()
    changed = visit is not None and visit.facts.get("rx_changed") is True
    after = rows[-1] if rows else None
    if not changed:
        return after, after
    return (rows[-2] if len(rows) > 1 else None), after


_COSIGNATURE_TITLES = {
    "second_check": "Second-person verification",
    "hard_stop_override": "Hard stop override (co-signed)",
}


def _cosignatures(refill: Refill) -> list[dict[str, Any]]:
    """The co-signatures stored with the refill (a second person's check, a physician's override).

    Read by name: the stored refill carries them as a JSON list (``Refill.cosignatures``) once the
    visit wizard records them; a database without them prints none.
    """
    value = getattr(refill, "cosignatures", None)
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def _payload_text(payload: object) -> str:
    if not isinstance(payload, dict):
        return ""
    parts = []
    for key, value in payload.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)


def _when(value: object, local: "_Clock") -> str:
    try:
        return local(datetime.fromisoformat(str(value))) if value else "—"
    except ValueError:
        return "—"


def _story(session: Session, refill: Refill, result: RefillResult, pump: Pump, settings: Settings) -> list[Any]:
    clinic = pump_clinic(session, pump, settings)
    zone = ZoneInfo(clinic.timezone) if clinic is not None else settings.zone
    local = _Clock(zone)
    model = get_pump_model(pump.model_id)
    heading, body = _STYLES["Heading2"], _STYLES["BodyText"]
    simulated = getattr(refill, "simulated", None)
    story: list[Any] = [
        Paragraph("Pump refill record", _STYLES["Title"]),
        Paragraph(escape(f"Clinic: {clinic.name} ({clinic.clinic_id})" if clinic else "Clinic: not assigned"), body),
        Paragraph(escape(f"Refill {result.refill_id}, performed {local(refill.performed_at)}"), body),
    ]
    if simulated:
        story.append(Paragraph("<b>SIMULATED: recorded through a test-bench programmer; no pump was filled.</b>", body))
    elif simulated is not None:
        story.append(Paragraph("Simulated: no (recorded through the station's programmer)", body))
    story += [
        Paragraph("Pump", heading),
        _table(
            [
                ["Serial", "Model", "Family", "Route", "Patient reference"],
                [pump.serial, f"{model.name} ({model.model_id})", pump.family, pump.route, _patient_ref(session, pump)],
            ]
        ),
        Paragraph("Drugs", heading),
        _table(
            [
                ["Drug", "Volume", "Concentration", "Daily dose", "NDC", "Lot", "Expiry"],
                *[
                    [
                        c.drug_name,
                        _ml(c.volume_ml),
                        _concentration(c.conc_mg_per_ml, c.conc_usp_u_per_ml),
                        c.daily_dose,
                        c.ndc,
                        c.lot,
                        c.expires_on.isoformat() if c.expires_on else None,
                    ]
                    for c in result.components
                ],
            ]
        ),
        Paragraph("Volumes", heading),
        _table(
            [
                ["Expected residual", "Measured residual", "Deviation", "Difference", "Fill volume"],
                [
                    _ml(result.expected_residual_ml),
                    _ml(result.returned_volume_ml),
                    "—" if result.deviation_pct is None else f"{result.deviation_pct:+.1f} %",
                    _ml(result.volume_delta_ml),
                    _ml(result.fill_volume_ml),
                ],
                ["Days since last fill", "Expected flow", "Measured flow", "Flow class", "Planning rate"],
                [
                    "—" if result.elapsed_days is None else f"{result.elapsed_days:.1f} d",
                    _rate(result.expected_rate_ml_per_day),
                    _rate(result.measured_rate_ml_per_day),
                    result.flow_class,
                    f"{_rate(result.planning_rate_ml_per_day)} ({result.planning_rate_source})",
                ],
            ]
        ),
        Paragraph("Findings", heading),
    ]
    if result.findings:
        story.append(_table([["Tier", "Code", "Finding"], *[[f.tier, f.code, f.message] for f in result.findings]]))
    else:
        story.append(Paragraph("No findings.", body))
    story.append(Paragraph("Override", heading))
    if result.override is not None:
        o = result.override
        story.append(
            _table(
                [
                    ["Clinician", "Role", "Reason", "Codes overridden"],
                    [o.clinician_id, o.role, o.reason, ", ".join(o.codes)],
                ]
            )
        )
    else:
        story.append(Paragraph("No hard stop was overridden.", body))
    cosignatures = _cosignatures(refill)
    if cosignatures:
        story.append(Paragraph("Co-signatures", heading))
        story.append(
            _table(
                [
                    ["What", "Signed by", "Role", "Station", "When", "What was signed"],
                    *[
                        [
                            _COSIGNATURE_TITLES.get(str(c.get("kind")), str(c.get("kind"))),
                            c.get("signer"),
                            c.get("signer_role"),
                            c.get("station_id"),
                            _when(c.get("signed_at"), local),
                            _payload_text(c.get("payload")),
                        ]
                        for c in cosignatures
                    ],
                ]
            )
        )
    if pump.family == PumpFamily.PROGRAMMABLE and refill.id is not None:
        before, after = _settings_around(session, refill)
        changed = before is not after
        story += [
            Paragraph("Pump settings", heading),
            _table(
                [
                    ["Before the refill", "After the refill"],
                    [_settings_text(before), _settings_text(after) + ("" if changed else " (unchanged)")],
                ],
                widths=[85 * mm, 85 * mm],
            ),
        ]
    story.append(Paragraph("Next refill", heading))
    appointment = result.appointment
    next_line = (
        f"due {local(result.next_due_at)} ({result.next_due_reason}); low-reservoir alarm {local(result.alarm_at)}"
    )
    story.append(Paragraph(escape(next_line), body))
    if appointment is not None:
        late = "" if appointment.on_time else " LATE: no slot before the due date"
        story.append(Paragraph(escape(f"Appointment booked {local(appointment.starts_at)}{late}"), body))
    else:
        story.append(Paragraph("No appointment booked.", body))
    story += [
        Paragraph("Who did what", heading),
        _table(
            [
                ["What", "Who", "Station", "When"],
                *_who_did_what(refill, result, cosignatures, local),
            ]
        ),
        Spacer(1, 6 * mm),
        Paragraph(escape(f"Times in {zone.key}. Printed from pump-service; figures as stored."), _STYLES["Italic"]),
    ]
    return story


def _who_did_what(
    refill: Refill, result: RefillResult, cosignatures: list[dict[str, Any]], local: _Clock
) -> list[list[object]]:
    when = local(refill.created_at)
    rows: list[list[object]] = [["Refill performed and recorded", refill.created_by, refill.station_id, when]]
    if result.override is not None:
        rows.append(["Hard stop overridden", f"{result.override.clinician_id} ({result.override.role})",
                     refill.station_id, when])  # fmt: skip
    for c in cosignatures:
        what = _COSIGNATURE_TITLES.get(str(c.get("kind")), "Co-signature")
        rows.append([what, f"{c.get('signer')} ({c.get('signer_role')})", c.get("station_id"),
                     _when(c.get("signed_at"), local)])  # fmt: skip
    return rows


def _concentration(mg_per_ml: float | None, usp_u_per_ml: float | None) -> str:
    if mg_per_ml is not None:
        return f"{mg_per_ml:g} mg/mL"
    if usp_u_per_ml is not None:
        return f"{usp_u_per_ml:g} USP u/mL"
    return "—"


def _patient_ref(session: Session, pump: Pump) -> str:
    refs = repo.patient_refs(session, {pump.patient_id} if pump.patient_id else set())
    return refs.get(pump.patient_id or -1, "—")


def refill_document(session: Session, refill_id: int, *, settings: Settings) -> bytes:
    """The PDF record of refill ``refill_id``.

    Raises:
        NotFoundError: no such refill.
    """
    refill = session.get(Refill, refill_id)
    if refill is None:
        raise NotFoundError(f"no refill {refill_id}")
    pump = session.get(Pump, refill.pump_id)
    if pump is None:
        raise NotFoundError(f"refill {refill_id}: its pump is not stored")
    result = refill_result(session, refill)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Refill record {refill_id}", author="pump-service", leftMargin=15 * mm,
        rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
    )  # fmt: skip
    document.build(_story(session, refill, result, pump, settings))
    return buffer.getvalue()
