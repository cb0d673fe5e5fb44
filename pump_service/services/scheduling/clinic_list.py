"""The list of clinics a page at a time, read in SQL (apart from clinic_admin, which the views import)."""

from sqlmodel import Session, col, select

from pump_service.persistence.schedule_models import Clinic
from pump_service.services.paging import Page, PageRequest, rows_page, select_page
from pump_service.services.scheduling.clinic_admin import clinic_view
from pump_service.services.scheduling.contracts import ClinicView

__all__ = ["CLINIC_LIST", "clinic_page"]

CLINIC_LIST = "clinics"


def clinic_page(session: Session, request: PageRequest) -> Page[ClinicView]:
    """A page of clinics by id, read from only that page's rows.

    Raises:
        RuleViolationError: a cursor of another list.
    """
    statement = select_page(select(Clinic), (col(Clinic.clinic_id),), (str,), request=request, list_name=CLINIC_LIST)
    rows, cursor = rows_page(
        session.exec(statement).all(), key=lambda c: (c.clinic_id,), request=request, list_name=CLINIC_LIST
    )
    return Page(items=[clinic_view(session, c) for c in rows], next_cursor=cursor)
