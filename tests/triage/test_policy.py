from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rcaflows.config import demo_config_path, load_config
from rcaflows.config.models import ImpactWeights, RouteMatch, RouteRule
from rcaflows.errors import ConfigError
from rcaflows.triage import priority_for, route_for, severity_for, triage
from rcaflows.triage.policy import (
    Confidence,
    confidence_for,
    explain_route,
    impact_factors,
    unreachable_rules,
    urgency_for,
)
from rcaflows.vocab import IncidentType, Priority, Severity

CFG = load_config()
T = IncidentType


def test_impact_factors_come_from_the_topology_tier_and_type() -> None:
    # scoring_api is depended on by gateway and both consumers: 3 of the 4 user-facing entry points.
    f = impact_factors(T.PERFORMANCE_AVAILABILITY, ["scoring_api"], CFG)
    assert (f.user, f.business, f.system, f.compliance) == (0.75, 1.0, 0.25, 0.0)
    # An internal pipeline reaches no entry point, consumer or model: business halved, no users.
    f = impact_factors(T.DATA_QUALITY, ["txn_ingest", "etl"], CFG)
    assert (f.user, f.business, f.system) == (0.0, 0.5, 0.5)
    # Bias carries compliance exposure; an undeclared client stands for the model it calls.
    assert impact_factors(T.BIAS_FAIRNESS, ["fraud_model"], CFG).compliance == 1.0
    assert impact_factors(T.SECURITY_ADVERSARIAL, ["client:c-0666"], CFG).user == 0.75


@pytest.mark.parametrize(
    ("itype", "score", "components", "expected"),
    [
        (T.PERFORMANCE_AVAILABILITY, 0.95, ["scoring_api", "gateway"], Severity.CRITICAL),
        (T.PERFORMANCE_AVAILABILITY, 0.95, ["gateway"], Severity.HIGH),  # one entry point of four
        (T.PERFORMANCE_AVAILABILITY, 0.5, ["gateway"], Severity.MEDIUM),
        (T.DATA_QUALITY, 0.9, ["txn_ingest", "etl"], Severity.MEDIUM),  # internal only
        (T.BIAS_FAIRNESS, 0.9, ["fraud_model"], Severity.CRITICAL),  # compliance weighs most
        (T.INTEGRATION_DEPENDENCY, 0.25, ["geo_api"], Severity.LOW),
    ],
)
def test_severity_from_weighted_impact(itype: T, score: float, components: list[str], expected: Severity) -> None:
    sev, _, reasons = severity_for(itype, score, components, CFG)
    assert sev == expected
    assert reasons[0].startswith("impact ") and f"): {expected}" in reasons[0]


def test_weights_per_type_are_config() -> None:
    perf = [T.PERFORMANCE_AVAILABILITY, 0.95, ["gateway"]]
    assert severity_for(*perf, CFG)[0] == Severity.HIGH  # type: ignore[arg-type]
    user_only = {T.PERFORMANCE_AVAILABILITY: ImpactWeights(business=0, user=1, system=0, compliance=0)}
    cfg = CFG.model_copy(update={"severity": CFG.severity.model_copy(update={"weights": user_only})})
    assert severity_for(*perf, cfg)[0] == Severity.MEDIUM  # type: ignore[arg-type]  # 0.95 * 0.25


def test_priority_from_severity_and_urgency() -> None:
    f = impact_factors(T.PERFORMANCE_AVAILABILITY, ["scoring_api"], CFG)
    u, why = urgency_for(T.PERFORMANCE_AVAILABILITY, f, ["latency"], CFG)
    assert u == pytest.approx((1.0 + 0.75 + 1.0 + 1.0) / 4) and "tier 1" in why[0]
    assert priority_for(Severity.CRITICAL, u, CFG)[0] == Priority.P1
    assert priority_for(Severity.LOW, u, CFG)[0] == Priority.P4
    assert priority_for(Severity.HIGH, 0.4, CFG)[0] == Priority.P3  # medium urgency: one step
    assert priority_for(Severity.MEDIUM, 0.1, CFG)[0] == Priority.P5  # low urgency: two steps
    assert priority_for(Severity.LOW, 0.0, CFG)[0] == Priority.P5  # never past P5
    tier3 = CFG.model_copy(update={"models": [CFG.models[0].model_copy(update={"tier": 3})]})  # type: ignore[union-attr]
    f3 = impact_factors(T.BIAS_FAIRNESS, ["fraud_model"], tier3)
    assert urgency_for(T.BIAS_FAIRNESS, f3, [], tier3)[0] < u
    # An SLO burn puts an SLA at stake even for a type outside sla_types.
    assert urgency_for(T.DATA_QUALITY, f, ["slo_burn"], CFG)[0] > urgency_for(T.DATA_QUALITY, f, [], CFG)[0]


def test_confidence_axis() -> None:
    assert confidence_for(0.59, CFG)[0] is Confidence.SUSPECTED
    assert confidence_for(0.6, CFG)[0] is Confidence.DETECTED
    assert triage(T.QUALITY_DEGRADATION, "accuracy_drop", "fraud_model", 0.5, ["fraud_model"], CFG).confidence == (
        Confidence.SUSPECTED
    )


