"""Pump visits: start one (interrogate, expected residual), record a refill exactly once, write the pump."""

from pump_service.services.visits.interrogation import interrogate
from pump_service.services.visits.preview import start_visit
from pump_service.services.visits.refill_visit import complete_visit

__all__ = ["complete_visit", "interrogate", "start_visit"]
