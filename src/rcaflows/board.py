"""The live incident board: open incidents by priority as Markdown, for the ``incidents-open`` artifact.

The board is a pure function of the store and the config at a moment; the flows publish it
(:func:`flows.common.publish_board`). It reads only what is recorded: the impact headline and the
next update come from the last audience update in the audit log, so building the board never
reads a monitoring source.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rcaflows.config import SystemConfig
from rcaflows.incidents import EventKind, Incident, Store, events, list_incidents
from rcaflows.incidents.models import RcaRun
from rcaflows.reporting.render import escape_markdown
from rcaflows.reporting.storage import report_link
from rcaflows.timeutil import human_duration, now_utc, utc
from rcaflows.triage.oncall import who_is_on_call
from rcaflows.vocab import IncidentState, Priority

__all__ = ["BOARD_KEY", "board_markdown", "board_rows"]

#: key of the Prefect artifact the board is published under
BOARD_KEY = "incidents-open"
_CLOSED = {IncidentState.RESOLVED, IncidentState.CLOSED}
_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}
_COLUMNS = ("Priority", "Incident", "State", "Owner", "On call", "Age", "Impact", "Next update", "Latest RCA")


def _owner(incident: Incident, log: list[Any]) -> str:
    """Return who owns the incident: its commander, else whoever acknowledged it, else its team."""
    commander = acker = None
    for e in log:
        p = e.payload or {}
        if e.kind is EventKind.NOTE and p.get("role") == "incident_commander":
            commander = p.get("person") or p.get("name")
        if e.kind is EventKind.TRANSITION and p.get("to") == IncidentState.ACKNOWLEDGED.value:
            acker = e.actor
    if commander:
        return f"{commander} (commander)"
    if acker:
        return f"{acker} (acknowledged)"
    return f"team {incident.team}"


def _next_update(config: SystemConfig, incident: Incident, log: list[Any], at: datetime) -> str:
    """Return when the next audience update is due, from the cadence recorded with the last one sent."""
    if not config.communication.audiences:
        return "no audiences configured"
    due = [
        utc(datetime.fromisoformat(p["next_update_at"]))
        for e in log
        if e.kind is EventKind.NOTIFICATION and (p := e.payload or {}).get("audience") and p.get("next_update_at")
    ]
    if not due:
        return "first update pending"
    nxt = max(due)  # the latest update recorded sets the next due time
    when = nxt.strftime("%Y-%m-%d %H:%M UTC")
    return f"{when} (overdue)" if nxt <= at else when


def _impact(log: list[Any]) -> str:
    """Return the impact headline recorded with the last audience update (see :mod:`rcaflows.impact`)."""
    for e in reversed(log):
        p = e.payload or {}
        if e.kind is EventKind.NOTIFICATION and p.get("impact"):
            return str(p["impact"])
    return "not yet computed"


def _latest_rca(store: Store, incident_id: int) -> RcaRun | None:
    from rcaflows.notify.service import latest_rca

    with store.session(readonly=True) as s:
        run = latest_rca(s, incident_id)
        if run is not None:
            s.expunge(run)
        return run


def board_rows(store: Store, config: SystemConfig, at: datetime | None = None) -> list[dict[str, str]]:
    """Return one row per open incident of the config's system, P1 first, then oldest first, as of ``at``."""
    when = utc(at) if at is not None else now_utc()
    with store.session(readonly=True) as s:
        open_ = [i for i in list_incidents(s, system=config.system.name, limit=1000) if i.state not in _CLOSED]
        open_.sort(key=lambda i: (_PRIORITY_RANK[i.priority], i.detected_at, i.id))
        logs = {i.id: events(s, i) for i in open_}
        for i in open_:
            s.expunge(i)
        for log in logs.values():
            for e in log:
                s.expunge(e)
    oncall_cache: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    for inc in open_:
        log = logs[inc.id]
        if inc.team not in oncall_cache:
            oc = who_is_on_call(config, inc.team, when)
            if oc is None:
                oncall_cache[inc.team] = f"no on-call schedule for team {inc.team}"
            elif oc.primary is None:
                oncall_cache[inc.team] = "nobody on call (gap); fallback: " + (", ".join(oc.fallback) or "none")
            else:
                oncall_cache[inc.team] = oc.primary.person
        run = _latest_rca(store, inc.id)
        if run is not None and run.report_html:
            rca = f"[run {run.id} report]({report_link(run.report_html, config)})"
            if run.report_md:
                rca += f" · [markdown]({report_link(run.report_md, config)})"
            rca += f" · artifact `rca-{inc.key.lower()}`"
        else:
            rca = "no RCA yet"
        rows.append(
            {
                "Priority": inc.priority.value,
                "Incident": f"{inc.key}: {inc.title}",
                "State": inc.state.value,
                "Owner": _owner(inc, log),
                "On call": oncall_cache[inc.team],
                "Age": human_duration(max(when - inc.detected_at, timedelta(0))),
                "Impact": _impact(log),
                "Next update": _next_update(config, inc, log, when),
                "Latest RCA": rca,
            }
        )
    return rows


def _cell(text: str) -> str:
    # links stay clickable: escape only what breaks a table row
    return text.replace("|", "\\|").replace("\n", " ")


def board_markdown(store: Store, config: SystemConfig, at: datetime | None = None) -> str:
    """Return the Markdown board of the system's open incidents at ``at`` (default now)."""
    when = utc(at) if at is not None else now_utc()
    rows = board_rows(store, config, when)
    head = f"# Open incidents: {escape_markdown(config.system.name)}\n\nAs of {when.strftime('%Y-%m-%d %H:%M UTC')}."
    if not rows:
        return head + " No open incidents.\n"
    counts = ", ".join(f"{p.value}: {n}" for p in Priority if (n := sum(r["Priority"] == p.value for r in rows)))
    lines = [
        head + f" {len(rows)} open ({counts}).",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(r[c]) for c in _COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"
