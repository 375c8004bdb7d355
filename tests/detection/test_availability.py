"""Data availability: silent components and sources, unreadable sources, and resolution when data returns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from detection_data import CURRENT, END, START, metric_frame
from pydantic import ValidationError

from rcaflows import pipeline
from rcaflows.config.models import AvailabilityDetector, SourceConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DETECTORS, detector_settings
from rcaflows.detection.base import DATA
from rcaflows.detection.detectors.availability import AvailabilityDetector as Availability
from rcaflows.detection.detectors.availability import availability_checks, series_activity
from rcaflows.detection.engine import data_detectors, metric_detectors, scan_detectors, whole_frame_detectors
from rcaflows.errors import DataError
from rcaflows.incidents import EventKind, Store, events, get_incident
from rcaflows.triage.escalation import steps_of
from rcaflows.vocab import CheckStatus, IncidentState, IncidentType

DEP = IncidentType.INTEGRATION_DEPENDENCY


def _frame(config: SystemConfig, end: pd.Timestamp | None = None) -> pd.DataFrame:
    frame = metric_frame(config, np.random.default_rng(5))
    if end is None:
        return frame
    # The same minute grid continued up to ``end`` (data that came back after an outage).
    later = metric_frame(config, np.random.default_rng(6))
    later = later.assign(timestamp=later["timestamp"] + (end - pd.Timestamp(END)))
    return pd.concat([frame, later[later["timestamp"] >= pd.Timestamp(END)]], ignore_index=True)


def _on_files(config: SystemConfig, frame: pd.DataFrame, root: Path, *extra: SourceConfig) -> SystemConfig:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(data / "metrics.parquet", index=False)
    sources = [SourceConfig(name="feed", kind="files", options={"directory": str(data)}), *extra]
    return config.model_copy(
        update={
            "sources": sources,
            "store": config.store.model_copy(update={"url": f"sqlite:///{root / 'incidents.db'}"}),
            "models": [],
        }
    )


def _stop(frame: pd.DataFrame, component: str | None, minutes: int) -> pd.DataFrame:
    """Drop the last ``minutes`` of ``component``'s series (of every series when None)."""
    late = frame["timestamp"] >= END - timedelta(minutes=minutes)
    hit = late if component is None else late & (frame["component"] == component)
    return frame.loc[~hit].reset_index(drop=True)


def _availability(report_checks: list, status: CheckStatus) -> list:
    return [c for c in report_checks if c.detector == "availability" and c.status == status]


def test_one_silent_component_opens_one_routed_incident(config: SystemConfig, tmp_path: Path) -> None:
    comp = "scoring_api"
    n_series = sum(m.component == comp for m in config.metrics)
    cfg = _on_files(config, _stop(_frame(config), comp, 40), tmp_path)
    store = Store.from_url(cfg.store.url)
    run = pipeline.detect_and_open(store, cfg, END)
    (fail,) = _availability(run.report.checks, CheckStatus.FAIL)
    assert (fail.component, fail.subtype, fail.incident_type) == (comp, "missing", DEP)
    assert fail.details["series"] == n_series and len(fail.details["silent"]) == n_series
    assert fail.onset is not None and END - timedelta(minutes=41) < fail.onset < END - timedelta(minutes=20)
    (opened,) = [o for o in run.outcome.incidents if o.subtype == "missing"]
    assert (opened.component, opened.subtype, opened.action) == (comp, "missing", "opened")
    with store.session(readonly=True) as s:
        inc = get_incident(s, opened.key)
        assert inc.state is IncidentState.TRIAGED and inc.team == "ml-platform"  # routed like any other
        assert steps_of(s, inc), "an escalation plan, like any other incident"
    # Every other component still reports, and says so.
    ok = {c.component for c in _availability(run.report.checks, CheckStatus.OK)}
    assert comp not in ok and {"gateway", "source:feed"} <= ok


def test_the_whole_feed_stopping_is_one_incident_for_the_source(config: SystemConfig, tmp_path: Path) -> None:
    cfg = _on_files(config, _stop(_frame(config), None, 40), tmp_path)
    store = Store.from_url(cfg.store.url)
    run = pipeline.detect_and_open(store, cfg, END)
    (fail,) = _availability(run.report.checks, CheckStatus.FAIL)
    assert (fail.component, fail.subtype) == ("source:feed", "missing")
    assert fail.details["series"] == len(config.metrics)
    # No component-level check beside it; the source itself was read.
    assert [(c.component, c.subtype) for c in _availability(run.report.checks, CheckStatus.OK)] == [
        ("source:feed", "unreadable")
    ]
    assert [(o.component, o.action) for o in run.outcome.incidents if o.subtype == "missing"] == [
        ("source:feed", "opened")
    ]


