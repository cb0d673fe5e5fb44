"""Co-signing at the station's console: the second person types their own password at a hidden prompt.

A console user (the station's operator) has no role of their own, so an override or a second
check is always a co-signature here, exactly as on the page: ``--override-by USER`` and
``--second-check-by USER`` prompt for USER's password, sign through the same service, and the
refill names the co-signatures.
"""

from typing import Any

import typer
from pydantic import SecretStr
from sqlalchemy import Engine

from pump_service.cli.context import CliContext
from pump_service.domain.findings import FindingCode
from pump_service.domain.second_check import second_check_required
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry
from pump_service.services.visits.cosignature_contracts import OverrideCosignRequest, SecondCheckCosignRequest
from pump_service.services.visits.cosignatures import sign_cosignature, verified_signer
from pump_service.services.visits.refill_record import replayed_result
from pump_service.services.visits.refill_visit import plan_visit
from schemas.drug import AmountBasis

__all__ = ["cosign_refill", "signed_in_actor"]


def _password(username: str) -> SecretStr:
    return SecretStr(typer.prompt(f"password of {username}", hide_input=True, err=True))


def signed_in_actor(engine: Engine, ctx: CliContext, username: str) -> Actor:
    """``username`` acting at this console after typing their password (a physician's own act).

    Raises:
        AuthenticationError: wrong username or password.
    """
    user, role = verified_signer(engine, username, _password(username).get_secret_value(), ctx.clock.now())
    return Actor(user=user, station_id=ctx.settings.station_id, role=role)


def cosign_refill(
    engine: Engine,
    ctx: CliContext,
    serial: str,
    entry: RefillEntry,
    *,
    override_by: str | None,
    override_codes: list[str],
    override_reason: str | None,
    second_check_by: str | None,
) -> RefillEntry:
    """The entry with the co-signatures signed at the prompt added to its ``cosignatures``.

    Raises:
        AuthenticationError, PermissionDeniedError, RuleViolationError: see :func:`sign_cosignature`.
    """
    with transaction(engine) as session:
        if replayed_result(session, serial, entry) is not None:
            return entry  # already recorded: the retry replays it, nobody signs again
    ids = list(entry.cosignatures)
    if override_by is not None:
        request = OverrideCosignRequest(
            kind="hard_stop_override",
            username=override_by,
            password=_password(override_by),
            reason=override_reason or "",
            codes=tuple(FindingCode(c) for c in override_codes),
        )
        view = sign_cosignature(engine, serial, request, requester=ctx.actor, clock=ctx.clock)
        ids.append(view.cosignature_id)
    if second_check_by is not None:
        plan = plan_visit(engine, serial, entry, settings=ctx.settings, clock=ctx.clock, actor=ctx.actor)
        if second_check_required(plan.pump.route, plan.components):
            password = _password(second_check_by)
            for component in plan.components:
                if component.drug.amount_basis is AmountBasis.VEHICLE or component.concentration is None:
                    continue
                check = SecondCheckCosignRequest(
                    kind="second_check",
                    username=second_check_by,
                    password=password,
                    drug_id=component.drug.drug_id,
                    concentration=component.concentration,
                    fill_volume_ml=entry.fill_volume_ml,
                )
                view = sign_cosignature(engine, serial, check, requester=ctx.actor, clock=ctx.clock)
                ids.append(view.cosignature_id)
    data: dict[str, Any] = {"cosignatures": tuple(ids)}
    return entry.model_copy(update=data)
