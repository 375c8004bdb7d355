"""``rcaflows incidents list|show``: read the incident store."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import (
    ConfigOpt,
    StoreOpt,
    fail,
    incidents_app,
    open_store,
)
from rcaflows.errors import RcaflowsError


@incidents_app.command("list")
def incidents_list(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    state: Annotated[list[str] | None, typer.Option(help="Only these states (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N.")] = 50,
) -> None:
    """List incidents, newest first."""
    from rcaflows.incidents import incident_dict, list_incidents
    from rcaflows.vocab import IncidentState

    try:
        states = [IncidentState(s) for s in state] if state else None
    except ValueError:
        fail(RcaflowsError(f"--state: expected one of {', '.join(s.value for s in IncidentState)}"))
    try:
        st = open_store(config, store)
        with st.session() as s:
            rows = [incident_dict(i) for i in list_incidents(s, states=states, limit=limit)]
    except RcaflowsError as exc:
        fail(exc)
    table = Table(title=f"incidents ({len(rows)})")
    for col in (
        "key",
        "state",
        "type",
        "component",
        "severity",
        "priority",
        "team",
        "seen",
        "detected",
        "title",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["key"],
            r["state"],
            r["type"],
            r["component"],
            r["severity"],
            r["priority"],
            r["team"],
            str(r["occurrences"]),
            r["detected_at"][:16],
            r["title"],
        )
    _common.console.print(table)


@incidents_app.command("show")
def incidents_show(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show one incident with its audit log and RCA runs."""
    from rcaflows.incidents import events, get_incident, incident_dict, rca_runs

    try:
        with open_store(config, store).session() as s:
            inc = get_incident(s, incident)
            view = incident_dict(inc)
            log = [
                (e.at.isoformat()[:19], str(e.kind), e.actor, json.dumps(e.payload, default=str)[:120])
                for e in events(s, inc)
            ]
            runs = [
                (
                    str(r.id),
                    str(r.status),
                    r.flow_run_id or "-",
                    r.inputs_fingerprint,
                    r.code_version,
                    ((r.results or {}).get("hypotheses") or [{}])[0].get("component", "-") if r.results else "-",
                    r.report_html or "-",
                )
                for r in rca_runs(s, inc)
            ]
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"[bold]{view['key']}[/bold] {view['title']}")
    for k in (
        "state",
        "type",
        "subtype",
        "component",
        "metric",
        "severity",
        "priority",
        "team",
        "fingerprint",
        "occurrences",
        "detected_at",
        "triaged_at",
        "acknowledged_at",
        "investigating_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "last_seen_at",
    ):
        if view.get(k) is not None:
            _common.console.print(f"  {k:17} {view[k]}")
    t = Table(title="audit log")
    for col in ("at", "event", "actor", "payload"):
        t.add_column(col, overflow="fold")
    for row in log:
        t.add_row(*row)
    _common.console.print(t)
    r = Table(title="RCA runs")
    for col in ("run", "status", "flow run", "inputs", "code", "top cause", "report"):
        r.add_column(col, overflow="fold")
    for run in runs:
        r.add_row(*run)
    _common.console.print(r)