def test_silence_resolves_the_incident_when_data_returns(config: SystemConfig, tmp_path: Path) -> None:
    comp = "feature_db"
    cfg = _on_files(config, _stop(_frame(config), comp, 40), tmp_path / "down")
    store = Store.from_url(cfg.store.url)
    first = pipeline.detect_and_open(store, cfg, END)
    (opened,) = [o for o in first.outcome.incidents if o.subtype == "missing"]
    # Still silent an hour later: the same incident, seen again; nothing resolved.
    later = END + timedelta(hours=1)
    back_frame = _frame(config, pd.Timestamp(later))
    still = _stop(back_frame, comp, 100)
    again = pipeline.detect_and_open(
        store, _on_files(config, still, tmp_path / "still").model_copy(update={"store": cfg.store}), later
    )
    assert [(o.key, o.action) for o in again.outcome.incidents if o.subtype == "missing"] == [
        (opened.key, "deduplicated")
    ]
    assert again.outcome.resolved == []
    # Its data is back: resolved through the lifecycle, with the reason in the audit log.
    back = pipeline.detect_and_open(
        store, _on_files(config, back_frame, tmp_path / "back").model_copy(update={"store": cfg.store}), later
    )
    assert back.outcome.resolved == [opened.key]
    with store.session(readonly=True) as s:
        inc = get_incident(s, opened.key)
        assert inc.state is IncidentState.RESOLVED and inc.resolved_at == later
        (done,) = [e for e in events(s, inc) if e.kind == EventKind.TRANSITION and e.payload["action"] == "resolve"]
        assert done.actor == "detection" and done.at == later and done.payload["resolution"] == "fixed"
        assert done.payload["comment"].startswith(f"data returned: {comp}: all ")


def test_cadence_is_learned_per_series(config: SystemConfig) -> None:
    # A 10-minute series silent 25 min is within 3 x its cadence; a 1-minute one is not, past the grace.
    ts = pd.date_range(START, END, freq="1min", inclusive="left", tz="UTC")
    slow = ts[ts.minute % 10 == 0]
    rows = [
        pd.DataFrame({"timestamp": ts[ts < END - timedelta(minutes=25)], "component": "gateway", "metric": "fast"}),
        pd.DataFrame({"timestamp": slow[slow < END - timedelta(minutes=25)], "component": "geo_api", "metric": "slow"}),
    ]
    metrics = pd.concat(rows, ignore_index=True).assign(value=1.0)
    data = MonitoringData(start=START, end=END, metrics=metrics, source_components={"feed": ("gateway", "geo_api")})
    act = series_activity(data, CURRENT)
    cadence = dict(zip(act.metric, act.cadence_s, strict=True))
    assert cadence == {"fast": 60.0, "slow": 600.0}
    checks = availability_checks(config.model_copy(update={"models": []}), data, CURRENT)
    assert [(c.component, c.status) for c in checks if not c.component.startswith("source:")] == [
        ("gateway", CheckStatus.FAIL),
        ("geo_api", CheckStatus.OK),
    ]
    # The same silence under a longer grace is not one.
    longer = config.detectors.model_copy(update={"availability": AvailabilityDetector(grace=timedelta(minutes=30))})
    quiet = availability_checks(config.model_copy(update={"models": [], "detectors": longer}), data, CURRENT)
    assert not [c for c in quiet if c.failed]


def test_the_median_matches_a_per_series_computation(config: SystemConfig) -> None:
    rng = np.random.default_rng(11)
    rows = []
    for k in range(40):  # irregular series with repeated stamps
        gaps = rng.choice([30, 60, 60, 90, 600], size=200)
        stamps = pd.Timestamp(START) + pd.to_timedelta(np.cumsum(gaps), unit="s")
        stamps = np.repeat(stamps, rng.integers(1, 3, size=len(stamps)))
        rows.append(pd.DataFrame({"timestamp": stamps, "component": f"c{k % 7}", "metric": f"m{k}"}))
    metrics = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=1).assign(value=0.0)
    act = series_activity(MonitoringData(start=START, end=END, metrics=metrics), CURRENT)
    ref = metrics[metrics["timestamp"] < CURRENT]
    expected = ref.groupby("metric")["timestamp"].apply(
        lambda t: float(np.median(np.diff(np.unique(t.to_numpy())).astype("timedelta64[ns]").astype(float)) / 1e9)
    )
    got = dict(zip(act.metric, act.cadence_s, strict=True))
    assert got == pytest.approx(expected.to_dict())


