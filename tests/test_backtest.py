"""Backtest: hourly replay of the detection pipeline on the demo world, in a scratch store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rcaflows.backtest import backtest, hour_ends
from rcaflows.config.models import SystemConfig
from rcaflows.demo import DEMO_END, demo_config
from rcaflows.errors import ConfigError

H = timedelta(hours=1)


def _config(scenario: str, tmp_path: Path, **alerting: int) -> SystemConfig:
    cfg = demo_config(scenario)
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
