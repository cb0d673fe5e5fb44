"""Payloads: request bytes, quantity strings <-> canonical floats, tolerant but strict parsers."""

import json
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from drivers.commands import (
    bolus_request,
    check_request_id,
    clock_set_request,
    hello_request,
    log_read_request,
    parse_log_page,
    parse_rx_write,
    refill_request,
    rx_write_request,
    same_prescription,
)
from drivers.errors import BusyError, ConflictError, ProgrammerError, ProtocolError
from drivers.messages import (
    FieldReader,
    parse_drug,
    parse_log_entry,
    parse_prescription,
    parse_response,
    parse_status,
    prescription_to_wire,
)
from schemas.device_log import LogEntryType
from schemas.prescription import (
    BolusAllowance,
    ContinuousPrescription,
    Prescription,
    RateStep,
    StepsPrescription,
    StoppedPrescription,
)
from schemas.programmer import BolusKind
from schemas.pump import PumpFamily
from schemas.status import AlarmCode, BatteryState, DrugInPump
from tests.drivers import vectors as v
from tests.drivers.peer import status_result


def test_hello_request_bytes_are_the_spec_payload() -> None:
    assert hello_request().encode() == v.HELLO_REQUEST_PAYLOAD


def test_refill_request_writes_quantity_strings_and_request_id() -> None:
    request = refill_request(
        volume_removed_ml=3.5,
        volume_added_ml=20.0,
        drug=DrugInPump(name="baclofen", conc_mg_per_ml=2.0),
        reservoir_after_ml=20.0,
        request_id="r-1",
    )
    assert json.loads(request.encode()) == {
        "cmd": "REFILL",
        "args": {
            "volume_removed": "3.5 mL",
            "volume_added": "20 mL",
            "drug": {"name": "baclofen", "concentration": "2 mg/mL"},
            "reservoir_after": "20 mL",
            "request_id": "r-1",
        },
    }
    assert b" " not in request.encode().replace(b"3.5 mL", b"").replace(b"20 mL", b"").replace(b"2 mg/mL", b"")


@pytest.mark.parametrize("volume", [-0.1, float("nan"), float("inf")])
def test_refill_request_refuses_bad_volumes(volume: float) -> None:
    with pytest.raises(ValueError, match="volume_added_ml"):
        refill_request(
            volume_removed_ml=0,
            volume_added_ml=volume,
            drug=DrugInPump(name="saline"),
            reservoir_after_ml=1,
            request_id="r",
        )


@pytest.mark.parametrize("request_id", ["", "a" * 65, "has space", "tab\t", "new\n", "ümlaut", "semi;colon"])
def test_bad_request_ids_are_refused(request_id: str) -> None:
    with pytest.raises(ValueError, match="request_id"):
        check_request_id(request_id)


def test_good_request_ids_pass() -> None:
    assert check_request_id("A-z_09") == "A-z_09"
    assert check_request_id("x" * 64) == "x" * 64


def test_bolus_and_clock_requests() -> None:
    bolus = bolus_request(kind=BolusKind.BRIDGE, volume_ml=0.25, duration_s=1800, request_id="b1")
    assert bolus.args == {"kind": "bridge", "volume": "0.25 mL", "duration": "1800 s", "request_id": "b1"}
    berlin = timezone(timedelta(hours=1))
    clock_set = clock_set_request(time_at=datetime(2026, 11, 2, 10, 0, tzinfo=berlin), request_id="c1")
    assert clock_set.args["time"] == "2026-11-02T09:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        clock_set_request(time_at=datetime(2026, 11, 2, 10, 0), request_id="c2")  # noqa: DTZ001
    with pytest.raises(ValueError, match="duration_s"):
        bolus_request(kind=BolusKind.PRIMING, volume_ml=1, duration_s=0, request_id="b2")


def test_log_read_request_limits_page_size() -> None:
    assert log_read_request(from_index=5, max_entries=64).args == {"from": 5, "max": 64}
    with pytest.raises(ValueError, match="1-64"):
        log_read_request(from_index=0, max_entries=65)


