"""``rcaflows incidents list|show``: read the incident store."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import (
    ConfigOpt,
    StoreOpt,
    cell,
    cells,
    esc,
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
    table = Table(title=f"incidents ({len(rows)})")  # every cell below is plain text (cells), never markup
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
            *cells(
                r["key"],
                r["state"],
                r["type"],
                r["component"],
                r["severity"],
                r["priority"],
                r["team"],
                r["occurrences"],
                r["detected_at"][:16],
                r["title"],
            )
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
    from rcaflows.incidents.reaper import describe_reaped

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
            reaped = [
                f"RCA run {r.id} {why}" for r in rca_runs(s, inc) if (why := describe_reaped(r.results)) is not None
            ]
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"[bold]{esc(view['key'])}[/bold] {esc(view['title'])}")
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
            _common.console.print(f"  {k:17} {view[k]}", markup=False)
    t = Table(title="audit log")
    for col in ("at", "event", "actor", "payload"):
        t.add_column(col, overflow="fold")
    for row in log:
        t.add_row(*cells(*row))
    _common.console.print(t)
    r = Table(title="RCA runs")
    for col in ("run", "status", "flow run", "inputs", "code", "top cause", "report"):
        r.add_column(col, overflow="fold")
    for run in runs:
        r.add_row(*cells(*run))
    _common.console.print(r)
    for line in reaped:
        _common.console.print(line, markup=False, highlight=False)


# -- lifecycle operations (acknowledge, assign, note, mitigate, resolve, reopen, merge, snooze) ------

ActorOpt = Annotated[
    str | None, typer.Option("--as", help="Who acts, e.g. user:alice (default: user:$USER).", show_default=False)
]


AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Record the operation at this UTC time (simulated demos, back-filling); default now."),
]


def _actor(actor: str | None) -> str:
    import getpass

    return actor or f"user:{getpass.getuser()}"


def _duration(value: str | None, field: str) -> Any:
    from rcaflows.cli._common import parse_span

    return parse_span(value, field)


def _apply(
    config: str | None, store: str | None, op: Callable[[Any, Any], Any], at: str | None = None
) -> None:
    """Run one lifecycle operation (given the session and its time) in one transaction; print the new state.

    After the commit, the subscribers of :mod:`rcaflows.wiring` update the incident's chat/webhook/email
    messages, and a resolution drafts the post-mortem. Neither can undo the committed change: a failure
    there is reported as a warning, not raised.
    """
    from contextlib import nullcontext

    from rcaflows import wiring
    from rcaflows.cli._common import parse_time
    from rcaflows.config import load_config
    from rcaflows.incidents import incident_dict

    try:
        cfg, cfg_error = load_config(config), None
    except RcaflowsError as exc:  # the operation itself needs only the store
        cfg, cfg_error = None, exc
    effects = wiring.scope(cfg) if cfg is not None else nullcontext(None)
    try:
        when = parse_time(at, "--at")
        st = open_store(config, store)
        with effects as sc, st.session() as s:
            inc = op(s, when)
            view = incident_dict(inc)
    except RcaflowsError as exc:
        fail(exc)
    except OverflowError:
        fail(RcaflowsError("--at/--for/--expires: the resulting time is after the year 9999"))
    _common.console.print(
        f"{view['key']} {view['state']} [{view['severity']}/{view['priority']} → {view['team']}] {view['title']}",
        highlight=False,
        markup=False,
    )
    for paths in sc.results("postmortem") if sc is not None else []:
        if paths is not None:
            _common.console.print(
                f"post-mortem draft: {paths.markdown}  ·  {paths.html}", highlight=False, markup=False
            )
    problems = [f"{d.subscriber}: {d.error}" for d in sc.failures()] if sc is not None else [str(cfg_error)]
    for problem in problems:
        _common.err.print(
            f"warning: {view['key']} changed, but the follow-up failed: {problem}", highlight=False, markup=False
        )


@incidents_app.command("ack")
def incidents_ack(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why / what you are doing.")] = "",
    expires: Annotated[
        str | None, typer.Option("--expires", help="Ack lapses after this (e.g. 30m); escalation then resumes.")
    ] = None,
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Acknowledge an incident: pending escalation stops (until the optional expiry)."""
    from rcaflows.incidents import acknowledge

    try:
        exp = _duration(expires, "--expires")
    except RcaflowsError as exc:
        fail(exc)
    _apply(
        config,
        store,
        lambda s, when: acknowledge(s, incident, _actor(actor), comment=comment, expires_in=exp, at=when),
        at,
    )


