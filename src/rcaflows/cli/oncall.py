"""``rcaflows oncall`` (who is on call and why), ``rcaflows impact`` and ``rcaflows communicate`` (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cells, esc, fail, open_store, parse_time
from rcaflows.errors import RcaflowsError


def _config_dir(config: str | None) -> Path | None:
    import os

    from rcaflows.config.loader import CONFIG_ENV

    path = config or os.environ.get(CONFIG_ENV)
    return Path(path).resolve().parent if path else None


@app.command()
def oncall(
    team: Annotated[str | None, typer.Argument(help="Team (default: every team with a schedule).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 time with a zone (default: now).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    config: ConfigOpt = None,
) -> None:
    """Show who is on call (primary, secondary, manager) for a team at a time, and why."""
    from rcaflows.config import load_config
    from rcaflows.timeutil import now_utc
    from rcaflows.triage.oncall import who_is_on_call

    try:
        cfg = load_config(config)
        when = parse_time(at, "--at") or now_utc()
        teams = [team] if team else [s.team for s in cfg.oncall.schedules]
        if team is not None and team not in {t.name for t in cfg.teams}:
            raise RcaflowsError(f"unknown team {team!r}; expected one of {sorted(t.name for t in cfg.teams)}")
        answers = []
        for t in teams:
            answer = who_is_on_call(cfg, t, when, base_dir=_config_dir(config))
            if answer is None:
                raise RcaflowsError(f"team {t!r} has no on-call schedule; add one under 'oncall.schedules'")
            answers.append(answer)
    except RcaflowsError as exc:
        fail(exc)
    if fmt == "json":
        _common.console.print_json(json.dumps([a.to_dict() for a in answers]))
        return
    if not answers:
        _common.console.print("no on-call schedules in this config")
        return
    table = Table(title=f"On call at {when.isoformat()}")
    for col in ("team", "role", "person", "until", "why", "contacts"):
        table.add_column(col, overflow="fold")
    for a in answers:
        for role, held in (("primary", a.primary), ("secondary", a.secondary), ("manager", a.manager)):
            if held is None:
                if role == "primary":
                    table.add_row(
                        *cells(a.team, role, "NOBODY", "", "gap in the schedule", f"fallback: {', '.join(a.fallback)}")
                    )
                continue
            until = held.until.isoformat() if held.until else ""
            table.add_row(*cells(a.team, role, held.person, until, held.why, ", ".join(held.contacts)))
    _common.console.print(table)


@app.command()
def impact(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show an incident's impact in numbers (requests, predictions, groups, clients, cost) and how it was computed."""
    from rcaflows.config import load_config
    from rcaflows.impact import impact_of
    from rcaflows.incidents import get_incident

    try:
        cfg = load_config(config)
        with open_store(config, store).session(readonly=True) as s:
            inc = get_incident(s, incident)
            numbers = impact_of(cfg, inc)
    except RcaflowsError as exc:
        fail(exc)
    if fmt == "json":
        _common.console.print_json(numbers.model_dump_json())
        return
    _common.console.print(f"{esc(numbers.incident)}: {esc(numbers.headline())}", highlight=False)
    for g in numbers.by_group:
        pr = f"{g.positive_rate:.1%}" if g.positive_rate is not None else "-"
        br = f"{g.baseline_positive_rate:.1%}" if g.baseline_positive_rate is not None else "-"
        _common.console.print(
            esc(f"  group {g.group}: {g.predictions:,} predictions ({g.share:.0%}), positive rate {pr} (was {br})"),
            highlight=False,
        )
    for m in numbers.method:
        _common.console.print(f"  - {esc(m)}", highlight=False)
    for n in numbers.notes:
        _common.console.print(f"  - not counted: {esc(n)}", highlight=False)


@app.command()
def communicate(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 time with a zone (default: now).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Send each audience its due update (state change or cadence) and any regulatory draft; print what went out."""
    from rcaflows.config import load_config
    from rcaflows.notify.audiences import communicate as send

    try:
        cfg = load_config(config)
        updates = send(open_store(config, store), cfg, incident, at=parse_time(at, "--at"))
    except RcaflowsError as exc:
        fail(exc)
    if not updates:
        _common.console.print("nothing due: every audience is up to date")
    for u in updates:
        status = "[green]sent[/green]" if u.ok else f"[red]failed[/red] ({esc(u.error)})"
        extra = f", due {u.deadline.isoformat()}" if u.deadline else ""
        _common.console.print(f"{esc(u.audience)} -> {esc(u.channel)}: {status} ({esc(u.why)}{esc(extra)})")


@app.command("status-page")
def status_page(
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory (default: communication.status_page.directory).")
    ] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Render the static status page (index.html and status.json) for users from the incident store."""
    from rcaflows.config import load_config
    from rcaflows.notify.audiences import render_status_page

    try:
        cfg = load_config(config)
        directory = out or (Path(cfg.communication.status_page.directory or ""))
        if not str(directory) or str(directory) == ".":
            raise RcaflowsError("no directory: pass --out or set communication.status_page.directory")
        page, feed = render_status_page(open_store(config, store), cfg, directory)
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"wrote {esc(page)} and {esc(feed)}")


def lint(cfg: object, path: Path) -> list[str]:
    """Return what only time and templates reveal: gaps in schedules ahead, templates naming missing fields.

    Each is ``file:line: field.path: problem``, as the loader's. Called by ``rcaflows validate``.
    """
    from rcaflows.config.loader import located
    from rcaflows.config.models import SystemConfig
    from rcaflows.notify.audiences import template_problems
    from rcaflows.notify.base import channel_problems  # kinds against the notifier registry, per-kind settings
    from rcaflows.timeutil import now_utc
    from rcaflows.triage.oncall import gap_problems

    assert isinstance(cfg, SystemConfig)
    problems = [
        *gap_problems(cfg, now_utc(), base_dir=path.resolve().parent),
        *((_path_of(dotted), m) for dotted, m in template_problems(cfg)),
        *channel_problems(cfg),
    ]
    return located(path, problems)


def _path_of(dotted: str) -> tuple[str | int, ...]:
    """Turn ``a.b[2].c`` into ``("a", "b", 2, "c")``."""
    import re

    out: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_]+)|\[(\d+)\]", dotted):
        out.append(int(index) if index else name)
    return tuple(out)
