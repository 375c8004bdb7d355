"""Triage: severity, priority, routing and escalation decisions."""

from __future__ import annotations

from rcaflows.triage.policy import TriageDecision, priority_for, route_for, severity_for, triage

__all__ = ["TriageDecision", "priority_for", "route_for", "severity_for", "triage"]
