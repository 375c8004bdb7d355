"""The engine pipeline on two unrelated systems: the demo and a search service with other names and no lineage.

Every name below comes from the config under test (components, metric names, the dependency a
fault travels along), so a hard-coded demo name anywhere in the engine fails the second system.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from detection_data import END, metric_frame

from rcaflows import pipeline
from rcaflows.backtest import backtest
from rcaflows.config import load_config
from rcaflows.config.models import MetricKind, SystemConfig
from rcaflows.demo import demo_config
from rcaflows.incidents import Store
from rcaflows.vocab import CheckStatus, IncidentType

OTHER_SYSTEM = Path(__file__).parents[1] / "fixtures" / "other_system.yaml"
ONSET = END - timedelta(minutes=30)
PERF = IncidentType.PERFORMANCE_AVAILABILITY


def _systems() -> dict[str, SystemConfig]:
    return {"demo": demo_config(), "search-ranking": load_config(OTHER_SYSTEM)}


@pytest.fixture(scope="module", params=["demo", "search-ranking"])
def system(request: pytest.FixtureRequest) -> SystemConfig:
    """Return each system config in turn."""
    return _systems()[request.param]


def test_the_second_system_shares_no_name_with_the_demo() -> None:
    demo, other = _systems().values()
    assert not {c.name for c in demo.components} & {c.name for c in other.components}
    assert not {m.name for m in demo.metrics} & {m.name for m in other.metrics}
    assert not other.lineage.nodes and not other.models


def fault_path(cfg: SystemConfig) -> tuple[tuple[str, str], tuple[str, str]]:
    """Return (component, latency metric) of a dependency and of a caller of it, read from the config."""
    latency = {m.component: m.name for m in cfg.metrics if m.kind == MetricKind.LATENCY}
    for c in cfg.components:
        for dep in c.depends_on:
            if c.name in latency and dep in latency:
                return (dep, latency[dep]), (c.name, latency[c.name])
    raise AssertionError(f"{cfg.system.name}: no caller and dependency that both have a latency metric")


def metrics(
    cfg: SystemConfig, seed: int = 3, faults: dict[tuple[str, str], tuple[datetime, float]] | None = None
) -> pd.DataFrame:
    """Return 25 h of seeded minute samples of every declared metric, with ``faults`` as (onset, factor) steps."""
    return metric_frame(cfg, np.random.default_rng(seed), faults=faults, levels={MetricKind.OTHER: 80.0})


def cascade(cfg: SystemConfig) -> dict[tuple[str, str], tuple[datetime, float]]:
    """Return a latency fault of the dependency that reaches its caller a minute later."""
    root, caller = fault_path(cfg)
    return {root: (ONSET, 3.0), caller: (ONSET + timedelta(minutes=1), 2.0)}


def on_files(cfg: SystemConfig, frame: pd.DataFrame, directory: Path) -> SystemConfig:
    """Return ``cfg`` reading ``frame`` through a ``files`` source, with a store in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(directory / "metrics.parquet", index=False)
    source = {"name": "files", "kind": "files", "options": {"directory": str(directory)}}
    return cfg.model_copy(
        update={
            "sources": [type(cfg.sources[0]).model_validate(source)],
            "store": cfg.store.model_copy(update={"url": f"sqlite:///{directory / 'incidents.db'}"}),
        }
    )


def test_normal_operation_fails_no_check(system: SystemConfig, tmp_path: Path) -> None:
    cfg = on_files(system, metrics(system), tmp_path)
    data = pipeline.load_window(cfg, END - timedelta(hours=25), END)
    report = pipeline.scan(cfg, data, END - timedelta(hours=1))
    # Besides the components, each source has its data-availability check ("source:<name>").
    components = {c.name for c in system.components} | {f"source:{s.name}" for s in cfg.sources}
    assert report.checks and {c.component for c in report.checks} <= components
    assert {(c.component, c.metric) for c in report.checks} >= {(m.component, m.name) for m in system.metrics[:2]}
    assert not report.failed, [(c.component, c.metric, c.check) for c in report.failed]


def test_a_cascade_is_one_candidate_led_by_the_dependency(system: SystemConfig, tmp_path: Path) -> None:
    (root, root_metric), (caller, _) = fault_path(system)
    cfg = on_files(system, metrics(system, faults=cascade(system)), tmp_path)
    data = pipeline.load_window(cfg, END - timedelta(hours=25), END)
    report = pipeline.scan(cfg, data, END - timedelta(hours=1))
    assert {(c.component, c.metric) for c in report.failed} >= {(root, root_metric)}
    outcome = pipeline.open_incidents(Store.from_url(cfg.store.url), cfg, report, END)
    assert [(o.component, o.type, o.action) for o in outcome.incidents] == [(root, PERF, "opened")]
    assert {root, caller} <= set(outcome.incidents[0].components)


