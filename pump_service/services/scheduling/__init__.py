"""The clinic calendar in use: clinics, bookings, rebookings, reminders and escalations."""

from pump_service.services.scheduling.booking import (
    active_appointment,
    book_next_refill,
    cancel_appointment,
    complete_appointment,
    rebook_closed_day,
    schedule_between,
)
from pump_service.services.scheduling.clinic_admin import (
    assign_pump,
    change_clinic,
    clinic_history,
    clinic_view,
    close_day,
    create_clinic,
    list_clinics,
)
from pump_service.services.scheduling.clinics import (
    add_holiday,
    default_clinic,
    get_clinic,
    list_holidays,
    remove_holiday,
)
from pump_service.services.scheduling.notifications import acknowledge, list_notifications, process_due
from pump_service.services.scheduling.replanning import replan_from_reading
from pump_service.services.scheduling.worklist import worklist

__all__ = [
    "acknowledge",
    "active_appointment",
    "add_holiday",
    "assign_pump",
    "book_next_refill",
    "cancel_appointment",
    "change_clinic",
    "clinic_history",
    "clinic_view",
    "close_day",
    "complete_appointment",
    "create_clinic",
    "default_clinic",
    "get_clinic",
    "list_clinics",
    "list_holidays",
    "list_notifications",
    "process_due",
    "rebook_closed_day",
    "remove_holiday",
    "replan_from_reading",
    "schedule_between",
    "worklist",
]
