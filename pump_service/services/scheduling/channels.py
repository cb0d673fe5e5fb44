"""The ways a notification reaches people: e-mail over SMTP and an HTTP webhook.

Database-free: a channel takes one rendered :class:`OutgoingMessage` and returns a
:class:`SendResult` (delivered, retry later, or failed for good); the delivery step
(``services/scheduling/delivery.py``) decides when to call and records what happened.

* E-mail: ``smtplib`` with optional STARTTLS (the server's certificate verified against the system's
  or the given CA certificates) and login; recipients are chosen per notification
  kind, then level, then ``"*"`` (``notify_email_to``); a notification nobody is configured for
  is not sent by e-mail. The ``Message-ID`` derives from the delivery key, so a resend after a
  crash is recognisable as the same message. A 5xx answer is a refusal (failed), except for a
  failed login (the settings are wrong, the message is not); 4xx answers and network errors are
  retried.
* Webhook: a JSON POST (``pump_service.outbound.urllib_post``; httpx is only a test dependency);
  2xx delivered, 4xx other than 408/429 failed, anything else retried. The body carries the
  delivery key, also sent as the ``Idempotency-Key`` header, for the receiver to de-duplicate.

Neither channel logs message contents.
"""

import hashlib
import json
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from typing import Any, Protocol

from pump_service.outbound import HttpSender, urllib_post
from pump_service.persistence.notification_models import DeliveryChannel
from pump_service.settings import Settings

__all__ = [
    "Channel",
    "EmailChannel",
    "OutgoingMessage",
    "SendResult",
    "SendStatus",
    "WebhookChannel",
    "channels_from_settings",
]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One notification as people read it; ``payload`` is the webhook's JSON body."""

    delivery_key: str
    kind: str
    level: str
    subject: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class SendStatus(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    reason: str | None = None


class Channel(Protocol):
    @property
    def name(self) -> DeliveryChannel: ...

    def route(self, kind: str, level: str) -> tuple[str, ...] | None:
        """The recipients of a notification of ``kind``/``level``, or None if this channel does not send it."""
        ...

    def send(self, message: OutgoingMessage, recipients: Sequence[str], *, now: datetime) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class EmailChannel:
    host: str
    sender: str
    routes: Mapping[str, Sequence[str]]
    port: int = 25
    starttls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0

    @property
    def name(self) -> DeliveryChannel:
        return DeliveryChannel.EMAIL

    def route(self, kind: str, level: str) -> tuple[str, ...] | None:
        for choice in (kind, level, "*"):
            if self.routes.get(choice):
                return tuple(self.routes[choice])
        return None

    def send(self, message: OutgoingMessage, recipients: Sequence[str], *, now: datetime) -> SendResult:
        if not recipients:
            return SendResult(SendStatus.FAILED, "no recipients")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(recipients)
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(now)
        digest = hashlib.sha256(message.delivery_key.encode()).hexdigest()[:24]
        mail["Message-ID"] = f"<{digest}.{_safe(message.delivery_key)}@pump-service>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=list(recipients))
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            codes = [code for code, _ in exc.recipients.values()]
            status = SendStatus.FAILED if all(code >= 500 for code in codes) else SendStatus.RETRY
            return SendResult(status, f"recipients refused: {_codes(exc.recipients)}")
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult(SendStatus.RETRY, f"SMTP login failed: {exc.smtp_code}")
        except smtplib.SMTPResponseException as exc:
            status = SendStatus.FAILED if exc.smtp_code >= 500 else SendStatus.RETRY
            return SendResult(status, f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}")
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, TLS, dropped line
            return SendResult(SendStatus.RETRY, f"SMTP error: {type(exc).__name__}: {exc}")
        if refused:
            return SendResult(SendStatus.DELIVERED, f"some recipients refused: {_codes(refused)}")
        return SendResult(SendStatus.DELIVERED)


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    url: str
    timeout_s: float = 10.0
    post: HttpSender = urllib_post

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.url):
            raise ValueError("notify_webhook_url must be http:// or https://")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")

    @property
    def name(self) -> DeliveryChannel:
        return DeliveryChannel.WEBHOOK

    def route(self, kind: str, level: str) -> tuple[str, ...] | None:
        return ()

    def send(self, message: OutgoingMessage, recipients: Sequence[str], *, now: datetime) -> SendResult:
        body = json.dumps(message.payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.delivery_key}
        try:
            code = self.post(self.url, body, headers, self.timeout_s)
        except OSError as exc:
            return SendResult(SendStatus.RETRY, f"network error: {type(exc).__name__}")
        if 200 <= code < 300:
            return SendResult(SendStatus.DELIVERED)
        if 400 <= code < 500 and code not in {408, 429}:
            return SendResult(SendStatus.FAILED, f"HTTP {code}")
        return SendResult(SendStatus.RETRY, f"HTTP {code}")


def channels_from_settings(settings: Settings) -> tuple[Channel, ...]:
    """The channels the settings configure: e-mail if ``smtp_host`` is set, the webhook if its URL is.

    Raises:
        ValueError: ``smtp_host`` without ``smtp_from``, or a webhook URL that is not http(s).
    """
    channels: list[Channel] = []
    if settings.smtp_host:
        if not settings.smtp_from:
            raise ValueError("smtp_host is set but smtp_from is not")
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        channels.append(
            EmailChannel(
                host=settings.smtp_host,
                sender=settings.smtp_from,
                routes=settings.notify_email_to,
                port=settings.smtp_port,
                starttls=settings.smtp_starttls,
                ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
                username=settings.smtp_username,
                password=password,
                timeout_s=settings.smtp_timeout_s,
            )
        )
    if settings.notify_webhook_url:
        channels.append(WebhookChannel(settings.notify_webhook_url, timeout_s=settings.notify_webhook_timeout_s))
    return tuple(channels)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", ".", text)


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else raw)[:200]


def _codes(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} {code}" for address, (code, _) in refused.items())
