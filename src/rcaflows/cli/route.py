"""``rcaflows route`` (explain or dry-run routing) and ``rcaflows escalate`` (fire due escalation steps once)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cell, cells, esc, fail, open_store, parse_time
from rcaflows.errors import RcaflowsError


def _enum(cls: Any, value: str, option: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise RcaflowsError(f"{option}: {value!r} is not one of {', '.join(m.value for m in cls)}") from None


@app.command()
def route(
    explain: Annotated[
        str | None, typer.Option("--explain", help="Explain how this incident (key or id) is routed.")
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Dry run: incident type.")] = None,
    component: Annotated[str | None, typer.Option("--component", help="Dry run: component.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Dry run: critical, high, medium, low.")] = None,
    subtype: Annotated[str, typer.Option("--subtype", help="Dry run: subtype, e.g. latency.")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show which routing rule matches an incident (or a hypothetical one) and why the others do not."""
    from rcaflows.config import load_config
    from rcaflows.incidents import get_incident
    from rcaflows.timeutil import format_duration
    from rcaflows.triage.escalation import planned_steps, snapshot_policy
    from rcaflows.triage.policy import explain_route
    from rcaflows.vocab import IncidentType, Severity

    try:
        cfg = load_config(config)
        recorded: dict[str, Any] = {}
        if explain is not None:
            with open_store(config, store).session(readonly=True) as s:
                inc = get_incident(s, explain)
                itype, sub, comp, sev = inc.type, inc.subtype, inc.component, inc.severity
                context = (inc.details.get("escalation") or {}).get("context") or {}
                recorded = {
                    "incident": inc.key,
                    "n_components": int(context.get("n_components", 1)),
                    "n_teams": int(context.get("n_teams", 1)),
                    "recorded_team": inc.team,
                    "recorded_route": inc.details.get("route"),
                    "confidence": inc.details.get("confidence", "detected"),
                    "impact": inc.details.get("impact", {}),
                }
        else:
            missing = [o for o, v in (("--type", type_), ("--component", component), ("--severity", severity)) if not v]
            if missing:
                raise RcaflowsError(f"give --explain INCIDENT, or a dry run with {', '.join(missing)}")
            itype = _enum(IncidentType, str(type_), "--type")
            sev = _enum(Severity, str(severity), "--severity")
            sub, comp = subtype, str(component)
            if cfg.component(comp) is None:
                names = ", ".join(c.name for c in cfg.components)
                raise RcaflowsError(f"--component: unknown component {comp!r}; expected one of {names}")
        verdicts = explain_route(itype, sub, comp, sev, cfg)
        matched = verdicts[-1] if verdicts and verdicts[-1].matched else None
        team = matched.team if matched else cfg.routing.default_team
        team_cfg = next((t for t in cfg.teams if t.name == team), None)
        policy = team_cfg.escalation_policy if team_cfg else None
        steps = []
        if policy is not None:
            steps = planned_steps(
                snapshot_policy(cfg, policy),
                severity=sev,
                suspected=recorded.get("confidence") == "suspected",
                n_components=recorded.get("n_components", 1),
                n_teams=recorded.get("n_teams", 1),
                impact=recorded.get("impact", {}),
                incident_type=str(itype),
            )
    except RcaflowsError as exc:
        fail(exc)
    unchecked = [r.name for r in cfg.routing.rules[len(verdicts) :]]
    out = {
        **recorded,
        "incident_like": {"type": str(itype), "subtype": sub, "component": comp, "severity": str(sev)},
        "rules": [vars(v) for v in verdicts],
        "not_evaluated": unchecked,
        "route": matched.rule if matched else "default",
        "team": team,
        "escalation_policy": policy,
        "escalation_steps": [
            {
                "level": st.level,
                "kind": st.kind,
                "after": format_duration(st.after),
                "targets": st.targets,
                "reason": st.reason,
            }
            for st in steps
        ],
    }
    if fmt == "json":
        _common.console.print_json(json.dumps(out, default=str))
        return
    if fmt != "table":
        fail(RcaflowsError(f"--format: expected table or json, got {fmt!r}"))
    subject = recorded.get("incident") or "a hypothetical incident"
    t = Table(title=cell(f"routing of {subject}: {itype}/{sub or '-'} on {comp}, {sev}"))
    for col in ("#", "rule", "team", "result", "why"):
        t.add_column(col, overflow="fold")
    for i, v in enumerate(verdicts, start=1):
        result = Text("match", style="green") if v.matched else cell("no")
        t.add_row(cell(i), cell(v.rule), cell(v.team), result, cell(v.why))
    for name in unchecked:
        t.add_row(*cells("", name, "", "-", "not evaluated: an earlier rule matched (first match wins)"))
    _common.console.print(t)
    via = f"rule {matched.rule!r}" if matched else "the default (no rule matched)"
    _common.console.print(
        f"→ team [bold]{esc(team)}[/bold] via {esc(via)}; escalation policy {esc(policy or 'none')}", highlight=False
    )
    if recorded and recorded.get("recorded_team") != team:
        _common.console.print(
            f"  note: {recorded['incident']} was routed to {recorded['recorded_team']} when it opened "
            f"(route {recorded.get('recorded_route')}); the config has changed since",
            highlight=False,
            markup=False,
        )
    for st in steps:
        _common.console.print(
            f"  escalation +{format_duration(st.after)}: {st.kind} → {', '.join(st.targets)} ({st.reason})",
            highlight=False,
            markup=False,
        )


@app.command()
def escalate(
    at: Annotated[str | None, typer.Option("--at", help="Escalate as of this UTC time (default now).")] = None,
    deliver: Annotated[bool, typer.Option(help="Hand fired steps to the notification layer.")] = True,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Fire every due escalation step once, without Prefect (the `escalation` flow does this on a schedule)."""
    from rcaflows.config import load_config
    from rcaflows.triage.escalation import escalate_due
    from rcaflows.triage.oncall import page_dispatch

    try:
        cfg = load_config(config)
        when = parse_time(at, "--at")
        # page_dispatch delivers like rcaflows.notify.dispatch and expands oncall:<team> targets to people
        send = page_dispatch(when) if deliver else False
        fired = escalate_due(open_store(config, store), cfg, when, dispatch=send)
    except RcaflowsError as exc:
        fail(exc)
    t = Table(title=f"escalations fired ({len(fired)})")
    for col in ("incident", "level", "kind", "channels", "reason"):
        t.add_column(col, overflow="fold")
    for f in fired:
        t.add_row(*cells(f.incident, f.level, f.kind, ", ".join(f.channels), f.reason))
    _common.console.print(t)
