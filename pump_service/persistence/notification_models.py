"""The delivery log of notifications: one row per (notification, channel), and what happened to it.

A row is created once a notification is due to go out on a configured channel; its ``key``
(``<notification id>:<channel>``) is unique, so a notification is sent at most once per channel
however often the delivery step runs. The row records every attempt:

``pending`` -> ``delivered`` | ``failed`` (refused for good, or gave up after the retry policy's
last attempt) | ``cancelled`` (the notification was acknowledged, expired or closed before it
went out). A row stays ``pending`` between retries, with ``next_attempt_at`` set.

``recipients`` are the e-mail addresses the row was created for (empty for the webhook, whose
URL may carry a secret and is not stored).
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import StrEnumType, UTCDateTime

__all__ = ["DeliveryChannel", "NotificationDelivery", "NotificationDeliveryState"]


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationDeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class NotificationDelivery(SQLModel, table=True):
    __tablename__ = "notification_delivery"
    __table_args__ = (UniqueConstraint("notification_id", "channel", name="uq_notification_delivery_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=40)
    notification_id: int = Field(foreign_key="notification.id", index=True)
    channel: DeliveryChannel = Field(sa_type=StrEnumType(DeliveryChannel))
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: NotificationDeliveryState = Field(sa_type=StrEnumType(NotificationDeliveryState), index=True)
    attempts: int = Field(default=0)
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