def test_detect_and_open_opens_once_then_deduplicates(system: SystemConfig, tmp_path: Path, store: Store) -> None:
    (root, _), _ = fault_path(system)
    cfg = on_files(system, metrics(system, faults=cascade(system)), tmp_path / "data")
    first = pipeline.detect_and_open(store, cfg, END, origin={"config": "test"})
    again = pipeline.detect_and_open(store, cfg, END)
    assert [(o.component, o.action) for o in first.outcome.incidents] == [(root, "opened")]
    assert [(o.key, o.action) for o in again.outcome.incidents] == [(first.outcome.incidents[0].key, "deduplicated")]
    assert first.report.window_end == END and not first.report.errors


def test_the_sharded_scan_finds_what_one_pass_finds(system: SystemConfig, tmp_path: Path) -> None:
    cfg = on_files(system, metrics(system, faults=cascade(system)), tmp_path)
    data = pipeline.load_window(cfg, END - timedelta(hours=25), END)
    sharded = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"shards": 3})})

    def verdicts(c: SystemConfig) -> list[tuple[str, str, str, CheckStatus, float]]:
        report = pipeline.scan(c, data, END - timedelta(hours=1))
        return sorted((x.component, x.metric or "", x.check, x.status, round(x.score, 9)) for x in report.checks)

    assert verdicts(sharded) == verdicts(cfg)


def test_the_backtest_replays_the_same_pipeline(system: SystemConfig, tmp_path: Path) -> None:
    cfg = on_files(system, metrics(system, faults=cascade(system)), tmp_path)
    result = backtest(cfg, END - timedelta(hours=2), END)
    assert [h.at for h in result.hours] == [END - timedelta(hours=1), END]
    assert [h.counts for h in result.hours] == [{}, {"opened": {str(PERF): 1}}]
    assert result.system == system.system.name
    assert not (tmp_path / "incidents.db").exists()  # the scratch store, never the configured one


def test_investigate_ranks_the_dependency_first(system: SystemConfig, tmp_path: Path, store: Store) -> None:
    from rcaflows.rca.models import PhaseStatus
    from rcaflows.rca.service import plan_for_incident

    (root, _), _ = fault_path(system)
    cfg = on_files(system, metrics(system, faults=cascade(system)), tmp_path / "data")
    run = pipeline.detect_and_open(store, cfg, END)
    (opened,) = run.outcome.incidents
    plan = plan_for_incident(store, cfg, opened.key)
    ctx = pipeline.investigation(cfg, plan, pipeline.load_window(cfg, plan.start, plan.end))
    result = pipeline.investigate(ctx)
    assert result.top is not None and result.top.component == root
    assert not [(p.phase, p.error) for p in result.phases if p.status == PhaseStatus.FAILED]


def _stored_incident(
    store: Store, cfg: SystemConfig, fp: str, onset: datetime, resolved: datetime, reason: str
) -> None:
    from rcaflows.incidents import NewIncident, open_or_touch, resolve
    from rcaflows.vocab import Priority, Severity

    new = NewIncident(
        system=cfg.system.name,
        type=PERF,
        subtype="latency",
        component=cfg.components[0].name,
        title="latency",
        severity=Severity.HIGH,
        priority=Priority.P2,
        team="t",
        fingerprint=fp,
        detected_at=onset + timedelta(minutes=20),
        details={"onset": onset.isoformat()},
    )
    with store.session() as s:
        inc, _ = open_or_touch(s, new)
        resolve(s, inc, "ops", reason=reason, at=resolved)


def test_a_fixed_fault_leaves_the_reference_and_a_false_alarm_does_not(store: Store) -> None:
    cfg = demo_config()
    frame = metric_frame(cfg, np.random.default_rng(3))
    data = pipeline.MonitoringData(start=frame["timestamp"].min(), end=END, metrics=frame)
    start = END - timedelta(hours=1)
    fixed_from, fixed_to = END - timedelta(hours=20), END - timedelta(hours=18)
    _stored_incident(store, cfg, "fixed", fixed_from, fixed_to, "fixed")
    _stored_incident(store, cfg, "noise", END - timedelta(hours=10), END - timedelta(hours=9), "false_positive")
    kept = pipeline.forget_fixed_faults(store, cfg, data, start).metrics["timestamp"]
    gone = (frame["timestamp"] >= fixed_from) & (frame["timestamp"] < fixed_to)
    assert len(kept) == (~gone).sum() and not ((kept >= fixed_from) & (kept < fixed_to)).any()
    assert (kept >= start).sum() == (frame["timestamp"] >= start).sum()  # the current window stays whole
    # a fault resolved inside the current window leaves only its reference part
    _stored_incident(store, cfg, "now", start - timedelta(minutes=30), END, "fixed")
    kept = pipeline.forget_fixed_faults(store, cfg, data, start).metrics["timestamp"]
    assert not ((kept >= start - timedelta(minutes=30)) & (kept < start)).any()
    assert (kept >= start).sum() == (frame["timestamp"] >= start).sum()
