from __future__ import annotations

import pytest

from rcaflows.config import load_config
from rcaflows.triage import priority_for, route_for, severity_for, triage
from rcaflows.vocab import IncidentType, Priority, Severity

CFG = load_config()


@pytest.mark.parametrize(
    ("itype", "score", "n", "expected"),
    [
        (IncidentType.PERFORMANCE_AVAILABILITY, 0.95, 1, Severity.CRITICAL),  # high +1 for a strong score
        (IncidentType.PERFORMANCE_AVAILABILITY, 0.75, 1, Severity.HIGH),
        (IncidentType.PERFORMANCE_AVAILABILITY, 0.5, 1, Severity.MEDIUM),  # marginal: one step down
        (IncidentType.DATA_QUALITY, 0.75, 3, Severity.HIGH),  # medium +1 for three components
        (IncidentType.DATA_QUALITY, 0.99, 4, Severity.CRITICAL),
        (IncidentType.INTEGRATION_DEPENDENCY, 0.1, 1, Severity.LOW),
    ],
)
def test_severity_from_type_score_and_spread(itype: IncidentType, score: float, n: int, expected: Severity) -> None:
    sev, reasons = severity_for(itype, score, n, CFG)
    assert sev == expected
    assert reasons[0].startswith(f"default severity for {itype}")


def test_priority_follows_severity_and_tier() -> None:
    assert priority_for(Severity.CRITICAL, CFG)[0] == Priority.P1  # demo model is tier 1
    assert priority_for(Severity.LOW, CFG)[0] == Priority.P4
    tier3 = CFG.model_copy(update={"model": CFG.model.model_copy(update={"tier": 3})})  # type: ignore[union-attr]
    assert priority_for(Severity.MEDIUM, tier3)[0] == Priority.P5
    assert priority_for(Severity.CRITICAL, tier3)[0] == Priority.P3


def test_first_matching_rule_wins_and_default_applies() -> None:
    rule, team, why = route_for(IncidentType.PERFORMANCE_AVAILABILITY, "latency", "gateway", Severity.HIGH, CFG)
    assert rule is not None and rule.name == "gateway-to-sre" and team == "sre"
    rule, team, why = route_for(IncidentType.PERFORMANCE_AVAILABILITY, "latency", "scoring_api", Severity.HIGH, CFG)
    assert rule is None and team == CFG.routing.default_team
    assert "no routing rule matched" in why[0]


def test_triage_collects_team_channels_and_policy() -> None:
    d = triage(IncidentType.SECURITY_ADVERSARIAL, "query_flood", "client:c-0666", 0.97, 1, CFG)
    assert d.team == "security" and d.route == "security-to-security"
    assert d.channels == ["console", "sre-file"]
    assert d.escalation_policy == "urgent"
    assert d.severity == Severity.CRITICAL and d.priority == Priority.P1
    assert len(d.reasons) == 4
