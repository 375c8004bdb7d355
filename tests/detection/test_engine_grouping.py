"""One fault, one incident: failing checks of every type group by graph adjacency and onset proximity.

The grouped candidates then go through the real triage path (silence, inhibition, pending, dedup
and the audit log) on a real SQLite store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rcaflows.config.models import SystemConfig
from rcaflows.detection import CheckResult, IncidentCandidate, group_checks
from rcaflows.incidents import EventKind, Store, add_silence, events, get_incident
from rcaflows.triage.service import handle_candidates, symptom_of
from rcaflows.vocab import CheckStatus, IncidentType

T0 = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
H = timedelta(hours=1)
PERF = IncidentType.PERFORMANCE_AVAILABILITY
DEP = IncidentType.INTEGRATION_DEPENDENCY
DQ = IncidentType.DATA_QUALITY
QD = IncidentType.QUALITY_DEGRADATION
BIAS = IncidentType.BIAS_FAIRNESS


def _check(
    component: str, itype: IncidentType, subtype: str, onset_min: float | None, score: float = 0.8
) -> CheckResult:
    return CheckResult(
        detector="t",
        check="robust_shift",
        incident_type=itype,
        subtype=subtype,
        component=component,
        metric=subtype,
        status=CheckStatus.FAIL,
        score=score,
        onset=T0 + timedelta(minutes=onset_min) if onset_min is not None else None,
    )


def dependency_timeout(at: float = 0) -> list[CheckResult]:
    """Return the checks a geo_api timeout fails: the dependency, the API and gateway behind it, the nulls it leaves."""
    return [
        _check("geo_api", DEP, "timeout_rate", at, 1.0),
        _check("scoring_api", PERF, "error_rate", at + 1, 0.95),
        _check("gateway", PERF, "error_rate", at + 2, 0.9),
        _check("gateway", PERF, "slo_burn", None, 0.9),
        _check("feature_store", DQ, "null_rate", at + 3, 0.7),
    ]


def schema_change(at: float = 0) -> list[CheckResult]:
    """Return the checks a merchant-feed schema change fails, from the feed down to the model."""
    return [
        _check("merchant_ingest", DQ, "null_rate", at, 1.0),
        _check("etl", DQ, "null_rate", at + 1, 1.0),
        _check("feature_store", DQ, "null_rate", at + 2, 0.95),
        _check("fraud_model", QD, "accuracy_drop", at + 2, 1.0),
    ]


def slow_deploy(at: float = 0) -> list[CheckResult]:
    """Return the checks a slow scoring_api deploy fails."""
    return [_check("scoring_api", PERF, "latency", at, 0.94), _check("gateway", PERF, "latency", at + 1, 0.93)]


# ------------------------------------------------------------------------------------ grouping


def test_one_fault_across_types_is_one_candidate_with_its_related_signals(config: SystemConfig) -> None:
    (c,) = group_checks(dependency_timeout(), config)
    assert isinstance(c, IncidentCandidate)
    assert (c.incident_type, c.component, c.subtype) == (DEP, "geo_api", "timeout_rate")
    assert c.types == [DEP, PERF, DQ]  # the primary type first, then the related ones by onset
    assert {(x.component, x.subtype) for x in c.related} == {
        ("scoring_api", "error_rate"),
        ("gateway", "error_rate"),
        ("gateway", "slo_burn"),
        ("feature_store", "null_rate"),
    }
    assert c.components[0] == "geo_api" and set(c.components) == {"geo_api", "scoring_api", "gateway", "feature_store"}
    assert c.fingerprint == f"{config.system.name}:integration_dependency:geo_api:timeout_rate"
    assert c.title.endswith("; related: performance availability, data quality")


def test_two_faults_on_touching_components_stay_apart_when_they_start_apart(config: SystemConfig) -> None:
    checks = schema_change(at=0) + slow_deploy(at=25)  # the API sits next to the feature store and the model
    cands = group_checks(checks, config)
    assert sorted((c.incident_type, c.component) for c in cands) == [(DQ, "merchant_ingest"), (PERF, "scoring_api")]
    schema = next(c for c in cands if c.component == "merchant_ingest")
    assert schema.types == [DQ, QD] and "scoring_api" not in schema.components
    # the grouping window is what keeps them apart: widen it and the two become one
    assert len(group_checks(checks, config, window=timedelta(minutes=30))) == 1


def test_simultaneous_faults_on_unconnected_components_stay_apart(config: SystemConfig) -> None:
    checks = [*dependency_timeout(at=0), _check("reporting_batch", PERF, "cpu", 0, 0.99)]
    assert sorted(c.component for c in group_checks(checks, config)) == ["geo_api", "reporting_batch"]


def test_an_undated_check_hangs_off_one_fault_and_never_bridges_two(config: SystemConfig) -> None:
    feature_db = [_check("feature_db", PERF, "cpu", 30, 0.9), _check("feature_store", PERF, "latency", 31, 0.85)]
    undated = _check("scoring_api", PERF, "slo_burn", None, 0.6)  # adjacent to geo_api and to feature_store
    cands = group_checks([_check("geo_api", DEP, "timeout_rate", 0, 1.0), *feature_db, undated], config)
    assert sorted(c.component for c in cands) == ["feature_db", "geo_api"]
    assert sum(undated in c.checks for c in cands) == 1


def test_one_components_checks_of_one_type_always_go_together(config: SystemConfig) -> None:
    checks = [_check("reporting_batch", PERF, "cpu", 0, 0.99), _check("reporting_batch", PERF, "memory", 20, 0.9)]
    (c,) = group_checks(checks, config)
    assert len(c.checks) == 2


def test_on_one_component_the_most_cause_ward_type_is_primary(config: SystemConfig) -> None:
    checks = [
        _check("fraud_model", QD, "accuracy_drop", 2, 0.95),  # louder, but a group gap explains the overall drop
        _check("fraud_model", BIAS, "fpr_gap", 1, 0.7),
    ]
    (c,) = group_checks(checks, config)
    assert (c.incident_type, c.subtype, c.types) == (BIAS, "fpr_gap", [BIAS, QD])
    assert c.score == 0.95


def test_the_earliest_root_leads_when_two_members_have_no_upstream_mate(config: SystemConfig) -> None:
    # feature_store is not downstream of geo_api in the graph; the timeout started first, so it leads
    (c,) = group_checks(dependency_timeout(), config)
    assert c.component == "geo_api"
    late = [
        x.model_copy(update={"onset": T0 - timedelta(minutes=5)}) if x.component == "feature_store" else x
        for x in dependency_timeout()
    ]
    (d,) = group_checks(late, config, window=timedelta(minutes=15))
    assert (d.component, d.incident_type) == ("feature_store", DQ)


# ------------------------------------------------------------------- the incident path keeps working


def test_a_grouped_fault_opens_one_incident_and_dedups_the_next_hour(store: Store, config: SystemConfig) -> None:
    (cand,) = group_checks(dependency_timeout(), config)
    first = handle_candidates(store, config, [cand], T0 + H)
    (o,) = first.incidents
    assert first.counts["opened"] == 1 and (o.type, o.component) == ("integration_dependency", "geo_api")
    assert o.types == ["integration_dependency", "performance_availability", "data_quality"]
    with store.session() as s:
        inc = get_incident(s, o.key)
        assert inc.details["types"] == o.types
        assert {(r["type"], r["component"]) for r in inc.details["related"]} >= {
            ("performance_availability", "scoring_api"),
            ("data_quality", "feature_store"),
        }
        assert events(s, inc)[0].kind == EventKind.DETECTED
    again = handle_candidates(store, config, [cand], T0 + 2 * H)
    assert again.counts["deduplicated"] == 1 and again.incidents[0].key == o.key
    assert again.incidents[0].occurrences == 2
    with store.session() as s:
        assert [e.kind for e in events(s, o.key)].count(EventKind.DUPLICATE) == 1


def test_the_rca_symptom_is_the_most_downstream_failure_of_the_primary_type(config: SystemConfig) -> None:
    (dep,) = group_checks(dependency_timeout(), config)
    assert symptom_of(dep, config) == ("geo_api", "timeout_rate")  # not the gateway's errors, another type
    (deploy,) = group_checks(slow_deploy(), config)
    assert symptom_of(deploy, config) == ("gateway", "latency")  # within one type: the failure nearest users


def test_a_silence_on_the_primary_holds_the_grouped_incident_back(store: Store, config: SystemConfig) -> None:
    (cand,) = group_checks(dependency_timeout(), config)
    with store.session() as s:
        sid = add_silence(
            s, author="user:ana", reason="geo vendor outage", component="geo_api", starts_at=T0, duration=H
        ).id
    out = handle_candidates(store, config, [cand], T0 + timedelta(minutes=30))
    assert out.incidents == [] and [(c.reason, c.by) for c in out.suppressed] == [("silence", f"silence:{sid}")]


def test_a_grouped_incident_waits_out_the_pending_period(store: Store, config: SystemConfig) -> None:
    cfg = config.model_copy(
        update={"alerting": config.alerting.model_copy(update={"pending_failures": 2, "pending_runs": 2})}
    )
    (cand,) = group_checks(dependency_timeout(), cfg)
    assert handle_candidates(store, cfg, [cand], T0 + H).counts["pending"] == 1
    assert handle_candidates(store, cfg, [cand], T0 + 2 * H).counts["opened"] == 1


def test_a_grouped_incident_inhibits_through_its_related_data_quality_signal(
    store: Store, config: SystemConfig
) -> None:
    (cand,) = group_checks(dependency_timeout(), config)
    assert cand.incident_type == DEP  # a timeout alone inhibits nothing; its null feature column does
    opened = handle_candidates(store, config, [cand], T0 + H).incidents[0]
    (late,) = group_checks([_check("fraud_model", QD, "accuracy_drop", 50)], config)  # the model suffers later
    out = handle_candidates(store, config, [late], T0 + 2 * H)
    assert [(c.reason, c.by) for c in out.suppressed] == [("inhibition", opened.key)]
    with store.session() as s:
        audit = [e for e in events(s, get_incident(s, opened.key)) if e.kind == EventKind.INHIBITED]
        assert len(audit) == 1 and audit[0].payload["component"] == "fraud_model"
