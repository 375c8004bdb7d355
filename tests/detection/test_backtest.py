"""Backtest: hourly replay of detection on the demo world, in a scratch store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rcaflows.config import load_config
from rcaflows.config.models import SystemConfig
from rcaflows.demo import DEMO_END
from rcaflows.detection.backtest import backtest, hour_ends, scenario_config
from rcaflows.errors import ConfigError

H = timedelta(hours=1)


def _config(scenario: str, tmp_path: Path, **alerting: int) -> SystemConfig:
    cfg = scenario_config(load_config(), scenario)
    store = cfg.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'real.db'}"})
    return cfg.model_copy(update={"store": store, "alerting": cfg.alerting.model_copy(update=alerting)})


def test_replay_counts_pending_then_opened_per_hour(tmp_path: Path) -> None:
    cfg = _config("deploy_latency", tmp_path, pending_failures=2, pending_runs=2)
    result = backtest(cfg, DEMO_END - 2 * H, DEMO_END)
    assert [h.at for h in result.hours] == [DEMO_END - H, DEMO_END]
    perf = "performance_availability"
    assert [h.counts for h in result.hours] == [{"pending": {perf: 1}}, {"opened": {perf: 1}}]
    assert result.totals() == {
        "opened": {perf: 1},
        "deduplicated": {},
        "silence": {},
        "inhibition": {},
        "pending": {perf: 1},
    }
    assert all(h.error is None and h.checks > 0 for h in result.hours)
    assert not (tmp_path / "real.db").exists()  # the configured store was never opened


@pytest.mark.slow
def test_replay_deduplicates_a_fault_that_stays(tmp_path: Path) -> None:
    result = backtest(_config("deploy_latency", tmp_path), DEMO_END - 3 * H, DEMO_END)
    perf = "performance_availability"
    assert [h.counts for h in result.hours] == [{"opened": {perf: 1}}, *[{"deduplicated": {perf: 1}}] * 2]


@pytest.mark.slow
def test_no_fault_replay_opens_nothing(tmp_path: Path) -> None:
    result = backtest(_config("no_fault", tmp_path), DEMO_END - 2 * H, DEMO_END)
    assert len(result.hours) == 2
    assert all(h.failed_checks == 0 and h.counts == {} for h in result.hours)


def test_hour_ends_cover_full_hours_after_start_up_to_end() -> None:
    t = datetime.fromisoformat("2026-03-02T09:30:00+00:00")
    assert hour_ends(t, t + 2 * H) == [t + timedelta(minutes=30), t + timedelta(minutes=90)]
    with pytest.raises(ConfigError, match="not after"):
        hour_ends(t, t)
    with pytest.raises(ConfigError, match="no timezone"):
        hour_ends(datetime(2026, 3, 2), t)
    with pytest.raises(ConfigError, match="at most"):
        hour_ends(t, t + timedelta(days=365))


def test_scenario_needs_a_demo_source() -> None:
    cfg = load_config()
    files = cfg.model_copy(update={"sources": [s.model_copy(update={"kind": "files"}) for s in cfg.sources]})
    with pytest.raises(ConfigError, match="demo"):
        scenario_config(files, "deploy_latency")
    assert scenario_config(cfg, "deploy_latency").system.name.endswith("/deploy_latency")
