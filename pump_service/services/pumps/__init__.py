"""Pumps as devices: register them and their patients, look them up, record the conditions they are under."""

from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.due_list import list_due
from pump_service.services.pumps.registry import (
    get_pump,
    list_pump_views,
    pump_view,
    register_patient,
    register_pump,
)

__all__ = [
    "get_pump",
    "list_due",
    "list_pump_views",
    "pump_view",
    "record_conditions",
    "register_patient",
    "register_pump",
]