def test_an_unreadable_source_opens_an_incident(config: SystemConfig, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.csv").write_text("timestamp,component,metric,value\n2026-01-10 10:00,gateway,cpu,1\n")
    broken = SourceConfig(name="legacy", kind="files", options={"directory": str(bad)})
    cfg = _on_files(config, _frame(config), tmp_path, broken)
    store = Store.from_url(cfg.store.url)
    run = pipeline.detect_and_open(store, cfg, END)
    assert run.data.missing_sources == ("legacy",)
    (fail,) = _availability(run.report.checks, CheckStatus.FAIL)
    assert (fail.component, fail.subtype, fail.score) == ("source:legacy", "unreadable", 1.0)
    assert "without a timezone" in fail.message
    assert [(o.component, o.subtype) for o in run.outcome.incidents] == [("source:legacy", "unreadable")]


def test_every_source_unreadable_is_an_incident_not_a_crash(config: SystemConfig, tmp_path: Path) -> None:
    cfg = _on_files(config, _frame(config), tmp_path)
    gone = cfg.model_copy(
        update={"sources": [SourceConfig(name="feed", kind="files", options={"directory": str(tmp_path / "nope")})]}
    )
    store = Store.from_url(cfg.store.url)
    with pytest.raises(DataError, match="nope"):  # the RCA's read still raises: it has nothing to analyse
        pipeline.load_window(gone, START, END)
    run = pipeline.detect_and_open(store, gone, END)
    assert [(o.component, o.subtype, o.action) for o in run.outcome.incidents] == [
        ("source:feed", "unreadable", "opened")
    ]
    # Readable again: the source's check passes and the incident resolves.
    back = pipeline.detect_and_open(store, cfg, END)
    assert back.outcome.resolved == [run.outcome.incidents[0].key]


@pytest.mark.parametrize(
    ("grace", "match"), [("0s", "grace must be a positive"), ("40d", "longer than 30 days"), ("soon", "duration")]
)
def test_grace_is_validated(grace: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AvailabilityDetector.model_validate({"grace": grace})


def test_disabled_adds_no_check(config: SystemConfig) -> None:
    off = config.detectors.model_copy(update={"availability": AvailabilityDetector(enabled=False)})
    data = MonitoringData(start=START, end=END, metrics=metric_frame(config, np.random.default_rng(1)))
    assert availability_checks(config.model_copy(update={"detectors": off}), data, CURRENT) == []


# ----- the registered detector ---------------------------------------------------------------------


def test_it_is_a_registered_detector_of_scope_data_with_its_settings_block(config: SystemConfig) -> None:
    det = DETECTORS["availability"]
    assert isinstance(det, Availability) and det.incident_type == DEP and det.scope == DATA
    assert det.settings_model is AvailabilityDetector
    assert detector_settings(config, det) is config.detectors.availability  # the typed block, not detectors.extra
    # The scan runs it once over the whole window after the FDR control, never per shard or before it.
    assert set(data_detectors()) == {"availability"}
    assert "availability" not in scan_detectors() | whole_frame_detectors() | metric_detectors()


def test_run_on_a_window_gives_the_checks_of_the_loaded_data(config: SystemConfig) -> None:
    # Two sources merged: rows not in time order, one component silent for 40 minutes.
    frame = _stop(_frame(config), "feature_db", 40)
    a, b = frame[frame["component"] < "m"], frame[frame["component"] >= "m"]
    metrics = pd.concat([b, a], ignore_index=True)
    fed = {"one": tuple(sorted(set(b["component"]))), "two": tuple(sorted(set(a["component"])))}
    data = MonitoringData(start=START, end=END, metrics=metrics, source_components=fed, source_errors={"three": "gone"})
    cfg = config.model_copy(update={"models": []})
    direct = availability_checks(cfg, data, CURRENT)
    via_registry = DETECTORS["availability"].run(Window.split(data, CURRENT), cfg)
    assert via_registry == direct
    assert [(c.component, c.subtype) for c in direct if c.failed] == [
        ("source:three", "unreadable"),
        ("feature_db", "missing"),
    ]


def test_the_scan_adds_its_checks_once_whatever_the_shards(config: SystemConfig, tmp_path: Path) -> None:
    cfg = _on_files(config, _stop(_frame(config), "scoring_api", 40), tmp_path)
    data = pipeline.load_window(cfg, START, END)
    one = [c for c in pipeline.scan(cfg, data, CURRENT).checks if c.detector == "availability"]
    sharded = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"shards": 3})})
    three = [c for c in pipeline.scan(sharded, data, CURRENT).checks if c.detector == "availability"]
    assert one == three and one == availability_checks(cfg, data, CURRENT)
    off = cfg.model_copy(
        update={"detectors": cfg.detectors.model_copy(update={"availability": AvailabilityDetector(enabled=False)})}
    )
    report = pipeline.scan(off, data, CURRENT)
    assert not [c for c in report.checks if c.detector == "availability"] and "availability" not in report.seconds


def test_nothing_to_watch_is_no_data_not_ok(config: SystemConfig) -> None:
    empty = MonitoringData(start=START, end=END)
    checks = DETECTORS["availability"].run(Window.split(empty, CURRENT), config)
    (nothing,) = [c for c in checks if c.status == CheckStatus.NO_DATA]
    assert nothing.component == config.system.name and "reference points" in nothing.message
    assert not [c for c in checks if c.failed]
