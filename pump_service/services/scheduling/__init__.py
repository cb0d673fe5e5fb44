"""The clinic calendar in use: clinics, bookings, rebookings, reminders and escalations."""

from pump_service.services.scheduling.booking import (
    active_appointment,
    book_next_refill,
    cancel_appointment,
    complete_appointment,
    rebook_closed_day,
    schedule_between,
)
from pump_service.services.scheduling.clinics import add_holiday, default_clinic, get_clinic
from pump_service.services.scheduling.notifications import acknowledge, list_notifications, process_due
from pump_service.services.scheduling.replanning import replan_from_reading

__all__ = [
    "acknowledge",
    "active_appointment",
    "add_holiday",
    "book_next_refill",
    "cancel_appointment",
    "complete_appointment",
    "default_clinic",
    "get_clinic",
    "list_notifications",
    "process_due",
    "rebook_closed_day",
    "replan_from_reading",
    "schedule_between",
]
