"""The printable refill record: a stored refill as a PDF (also linked from the pump page)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from pump_service.api.auth import Principal, require
from pump_service.api.deps import SessionDep, SettingsDep
from pump_service.domain.access import Permission
from pump_service.services.visits.refill_document import refill_document

router = APIRouter(tags=["refills"])


@router.get(
    "/refills/{refill_id}/record.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the refill record, printable"},
        404: {"description": "no such refill"},
    },
)
def read_refill_record(
    refill_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Permission.READ_CLINICAL))],
) -> Response:
    """The refill's record as a PDF: pump, drugs, volumes, findings, overrides, settings, next appointment, who."""
    body = refill_document(session, refill_id, settings=settings)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="refill-{refill_id}.pdf"'},
    )
