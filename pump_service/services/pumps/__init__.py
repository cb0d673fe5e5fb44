"""Pumps as devices: register, look up, conditions, replacement and model correction."""

from pump_service.services.pumps.conditions import record_conditions
from pump_service.services.pumps.due_list import list_due
from pump_service.services.pumps.hardware import change_pump_model, replace_pump
from pump_service.services.pumps.registry import (
    get_pump,
    list_pump_views,
    pump_view,
    register_patient,
    register_pump,
    show_pump,
)

__all__ = [
    "change_pump_model",
    "get_pump",
    "list_due",
    "list_pump_views",
    "pump_view",
    "record_conditions",
    "register_patient",
    "register_pump",
    "replace_pump",
    "show_pump",
]
