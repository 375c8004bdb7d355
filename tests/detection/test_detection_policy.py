"""Quiet-by-design policy: FDR across a run, the pending rule, inhibition, and scans that survive bad series."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from detection_data import END, split

from rcaflows.config.models import MetricKind, MetricSpec, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.detection import DETECTORS, CheckResult, run_detection
from rcaflows.detection.base import CheckFactory
from rcaflows.detection.policy import (
    Inhibitor,
    apply_fdr,
    can_inhibit,
    check_p_value,
    inhibitor,
    pending_ready,
)
from rcaflows.detection.robust import shift_checks, shift_table
from rcaflows.graph import system_graph
from rcaflows.vocab import CheckStatus, IncidentType

PERF = IncidentType.PERFORMANCE_AVAILABILITY


def _check(status: CheckStatus = CheckStatus.FAIL, p: float | None = None, **details: object) -> CheckResult:
    return CheckResult(
        detector="t",
        check="robust_shift" if "robust_z" in details else "two_proportion",
        incident_type=PERF,
        subtype="latency",
        component="scoring_api",
        metric="latency_p95_ms",
        status=status,
        p_value=p,
        score=0.9 if status == CheckStatus.FAIL else 0.1,
        message="m",
        details=dict(details),
    )


def test_p_value_of_a_check_uses_its_test_or_the_normal_tail_of_its_robust_z() -> None:
    assert check_p_value(_check(p=0.03)) == 0.03
    assert check_p_value(_check(robust_z=3.0, direction=1)) == pytest.approx(0.0013499, rel=1e-4)
    # a drop is bad: a large positive z is no evidence
    assert check_p_value(_check(robust_z=3.0, direction=-1)) == pytest.approx(1 - 0.0013499, rel=1e-4)
    assert check_p_value(_check(robust_z=-3.0, direction=0)) == pytest.approx(2 * 0.0013499, rel=1e-4)
    assert math.isnan(check_p_value(_check()))
    assert math.isnan(check_p_value(_check(status=CheckStatus.NO_DATA, p=0.0)))


def test_fdr_holds_back_a_marginal_failure_among_many_tests_but_keeps_strong_ones() -> None:
    nulls = [_check(CheckStatus.OK, p=float(p)) for p in np.linspace(0.05, 1.0, 98)]
    marginal = _check(p=0.002)  # significant alone, not among 100 tests at q = 0.01
    strong = _check(robust_z=12.0, direction=1)
    plain = _check()  # no p-value: an expectation or burn-rate check keeps its status
    res = apply_fdr([*nulls, marginal, strong, plain], alpha=0.01)
    assert res.tested == 100 and res.demoted == 1
    m, s, p = res.checks[-3:]
    assert m.status == CheckStatus.WARN and m.details["fdr_demoted"] and m.score < 0.5
    assert m.details["fdr_q"] == pytest.approx(0.002 * 100 / 2)
    assert "held back" in m.message
    assert s.status == CheckStatus.FAIL and s.details["fdr_q"] < 1e-20
    assert p.status == CheckStatus.FAIL and "fdr_q" not in p.details
    # the same marginal check alone passes the run's FDR
    alone = apply_fdr([marginal], alpha=0.01)
    assert alone.checks[0].status == CheckStatus.FAIL and alone.demoted == 0


def test_run_detection_applies_the_configured_fdr_level(config: SystemConfig, data: MonitoringData) -> None:
    m = data.metrics
    hit = (
        (m["component"] == "scoring_api")
        & (m["metric"] == "latency_p95_ms")
        & (m["timestamp"] >= END - timedelta(minutes=40))
    )
    m.loc[hit, "value"] *= 1.6  # +60 %: far beyond z 6 on 3 % noise
    perf = {"performance": DETECTORS["performance"]}
    report = run_detection(config, split(data), detectors=perf)
    shift = [c for c in report.failed if c.component == "scoring_api" and c.metric == "latency_p95_ms"]
    assert shift and shift[0].details["fdr_q"] < config.detectors.fdr_alpha
    assert report.fdr_tested > 10
    # An absurdly strict level holds every p-bearing failure back to warn.
    strict = config.model_copy(update={"detectors": config.detectors.model_copy(update={"fdr_alpha": 1e-300})})
    held = run_detection(strict, split(data), detectors=perf)
    assert not [c for c in held.failed if c.metric == "latency_p95_ms"]
    assert held.fdr_demoted >= 1


@pytest.mark.parametrize(
    ("history", "m", "n", "ready"),
    [
        ([True], 1, 1, True),
        ([False, True], 2, 3, False),
        ([True, False, True], 2, 3, True),
        ([True, True, False, False, True], 2, 3, False),  # old failures fall out of the last N
        ([], 1, 1, False),
    ],
)
def test_pending_needs_m_failures_in_the_last_n_runs(history: list[bool], m: int, n: int, ready: bool) -> None:
    assert pending_ready(history, m, n) is ready


def test_inhibition_follows_the_component_graph_downstream_only(config: SystemConfig) -> None:
    g = system_graph(config).components
    dq = Inhibitor("INC-0001", "data_quality", "null_rate", ("merchant_ingest", "etl"))
    assert inhibitor(IncidentType.QUALITY_DEGRADATION, ["fraud_model"], [dq], g) is dq
    assert inhibitor(IncidentType.BIAS_FAIRNESS, ["fraud_model"], [dq], g) is dq
    # performance incidents are never inhibited, and nothing upstream of the source is explained
    assert inhibitor(PERF, ["fraud_model"], [dq], g) is None
    assert inhibitor(IncidentType.QUALITY_DEGRADATION, ["txn_ingest"], [dq], g) is None
    assert can_inhibit(IncidentType.DATA_QUALITY, "drift")
    assert can_inhibit(IncidentType.INTEGRATION_DEPENDENCY, "freshness")
    assert not can_inhibit(IncidentType.INTEGRATION_DEPENDENCY, "timeout_rate")
    iso = nx.DiGraph([("a", "b")])
    assert inhibitor(IncidentType.QUALITY_DEGRADATION, ["b"], [Inhibitor("K", "data_quality", "x", ("a",))], iso)


# --------------------------------------------------------------------------- bad series


T_END = datetime(2026, 1, 10, 12, tzinfo=UTC)
T_CUR = T_END - timedelta(hours=1)


def _bad_series_frames() -> tuple[pd.DataFrame, list[MetricSpec]]:
    ts = pd.date_range(T_END - timedelta(days=1, hours=1), T_END, freq="1min", inclusive="left")
    rng = np.random.default_rng(0)
    frames: list[pd.DataFrame] = []
    names: list[str] = []

    def add(name: str, v: object, t: pd.DatetimeIndex = ts) -> None:
        names.append(name)
        frames.append(pd.DataFrame({"timestamp": t, "component": "svc", "metric": name, "value": v}))

    def noise() -> np.ndarray:
        return 100 + rng.normal(0, 3, len(ts))

    add("constant", np.full(len(ts), 5.0))
    add("all_nan", np.full(len(ts), np.nan))
    add("single_point", [1.0], ts[:1])
    spiky = noise()
    spiky[::7] = np.inf
    add("some_inf", spiky)
    add("duplicated", np.r_[noise(), noise()], ts.append(ts))
    perm = rng.permutation(len(ts))
    add("unsorted", noise()[perm], ts[perm])
    broken = noise()
    broken[-30:] = np.inf
    add("current_inf", broken)
    add("text", np.where(np.arange(len(ts)) % 2 == 0, "n/a", "oops"))
    shifted = noise()
    shifted[-30:] += 300
    add("shifted", shifted)
    long = pd.concat(frames, ignore_index=True)
    specs = [MetricSpec(component="svc", name=n, kind=MetricKind.LATENCY) for n in names]
    return long, specs


def test_one_bad_series_never_stops_the_scan_of_the_others() -> None:
    long, specs = _bad_series_frames()
    ref, cur = long[long["timestamp"] < T_CUR], long[long["timestamp"] >= T_CUR]
    table = shift_table(
        ref, cur, specs, current_end=T_END, z_threshold=6, min_relative_change=0.25, sustain=timedelta(minutes=10)
    )
    status = dict(zip(table["metric"], table["status"], strict=True))
    assert status["shifted"] == "fail"  # the real shift is still found
    for name in ("all_nan", "single_point", "current_inf", "text"):
        assert status[name] == "no_data", name
    for name in ("constant", "some_inf", "duplicated", "unsorted"):
        assert status[name] == "ok", name
    make = CheckFactory("performance", PERF, MonitoringData(start=T_END - timedelta(days=1), end=T_END))
    checks = {c.metric: c for c in shift_checks(table, make, z_threshold=6)}
    assert checks["current_inf"].message.startswith("svc current_inf: no samples")
    assert checks["all_nan"].details["reason"] == "missing"
    assert checks["single_point"].status == CheckStatus.NO_DATA  # its one point is history, none is current
    assert all(math.isfinite(c.score) for c in checks.values())
