"""``rcaflows silence add|list|expire``: silences with matchers, an expiry, an author and a reason."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cells, fail, open_store, parse_span, parse_time
from rcaflows.errors import RcaflowsError

silence_app = typer.Typer(no_args_is_help=True, help="Silence incidents that match a pattern, for a while.")
app.add_typer(silence_app, name="silence")


def _default_author() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "user:unknown"


@silence_app.command("add")
def silence_add(
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why the incidents are silenced (required).")],
    duration: Annotated[str | None, typer.Option("--for", help="How long, e.g. 2h, 30m, 1d (or give --until).")] = None,
    until: Annotated[str | None, typer.Option(help="Expiry, ISO 8601 with a time zone.")] = None,
    start: Annotated[str | None, typer.Option(help="Start, ISO 8601 with a time zone (default now).")] = None,
    system: Annotated[str | None, typer.Option(help="Match the system name (shell pattern).")] = None,
    incident_type: Annotated[
        str | None, typer.Option("--type", help="Match the incident type (shell pattern).")
    ] = None,
    component: Annotated[str | None, typer.Option(help="Match the component (shell pattern).")] = None,
    fingerprint: Annotated[str | None, typer.Option(help="Match the incident fingerprint (shell pattern).")] = None,
    author: Annotated[str | None, typer.Option(help="Who silences (default user:<login>).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a silence; candidates matching every given matcher are not opened until it expires."""
    from rcaflows.incidents import add_silence, silence_dict

    try:
        span = parse_span(duration, "--for")
        st = open_store(config, store)
        with st.session() as s:
            sil = add_silence(
                s,
                author=author or _default_author(),
                reason=reason,
                system=system,
                incident_type=incident_type,
                component=component,
                fingerprint=fingerprint,
                starts_at=parse_time(start, "--start"),
                ends_at=parse_time(until, "--until"),
                duration=span,
            )
            row = silence_dict(sil)
    except RcaflowsError as exc:
        fail(exc)
    except OverflowError:
        fail(RcaflowsError("--start/--for: the silence would end after the year 9999; give an earlier end"))
    _common.console.print(
        f"silence {row['id']} added until {row['ends_at']} by {row['author']}", highlight=False, markup=False
    )


@silence_app.command("list")
def silence_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include expired and future silences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """List active silences (all with --all), with what they matched; warn about those matching nothing."""
    from rcaflows.incidents import list_silences, silence_dict

    try:
        st = open_store(config, store)
        with st.session(readonly=True) as s:
            rows = [silence_dict(x) for x in list_silences(s, include_expired=show_all)]
            active = {x.id for x in list_silences(s)}
    except RcaflowsError as exc:
        fail(exc)
    for r in rows:
        r["active"] = r["id"] in active
    if as_json:
        _common.console.print_json(json.dumps(rows))
    else:
        table = Table(title=f"silences ({len(rows)})")
        for col in ("id", "active", "matchers", "until", "author", "matched", "last matched", "reason"):
            table.add_column(col)
        for r in rows:
            matchers = ", ".join(f"{k}={r[k]}" for k in ("system", "incident_type", "component", "fingerprint") if r[k])
            table.add_row(
                *cells(
                    r["id"],
                    "yes" if r["active"] else "no",
                    matchers,
                    r["ends_at"],
                    r["author"],
                    r["matched_count"],
                    r["last_matched_at"] or "-",
                    r["reason"],
                )
            )
        _common.console.print(table)
    for r in rows:
        if r["active"] and r["matched_count"] == 0:
            _common.err.print(
                f"[yellow]warning:[/yellow] silence {r['id']} has matched nothing since "
                f"{r['starts_at']}; check its matchers",
                highlight=False,
            )


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[int, typer.Argument(help="Id of the silence to end now.")],
    author: Annotated[str | None, typer.Option(help="Who expires it (default user:<login>).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """End a silence now; it stops matching."""
    from rcaflows.incidents import expire_silence

    try:
        st = open_store(config, store)
        with st.session() as s:
            sil = expire_silence(s, silence_id, author or _default_author())
            ended = sil.ends_at.isoformat()
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(f"silence {silence_id} expired at {ended}", highlight=False)
