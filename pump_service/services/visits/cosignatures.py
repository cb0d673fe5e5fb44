"""Co-signatures: a physician's override or a second person's check, signed on the station, spent by one refill.

The nurse's station asks the second person to type their own username and password
(:func:`sign_cosignature`); the signature is bound to the pump, expires after
:data:`COSIGNATURE_TTL`, and is checked again by the refill that names it
(:func:`resolve_signatures`, inside the refill's transaction): same pump, unexpired, unused, the
right kind. The refill's commit spends it (:func:`spend_signatures`), so a signature never covers
a second fill, and stores who signed, in which role and when with the refill.

An acting user whose own role may override hard stops (a physician) overrides directly in the
request (:func:`direct_override`); the override is then theirs, taken from the signed-in
principal, never from a name typed in the body.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.domain.access import Permission, Role, allows
from pump_service.domain.findings import NOT_OVERRIDABLE, FindingCode, Override
from pump_service.domain.second_check import SecondCheck
from pump_service.errors import AuthenticationError, ConflictError, PermissionDeniedError, RuleViolationError
from pump_service.persistence.cosignature_models import Cosignature, CosignatureKind
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Pump
from pump_service.services.accounts.credentials import verify_credentials
from pump_service.services.actor import Actor
from pump_service.services.contracts import CosignatureBrief, OverrideEntry, RefillEntry
from pump_service.services.pumps.registry import get_pump
from pump_service.services.pumps.state import pump_id_of
from pump_service.services.visits.cosignature_contracts import (
    CosignatureRequest,
    CosignatureView,
    OverrideCosignRequest,
)
from schemas.clock import Clock

__all__ = [
    "COSIGNATURE_TTL",
    "Signatures",
    "direct_override",
    "resolve_signatures",
    "sign_cosignature",
    "spend_signatures",
    "verified_signer",
]

COSIGNATURE_TTL = timedelta(minutes=15)

_NEEDS = {
    CosignatureKind.HARD_STOP_OVERRIDE: Permission.OVERRIDE_HARD_STOP,
    CosignatureKind.SECOND_CHECK: Permission.VERIFY_SECOND_PERSON,
}


def verified_signer(engine: Engine, username: str, password: str, now: datetime) -> tuple[str, Role]:
    """The signer's username and role once their password is checked; a failure is counted even so.

    Raises:
        AuthenticationError: unknown user, wrong password, disabled or locked account.
    """
    # Imported here: the accounts package is the auth feature's; co-signing is its only use here.

    failure: AuthenticationError | None = None
    with transaction(engine) as session:  # commits the failed-attempt count with the refusal
        try:
            account = verify_credentials(session, username, password, now=now)
            signer = (account.username, Role(account.role))
        except AuthenticationError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return signer


def sign_cosignature(
    engine: Engine, serial: str, request: CosignatureRequest, *, requester: Actor, clock: Clock
) -> CosignatureView:
    """A second person signs an override or a check for pump ``serial`` with their own password.

    Raises:
        AuthenticationError: the signer's username or password is wrong (nothing stored).
        PermissionDeniedError: the signer is the requester, or their role may not sign this kind.
        NotFoundError: no such pump.
        RuleViolationError: an override naming a hard stop no override clears.
    """
    now = clock.now()
    kind = CosignatureKind(request.kind)
    signer, role = verified_signer(engine, request.username, request.password.get_secret_value(), now)
    if signer == requester.user:
        raise PermissionDeniedError(f"{signer} is signed in at the station: a co-signature is another person's")
    if not allows(role, _NEEDS[kind]):
        what = "override hard stops" if kind is CosignatureKind.HARD_STOP_OVERRIDE else "give a second check"
        raise PermissionDeniedError(f"{signer} ({role.value}) may not {what}")
    payload: dict[str, Any]
    if isinstance(request, OverrideCosignRequest):
        blocked = sorted(c.value for c in request.codes if c in NOT_OVERRIDABLE)
        if blocked:
            raise RuleViolationError(
                f"{', '.join(blocked)} is cleared by a second check, not an override", field="codes"
            )
        payload = {"codes": sorted({c.value for c in request.codes}), "reason": request.reason}
    else:
        payload = {
            "drug_id": request.drug_id,
            "concentration": request.concentration,
            "fill_volume_ml": request.fill_volume_ml,
        }
    with transaction(engine) as session:
        pump = get_pump(session, serial)
        row = Cosignature(
            kind=kind.value,
            pump_id=pump_id_of(pump),
            signer=signer,
            signer_role=role.value,
            station_id=requester.station_id,
            requested_by=requester.user,
            payload=payload,
            created_at=now,
            expires_at=now + COSIGNATURE_TTL,
        )
        session.add(row)
        session.flush()
        return _view(row, pump.serial)


def _view(row: Cosignature, serial: str) -> CosignatureView:
    if row.id is None:  # pragma: no cover - flushed by the caller
        raise ConflictError("the co-signature was not stored")
    return CosignatureView(
        cosignature_id=row.id,
        kind=row.kind,
        pump_serial=serial,
        signer=row.signer,
        signer_role=row.signer_role,
        station_id=row.station_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        payload=row.payload,
    )


@dataclass(frozen=True, slots=True)
class Signatures:
    """The override and second checks a refill request carries, checked and ready for the plan."""

    override: Override | None = None
    checks: tuple[SecondCheck, ...] = ()
    ids: tuple[int, ...] = ()
    briefs: tuple[CosignatureBrief, ...] = ()

    def record(self) -> list[dict[str, Any]] | None:
        """What the refill row stores of them (None: none used)."""
        return [b.model_dump(mode="json") for b in self.briefs] or None


def direct_override(entry: OverrideEntry | None, actor: Actor, now: datetime) -> Override | None:
    """The acting user's own override, attributed to them.

    Raises:
        PermissionDeniedError: the acting user's role may not override hard stops.
    """
    if entry is None:
        return None
    if actor.role is None or not allows(actor.role, Permission.OVERRIDE_HARD_STOP):
        shown = actor.role.value if actor.role is not None else "no role"
        raise PermissionDeniedError(
            f"{actor.user} ({shown}) may not override a hard stop: a physician co-signs it on the station "
            "(POST /pumps/{serial}/cosignatures) and the refill names the co-signature"
        )
    return Override(actor.user, actor.role.value, entry.reason, frozenset(entry.codes), None, now)


def resolve_signatures(
    session: Session,
    pump: Pump,
    entry: RefillEntry,
    *,
    actor: Actor,
    now: datetime,
    visit_started_at: datetime | None = None,
) -> Signatures:
    """Check the request's co-signatures and direct override against the stored ones, in the caller's transaction.

    Validity is judged at ``now``, or at ``visit_started_at`` for a visit already started (the pump
    maybe written then): a retry does not fail because a signature expired since.

    Raises:
        RuleViolationError: a co-signature unknown, for another pump, expired, used, or two overrides.
        PermissionDeniedError: a direct override by a role that may not override, or a co-signature
            signed by the acting user.
    """
    at = visit_started_at or now
    override = direct_override(entry.override, actor, now)
    checks: list[SecondCheck] = []
    briefs: list[CosignatureBrief] = []
    for row in _rows(session, entry.cosignatures):
        _check_usable(row, pump, at)
        _check_another_person(row, actor)
        kind = CosignatureKind(row.kind)
        if kind is CosignatureKind.HARD_STOP_OVERRIDE:
            if override is not None:
                raise RuleViolationError("one override per refill: this request names two", field="cosignatures")
            override = Override(
                row.signer,
                row.signer_role,
                str(row.payload["reason"]),
                frozenset(_codes(row.payload)),
                row.id,
                row.created_at,
            )
        else:
            checks.append(
                SecondCheck(
                    signer=row.signer,
                    role=row.signer_role,
                    signed_at=row.created_at,
                    drug_id=str(row.payload["drug_id"]),
                    concentration=float(row.payload["concentration"]),
                    fill_volume_ml=float(row.payload["fill_volume_ml"]),
                    cosignature_id=row.id,
                )
            )
        briefs.append(_brief(row))
    return Signatures(override, tuple(checks), tuple(entry.cosignatures), tuple(briefs))


def _codes(payload: dict[str, Any]) -> list[FindingCode]:
    return [FindingCode(c) for c in payload["codes"]]


def _rows(session: Session, ids: Sequence[int]) -> list[Cosignature]:
    rows = []
    for cid in ids:
        row = session.get(Cosignature, cid)
        if row is None:
            raise RuleViolationError(f"co-signature {cid} does not exist", field="cosignatures")
        rows.append(row)
    return rows


def _check_usable(row: Cosignature, pump: Pump, at: datetime) -> None:
    if row.pump_id != pump.id:
        raise RuleViolationError(f"co-signature {row.id} was signed for another pump", field="cosignatures")
    if row.used_by_refill_id is not None:
        raise RuleViolationError(
            f"co-signature {row.id} was already used by refill {row.used_by_refill_id}: sign again",
            field="cosignatures",
        )
    if at >= row.expires_at:
        raise RuleViolationError(
            f"co-signature {row.id} expired at {row.expires_at.isoformat()}: sign again", field="cosignatures"
        )


def _check_another_person(row: Cosignature, actor: Actor) -> None:
    """A co-signature is a second person's: the one who records the fill cannot be its signer.

    Signing refuses the requester as signer, but the id can be named by anyone's refill: without
    this check a nurse asks a colleague to have her sign, then records the fill as the only person.
    """
    if row.signer == actor.user:
        raise PermissionDeniedError(
            f"co-signature {row.id} was signed by {row.signer}, who is recording this refill: "
            "a co-signature is another person's"
        )


def _brief(row: Cosignature) -> CosignatureBrief:
    if row.id is None:  # pragma: no cover - read from the table
        raise ConflictError("co-signature without an id")
    return CosignatureBrief(
        cosignature_id=row.id,
        kind=row.kind,
        signer=row.signer,
        signer_role=row.signer_role,
        station_id=row.station_id,
        signed_at=row.created_at,
        payload=row.payload,
    )


def spend_signatures(session: Session, signatures: Signatures, refill_id: int, now: datetime) -> None:
    """Mark the refill's co-signatures used by it (the pump is locked by the caller).

    Raises:
        ConflictError: one was spent by another refill meanwhile (nothing is stored).
    """
    for row in _rows(session, signatures.ids):
        if row.used_by_refill_id is not None and row.used_by_refill_id != refill_id:
            raise ConflictError(
                f"co-signature {row.id} was used by refill {row.used_by_refill_id} meanwhile: nothing was stored"
            )
        row.used_by_refill_id, row.used_at = refill_id, now
        session.add(row)
