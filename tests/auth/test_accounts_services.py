"""The accounts use cases without HTTP: usernames, password policy, stations and their programmer ports."""

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.domain.access import Role
from pump_service.errors import AuthenticationError, ConflictError, NotFoundError, RuleViolationError
from pump_service.persistence.account_models import ApiToken, UserAccount
from pump_service.persistence.db import transaction
from pump_service.services.accounts import (
    add_user,
    any_enabled_admin,
    disable_station,
    issue_token,
    register_station,
    usable_station,
    verify_credentials,
)
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from tests.support import T0

_PHRASE_0 = "admin password 1"
_PHRASE_1 = "another long one"
_PHRASE_2 = "bench password"
_PHRASE_3 = "correct horse battery"
_PHRASE_4 = "long enough pw"
_PHRASE_5 = "twelve chars!"


def test_usernames_are_stored_lower_case_and_unique_in_any_case(engine: Engine) -> None:
    with transaction(engine) as session:
        user = add_user(session, "Nurse.Kim", role=Role.NURSE, password=_PHRASE_3, now=T0, created_by="t")
        assert user.username == "nurse.kim"
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
        with pytest.raises(ConflictError):
            add_user(session, "NURSE.KIM", role=Role.NURSE, password=_PHRASE_1, now=T0, created_by="t")
        for bad in ("", "Jane Doe", "-x", "a" * 65):
            with pytest.raises(RuleViolationError):
                add_user(session, bad, role=Role.NURSE, password=_PHRASE_4, now=T0, created_by="t")
    with transaction(engine) as session:
        assert verify_credentials(session, "NURSE.kim", _PHRASE_3, now=T0).username == "nurse.kim"


def test_password_policy_refuses_short_passwords(engine: Engine) -> None:
    with transaction(engine) as session:
        for short in ("", "elevenchars", " " * 12):
            with pytest.raises(RuleViolationError):
                add_user(session, "n1", role=Role.NURSE, password=short, now=T0, created_by="t")
        assert session.exec(select(UserAccount)).all() == []


def test_a_disabled_account_is_refused_with_the_generic_message(engine: Engine) -> None:
    from pump_service.services.accounts import disable_user

    with transaction(engine) as session:
        add_user(session, "n2", role=Role.NURSE, password=_PHRASE_5, now=T0, created_by="t")
        disable_user(session, "n2", now=T0)
        with pytest.raises(AuthenticationError) as refused:
            verify_credentials(session, "n2", _PHRASE_5, now=T0)
        with pytest.raises(AuthenticationError) as unknown:
            verify_credentials(session, "nobody", _PHRASE_5, now=T0)
    assert str(refused.value) == str(unknown.value)


def test_only_an_enabled_admin_counts(engine: Engine) -> None:
    from pump_service.services.accounts import disable_user

    with transaction(engine) as session:
        assert not any_enabled_admin(session)
        add_user(session, "root", role=Role.ADMIN, password=_PHRASE_0, now=T0, created_by="t")
        assert any_enabled_admin(session)
        disable_user(session, "root", now=T0)
        assert not any_enabled_admin(session)


def test_sim_programmer_only_on_a_test_bench_and_urls_must_be_openable(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0).clinic_id
        with pytest.raises(RuleViolationError, match="test bench"):
            register_station(session, "s1", clinic_id=clinic, programmer_url="sim://", now=T0, created_by="t")
        with pytest.raises(RuleViolationError, match="transport"):
            register_station(session, "s1", clinic_id=clinic, programmer_url="ftp://x", now=T0, created_by="t")
        with pytest.raises(NotFoundError):
            register_station(session, "s1", clinic_id="nowhere", programmer_url="/dev/ttyUSB0", now=T0, created_by="t")
        real = register_station(session, "s1", clinic_id=clinic, programmer_url="/dev/ttyUSB0", now=T0, created_by="t")
        bench = register_station(
            session, "b1", clinic_id=clinic, programmer_url="sim://", is_test_bench=True, now=T0, created_by="t"
        )
        assert not real.simulated
        assert bench.simulated
        with pytest.raises(ConflictError):
            register_station(session, "s1", clinic_id=clinic, programmer_url="/dev/ttyUSB1", now=T0, created_by="t")


def test_tokens_store_only_a_hash_and_need_an_enabled_station(engine: Engine, settings: Settings) -> None:
    from pump_service.errors import PermissionDeniedError

    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0).clinic_id
        register_station(
            session, "s1", clinic_id=clinic, programmer_url="/dev/ttyUSB0", is_test_bench=True, now=T0, created_by="t"
        )
        add_user(session, "bench1", role=Role.BENCH, password=_PHRASE_2, now=T0, created_by="t")
        issued = issue_token(session, "bench1", station_id="s1", now=T0, label="ci")
        stored = session.exec(select(ApiToken)).one()
        assert stored.id != issued.token
        assert len(stored.id) == 64
        disable_station(session, "s1", now=T0)
        with pytest.raises(PermissionDeniedError):
            usable_station(session, "s1")
        with pytest.raises(RuleViolationError):
            issue_token(session, "bench1", station_id="s1", now=T0)
