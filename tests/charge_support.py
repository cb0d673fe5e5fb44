"""Helpers for the charge tests: a billed HAI refill, as the refill transaction records it, and an HTTP receiver."""

import json
import threading
import tomllib
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine

from pump_service.billing import DATA_DIR
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Refill
from pump_service.services.actor import Actor
from pump_service.services.charges.recording import VisitCharges, record_visit_charges
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import get_pump, register_patient, register_pump
from pump_service.services.visits.refill_record import record_refill
from pump_service.settings import Settings
from tests.support import T0, fudr_refill

HAI_BILLING: dict[str, Any] = {
    "diagnoses": ["Z45.1", "C78.7", "C18.7"],
    "documentation": ["liver_limited_unresectable"],
    "refill_kit_lot": "KIT-9",
}


def register_hai(engine: Engine, actor: Actor, serial: str = "HAI-1", patient_ref: str | None = "P-1") -> str:
    """A patient (if ``patient_ref``) and an HAI pump implanted in them."""
    with transaction(engine) as session:
        if patient_ref is not None:
            register_patient(session, PatientEntry(patient_ref=patient_ref, body_mass_kg=70.0), actor=actor, now=T0)
        body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": patient_ref}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
    return serial


def billed_body(performed_at: datetime = T0, **billing: Any) -> dict[str, Any]:
    """A floxuridine refill request with the billing details of an HAI visit (``billing`` overrides them)."""
    return fudr_refill(performed_at, billing={**HAI_BILLING, **billing})


def bill_refill(
    engine: Engine,
    settings: Settings,
    actor: Actor,
    body: dict[str, Any],
    *,
    serial: str = "HAI-1",
    visit_key: str | None = None,
) -> VisitCharges:
    """Record the refill and its charges in one transaction, as the refill visit does."""
    entry = RefillEntry.model_validate(body)
    with transaction(engine) as session:
        result = record_refill(session, serial, entry, actor=actor, settings=settings, now=entry.performed_at)
        refill = session.get(Refill, result.refill_id)
        assert refill is not None
        return record_visit_charges(
            session,
            visit_key=visit_key or refill.idempotency_key,
            refill=refill,
            pump=get_pump(session, serial),
            entry=entry,
            settings=settings,
            actor=actor,
            now=entry.performed_at,
            prescription_changed=False,
            analysis_done=False,
        )


class Receiver:
    """A local HTTP endpoint answering with the queued statuses (200 once they run out)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[tuple[str, bytes]] = []  # (content type, body) of each POST
        self.on_post: Callable[[], None] | None = None  # runs while the sender waits for the answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append((self.headers["Content-Type"], self.rfile.read(length)))
                if receiver.on_post is not None:
                    receiver.on_post()
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/charges"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


GIST_BILLING: dict[str, Any] = {
    "diagnoses": ["Z45.1", "C49.A2"],  # GIST of the stomach: only on Palmetto's regional list
    "documentation": ["liver_limited_unresectable"],
}


def packaged_profile(profile_id: str = "medicare", **changes: Any) -> dict[str, Any]:
    """A packaged profile's keys (as a clinic would copy them from profiles.toml), with ``changes``."""
    document = tomllib.loads((DATA_DIR / "profiles.toml").read_text(encoding="utf-8"))
    profile: dict[str, Any] = json.loads(json.dumps(document["profiles"][profile_id], default=str))
    return {**profile, **changes}


def palmetto_setup(**changes: Any) -> dict[str, Any]:
    """A clinic billing set-up for jurisdiction JJ whose default profile accepts Palmetto's regional list."""
    name = "Medicare Part B, Palmetto GBA (JJ)"
    return {
        "effective_from": "2026-01-01",
        "jurisdiction": "JJ",
        "place_of_service": "11",
        "payer_profile": "medicare_palmetto",
        "profiles": {"medicare_palmetto": packaged_profile(name=name, regional_dx=True)},
        **changes,
    }
