"""Co-signatures: a physician's override or a second person's check, signed at the station with their password."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from pump_service.api.auth import Principal, require
from pump_service.api.deps import ClockDep, EngineDep
from pump_service.domain.access import Permission
from pump_service.services.visits.cosignature_contracts import CosignatureRequest, CosignatureView
from pump_service.services.visits.cosignatures import sign_cosignature

router = APIRouter(tags=["refills"])


@router.post(
    "/pumps/{serial}/cosignatures",
    status_code=status.HTTP_201_CREATED,
    responses={
        401: {"description": "the co-signer's username or password is wrong (or the account is disabled)"},
        403: {"description": "the co-signer is the signed-in user, or their role may not sign this"},
        404: {"description": "no such pump"},
        422: {"description": "a malformed request, or an override of a hard stop only a second check clears"},
    },
)
def create_cosignature(
    serial: str,
    request: CosignatureRequest,
    engine: EngineDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require(Permission.RECORD_VISIT))],
) -> CosignatureView:
    """A second person signs, with their own password, an override of named hard stops or the check of a spinal fill.

    The id returned goes into the refill's ``cosignatures``; it is valid for this pump for 15
    minutes and for one refill.
    """
    return sign_cosignature(engine, serial, request, requester=principal.actor(), clock=clock)
