"""APScheduler 3 wiring: one fixed tick job that asks the services what is due; the database decides."""

from pump_service.scheduler.charge_dispatch import charge_dispatch_work
from pump_service.scheduler.notification_dispatch import notification_dispatch_work
from pump_service.scheduler.runner import RefillScheduler

__all__ = ["RefillScheduler", "charge_dispatch_work", "notification_dispatch_work"]
