"""docs/operations.md lists every setting of ``pump_service/settings.py`` with its variable and default.

The table between the ``settings-table`` markers is generated from ``Settings.model_fields`` by
:func:`settings_table`; when a setting is added or changed, this test fails and prints the table
to paste in its place.
"""

import json
import re
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pump_service.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"

# Meanings of the settings whose Field carries no (or too terse a) description of its own.
MEANINGS = {
    "clinic_working_days": "weekdays the clinic works, as a JSON list (0 = Monday)",
    "station_id": "this station's id, recorded with every change (letters, digits, `.`, `_`, `-`)",
    "warn_deviation_pct": "return check: a measured rate this far off the expected one warns",
    "alert_deviation_pct": "return check: this far off is an alert",
    "safety_margin_days": "the next refill is booked this many days before the reservoir's alarm/empty date",
    "clinic_id": "the default clinic's id, created on first use (`pump-service clinic` changes it later)",
    "clinic_name": "the default clinic's name",
    "clinic_opens_at": "the clinic's local opening time (HH:MM)",
    "clinic_closes_at": "the clinic's local closing time (HH:MM)",
    "clinic_slot_minutes": "length of one appointment slot",
    "clinic_capacity_per_day": "refill appointments per working day",
    "charge_export_format": "format of the charges sent: `fhir`, `hl7`/`hl7v2` (DFT^P03) or `csv`",
    "smtp_port": "SMTP server port",
    "smtp_password": "SMTP password (with smtp_username); never printed",
    "smtp_timeout_s": "seconds to wait for the SMTP server",
    "notify_webhook_timeout_s": "seconds to wait for the notification webhook",
}
DEFAULT_FACTORIES = {"home": "the platform's user data directory (Linux: `~/.local/share/pump-service`)"}
SPECIAL_DEFAULTS = {"database_url": "`sqlite:///<home>/pump.db`"}


def _default(name: str, info: FieldInfo) -> str:
    if name in SPECIAL_DEFAULTS:
        return SPECIAL_DEFAULTS[name]
    if name in DEFAULT_FACTORIES:
        return DEFAULT_FACTORIES[name]
    value: Any = info.get_default(call_default_factory=True) if info.default is PydanticUndefined else info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _meaning(name: str, info: FieldInfo) -> str:
    text = MEANINGS.get(name) or info.description
    if text is None:
        raise AssertionError(f"setting {name!r} has no description: add one to MEANINGS or to its Field")
    return text.replace("|", "\\|")


def settings_table() -> str:
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        rows.append(f"| `{name}` | `PUMP_{name.upper()}` | {_default(name, info)} | {_meaning(name, info)} |")
    return "\n".join(rows)


def _documented() -> str:
    text = DOC.read_text()
    found = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert found, f"{DOC} has no {BEGIN} ... {END} block"
    return found.group(1)


def test_the_operations_guide_lists_every_setting_with_its_variable_and_default() -> None:
    expected = settings_table()
    assert _documented() == expected, f"docs/operations.md is out of date; the table is now:\n{expected}"


def test_every_setting_is_in_the_table_once() -> None:
    documented = re.findall(r"^\| `([a-z_]+)` \| `PUMP_", _documented(), re.M)
    assert documented == list(Settings.model_fields)
