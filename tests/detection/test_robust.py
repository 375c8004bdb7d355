"""The vectorized robust shift test: direction, gates, floors, seasonality, onset, scale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcaflows.config.models import MetricKind, MetricSpec
from rcaflows.detection.anomaly import alarm_onset, score_matrix
from rcaflows.detection.robust import shift_table

END = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
CUT = END - timedelta(hours=1)
SUSTAIN = timedelta(minutes=10)


def _long(values: np.ndarray, specs: list[MetricSpec], start: datetime) -> pd.DataFrame:
    ts = pd.date_range(start, periods=values.shape[0], freq="1min")
    return pd.DataFrame(
        {
            "timestamp": np.repeat(ts, len(specs)),
            "component": np.tile([s.component for s in specs], len(ts)),
            "metric": np.tile([s.name for s in specs], len(ts)),
            "value": values.ravel(),
        }
    )


def _run(values: np.ndarray, specs: list[MetricSpec], **kw: object) -> pd.DataFrame:
    """Split a (minute × series) matrix ending at END into reference/current and test it."""
    start = END - timedelta(minutes=values.shape[0])
    long = _long(values, specs, start)
    ref, cur = long[long["timestamp"] < CUT], long[long["timestamp"] >= CUT]
    args = {"current_end": END, "z_threshold": 6.0, "min_relative_change": 0.25, "sustain": SUSTAIN}
    args.update(kw)
    return shift_table(ref, cur, specs, **args).set_index(["component", "metric"])


def _spec(
    name: str, kind: MetricKind = MetricKind.LATENCY, higher_is_worse: bool = True, unit: str = "ms"
) -> MetricSpec:
    return MetricSpec(component=name, name="m", kind=kind, higher_is_worse=higher_is_worse, unit=unit)


def test_only_shifts_in_the_bad_direction_fail() -> None:
    rng = np.random.default_rng(1)
    specs = [_spec(f"s{i}") for i in range(300)] + [_spec("tput", MetricKind.THROUGHPUT, False, "req/min")]
    v = 100 + rng.normal(0, 5, (6 * 60, len(specs)))
    v[-30:, 0] *= 2.5  # latency up: bad
    v[-30:, 1] *= 0.4  # latency down: good news, not a failure
    v[-30:, -1] *= 0.3  # throughput down: bad
    t = _run(v, specs)
    assert t.loc[("s0", "m"), "status"] == "fail"
    assert t.loc[("s1", "m"), "status"] == "ok"
    assert t.loc[("tput", "m"), "status"] == "fail"
    assert (t["status"] == "fail").sum() == 2
    assert t.loc[("s0", "m"), "rel_change"] == pytest.approx(1.5, abs=0.1)


def test_direction_zero_flags_both_ways_and_override_wins() -> None:
    rng = np.random.default_rng(2)
    specs = [_spec("up"), _spec("down")]
    v = 100 + rng.normal(0, 5, (180, 2))
    v[-20:, 0] *= 3
    v[-20:, 1] *= 0.3
    t = _run(v, specs, direction=[0, 0])
    assert list(t["status"]) == ["fail", "fail"]
    t = _run(v, specs, direction=[-1, 1])
    assert list(t["status"]) == ["ok", "ok"]


def test_relative_change_gate_and_warn_band() -> None:
    rng = np.random.default_rng(3)
    specs = [_spec("tight"), _spec("warn")]
    v = 100 + rng.normal(0, 0.5, (180, 2))
    v[-20:, 0] += 10  # z ~ 30 but only +10 %: below the 25 % gate
    v[:, 1] = 100 + rng.normal(0, 5, 180)
    v[-20:, 1] += 22  # z ~ 4.4 and +22 %: half the threshold -> warn
    t = _run(v, specs)
    assert t.loc[("tight", "m"), "status"] == "ok"
    assert t.loc[("tight", "m"), "bad_z"] > 6
    assert t.loc[("warn", "m"), "status"] == "warn"
    assert (t["score"] < 0.5).all()


def test_rate_floor_keeps_a_quiet_small_error_rate_from_exploding() -> None:
    specs = [_spec("api", MetricKind.ERROR_RATE, unit="%")]
    rng = np.random.default_rng(4)
    v = 0.2 + rng.normal(0, 0.002, (180, 1))  # 0.2 % that barely wiggles
    v[-20:, 0] = 0.26  # +30 %, but 0.06 points is noise for an error rate
    t = _run(v, specs)
    assert t.iloc[0]["status"] != "fail"
    assert t.iloc[0]["scale"] >= 0.05
    v[-20:, 0] = 2.0  # a real rise still fails
    assert _run(v, specs).iloc[0]["status"] == "fail"


def test_seasonal_baseline_keeps_the_daily_cycle_quiet_but_catches_a_shift() -> None:
    minutes = 25 * 60
    tod = (np.arange(minutes) + (END - timedelta(minutes=minutes)).hour * 60) % 1440
    rng = np.random.default_rng(5)
    daily = np.where((tod >= 600) & (tod < 780), 200.0, 100.0)  # a busy block 10:00-13:00 every day
    specs = [_spec("cycle"), _spec("fault")]
    v = np.column_stack([daily, daily]) + rng.normal(0, 3, (minutes, 2))
    v[-30:, 1] *= 2
    flat = _run(v, specs, seasonal=False)
    assert flat.loc[("cycle", "m"), "status"] == "fail"  # the daily peak looks like a shift...
    auto = _run(v, specs)
    assert auto.loc[("cycle", "m"), "status"] == "ok"  # ...unless compared with the same time yesterday
    assert bool(auto.loc[("cycle", "m"), "seasonal"])
    assert auto.loc[("fault", "m"), "status"] == "fail"


def test_onset_is_located_within_two_minutes() -> None:
    rng = np.random.default_rng(6)
    specs = [_spec("a")]
    v = 100 + rng.normal(0, 5, (240, 1))
    v[-37:, 0] += 150
    t = _run(v, specs)
    onset = t.iloc[0]["onset"]
    expected = pd.Timestamp(END - timedelta(minutes=37))
    assert abs((onset - expected).total_seconds()) <= 120


def test_alarm_onset_dates_the_shift_not_an_earlier_blip_that_came_back() -> None:
    rng = np.random.default_rng(9)
    x = 100 + rng.normal(0, 5, (1500, 3))
    x[900:903, 0] += 80  # a blip that alarms and comes back...
    x[1400:, 0] += 80  # ...then a shift
    x[1400:, 1] += 80  # the same shift alone
    scores = score_matrix(x)
    assert scores[900, 0] >= 0.5 and scores[1400, :2].min() >= 0.5
    rows, alarmed = alarm_onset(scores, x, np.full(3, 100.0), np.array([180.0, 180.0, 100.0]))
    assert list(rows[:2]) == [1400, 1400] and alarmed[:2].all()
    assert rows[2] == -1 and not alarmed[2]  # no change: no episode
    rows, _ = alarm_onset(scores, x, np.full(3, 100.0), np.full(3, 180.0), since=1450)
    assert rows[0] == -1 or rows[0] >= 1450  # nothing before ``since``


def test_warm_series_fail_from_their_first_alarm_even_when_it_is_hours_old() -> None:
    rng = np.random.default_rng(10)
    specs = [_spec("fresh"), _spec("old"), _spec("blip_only")]
    minutes = 25 * 60
    v = 100 + rng.normal(0, 5, (minutes, len(specs)))
    v[-50:-47, 0] += 120  # a blip 20 min before the shift is not its onset
    v[-30:, 0] += 120
    v[-180:, 1] += 120  # started three hours ago and still on: keeps failing
    v[-5:-2, 2] += 300  # too short for the sustain span
    t = _run(v, specs, seasonal=False)
    assert list(t["status"]) == ["fail", "fail", "ok"]
    onsets = t["onset"]
    assert onsets.iloc[0] == pd.Timestamp(END - timedelta(minutes=30))
    assert onsets.iloc[1] == pd.Timestamp(END - timedelta(minutes=180))
    assert (t["score"].iloc[:2] >= 0.5).all()


def test_missing_current_series_is_no_data_and_sparse_series_use_their_last_samples() -> None:
    rng = np.random.default_rng(7)
    specs = [_spec("gone"), _spec("batchy", MetricKind.ROW_COUNT, False, "rows")]
    v = 100 + rng.normal(0, 5, (240, 2))
    v[-60:, 0] = np.nan
    v[np.arange(240) % 15 != 0, 1] = np.nan  # one sample every 15 min
    v[-45:, 1] = np.where(np.isnan(v[-45:, 1]), np.nan, 20.0)
    t = _run(v, specs)
    assert t.loc[("gone", "m"), "status"] == "no_data"
    assert t.loc[("batchy", "m"), "status"] == "fail"
    assert t.loc[("batchy", "m"), "n_current"] >= 3


def test_thousands_of_series_in_one_call() -> None:
    rng = np.random.default_rng(8)
    specs = [_spec(f"s{i}") for i in range(3000)]
    v = 100 + rng.normal(0, 5, (180, len(specs)))
    v[-15:, 123] *= 3
    t = _run(v, specs)  # timing lives in bench/detection_scan.py
    assert list(t.index[t["status"] == "fail"]) == [("s123", "m")]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    level=st.floats(0.5, 1e5),
    noise=st.floats(0.0, 0.3),
    kind=st.sampled_from([MetricKind.LATENCY, MetricKind.ERROR_RATE, MetricKind.THROUGHPUT, MetricKind.CPU]),
    seed=st.integers(0, 2**16),
)
def test_stationary_series_never_fail(level: float, noise: float, kind: MetricKind, seed: int) -> None:
    rng = np.random.default_rng(seed)
    specs = [_spec("x", kind, unit="%" if kind != MetricKind.LATENCY else "ms")]
    v = level * (1 + noise * rng.standard_normal((240, 1)))
    assert _run(v, specs).iloc[0]["status"] != "fail"


def test_wide_pivot_matches_a_pandas_pivot_with_duplicates_gaps_and_inf() -> None:
    """The chunked pivot of the hourly scan gives exactly what a plain pandas pivot gives."""
    from rcaflows.detection import robust

    rng = np.random.default_rng(7)
    ts = pd.date_range("2026-01-01", periods=500, freq="1min", tz="UTC")
    comps = [f"c{i}" for i in range(12)]
    df = pd.DataFrame(
        {
            "timestamp": np.repeat(ts, len(comps)),
            "component": np.tile(comps, len(ts)),
            "metric": "m",
            "value": rng.standard_normal(len(ts) * len(comps)),
        }
    ).sample(frac=0.8, random_state=1)  # gaps, rows out of order
    dup = df.sample(300, random_state=2).assign(value=lambda d: d["value"] + 1.0)
    df = pd.concat([df, dup])
    df.loc[df.sample(50, random_state=3).index, "value"] = np.inf
    keys = pd.MultiIndex.from_tuples([(c, "m") for c in [*comps[::-1], "absent"]])
    old_rows = robust._PIVOT_ROWS
    robust._PIVOT_ROWS = 997  # many chunks, with duplicates across chunk borders
    try:
        times, wide = robust._wide(df, keys)
    finally:
        robust._PIVOT_ROWS = old_rows
    clean = df.assign(value=df["value"].where(np.isfinite(df["value"])))
    expected = clean.pivot_table(index="timestamp", columns="component", values="value", aggfunc="mean")
    expected = expected.reindex(index=pd.DatetimeIndex(times, tz="UTC"), columns=[c for c, _ in keys])
    np.testing.assert_allclose(wide, expected.to_numpy(dtype=float), equal_nan=True)
    assert np.isnan(wide[:, -1]).all()  # a key without data stays empty
