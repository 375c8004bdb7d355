"""Triage: severity, priority, confidence, routing and escalation decisions, and the escalation engine."""

from __future__ import annotations

from rcaflows.triage.escalation import (
    FiredStep,
    escalate_due,
    lapse_acknowledgements,
    plan_escalation,
    planned_steps,
    replan_escalation,
    snapshot_policy,
    steps_of,
)
from rcaflows.triage.oncall import OnCall, page_dispatch, who_is_on_call
from rcaflows.triage.policy import (
    Confidence,
    ImpactFactors,
    RuleVerdict,
    TriageDecision,
    confidence_for,
    explain_route,
    impact_factors,
    incident_tier,
    priority_for,
    route_for,
    severity_for,
    triage,
    unreachable_rules,
    urgency_for,
)

__all__ = [
    "Confidence",
    "FiredStep",
    "ImpactFactors",
    "OnCall",
    "RuleVerdict",
    "TriageDecision",
    "confidence_for",
    "escalate_due",
    "explain_route",
    "impact_factors",
    "incident_tier",
    "lapse_acknowledgements",
    "page_dispatch",
    "plan_escalation",
    "planned_steps",
    "priority_for",
    "replan_escalation",
    "route_for",
    "severity_for",
    "snapshot_policy",
    "steps_of",
    "triage",
    "unreachable_rules",
    "urgency_for",
    "who_is_on_call",
]
