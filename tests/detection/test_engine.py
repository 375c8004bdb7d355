"""The engine: isolation of failing detectors, timing, enable flags, and grouping into candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from detection_data import END, split

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DETECTORS, CheckResult, IncidentCandidate, group_checks, run_detection
from rcaflows.vocab import CheckStatus, IncidentType

T0 = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
PERF = IncidentType.PERFORMANCE_AVAILABILITY


class _Boom:
    name = "boom"
    incident_type = IncidentType.SECURITY_ADVERSARIAL

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        raise RuntimeError("feed unreachable")


def _check(
    component: str,
    score: float,
    itype: IncidentType = PERF,
    subtype: str = "latency",
    status: CheckStatus = CheckStatus.FAIL,
    onset_min: int | None = 10,
    **details: object,
) -> CheckResult:
    return CheckResult(
        detector="t",
        check="robust_shift",
        incident_type=itype,
        subtype=subtype,
        component=component,
        metric=f"{subtype}_metric",
        status=status,
        score=score,
        onset=T0 + timedelta(minutes=onset_min) if onset_min is not None else None,
        details={"headline": f"+{int(score * 100)} % {subtype}", **details},
    )


def test_one_failing_detector_never_stops_the_others(config: SystemConfig, normal_data: MonitoringData) -> None:
    dets = {
        "boom": _Boom(),
        "performance": DETECTORS["performance"],
    }
    report = run_detection(config, split(normal_data), detectors=dets)
    assert len(report.errors) == 1
    assert report.errors[0].startswith("boom (security_adversarial): RuntimeError: feed unreachable")
    assert report.checks and all(c.incident_type == PERF for c in report.checks)
    assert set(report.seconds) == {"boom", "performance"}
    assert report.window_end == END


def test_all_detectors_run_and_disabled_ones_are_skipped(config: SystemConfig, normal_data: MonitoringData) -> None:
    report = run_detection(config, split(normal_data))
    assert {c.incident_type for c in report.checks} == set(IncidentType)
    assert report.errors == [] and report.failed == []
    assert sum(report.counts().values()) == len(report.checks)
    detectors = config.detectors.model_copy(
        update={"security_adversarial": config.detectors.security_adversarial.model_copy(update={"enabled": False})}
    )
    off = run_detection(config.model_copy(update={"detectors": detectors}), split(normal_data))
    assert IncidentType.SECURITY_ADVERSARIAL not in {c.incident_type for c in off.checks}
    assert "security" not in off.seconds


def test_group_by_topology_picks_the_most_upstream_component(config: SystemConfig) -> None:
    checks = [
        _check("gateway", 0.9, onset_min=12),
        _check("scoring_api", 0.7, onset_min=9),
        _check("scoring_api", 0.6, subtype="cpu", onset_min=8),
        _check("feature_db", 0.55, subtype="cpu", onset_min=5),
        _check("feature_store", 0.65, onset_min=6),
        _check("reporting_batch", 0.99, subtype="cpu"),  # unrelated and loud
        _check("gateway", 0.3, status=CheckStatus.WARN),  # not a failure: ignored
    ]
    cands = group_checks(checks, config)
    assert [c.component for c in cands] == ["reporting_batch", "feature_db"]
    db = cands[1]
    assert isinstance(db, IncidentCandidate)
    assert db.components == ["feature_db", "feature_store", "scoring_api", "gateway"]
    assert (db.subtype, db.metric) == ("cpu", "cpu_metric")
    assert db.score == 0.9 and db.onset == T0 + timedelta(minutes=5)
    assert len(db.checks) == 5 and db.checks[0].score == 0.9
    assert db.title.startswith("CPU saturation on feature_db (+55 % cpu), with 3 more components")
    assert db.fingerprint == f"{config.system.name}:performance_availability:feature_db:cpu"


def test_group_ties_on_upstreamness_go_to_the_highest_score(config: SystemConfig) -> None:
    cands = group_checks([_check("scoring_api", 0.6), _check("scoring_api", 0.8, subtype="error_rate")], config)
    (c,) = cands
    assert (c.subtype, c.title) == ("error_rate", "Error-rate increase on scoring_api (+80 % error_rate)")


def test_a_flood_groups_across_types_and_its_client_leads(config: SystemConfig) -> None:
    sec = IncidentType.SECURITY_ADVERSARIAL
    checks = [
        _check("scoring_api", 0.7, onset_min=11),  # the flood's load slows the API a minute later
        _check("gateway", 0.6, itype=sec, subtype="traffic_surge"),
        _check("fraud_model", 0.95, itype=sec, subtype="ood_inputs"),
        _check("client:c-1", 0.8, itype=sec, subtype="client_flood"),
        _check("reporting_batch", 0.9, itype=sec, subtype="traffic_surge"),  # not on the serving path
    ]
    cands = group_checks(checks, config)
    assert sorted((c.incident_type, c.component) for c in cands) == sorted(
        [(sec, "client:c-1"), (sec, "reporting_batch")]
    )
    flood = next(c for c in cands if c.component == "client:c-1")
    assert flood.components[0] == "client:c-1"
    assert set(flood.components) == {"client:c-1", "gateway", "fraud_model", "scoring_api"}
    assert flood.score == 0.95 and flood.subtype == "client_flood"
    assert flood.types == [sec, PERF] and [c.component for c in flood.related] == ["scoring_api"]


def test_lineage_adjacency_joins_a_group(config: SystemConfig) -> None:
    # feature_store and fraud_model share no topology edge, but feature_store's data feeds the model
    dq = IncidentType.DATA_QUALITY
    cands = group_checks(
        [
            _check("fraud_model", 0.9, itype=dq, subtype="drift"),
            _check("feature_store", 0.6, itype=dq, subtype="null_rate", onset_min=None),
        ],
        config,
    )
    (c,) = cands
    assert c.component == "feature_store" and c.components == ["feature_store", "fraud_model"]
    assert c.onset == T0 + timedelta(minutes=10)


@pytest.mark.parametrize("status", [CheckStatus.OK, CheckStatus.WARN, CheckStatus.NO_DATA, CheckStatus.LATE])
def test_only_failures_become_candidates(config: SystemConfig, status: CheckStatus) -> None:
    assert group_checks([_check("scoring_api", 0.4, status=status)], config) == []
