"""Charges stored with the refill: exactly once, all or nothing, corrected by new events, exported."""

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.billing import ExportFormat, FolderDestination
from pump_service.billing.exports import CSV_COLUMNS
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.services.actor import Actor
from pump_service.services.charges.dispatch import dispatch_pending
from pump_service.services.charges.recording import (
    VisitCharges,
    export_charges,
    list_charges,
    record_visit_charges,
    void_charge,
)
from pump_service.services.charges.views import charge_view, stored_event
from pump_service.services.charges.visit_facts import visit_facts
from pump_service.services.contracts import RefillEntry
from pump_service.services.pumps.registry import get_pump
from pump_service.settings import Settings
from tests.charge_support import bill_refill, billed_body, register_hai
from tests.support import T0

LATER = T0 + timedelta(days=1)


@pytest.fixture
def hai(engine: Engine, actor: Actor) -> str:
    return register_hai(engine, actor)


def _count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def _charge_items(bundle: Bundle) -> list[ChargeItem]:
    items = [entry.resource for entry in bundle.entry or []]
    assert all(isinstance(item, ChargeItem) for item in items)
    return [item for item in items if isinstance(item, ChargeItem)]


def _codes(rows: list[ChargeEventRow]) -> list[tuple[str, tuple[str, ...], str]]:
    return [(r.code, tuple(r.event["modifiers"]), r.status) for r in rows]


