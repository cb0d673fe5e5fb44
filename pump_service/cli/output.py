"""Plain-text views for the terminal; times in the clinic's zone, quantities with units."""

from datetime import datetime
from zoneinfo import ZoneInfo

from pump_service.services.contracts import DueItem, PumpView, RefillPlanView, RefillResult

__all__ = ["due_table", "local", "pump_detail", "pump_table", "refill_report"]


def local(value: datetime | None, zone: ZoneInfo) -> str:
    return "-" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _ml(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f} mL"


def pump_table(views: list[PumpView], zone: ZoneInfo) -> str:
    header = f"{'SERIAL':<12} {'MODEL':<16} {'PATIENT':<10} {'RESERVOIR':>11} {'NEXT DUE':<22} REASON"
    lines = [header]
    for v in views:
        lines.append(
            f"{v.serial:<12} {v.model_id:<16} {v.patient_ref or '-':<10} "
            f"{_ml(v.estimated_reservoir_ml):>11} {local(v.next_due_at, zone):<22} {v.next_due_reason or '-'}"
        )
    return "\n".join(lines)


def pump_detail(v: PumpView, zone: ZoneInfo) -> str:
    rate = "-" if v.planning_rate_ml_per_day is None else f"{v.planning_rate_ml_per_day:.3f} mL/day"
    rows = [
        ("serial", v.serial),
        ("model", f"{v.model_name} ({v.model_id})"),
        ("route", v.route),
        ("patient", v.patient_ref or "-"),
        ("capacity", _ml(v.capacity_ml, 1)),
        ("nominal rate", "-" if v.nominal_rate_ml_per_day is None else f"{v.nominal_rate_ml_per_day:.3f} mL/day"),
        ("planning rate", rate),
        ("measured rate", "-" if v.measured_rate_ml_per_day is None else f"{v.measured_rate_ml_per_day:.3f} mL/day"),
        ("last fill", f"{_ml(v.last_fill_volume_ml, 1)} at {local(v.last_fill_at, zone)}"),
        ("reservoir now", f"{_ml(v.estimated_reservoir_ml)} (estimated)"),
        ("next due", f"{local(v.next_due_at, zone)} ({v.next_due_reason or '-'})"),
    ]
    return "\n".join(f"{k:<14} {val}" for k, val in rows)


def refill_report(r: RefillResult, zone: ZoneInfo) -> str:
    lines = [
        f"refill {r.refill_id} of {r.pump_serial} at {local(r.performed_at, zone)}"
        + (" (already recorded; nothing changed)" if r.replayed else "")
    ]
    if r.expected_residual_ml is None:
        lines.append("first fill recorded: no previous fill to compare with")
    else:
        lines += [
            f"elapsed           {r.elapsed_days:.2f} days",
            f"expected residual {_ml(r.expected_residual_ml)}",
            f"returned          {_ml(r.returned_volume_ml)} (delta {r.volume_delta_ml:+.2f} mL)",
            f"expected flow     {r.expected_rate_ml_per_day:.3f} mL/day",
            "measured flow     "
            + (
                "unknown (nothing aspirated)"
                if r.measured_rate_ml_per_day is None
                else f"{r.measured_rate_ml_per_day:.3f} mL/day"
            ),
            "deviation         " + ("-" if r.deviation_pct is None else f"{r.deviation_pct:+.1f} %"),
            f"classification    {(r.flow_class or '-').upper()}",
        ]
        if r.likely_causes:
            lines.append("likely causes     " + "; ".join(r.likely_causes))
    lines.append(f"fill              {_ml(r.fill_volume_ml)}")
    for c in r.components:
        amount = (
            f"{c.amount_mg:.4g} mg at {c.conc_mg_per_ml:.4g} mg/mL"
            if c.amount_mg is not None
            else f"{c.amount_usp_u:.6g} USP units at {c.conc_usp_u_per_ml:.6g} USP units/mL"
            if c.amount_usp_u is not None
            else "vehicle"
        )
        dose = f", {c.daily_dose}" if c.daily_dose else ""
        if c.max_daily_dose and c.max_daily_dose != c.daily_dose:
            dose += f" (up to {c.max_daily_dose} with every allowed bolus)"
        lines.append(f"  {c.drug_name:<36} {_ml(c.volume_ml):>9}  {amount}{dose}")
    overridden = set(r.override.codes) if r.override is not None else set()
    for f in r.findings:
        if f.tier == "info":
            continue
        note = " (overridden)" if f.code in overridden else ""
        lines.append(f"{f.tier.replace('_', ' '):<17} {f.code.value}: {f.message}{note}")
    if r.override is not None:
        lines.append(f"override          by {r.override.clinician_id} ({r.override.role}): {r.override.reason}")
    for sig in r.cosignatures:
        if sig.kind == "second_check":
            lines.append(f"second check      by {sig.signer} ({sig.signer_role}) at {local(sig.signed_at, zone)}")
    lines.append(f"planning rate     {r.planning_rate_ml_per_day:.3f} mL/day ({r.planning_rate_source})")
    if r.alarm_at is not None:
        lines.append(f"alarm forecast    {local(r.alarm_at, zone)}")
    lines.append(f"next due          {local(r.next_due_at, zone)} ({r.next_due_reason})")
    if r.appointment is not None:
        late = "" if r.appointment.on_time else " (late: escalated)"
        lines.append(f"appointment       {local(r.appointment.starts_at, zone)}{late}")
    if r.charges:
        lines.append("charges           " + ", ".join(f"{c.code} x{c.units}" for c in r.charges))
    return "\n".join(lines)


def plan_report(p: RefillPlanView, zone: ZoneInfo) -> str:
    """The dry run: what the refill would record, and whether it can be committed."""
    verdict = "can be recorded" if p.committable else "HARD STOP: " + ", ".join(c.value for c in p.unresolved)
    lines = [f"refill plan for {p.pump_serial} at {local(p.performed_at, zone)}: {verdict}"]
    if p.expected_residual_ml is not None:
        lines.append(f"expected residual {_ml(p.expected_residual_ml)}")
    if p.deviation_pct is not None:
        lines.append(f"flow deviation    {p.deviation_pct:+.1f} % ({p.flow_class})")
    for c in p.components:
        dose = f", {c.daily_dose}" if c.daily_dose else ""
        lines.append(f"  {c.drug_name:<36} {_ml(c.volume_ml):>9}{dose}")
    for f in p.findings:
        lines.append(f"{f.tier.replace('_', ' '):<17} {f.code.value}: {f.message}")
    lines.append(f"planning rate     {p.planning_rate_ml_per_day:.3f} mL/day ({p.planning_rate_source})")
    lines.append(f"next due          {local(p.next_due_at, zone)} ({p.next_due_reason})")
    return "\n".join(lines)


def due_table(items: list[DueItem], zone: ZoneInfo) -> str:
    if not items:
        return "no pump is due in that window"
    lines = [f"{'SERIAL':<12} {'MODEL':<16} {'PATIENT':<10} {'DUE':<22} {'IN DAYS':>8} REASON"]
    for i in items:
        flag = " OVERDUE" if i.overdue else ""
        lines.append(
            f"{i.serial:<12} {i.model_id:<16} {i.patient_ref or '-':<10} {local(i.next_due_at, zone):<22} "
            f"{i.days_until_due:>8.1f} {i.next_due_reason or '-'}{flag}"
        )
    return "\n".join(lines)
