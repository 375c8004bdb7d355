"""Triage decisions: severity, priority, confidence, routing and the escalation policy an incident carries.

Decisions are pure functions of the candidate and the config, and each returns the reasons it
took, so ``rcaflows incidents show``, ``rcaflows route --explain`` and the audit log can explain them.

* **Severity** (impact) = check score x the weighted mean of four impact factors in [0, 1], with
  weights per incident type (``severity.weights``) and cut at ``critical_at`` / ``high_at`` /
  ``medium_at``:

  - *business*: ``business_by_tier[tier-1]``, halved when the affected components
    (those involved plus every component that calls them, directly or not, in the declared
    topology: :func:`affected_components`) include neither a model, nor a consumer, nor a
    user-facing entry point (an internal-only failure). The tier is the worst (lowest number)
    of the models the incident reaches (:func:`incident_tier`); of every model when it reaches
    none; 2 without a model;
  - *user*: share of the user-facing entry points (services and consumers nothing depends on)
    among the affected components;
  - *system*: components involved / ``full_system_at``, at most 1;
  - *compliance*: 1 for the types in ``compliance_types`` (bias_fairness by default), else 0.

  Components the topology does not declare (e.g. a calling client ``client:c-0666``) stand for
  the models' components, whose inputs they are (which model a client calls is in the data, not
  the config).  The graph is the config's cached
  :class:`rcaflows.graph.SystemGraph`.
* **Priority** (urgency) P1..P5 = severity rank + 0, 1 or 2 steps for high, medium or low urgency;
  urgency is the weighted mean of the model tier (as for severity), traffic share (the user factor), SLA at stake and
  the type's time sensitivity (``priority``).
* **Confidence**: ``suspected`` below ``severity.suspected_below``, else ``detected``; a suspected
  incident never pages (see :mod:`rcaflows.triage.escalation`).
* **Routing**: the first rule whose every condition holds; :func:`explain_route` lists every rule
  with the first condition that failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rcaflows.config.models import ComponentKind, ImpactWeights, RouteMatch, RouteRule, SystemConfig
from rcaflows.config.routing import describe_match
from rcaflows.config.routing import unreachable_rules as unreachable_rules  # a config check; re-exported
from rcaflows.graph import system_graph as _system_graph
from rcaflows.vocab import IncidentType, Priority, Severity


class Confidence(StrEnum):
    """How sure detection is: a ``suspected`` incident is recorded and routed but never pages."""

    DETECTED = "detected"
    SUSPECTED = "suspected"


@dataclass(frozen=True)
class ImpactFactors:
    """The four impact factors of an incident, each in [0, 1]."""

    business: float
    user: float
    system: float
    compliance: float

    def weighted(self, w: ImpactWeights) -> float:
        """Return the weighted mean of the factors under ``w``."""
        total = w.business + w.user + w.system + w.compliance
        s = w.business * self.business + w.user * self.user + w.system * self.system
        return (s + w.compliance * self.compliance) / total

    def as_dict(self) -> dict[str, float]:
        """Return the factors as a JSON-ready dict, rounded to 3 places."""
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass(frozen=True)
class TriageDecision:
    """Severity, priority, confidence, team, channels and escalation policy, with the reasons for each."""

    severity: Severity
    priority: Priority
    team: str
    channels: list[str]
    escalation_policy: str | None
    route: str
    reasons: list[str] = field(default_factory=list)
    confidence: Confidence = Confidence.DETECTED
    impact: dict[str, float] = field(default_factory=dict)
    urgency: float = 0.0
    components: list[str] = field(default_factory=list)
    teams_involved: list[str] = field(default_factory=list)


def affected_components(components: Sequence[str], config: SystemConfig) -> set[str]:
    """Return the declared components involved plus every component that (transitively) calls them."""
    g = _system_graph(config)
    known = [c for c in components if c in g.topology]
    if len(known) < len(components):  # undeclared components (clients, columns) feed the models
        known += [m.component for m in config.models if m.component in g.topology and m.component not in known]
    return set(known) | g.service_dependents(known)


def incident_tier(components: Sequence[str], config: SystemConfig) -> tuple[int, list[str]]:
    """Return the business tier of an incident on ``components`` and the models it was taken from.

    The worst (lowest) tier of the models the incident reaches
    (:meth:`rcaflows.graph.SystemGraph.models_reached`); of every model when it reaches none (a
    fault can still hurt them through what the config does not declare); 2 without a model.
    """
    if not config.models:
        return 2, []
    hit = _system_graph(config).models_reached(components) or list(config.models)
    worst = min(m.tier for m in hit)
    return worst, [m.name for m in hit if m.tier == worst]


def impact_factors(incident_type: IncidentType, components: Sequence[str], config: SystemConfig) -> ImpactFactors:
    """Return the business, user, system and compliance factors of an incident (see the module docstring)."""
    radius = affected_components(components, config)
    kinds = {c.name: c.kind for c in config.components}
    entry = _system_graph(config).user_facing()
    user = len(radius.intersection(entry)) / len(entry) if entry else 0.0
    tier, _ = incident_tier(components, config)
    hit = bool(radius.intersection(entry)) or any(kinds.get(c) == ComponentKind.CONSUMER for c in radius)
    hit = hit or any(m.component in radius for m in config.models)
    business = config.severity.business_by_tier[tier - 1] * (1.0 if hit else 0.5)
    system = min(1.0, len(set(components)) / config.severity.full_system_at)
    compliance = 1.0 if incident_type in config.severity.compliance_types else 0.0
    return ImpactFactors(business=business, user=user, system=system, compliance=compliance)


def severity_for(
    incident_type: IncidentType, score: float, components: Sequence[str], config: SystemConfig
) -> tuple[Severity, ImpactFactors, list[str]]:
    """Return the severity of a candidate, its impact factors, and why."""
    factors = impact_factors(incident_type, components, config)
    weights = config.severity.weights.get(incident_type, ImpactWeights())
    impact = score * factors.weighted(weights)
    cfg = config.severity
    if impact >= cfg.critical_at:
        sev = Severity.CRITICAL
    elif impact >= cfg.high_at:
        sev = Severity.HIGH
    elif impact >= cfg.medium_at:
        sev = Severity.MEDIUM
    else:
        sev = Severity.LOW
    f = factors.as_dict()
    reasons = [
        f"impact {impact:.2f} = score {score:.2f} x weighted factors {factors.weighted(weights):.2f} "
        f"(business {f['business']}, user {f['user']}, system {f['system']}, compliance {f['compliance']}; "
        f"{incident_type} weights {weights.business}/{weights.user}/{weights.system}/{weights.compliance}): {sev}"
    ]
    return sev, factors, reasons


def urgency_for(
    incident_type: IncidentType,
    factors: ImpactFactors,
    subtypes: Sequence[str],
    config: SystemConfig,
    components: Sequence[str] = (),
) -> tuple[float, list[str]]:
    """Return the urgency in [0, 1] from model tier, traffic share, SLA at stake and time sensitivity.

    The tier is that of the models ``components`` reach (:func:`incident_tier`; every model's worst
    when none is given).
    """
    p = config.priority
    tier, models = incident_tier(components, config)
    tier_f = {1: 1.0, 2: 0.5, 3: 0.0}[tier]
    sla = 1.0 if incident_type in p.sla_types or "slo_burn" in subtypes else 0.0
    time_f = p.time_sensitivity.get(incident_type, 0.5)
    w = p.weights
    total = (w.tier + w.traffic + w.sla + w.time) or 1.0
    urgency = (w.tier * tier_f + w.traffic * factors.user + w.sla * sla + w.time * time_f) / total
    of = f" of {', '.join(models)}" if len(config.models) > 1 and models else ""
    why = f"urgency {urgency:.2f} (tier {tier}{of}, traffic {factors.user:.2f}, SLA {sla:.0f}, "
    why += f"time sensitivity {time_f})"
    return urgency, [why]


def priority_for(severity: Severity, urgency: float, config: SystemConfig) -> tuple[Priority, list[str]]:
    """Return P1..P5: the severity rank, lowered one step for medium and two for low urgency."""
    p = config.priority
    steps = 0 if urgency >= p.high_urgency_at else 1 if urgency >= p.medium_urgency_at else 2
    prio = list(Priority)[min(severity.rank + steps, len(Priority) - 1)]
    return prio, [f"severity {severity} at urgency {urgency:.2f} gives {prio}"]


def confidence_for(score: float, config: SystemConfig) -> tuple[Confidence, list[str]]:
    """Return ``suspected`` for a score below ``severity.suspected_below``, else ``detected``."""
    cut = config.severity.suspected_below
    if score < cut:
        return Confidence.SUSPECTED, [f"score {score:.2f} < {cut:.2f}: suspected (never pages)"]
    return Confidence.DETECTED, [f"score {score:.2f} >= {cut:.2f}: detected"]


# -- routing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleVerdict:
    """One routing rule against one incident: matched, or the first condition that failed."""

    rule: str
    team: str
    matched: bool
    why: str


def _first_failure(
    m: RouteMatch, incident_type: IncidentType, subtype: str, component: str, severity: Severity
) -> str | None:
    """Return the first condition of ``m`` the incident fails, or None when every one holds."""
    if m.type and incident_type not in m.type:
        return f"type {incident_type} not in {[str(t) for t in m.type]}"
    if m.subtype and subtype not in m.subtype:
        return f"subtype {subtype!r} not in {m.subtype}"
    if m.component and component not in m.component:
        return f"component {component!r} not in {m.component}"
    if m.min_severity is not None and severity.rank > m.min_severity.rank:
        return f"severity {severity} is milder than min_severity {m.min_severity}"
    return None


def explain_route(
    incident_type: IncidentType, subtype: str, component: str, severity: Severity, config: SystemConfig
) -> list[RuleVerdict]:
    """Return a verdict for every rule up to and including the first match (first match wins)."""
    out = []
    for rule in config.routing.rules:
        failed = _first_failure(rule.match, incident_type, subtype, component, severity)
        if failed is None:
            out.append(RuleVerdict(rule.name, rule.team, True, f"matched: {describe_match(rule.match)}"))
            break
        out.append(RuleVerdict(rule.name, rule.team, False, failed))
    return out


def route_for(
    incident_type: IncidentType, subtype: str, component: str, severity: Severity, config: SystemConfig
) -> tuple[RouteRule | None, str, list[str]]:
    """Return the first matching routing rule (None for the default), the team, and why."""
    verdicts = explain_route(incident_type, subtype, component, severity, config)
    if verdicts and verdicts[-1].matched:
        rule = config.routing.rules[len(verdicts) - 1]
        return rule, rule.team, [f"routing rule {rule.name!r} matched: team {rule.team}"]
    team = config.routing.default_team
    return None, team, [f"no routing rule matched: default team {team}"]


# -- the decision --------------------------------------------------------------------------------


def triage(
    incident_type: IncidentType,
    subtype: str,
    component: str,
    score: float,
    components: Sequence[str] | int,
    config: SystemConfig,
    *,
    subtypes: Sequence[str] = (),
) -> TriageDecision:
    """Decide severity, priority, confidence, team, channels and escalation policy for a new incident.

    ``components`` are the components involved (most upstream first); a bare count stands for
    that many unnamed components besides ``component``.
    """
    if isinstance(components, int):
        comps = [component] + [f"{component}#{i}" for i in range(1, components)]
    else:
        comps = list(components) or [component]
    sev, factors, r1 = severity_for(incident_type, score, comps, config)
    urgency, r2 = urgency_for(incident_type, factors, [subtype, *subtypes], config, comps)
    prio, r3 = priority_for(sev, urgency, config)
    conf, r4 = confidence_for(score, config)
    rule, team, r5 = route_for(incident_type, subtype, component, sev, config)
    team_cfg = next((t for t in config.teams if t.name == team), None)
    channels = list(team_cfg.channels) if team_cfg else []
    for ch in rule.channels if rule else []:
        if ch not in channels:
            channels.append(ch)
    owners = {c.name: c.team for c in config.components}
    involved = [team, *sorted({t for c in comps if (t := owners.get(c)) is not None and t != team})]
    return TriageDecision(
        severity=sev,
        priority=prio,
        team=team,
        channels=channels,
        escalation_policy=team_cfg.escalation_policy if team_cfg else None,
        route=rule.name if rule else "default",
        reasons=r1 + r2 + r3 + r4 + r5,
        confidence=conf,
        impact=factors.as_dict(),
        urgency=round(urgency, 3),
        components=comps,
        teams_involved=involved,
    )