def test_a_refill_is_billed_with_the_defaults(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    billed = bill_refill(engine, settings, actor, billed_body())
    assert billed.added == 4
    assert billed.warnings == ()
    assert _codes(billed.rows) == [
        ("96522", (), "billable"),
        ("J9200", ("JZ", "KD"), "billable"),  # 252 mg from a single-dose vial, nothing opened beyond it
        ("A4216", (), "not-billable"),  # the saline is a diluent: pump maintenance
        ("A4220", (), "not-billable"),  # the refill kit, bundled under Medicare
    ]
    refill, flox, _, kit = (stored_event(r) for r in billed.rows)
    assert (refill.performer_id, refill.place_of_service, refill.payer_profile) == ("nurse-7", "11", "medicare")
    assert (refill.service_at, refill.service_date.isoformat()) == (T0, "2026-11-02")
    assert (flox.lot, kit.lot) == ("FU1", "KIT-9")
    row = billed.rows[0]
    assert (row.delivery_status, row.attempts, row.created_by, row.station_id) == (
        "pending",
        0,
        "nurse-7",
        "test-station",
    )
    with transaction(engine) as session:
        assert row.refill_id == session.exec(select(Refill.id)).one()


def _bill_again(engine: Engine, settings: Settings, actor: Actor, body: dict[str, Any]) -> VisitCharges:
    """Run the hook again for the stored refill, as a replayed visit would."""
    entry = RefillEntry.model_validate(body)
    with transaction(engine) as session:
        refill = session.exec(select(Refill)).one()
        return record_visit_charges(
            session,
            visit_key=refill.idempotency_key,
            refill=refill,
            pump=get_pump(session, "HAI-1"),
            entry=entry,
            settings=settings,
            actor=actor,
            now=LATER,
            prescription_changed=False,
            analysis_done=False,
        )


def test_a_replayed_visit_adds_nothing(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    first = bill_refill(engine, settings, actor, billed_body())
    again = _bill_again(engine, settings, actor, billed_body())
    assert again.added == 0
    assert [r.id for r in again.rows] == [r.id for r in first.rows]
    assert _count(engine, ChargeEventRow) == 4


def test_a_visit_billed_again_with_other_facts_is_a_conflict(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    bill_refill(engine, settings, actor, billed_body())
    with pytest.raises(ConflictError, match="void them"):
        _bill_again(engine, settings, actor, billed_body(imaging_guidance="fluoroscopy"))
    assert _count(engine, ChargeEventRow) == 4


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        pytest.param(
            billed_body(payer_profile="no_such_payer"), RuleViolationError, "billing.payer_profile", id="unknown-payer"
        ),
        pytest.param(billed_body(diagnoses=["C78.7", "C78.7"]), RuleViolationError, "billing.diagnoses", id="dx"),
        pytest.param(
            {
                **billed_body(),
                "components": [
                    {"drug_id": "floxuridine", "amount_mg": 252, "ndc": "1234567890"},
                    {"drug_id": "saline"},
                ],
            },
            RuleViolationError,
            "components.0.ndc",
            id="ten-digit-ndc",
        ),
        pytest.param(
            {
                **billed_body(),
                "components": [
                    {"drug_id": "floxuridine", "amount_mg": 252},
                    {"drug_id": "heparin", "amount_usp_u": 5000, "opened_mg": 10},
                    {"drug_id": "saline"},
                ],
            },
            RuleViolationError,
            "components.1",
            id="opened-in-the-wrong-unit",
        ),
    ],
)
def test_a_billing_error_rolls_back_the_whole_refill(
    engine: Engine, settings: Settings, actor: Actor, hai: str, body: dict[str, Any], error: type, field: str | None
) -> None:
    with pytest.raises(error) as caught:
        bill_refill(engine, settings, actor, body)
    assert getattr(caught.value, "field", None) == field
    assert (_count(engine, Refill), _count(engine, ChargeEventRow)) == (0, 0)


def test_request_billing_fields_override_the_defaults(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    body = billed_body(performer_role="physician_qhp", performer_id="MD-1", payer_profile="commercial_example")
    body["components"] = [
        {"drug_id": "floxuridine", "amount_mg": "252 mg", "opened_mg": "1000 mg"},  # two vials opened
        {"drug_id": "heparin", "amount_usp_u": "30000 U", "stock_concentration": 10000},  # multi-dose, patency
        {"drug_id": "saline"},
    ]
    billed = bill_refill(engine, settings, actor, body)
    lines = {(r.code, tuple(r.event["modifiers"])): stored_event(r) for r in billed.rows}
    assert lines[("96522", ())].performer_id == "MD-1"
    assert lines[("J9200", ())].units == 1  # no JW/JZ under the commercial example
    heparin = lines[("J1644", ())]
    assert heparin.status.value == "not-billable"
    assert heparin.status_reason is not None
    assert "patency" in heparin.status_reason
    assert lines[("A4220", ())].status.value == "billable"  # this profile pays the kit


def test_a_pump_without_a_patient_is_not_billed(engine: Engine, settings: Settings, actor: Actor) -> None:
    register_hai(engine, actor, serial="BENCH-1", patient_ref=None)
    billed = bill_refill(engine, settings, actor, billed_body(), serial="BENCH-1")
    assert (billed.rows, billed.added) == ([], 0)
    assert [w.code for w in billed.warnings] == ["no_patient"]
    assert _count(engine, Refill) == 1


def test_other_visits_of_the_day_are_same_day_codes_until_voided(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    first = bill_refill(engine, settings, actor, billed_body())
    entry = RefillEntry.model_validate(billed_body())

    def same_day(visit_key: str) -> tuple[str, ...]:
        with transaction(engine) as session:
            refill = session.exec(select(Refill)).one()
            pump = get_pump(session, hai)
            facts = visit_facts(
                session, visit_key=visit_key, patient_ref="P-1", refill=refill, pump=pump, entry=entry,
                settings=settings, actor=actor, prescription_changed=False, analysis_done=False,
            )  # fmt: skip
        return facts.same_day_codes

    assert same_day("other-visit") == ("96522", "J9200")
    assert same_day(first.rows[0].visit_key) == ()  # a visit is not its own same-day service
    with transaction(engine) as session:
        void_charge(session, first.rows[0].event_id, reason="billed on the wrong patient", actor=actor, now=LATER)
    assert same_day("other-visit") == ("J9200",)


def test_void_before_delivery_is_a_new_void_event(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    original = bill_refill(engine, settings, actor, billed_body()).rows[0]
    with transaction(engine) as session:
        void = charge_view(void_charge(session, original.event_id, reason="entered twice", actor=actor, now=LATER))
    assert (void.kind.value, void.status.value, void.original_event_id) == (
        "void",
        "entered-in-error",
        original.event_id,
    )
    assert (void.delivery_status.value, void.created_at, void.status_reason) == ("pending", LATER, "entered twice")
    with transaction(engine) as session:
        [stored] = list_charges(session, visit_key=original.visit_key, status="voided")
        assert stored.event == original.event  # the original's event is never changed, only linked
        assert stored.voided_by_event_id == void.event_id
        assert original.event_id not in {r.event_id for r in list_charges(session, status="billable")}
        with pytest.raises(ConflictError, match="already corrected"):
            void_charge(session, original.event_id, reason="again", actor=actor, now=LATER)
        with pytest.raises(RuleViolationError, match="correct the original"):
            void_charge(session, void.event_id, reason="again", actor=actor, now=LATER)
        with pytest.raises(NotFoundError):
            void_charge(session, "no-such-event", reason="x", actor=actor, now=LATER)
        with pytest.raises(RuleViolationError, match="needs a reason"):
            void_charge(session, billed_rows(session)[0].event_id, reason="  ", actor=actor, now=LATER)


def billed_rows(session: Any) -> list[ChargeEventRow]:
    return list_charges(session, status="billable")


def test_void_after_delivery_is_a_credit(
    engine: Engine, settings: Settings, actor: Actor, hai: str, tmp_path: Path
) -> None:
    rows = bill_refill(engine, settings, actor, billed_body()).rows
    with transaction(engine) as session:
        dispatch_pending(session, FolderDestination(tmp_path, ExportFormat.FHIR), now=LATER)
        credit = charge_view(void_charge(session, rows[1].event_id, reason="drug returned", actor=actor, now=LATER))
        kit_void = charge_view(void_charge(session, rows[3].event_id, reason="no kit", actor=actor, now=LATER))
    assert (credit.kind.value, credit.status.value, credit.code) == ("credit", "billable", "J9200")
    assert credit.delivery_status.value == "pending"
    assert kit_void.kind.value == "void"  # a not-billable line was never billed: nothing to credit
    with transaction(engine) as session:
        shown = {r.event_id: charge_view(r) for r in list_charges(session)}
        assert [r.event_id for r in list_charges(session, status="credited")] == [rows[1].event_id]
    assert (shown[rows[1].event_id].status.value, shown[rows[1].event_id].credited_by_event_id) == (
        "credited",
        credit.event_id,
    )
    assert (shown[rows[3].event_id].status.value, shown[rows[3].event_id].billing_status.value) == (
        "voided",
        "not-billable",
    )


def test_list_filters_and_refuses_unknown_values(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    bill_refill(engine, settings, actor, billed_body())
    with transaction(engine) as session:
        assert len(list_charges(session)) == 4
        assert [r.code for r in list_charges(session, status="not-billable")] == ["A4216", "A4220"]
        assert len(list_charges(session, delivery="pending", recorded_since=T0)) == 4
        assert list_charges(session, recorded_since=LATER) == []
        assert list_charges(session, visit_key="other") == []
        with pytest.raises(RuleViolationError, match="unknown status"):
            list_charges(session, status="paid")
        with pytest.raises(RuleViolationError, match="unknown delivery"):
            list_charges(session, delivery="lost")


def test_exports_parse_with_independent_libraries(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    first = bill_refill(engine, settings, actor, billed_body())
    bill_refill(engine, settings, actor, billed_body(T0 + timedelta(days=14)) | {"returned_volume_ml": "16 mL"})
    with transaction(engine) as session:
        void_charge(session, first.rows[0].event_id, reason="entered twice", actor=actor, now=LATER)
        fhir = export_charges(session, "fhir", now=LATER)
        hl7 = export_charges(session, "hl7", now=LATER)
        table = export_charges(session, ExportFormat.CSV, now=LATER, visit_key=first.rows[0].visit_key)
        with pytest.raises(RuleViolationError, match="unknown export format"):
            export_charges(session, "x12", now=LATER)

    bundle = Bundle.model_validate(json.loads(fhir.body))
    statuses = [item.status for item in _charge_items(bundle)]
    assert statuses.count("entered-in-error") == 1  # the void replaces its original in the bundle
    assert len(statuses) == 8
    assert fhir.media_type == "application/fhir+json"

    messages = ["MSH" + part for part in hl7.body.split("MSH")[1:]]
    assert len(messages) == 2  # one DFT^P03 per visit
    parsed = [parse_message(m, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True) for m in messages]
    assert [len(p.dft_p03_financial) for p in parsed] == [3, 2]  # two charges + the void's CD; two charges

    rows = list(csv.DictReader(io.StringIO(table.body)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["kind"], r["code"]) for r in rows][-1] == ("void", "96522")
    assert len(rows) == 5
