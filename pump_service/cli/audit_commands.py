"""``pump-service audit verify`` and ``audit list``: check the hash chain, read the trail."""

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from pump_service.cli.context import CliContext, fail, handle_errors
from pump_service.cli.output import local
from pump_service.services.audit import (
    DEFAULT_AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    AuditEntryView,
    AuditQuery,
    list_audit_entries,
    verify_audit_chain,
)

__all__ = ["CHAIN_BROKEN_EXIT", "register"]

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="PUMP_DATABASE_URL", help="SQLAlchemy URL")]
CHAIN_BROKEN_EXIT = 1  # the stored data is wrong: a storage failure, not bad input

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: verify its hash chain, list entries.")


@audit_app.command("verify")
@handle_errors
def audit_verify(database_url: DatabaseOpt = None) -> None:
    """Check every entry's hash, its link to the one before, and the chain head; exit 1 at the first fault."""
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        verdict = verify_audit_chain(session)
    if verdict.problem is not None:
        problem = verdict.problem
        fail(f"audit chain broken at entry {problem.seq}: {problem.fault.value}: {problem.detail}", CHAIN_BROKEN_EXIT)
    print(f"audit chain intact: {verdict.checked} entries, last sequence {verdict.last_seq}")


def _changes(entry: AuditEntryView) -> str:
    before: dict[str, Any] = entry.before if isinstance(entry.before, dict) else {}
    after: dict[str, Any] = entry.after if isinstance(entry.after, dict) else {}
    keys = [key for key in after if key != "id"] or [key for key in before if key != "id"]
    shown = []
    for key in keys[:6]:
        if key in before and key in after:
            shown.append(f"{key}: {before[key]!r} -> {after[key]!r}")
        else:
            shown.append(f"{key}={after.get(key, before.get(key))!r}")
    return ", ".join(shown) + (", ..." if len(keys) > 6 else "")


@audit_app.command("list")
@handle_errors
def audit_list(
    entity: Annotated[str | None, typer.Option("--entity", help="table name, e.g. pump, refill, charge_event")] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="the row's id (with --entity)")] = None,
    user: Annotated[str | None, typer.Option("--user", help="acting user id")] = None,
    since: Annotated[datetime | None, typer.Option("--since", help="ISO time with offset")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="ISO time with offset")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_AUDIT_LIMIT)] = DEFAULT_AUDIT_LIMIT,
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """The newest entries first, filtered."""
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        fail("--since and --until need a UTC offset (e.g. 2026-12-01T08:00:00+00:00)")
    query = AuditQuery(entity=entity, entity_id=entity_id, user=user, since=since, until=until, limit=limit)
    ctx = CliContext.from_options(database_url, None)
    with ctx.session() as session:
        page = list_audit_entries(session, query)
    if as_json:
        print(json.dumps(page.model_dump(mode="json"), indent=2))
        return
    zone = ctx.settings.zone
    print(f"{'SEQ':>6} {'AT':<22} {'USER':<14} {'ROLE':<10} {'STATION':<14} {'ACTION':<8} {'ENTITY':<22} CHANGES")
    for item in page.items:
        what = item.entity if item.entity_id is None else f"{item.entity}:{item.entity_id}"
        print(
            f"{item.seq:>6} {local(item.at, zone):<22} {item.actor_user:<14} {item.actor_role or '-':<10} "
            f"{item.station_id:<14} {item.action:<8} {what:<22} {_changes(item)}"
        )
    if page.next_cursor is not None:
        print(f"(more: narrow the filters or raise --limit, at most {MAX_AUDIT_LIMIT})")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