PRESCRIPTIONS: list[Any] = [
    pytest.param(ContinuousPrescription(rate_ml_per_day=0.25), {"mode": "continuous", "rate": "0.25 mL/d"}, id="cont"),
    pytest.param(
        StepsPrescription(
            steps=(RateStep(start=time(0, 0), rate_ml_per_day=0.2), RateStep(start=time(22, 30), rate_ml_per_day=0.4))
        ),
        {"mode": "steps", "steps": [{"start": "00:00", "rate": "0.2 mL/d"}, {"start": "22:30", "rate": "0.4 mL/d"}]},
        id="steps",
    ),
    pytest.param(StoppedPrescription(), {"mode": "stopped"}, id="stopped"),
]


@pytest.mark.parametrize(("prescription", "wire"), PRESCRIPTIONS)
def test_prescriptions_round_trip(prescription: Prescription, wire: dict[str, Any]) -> None:
    assert prescription_to_wire(prescription) == wire
    back = parse_prescription(FieldReader({**wire, "rx_id": "r9"}, command="RX_WRITE"))
    assert back == prescription.model_copy(update={"rx_id": "r9"})
    assert same_prescription(prescription, back)


def test_a_bolus_allowance_is_refused_not_dropped() -> None:
    rx = ContinuousPrescription(rate_ml_per_day=0.5, bolus=BolusAllowance(volume_ml=0.05, max_per_day=4))
    with pytest.raises(ValueError, match="bolus"):
        prescription_to_wire(rx)
    with pytest.raises(ValueError, match="bolus"):
        rx_write_request(rx, expect="a91f", request_id="x")


def test_rates_in_other_units_are_converted() -> None:
    rx = parse_prescription(FieldReader({"mode": "continuous", "rate": "0.5 mL/h"}, command="STATUS"))
    assert isinstance(rx, ContinuousPrescription)
    assert rx.rate_ml_per_day == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        pytest.param({"mode": "continuous", "rate": "0.5 mL"}, r"\[volume\]/\[time\]", id="rate-as-volume"),
        pytest.param({"mode": "continuous"}, "'rate'.*missing", id="no-rate"),
        pytest.param({"mode": "bursts"}, "unknown prescription mode", id="mode"),
        pytest.param({"mode": "steps", "steps": [{"start": "0:00", "rate": "1 mL/d"}]}, "HH:MM", id="start"),
        pytest.param({"mode": "steps", "steps": [{"start": "01:00", "rate": "1 mL/d"}]}, "00:00", id="first-step"),
        pytest.param({"mode": "continuous", "rate": "0 mL/d"}, "continuous", id="zero-rate"),
    ],
)
def test_bad_prescriptions_are_protocol_errors(wire: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_prescription(FieldReader(wire, command="STATUS"))


def test_status_is_parsed_into_canonical_floats() -> None:
    status = parse_status(status_result(first=3, next_index=5120, firmware_extra={"x": 1}))
    assert status.serial == "SM2-00417"
    assert status.family is PumpFamily.PROGRAMMABLE
    assert status.clock_at == datetime(2026, 11, 22, 9, 14, 5, tzinfo=UTC)
    assert (status.reservoir_ml, status.capacity_ml, status.low_reservoir_alarm_ml) == (11.84, 20.0, 2.0)
    assert status.drug is not None
    assert status.drug.name == "baclofen"
    assert status.drug.conc_mg_per_ml == pytest.approx(2.0)
    assert status.prescription == ContinuousPrescription(rx_id="a91f", rate_ml_per_day=0.25)
    assert status.battery.state is BatteryState.OK
    assert status.battery.months_to_eri == 31
    assert [a.code for a in status.alarms] == [AlarmCode.LOW_RESERVOIR]
    assert (status.log.first, status.log.next) == (3, 5120)


def test_status_tolerates_a_missing_drug_and_prescription() -> None:
    status = parse_status(status_result(drug=None, prescription=None))
    assert status.drug is None
    assert status.prescription is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"reservoir": "11.84 mg"}, r"'reservoir'.*\[volume\].*\[mass\]", id="unit-mismatch"),
        pytest.param({"reservoir": 11.84}, "'reservoir'.*string", id="bare-number"),
        pytest.param({"clock": "2026-11-22T09:14:05"}, "'clock'.*offset", id="naive-clock"),
        pytest.param({"alarms": [{"code": "GREMLINS", "since": "2026-11-20T03:00:00Z"}]}, "GREMLINS", id="alarm"),
        pytest.param({"battery": {"state": "FLAT"}}, "FLAT", id="battery"),
        pytest.param({"log": {"first": 0}}, "'log.next'.*missing", id="log-next"),
        pytest.param({"log": {"first": 0, "next": True}}, "'log.next'.*integer", id="bool-index"),
        pytest.param({"drug": {"name": "x", "concentration": "2 mg"}}, "'drug.concentration'", id="conc"),
    ],
)
def test_bad_status_fields_are_protocol_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_status(status_result(**changes))