def test_first_matching_rule_wins_and_default_applies() -> None:
    rule, team, why = route_for(T.PERFORMANCE_AVAILABILITY, "latency", "gateway", Severity.HIGH, CFG)
    assert rule is not None and rule.name == "gateway-to-sre" and team == "sre"
    rule, team, why = route_for(T.PERFORMANCE_AVAILABILITY, "latency", "scoring_api", Severity.HIGH, CFG)
    assert rule is None and team == CFG.routing.default_team
    assert "no routing rule matched" in why[0]


def test_explain_route_names_the_first_failed_condition_of_each_rule() -> None:
    v = explain_route(T.PERFORMANCE_AVAILABILITY, "latency", "scoring_api", Severity.HIGH, CFG)
    assert [x.matched for x in v] == [False] * len(CFG.routing.rules)
    assert v[0].why.startswith("type performance_availability not in")
    assert v[-1].rule == "gateway-to-sre" and v[-1].why == "component 'scoring_api' not in ['gateway']"
    v = explain_route(T.DATA_QUALITY, "null_rate", "etl", Severity.LOW, CFG)
    assert v[-1].matched and v[-1].rule == "data-to-data-eng" and len(v) == 3  # later rules not evaluated
    rules = [RouteRule(name="sev", match=RouteMatch(min_severity=Severity.HIGH), team="sre")]
    cfg = CFG.model_copy(update={"routing": CFG.routing.model_copy(update={"rules": rules})})
    assert explain_route(T.DATA_QUALITY, "", "etl", Severity.LOW, cfg)[0].why == (
        "severity low is milder than min_severity high"
    )


def test_triage_collects_team_channels_policy_and_involved_teams() -> None:
    d = triage(T.SECURITY_ADVERSARIAL, "query_flood", "client:c-0666", 0.97, ["client:c-0666"], CFG)
    assert d.team == "security" and d.route == "security-to-security"
    assert d.channels == ["console", "sre-file"]
    assert d.escalation_policy == "urgent"
    assert d.severity == Severity.HIGH and d.priority == Priority.P2
    assert d.confidence is Confidence.DETECTED
    assert len(d.reasons) == 5
    d = triage(
        T.DATA_QUALITY, "null_rate", "txn_ingest", 0.9, ["txn_ingest", "etl", "feature_store", "scoring_api"], CFG
    )
    assert d.teams_involved == ["data-eng", "ml-platform"]


def test_unreachable_rules_are_found() -> None:
    broad = RouteRule(name="all-perf", match=RouteMatch(type=[T.PERFORMANCE_AVAILABILITY]), team="sre")
    narrow = RouteRule(
        name="gw", match=RouteMatch(type=[T.PERFORMANCE_AVAILABILITY], component=["gateway"]), team="sre"
    )
    crit = RouteRule(name="crit", match=RouteMatch(min_severity=Severity.CRITICAL), team="sre")
    high = RouteRule(name="high", match=RouteMatch(min_severity=Severity.HIGH), team="sre")
    assert [i for i, _ in unreachable_rules([broad, narrow])] == [1]
    assert unreachable_rules([narrow, broad]) == []
    assert [i for i, _ in unreachable_rules([high, crit])] == [1]
    assert unreachable_rules([crit, high]) == []
    assert "earlier rule 'all-perf'" in unreachable_rules([broad, narrow])[0][1]


def _bad(tmp_path: Path, edit: object) -> list[str]:
    raw = yaml.safe_load(demo_config_path().read_text())
    edit(raw)  # type: ignore[operator]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(p)
    return err.value.problems


def test_load_time_validation_of_routing_and_escalation(tmp_path: Path) -> None:
    def unknown_team(raw: dict) -> None:
        raw["escalation"][0]["management"] = ["team:nobody"]
        raw["escalation"][0]["levels"][0]["notify"] = ["pager"]

    problems = _bad(tmp_path, unknown_team)
    assert any("escalation[0].management[0]: unknown team 'nobody'" in p for p in problems)
    assert any("escalation[0].levels[0].notify[0]: unknown channel 'pager'" in p for p in problems)

    def cycle(raw: dict) -> None:
        raw["escalation"][2]["then"] = "standard"  # standard -> leads -> standard

    problems = _bad(tmp_path, cycle)
    assert any("escalation policies form a cycle" in p and "standard" in p and "leads" in p for p in problems)

    def shadowed(raw: dict) -> None:
        raw["routing"]["rules"].insert(
            0, {"name": "perf", "match": {"type": ["performance_availability"]}, "team": "sre"}
        )

    problems = _bad(tmp_path, shadowed)
    assert any("routing.rules[5]" in p and "'gateway-to-sre' can never match" in p for p in problems)

    def unknown_then(raw: dict) -> None:
        raw["escalation"][0]["then"] = "nobody"

    assert any("escalation[0].then: unknown escalation policy 'nobody'" in p for p in _bad(tmp_path, unknown_then))
