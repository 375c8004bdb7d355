"""``rcaflows postmortem INCIDENT`` and ``rcaflows actions list|add|done``: post-mortem drafts and follow-ups."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cells, esc, fail, open_store, parse_span, parse_time
from rcaflows.errors import RcaflowsError

actions_app = typer.Typer(no_args_is_help=True, help="Track post-mortem action items: owner, due date, status.")
app.add_typer(actions_app, name="actions")

ActorOpt = Annotated[str, typer.Option("--by", help="Who does it, e.g. user:alice.")]


@app.command("postmortem")
def postmortem_cmd(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="Directory or fsspec URL of the drafts (default: rca.reports_dir)."),
    ] = None,
    count_predictions: Annotated[
        bool, typer.Option(help="Read the prediction logs to count the predictions served during the impact.")
    ] = True,
    notify: Annotated[bool, typer.Option(help="Update the incident's notifications afterwards.")] = True,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="Move the post-mortem: review (from draft or published), published (from review), draft."
        ),
    ] = None,
    by: ActorOpt = "cli",
    comment: Annotated[str, typer.Option("--comment", help="Why (recorded with a --state move).")] = "",
) -> None:
    """Render (or refresh) the post-mortem of an incident (Markdown and HTML), or move it draft → review → published.

    Text people write between the ``<!-- rcaflows:human NAME -->`` markers of the Markdown is kept
    by every refresh. A published post-mortem is frozen until it is moved back to review.
    """
    from rcaflows.config import load_config
    from rcaflows.postmortem import PostmortemState, write_postmortem

    try:
        if state is not None and state not in {s.value for s in PostmortemState}:
            raise RcaflowsError(
                f"--state: expected one of {', '.join(s.value for s in PostmortemState)}, got {state!r}"
            )
        cfg = load_config(config)
        st = open_store(config, store)
        pm, paths = write_postmortem(
            st,
            incident,
            out or cfg.rca.reports_dir,
            config=cfg,
            count_predictions=count_predictions,
            actor=by,
            state=state,
            comment=comment,
        )
        if notify:
            from rcaflows.notify import notify_incident_changed

            notify_incident_changed(st, pm.key, config=cfg, reason="post-mortem drafted", actor="cli")
    except (RcaflowsError, ValueError) as exc:
        fail(exc)
    m = pm.metrics
    _common.console.print(
        f"[bold]{esc(pm.key)}[/bold] post-mortem {esc(pm.postmortem_label)} ({esc(pm.state)}): "
        f"{esc(paths.markdown)} · {esc(paths.html)}"
    )
    t = Table(title="response")
    for col in ("detect", "acknowledge", "mitigate", "resolve", "escalations", "related", "actions"):
        t.add_column(col)
    from rcaflows.timeutil import human_duration

    t.add_row(
        *cells(
            human_duration(m.time_to_detect),
            human_duration(m.time_to_acknowledge),
            human_duration(m.time_to_mitigate),
            human_duration(m.time_to_resolve),
            m.escalations,
            ", ".join(sorted({r.key for r in pm.related})) or "-",
            len(pm.actions),
        )
    )
    _common.console.print(t)


@actions_app.command("list")
def actions_list(
    incident: Annotated[str | None, typer.Argument(help="Only this incident's items.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    status: Annotated[str | None, typer.Option(help="open, done or wont_do.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List action items, open ones with the nearest due date first."""
    from rcaflows.incidents.models import ActionItemStatus
    from rcaflows.postmortem import action_dict, list_actions

    try:
        if status is not None and status not in {s.value for s in ActionItemStatus}:
            raise RcaflowsError(f"--status: expected one of {', '.join(s.value for s in ActionItemStatus)}")
        with open_store(config, store).session(readonly=True) as s:
            rows = [action_dict(a) for a in list_actions(s, incident=incident, status=status)]
    except RcaflowsError as exc:
        fail(exc)
    if json_out:
        _common.console.print_json(json.dumps(rows))
        return
    t = Table(title=f"action items ({len(rows)})")
    for col in ("id", "incident", "status", "owner", "due", "action"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(*cells(r["id"], r["incident"], r["status"], r["owner"], (r["due_at"] or "-")[:10], r["title"]))
    _common.console.print(t)


@actions_app.command("add")
def actions_add(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    title: Annotated[str, typer.Argument(help="What to do.")],
    owner: Annotated[str, typer.Option("--owner", help="Who owns it (team or person).")],
    due: Annotated[str | None, typer.Option("--due", help="Due date, e.g. 2026-12-15 or 2026-12-15T12:00Z.")] = None,
    by: ActorOpt = "cli",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add an action item to an incident's post-mortem."""
    from rcaflows.postmortem import add_action

    try:
        due_at = parse_time(f"{due}T00:00:00Z" if due and len(due) == 10 else due, "--due")
        with open_store(config, store).session() as s:
            item = add_action(s, incident, title, owner, by, due_at=due_at)
            item_id = item.id
    except (RcaflowsError, ValueError) as exc:
        fail(exc)
    _common.console.print(f"added action item {item_id} to {incident}", markup=False)


@actions_app.command("done")
def actions_done(
    item: Annotated[int, typer.Argument(help="Action item id.")],
    by: ActorOpt = "cli",
    wont_do: Annotated[bool, typer.Option("--wont-do", help="Close it as won't do.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Close an action item as done (or won't do)."""
    from rcaflows.postmortem import complete_action

    try:
        with open_store(config, store).session() as s:
            done = complete_action(s, item, by, status="wont_do" if wont_do else "done")
            status = done.status.value
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"action item {item}: {status}", markup=False)


@actions_app.command("remind")
def actions_remind(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    every: Annotated[str, typer.Option("--every", help="Remind an item again only after this long, e.g. 1d.")] = "1d",
    now: Annotated[str | None, typer.Option("--now", help="Judge overdue at this time (UTC; default now).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Remind the owners of overdue open action items through their team's, person's or named channels.

    Exits 1 when a reminder could not be delivered (the failure is recorded on the incident).
    """
    from rcaflows.config import load_config
    from rcaflows.postmortem import remind_overdue

    try:
        cfg = load_config(config)
        span = parse_span(every, "--every")
        assert span is not None
        sent = remind_overdue(open_store(config, store), cfg, now=parse_time(now, "--now"), every=span)
    except RcaflowsError as exc:
        fail(exc)
    if json_out:
        _common.console.print_json(json.dumps([r.model_dump(mode="json") for r in sent]))
    else:
        t = Table(title=f"overdue action items: {len({r.item for r in sent})}")
        for col in ("item", "incident", "owner", "channel", "result"):
            t.add_column(col, overflow="fold")
        for r in sent:
            result = "skipped (reminded recently)" if r.skipped else "sent" if r.ok else f"FAILED: {r.error}"
            t.add_row(*cells(r.item, r.incident, r.owner, r.channel or "-", result))
        _common.console.print(t)
    if any(not r.ok for r in sent):
        raise typer.Exit(code=1)