def test_status_missing_pump_is_named() -> None:
    result = status_result()
    del result["pump"]
    with pytest.raises(ProtocolError, match="STATUS: field 'pump': is missing"):
        parse_status(result)


def test_drug_concentrations_by_dimension() -> None:
    heparin = parse_drug(FieldReader({"name": "heparin", "concentration": "1000 USP_U/mL"}, command="STATUS"))
    assert heparin.conc_usp_u_per_ml == 1000.0
    assert heparin.conc_mg_per_ml is None
    assert parse_drug(FieldReader({"name": "saline"}, command="STATUS")) == DrugInPump(name="saline")


def test_log_entry_parsing() -> None:
    entry = parse_log_entry(
        {"index": 7, "time": "2026-11-02T10:00:00+01:00", "type": "REFILLED", "data": {"request_id": "r"}, "crc": 1}
    )
    assert entry.index == 7
    assert entry.type is LogEntryType.REFILLED
    assert entry.device_time_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert entry.data == {"request_id": "r"}
    with pytest.raises(ProtocolError, match="type"):
        parse_log_entry({"index": 8, "time": "2026-11-02T10:00:00Z", "type": "SOMETHING_NEW"})


def test_log_page_consistency_is_checked() -> None:
    def entry(i: int) -> dict[str, Any]:
        return {"index": i, "time": "2026-11-02T10:00:00Z", "type": "RESET"}

    page = parse_log_page({"entries": [entry(5), entry(6)], "next": 7, "more": True}, from_index=5)
    assert page.next_index == 7
    with pytest.raises(ProtocolError, match="do not run by one"):
        parse_log_page({"entries": [entry(5), entry(7)], "next": 8, "more": False}, from_index=5)
    with pytest.raises(ProtocolError, match="does not follow"):
        parse_log_page({"entries": [entry(5)], "next": 9, "more": False}, from_index=5)
    with pytest.raises(ProtocolError, match="never end"):
        parse_log_page({"entries": [], "next": 5, "more": True}, from_index=5)
    with pytest.raises(ProtocolError, match="do not run by one"):
        parse_log_page({"entries": [entry(4)], "next": 5, "more": False}, from_index=5)


def test_response_envelopes() -> None:
    assert parse_response({"ok": True, "result": {"a": 1}, "extra": 0}).result_or_raise() == {"a": 1}
    refusal = parse_response({"ok": False, "error": {"code": "CONFLICT", "message": "rx changed"}})
    with pytest.raises(ConflictError, match="CONFLICT: rx changed") as caught:
        refusal.result_or_raise(command="RX_WRITE", seq=4)
    assert (caught.value.code, caught.value.command, caught.value.seq) == ("CONFLICT", "RX_WRITE", 4)
    with pytest.raises(BusyError):
        parse_response({"ok": False, "error": {"code": "BUSY"}}).result_or_raise()
    newer = parse_response({"ok": False, "error": {"code": "BATTERY_LOW", "message": "?"}})
    with pytest.raises(ProgrammerError) as unknown:
        newer.result_or_raise()
    assert unknown.value.code == "BATTERY_LOW"
    for bad in ({"ok": "yes"}, {"ok": True}, {"ok": False, "error": {"message": "x"}}, {"ok": True, "result": []}):
        with pytest.raises(ProtocolError):
            parse_response(bad)


def test_rx_write_result_carries_the_new_rx_id() -> None:
    written = parse_rx_write({"rx_id": "b7", "prescription": {"mode": "stopped"}}, request_id="q")
    assert written.prescription == StoppedPrescription(rx_id="b7")
    with pytest.raises(ProtocolError, match="differs"):
        parse_rx_write({"rx_id": "b7", "prescription": {"mode": "stopped", "rx_id": "zz"}}, request_id="q")


def test_echo_comparison_has_a_tolerance() -> None:
    sent = ContinuousPrescription(rate_ml_per_day=0.25)
    assert same_prescription(sent, ContinuousPrescription(rate_ml_per_day=0.2505))
    assert not same_prescription(sent, ContinuousPrescription(rate_ml_per_day=0.26))
    assert not same_prescription(sent, StoppedPrescription())