@incidents_app.command("assign")
def incidents_assign(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    assignee: Annotated[str, typer.Argument(help="Person taking it, e.g. alice.")],
    team: Annotated[str | None, typer.Option("--team", help="Hand it to this team (a team of the config).")] = None,
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Assign an incident to a person, optionally handing it to another team."""
    from rcaflows.config import load_config
    from rcaflows.incidents import assign

    if team is not None:
        try:
            teams = [t.name for t in load_config(config).teams]
        except RcaflowsError as exc:
            fail(exc)
        if team not in teams:
            fail(RcaflowsError(f"--team: unknown team {team!r}; expected one of {', '.join(teams)}"))
    _apply(config, store, lambda s, when: assign(s, incident, assignee, _actor(actor), team=team, at=when), at)


@incidents_app.command("note")
def incidents_note(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    text: Annotated[str, typer.Argument(help="The note.")],
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a note to an incident's audit log."""
    from rcaflows.incidents import note

    _apply(config, store, lambda s, when: note(s, incident, text, _actor(actor), at=when), at)


@incidents_app.command("mitigate")
def incidents_mitigate(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="What contained the impact.")] = "",
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="Approve and run this runbook action (repeatable); see the proposals."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the --action(s) instead of approving.")] = False,
) -> None:
    """Mark an incident mitigated, or with --action approve and run its runbook actions (then watched)."""
    from rcaflows.incidents import mitigate

    if action:
        from rcaflows.cli.mitigation import mitigate_actions

        mitigate_actions(incident, action, _actor(actor), yes=yes, reject=reject, config=config, store=store)
        return
    _apply(config, store, lambda s, when: mitigate(s, incident, _actor(actor), comment=comment, at=when), at)


@incidents_app.command("resolve")
def incidents_resolve(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    reason: Annotated[
        str, typer.Option("--reason", help="fixed, mitigated, false_positive, benign, duplicate, expected, wont_fix.")
    ] = "fixed",
    comment: Annotated[str, typer.Option("--comment", "-m", help="What was done.")] = "",
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Resolve an incident with a resolution reason; every pending escalation step is cancelled."""
    from rcaflows.incidents import resolve

    _apply(
        config,
        store,
        lambda s, when: resolve(s, incident, _actor(actor), reason=reason, comment=comment, at=when),
        at,
    )


@incidents_app.command("reopen")
def incidents_reopen(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why it is back.")] = "",
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Reopen a resolved incident; its escalation policy snapshot is planned again from now."""
    from rcaflows.incidents import reopen

    _apply(config, store, lambda s, when: reopen(s, incident, _actor(actor), comment=comment, at=when), at)


@incidents_app.command("merge")
def incidents_merge(
    duplicate: Annotated[str, typer.Argument(help="The duplicate incident (resolved as duplicate).")],
    into: Annotated[str, typer.Option("--into", help="The surviving incident.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why they are one incident.")] = "",
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Merge a duplicate into a surviving incident; the duplicate keeps its events and links to the survivor."""
    from rcaflows.incidents import merge

    _apply(config, store, lambda s, when: merge(s, duplicate, into, _actor(actor), comment=comment, at=when)[1], at)


@incidents_app.command("snooze")
def incidents_snooze(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    for_: Annotated[str | None, typer.Option("--for", help="Snooze length, e.g. 2h.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Snooze until this UTC time.")] = None,
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Snooze an incident: silence its fingerprint and hold its escalation until the expiry."""
    from rcaflows.cli._common import parse_time
    from rcaflows.incidents import snooze

    try:
        dur, end = _duration(for_, "--for"), parse_time(until, "--until")
    except RcaflowsError as exc:
        fail(exc)
    _apply(
        config,
        store,
        lambda s, when: snooze(s, incident, _actor(actor), reason=reason, duration=dur, until=end, at=when),
        at,
    )


@incidents_app.command("severity")
def incidents_severity(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    severity: Annotated[str, typer.Argument(help="critical, high, medium or low.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required; audited).")],
    priority: Annotated[str | None, typer.Option("--priority", help="P1..P5 (default: unchanged).")] = None,
    actor: ActorOpt = None,
    at: AtOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Override severity (and priority) by hand; the override is pinned against re-triage."""
    from rcaflows.incidents import set_severity

    _apply(
        config,
        store,
        lambda s, when: set_severity(s, incident, severity, _actor(actor), reason=reason, priority=priority, at=when),
        at,
    )


@incidents_app.command("escalations")
def incidents_escalations(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show an incident's planned escalation steps and their status."""
    from rcaflows.incidents import get_incident
    from rcaflows.triage.escalation import step_dict, steps_of

    try:
        with open_store(config, store).session(readonly=True) as s:
            inc = get_incident(s, incident)
            key, policy = inc.key, (inc.details.get("escalation") or {}).get("policy")
            rows = [step_dict(st) for st in steps_of(s, inc)]
    except RcaflowsError as exc:
        fail(exc)
    t = Table(title=cell(f"{key} escalation (policy {policy or 'none'})"))
    for col in ("level", "kind", "due", "status", "targets", "reason"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(*cells(r["level"], r["kind"], r["due_at"][:16], r["status"], ", ".join(r["targets"]), r["reason"]))
    _common.console.print(t)
