"""Triage decisions: severity, priority, routing and the escalation policy an incident carries.

Decisions are pure functions of the candidate and the config, and each returns the reasons it
took, so ``rcaflows incidents show`` and the audit log can explain them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rcaflows.config.models import RouteRule, SystemConfig
from rcaflows.vocab import IncidentType, Priority, Severity

_ORDER = list(Severity)  # critical .. low


def _step(sev: Severity, steps: int) -> Severity:
    """Move ``steps`` toward critical (positive) or toward low (negative)."""
    return _ORDER[min(max(_ORDER.index(sev) - steps, 0), len(_ORDER) - 1)]


@dataclass(frozen=True)
class TriageDecision:
    """Severity, priority, team, channels and escalation policy, with the reasons for each."""

    severity: Severity
    priority: Priority
    team: str
    channels: list[str]
    escalation_policy: str | None
    route: str
    reasons: list[str] = field(default_factory=list)


def severity_for(
    incident_type: IncidentType, score: float, n_components: int, config: SystemConfig
) -> tuple[Severity, list[str]]:
    """Return the severity of a candidate and why.

    The per-type default from ``config.severity`` is raised one step for a score at or above
    ``escalate_at_score`` and one more when three or more components are involved, and lowered
    one step for a score below 0.6 (a marginal failure).
    """
    base = config.severity.default.get(incident_type, Severity.MEDIUM)
    sev, reasons = base, [f"default severity for {incident_type} is {base}"]
    if score >= config.severity.escalate_at_score:
        sev = _step(sev, 1)
        reasons.append(f"score {score:.2f} >= {config.severity.escalate_at_score:.2f}: raised to {sev}")
    elif score < 0.6:
        sev = _step(sev, -1)
        reasons.append(f"score {score:.2f} < 0.60: lowered to {sev}")
    if n_components >= 3:
        sev = _step(sev, 1)
        reasons.append(f"{n_components} components involved: raised to {sev}")
    return sev, reasons


def priority_for(severity: Severity, config: SystemConfig) -> tuple[Priority, list[str]]:
    """Return P1..P5 from severity and the model's business tier (tier 2: one step, tier 3: two)."""
    base = severity.rank  # 0 critical .. 3 low -> P1..P4
    tier = config.model.tier if config.model is not None else 2
    idx = min(base + (tier - 1), len(Priority) - 1)
    p = list(Priority)[idx]
    return p, [f"severity {severity} on a tier-{tier} system gives {p}"]


def route_for(
    incident_type: IncidentType, subtype: str, component: str, severity: Severity, config: SystemConfig
) -> tuple[RouteRule | None, str, list[str]]:
    """Return the first matching routing rule (None for the default), the team, and why."""
    for rule in config.routing.rules:
        m = rule.match
        if m.type and incident_type not in m.type:
            continue
        if m.subtype and subtype not in m.subtype:
            continue
        if m.component and component not in m.component:
            continue
        if m.min_severity is not None and severity.rank > m.min_severity.rank:
            continue
        return rule, rule.team, [f"routing rule {rule.name!r} matched: team {rule.team}"]
    team = config.routing.default_team
    return None, team, [f"no routing rule matched: default team {team}"]


def triage(
    incident_type: IncidentType,
    subtype: str,
    component: str,
    score: float,
    n_components: int,
    config: SystemConfig,
) -> TriageDecision:
    """Decide severity, priority, team, channels and escalation policy for a new incident."""
    sev, r1 = severity_for(incident_type, score, n_components, config)
    prio, r2 = priority_for(sev, config)
    rule, team, r3 = route_for(incident_type, subtype, component, sev, config)
    team_cfg = next((t for t in config.teams if t.name == team), None)
    channels = list(team_cfg.channels) if team_cfg else []
    for ch in rule.channels if rule else []:
        if ch not in channels:
            channels.append(ch)
    policy = team_cfg.escalation_policy if team_cfg else None
    return TriageDecision(
        severity=sev,
        priority=prio,
        team=team,
        channels=channels,
        escalation_policy=policy,
        route=rule.name if rule else "default",
        reasons=r1 + r2 + r3,
    )
