"""Pump visits: start one, record a refill, an analysis, a reprogramming or a flush exactly once, or abandon one."""

from pump_service.services.visits.interrogation import interrogate
from pump_service.services.visits.other_kinds import abandon_visit, record_analysis, record_flush, record_reprogramming
from pump_service.services.visits.preview import start_visit
from pump_service.services.visits.refill_visit import complete_visit

__all__ = [
    "abandon_visit",
    "complete_visit",
    "interrogate",
    "record_analysis",
    "record_flush",
    "record_reprogramming",
    "start_visit",
]
