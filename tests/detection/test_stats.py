"""Tests of the statistical building blocks: scores, change points, drift, BH."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from rcaflows.detection.stats import (
    bh_adjust,
    change_points,
    detect_drift,
    onset,
    robust_location_scale,
    score_matrix,
    score_series,
)
from rcaflows.errors import DataError


def minutes(n: int, tz: str | None = "UTC") -> pd.DatetimeIndex:
    return pd.date_range("2026-01-05", periods=n, freq="min", tz=tz)


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def pw_constant(n: int, bkps: list[int], means: list[float], seed: int) -> np.ndarray:
    """Return a piecewise-constant signal with unit Gaussian noise."""
    x = noise(n, seed)
    for start, end, m in zip([0, *bkps], [*bkps, n], means, strict=True):
        x[start:end] += m
    return x


# --------------------------------------------------------------------------- score_series


def test_scores_lie_in_unit_interval_on_heavy_tails() -> None:
    x = np.random.default_rng(0).standard_t(2, size=(3000, 20)) * 1e3
    s = score_matrix(x, period=60)
    assert np.nanmin(s) >= 0.0 and np.nanmax(s) <= 1.0
    assert not np.isnan(s).any()


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=120),
    cut=st.integers(1, 120),
)
def test_appending_future_points_never_changes_past_scores(values: list[float], cut: int) -> None:
    series = pd.Series(values, index=minutes(len(values)), dtype=float)
    cut = min(cut, len(values))
    full = score_series(series, period="30min")
    past = score_series(series.iloc[:cut], period="30min")
    np.testing.assert_allclose(full.iloc[:cut].to_numpy(), past.to_numpy(), equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 400), min_size=2, max_size=150),
    seed=st.integers(0, 100),
    cut=st.integers(1, 150),
)
def test_causality_holds_for_irregular_sampling(gaps: list[int], seed: int, cut: int) -> None:
    index = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(np.cumsum(gaps), unit="min")
    series = pd.Series(noise(len(gaps), seed), index=index)
    cut = min(cut, len(gaps))
    full = score_series(series, period="6h")
    np.testing.assert_allclose(full.iloc[:cut], score_series(series.iloc[:cut], period="6h"))


def test_score_matrix_is_causal_with_seasonality() -> None:
    x = np.random.default_rng(1).normal(size=(500, 3))
    full = score_matrix(x, period=48)
    for cut in (97, 200, 333):
        np.testing.assert_allclose(full[:cut], score_matrix(x[:cut], period=48))


@settings(max_examples=20, deadline=None)
@given(a=st.floats(0.01, 1e3), b=st.floats(-1e4, 1e4), seed=st.integers(0, 1000))
def test_scores_are_invariant_to_positive_affine_maps(a: float, b: float, seed: int) -> None:
    x = pd.Series(noise(300, seed), index=minutes(300))
    x.iloc[250] += 7
    np.testing.assert_allclose(score_series(a * x + b), score_series(x), atol=1e-6)


def test_spike_scores_high_while_seasonal_noise_stays_low() -> None:
    n = 60 * 24 * 4
    t = np.arange(n)
    daily = 20 * np.sin(2 * np.pi * t / 1440) + 10 * (t % 1440 > 600) * (t % 1440 < 900)
    x = pd.Series(100 + daily + noise(n, 3), index=minutes(n))
    spike = 3 * 1440 + 700
    x.iloc[spike] += 12
    s = score_series(x)
    assert s.iloc[spike] > 0.9
    normal = s.drop(s.index[spike]).iloc[2 * 1440 :]
    assert (normal < 0.5).mean() > 0.99
    assert normal.median() < 0.05


def test_score_series_and_score_matrix_share_the_math() -> None:
    n = 60 * 24 * 3
    t = np.arange(n)
    x = 10 * np.sin(2 * np.pi * t / 1440) + noise(n, 15)
    matrix = score_matrix(np.c_[x, 2 * x], period=1440)
    series = score_series(pd.Series(x, index=minutes(n)), period="1D")
    np.testing.assert_allclose(series.to_numpy(), matrix[:, 0])
    np.testing.assert_allclose(matrix[:, 1], matrix[:, 0])


def test_seasonal_term_keeps_the_daily_pattern_quiet() -> None:
    # hourly data with a business-hours plateau ten times the noise
    n = 24 * 30
    t = np.arange(n)
    x = 10.0 * ((t % 24 > 8) & (t % 24 < 18)) + noise(n, 4)
    x[24 * 20 + 12] += 8
    with_season = score_matrix(x[:, None], period=24)[:, 0]
    assert with_season[24 * 20 + 12] > 0.9
    assert (np.delete(with_season, 24 * 20 + 12)[48:] > 0.5).mean() < 0.01


def test_level_shift_scores_high_then_decays_after_it_persists() -> None:
    x = noise(400, 5)
    x[200:] += 10
    s = score_series(pd.Series(x, index=minutes(400)))
    assert (s.iloc[200:215] > 0.9).all()
    assert (s.iloc[240:] < 0.5).mean() > 0.98


def test_sparse_counts_and_heavy_tails_rarely_page() -> None:
    rng = np.random.default_rng(16)
    counts = score_matrix(rng.poisson(0.2, size=(3000, 50)).astype(float))[100:]
    heavy = score_matrix(rng.standard_t(3, size=(3000, 50)))[100:]
    assert (counts > 0.9).mean() < 0.03  # a MAD of 0 must not turn every 1 into a page
    assert (heavy > 0.9).mean() < 0.02


def test_trend_is_not_an_anomaly() -> None:
    t = np.arange(2000)
    s = score_matrix((0.05 * t + noise(2000, 6))[:, None])[:, 0]
    assert (s[100:] > 0.5).mean() < 0.01


def test_missing_and_infinite_values_score_nan_without_crashing() -> None:
    x = pd.Series(noise(100, 7), index=minutes(100))
    x.iloc[50] = np.nan
    x.iloc[60] = np.inf
    x.iloc[61] = -np.inf
    s = score_series(x)
    assert s.iloc[[50, 60, 61]].isna().all()
    assert s.drop(s.index[[50, 60, 61]]).notna().all()


def test_constant_series_scores_zero() -> None:
    s = score_series(pd.Series(3.0, index=minutes(200)))
    assert (s == 0.0).all()


def test_single_point_scores_zero() -> None:
    assert score_series(pd.Series([1.0], index=minutes(1))).tolist() == [0.0]


def test_naive_and_aware_indexes_score_the_same() -> None:
    x = noise(300, 8)
    aware = score_series(pd.Series(x, index=minutes(300, tz="Europe/Paris")))
    naive = score_series(pd.Series(x, index=minutes(300, tz=None)))
    np.testing.assert_allclose(aware.to_numpy(), naive.to_numpy())
    assert aware.index.equals(minutes(300, tz="Europe/Paris"))


def test_irregular_sampling_with_gaps_is_scored() -> None:
    rng = np.random.default_rng(9)
    stamps = np.sort(rng.choice(60 * 24 * 4, size=3000, replace=False))
    index = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(stamps, unit="min")
    x = pd.Series(5 * np.sin(2 * np.pi * stamps / 1440) + rng.normal(size=3000), index=index)
    x.iloc[2500] += 15
    s = score_series(x)
    assert s.iloc[2500] > 0.9
    assert (s.iloc[100:] > 0.5).mean() < 0.02


@pytest.mark.parametrize(
    ("order", "message"),
    [([0, 1, 3, 2, 4], "out of order at position 3"), ([0, 1, 1, 2, 3], "duplicate timestamp")],
)
def test_unsorted_or_duplicated_index_is_a_data_error(order: list[int], message: str) -> None:
    series = pd.Series(np.arange(5.0), index=minutes(5)[order])
    with pytest.raises(DataError, match=message):
        score_series(series)


# --------------------------------------------------------------------------- change points


@pytest.mark.parametrize("seed", range(5))
def test_change_points_find_known_breaks(seed: int) -> None:
    x = pw_constant(600, [150, 300, 420], [0.0, 3.0, -1.0, 1.5], seed)
    found = change_points(x)
    assert len(found) == 3
    for truth, got in zip([150, 300, 420], found, strict=True):
        assert abs(truth - got) <= 3


def test_change_points_on_pure_noise_are_rare() -> None:
    false_positives = sum(len(change_points(noise(500, seed))) for seed in range(20))
    assert false_positives <= 2


def test_isolated_spikes_do_not_open_segments() -> None:
    x = noise(500, 14)
    x[200] += 30
    x[300] -= 25
    assert change_points(x) == []


def test_change_point_positions_refer_to_the_original_index() -> None:
    x = pw_constant(200, [100], [0.0, 5.0], 10)
    x[[10, 20, 30]] = np.nan
    assert change_points(x) == [pytest.approx(100, abs=3)]


def test_change_points_edge_cases() -> None:
    assert change_points(np.full(100, 2.0)) == []
    assert change_points(noise(9, 0), min_size=5) == []
    assert change_points(np.r_[np.zeros(30), np.ones(30)]) == [30]


def test_change_points_on_ten_thousand_points() -> None:
    x = pw_constant(10_000, [2000, 5000, 8000], [0.0, 1.0, -1.0, 0.5], 11)
    found = change_points(x)  # timing lives in bench/ (python bench/run.py)
    assert len(found) == 3


def test_onset_returns_the_largest_shift() -> None:
    x = pd.Series(pw_constant(300, [100, 200], [0.0, 1.5, 8.0], 12), index=minutes(300))
    assert abs(onset(x) - x.index[200]) <= pd.Timedelta("3min")
    assert onset(pd.Series(noise(300, 13), index=minutes(300))) is None
    assert onset(x, baseline_end=x.index[250]) is None


# --------------------------------------------------------------------------- drift


def frame(n: int, k: int, seed: int, shift: float = 0.0, shifted: int = 0) -> pd.DataFrame:
    data = np.random.default_rng(seed).normal(size=(n, k))
    data[:, :shifted] += shift
    return pd.DataFrame(data, columns=[f"f{i}" for i in range(k)])


def test_drift_finds_the_shifted_columns_only() -> None:
    ref = frame(100_000, 30, seed=1)
    cur = frame(100_000, 30, seed=2, shift=0.3, shifted=10)
    out = detect_drift(ref, cur)
    assert list(out.columns) == [
        "column",
        "method",
        "statistic",
        "p_value",
        "effect",
        "drifted",
        "n_reference",
        "n_current",
    ]
    assert set(out.loc[out["drifted"], "column"]) == {f"f{i}" for i in range(10)}
    assert (out["method"] == "ks").all()
    assert (out["n_reference"] == 100_000).all()


def test_tiny_shift_on_huge_sample_is_not_drift() -> None:
    ref = frame(100_000, 3, seed=3)
    cur = frame(100_000, 3, seed=4, shift=0.03, shifted=3)
    out = detect_drift(ref, cur, max_rows=200_000)
    assert (out["p_value"] < 0.001).all()  # significant …
    assert not out["drifted"].any()  # … but below min_effect


def test_ks_statistic_and_effect_match_scipy() -> None:
    rng = np.random.default_rng(5)
    a = np.r_[rng.normal(size=700), np.zeros(50)]  # ties
    b = rng.normal(0.4, 1.3, size=400)
    out = detect_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
    assert out["statistic"].iloc[0] == pytest.approx(sps.ks_2samp(a, b).statistic)
    iqr = np.subtract(*np.quantile(a, [0.75, 0.25])) / 1.349
    assert out["effect"].iloc[0] == pytest.approx(sps.wasserstein_distance(a, b) / iqr, rel=0.02)


def test_drift_on_100k_rows_by_100_columns() -> None:
    ref = frame(100_000, 100, seed=6)
    cur = frame(100_000, 100, seed=7)
    out = detect_drift(ref, cur)  # timing lives in bench/drift.py
    assert not out["drifted"].any()


def test_categorical_with_thousands_of_levels() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"user": rng.integers(0, 5000, 50_000).astype(str)})
    cur_same = pd.DataFrame({"user": rng.integers(0, 5000, 50_000).astype(str)})
    cur_moved = pd.DataFrame({"user": rng.integers(2500, 7500, 50_000).astype(str)})
    same = detect_drift(ref, cur_same).iloc[0]
    moved = detect_drift(ref, cur_moved).iloc[0]
    assert same["method"] == "chi2" and not same["drifted"]
    assert moved["drifted"] and moved["effect"] > 0.3


def test_few_valued_numeric_and_bool_columns_are_categorical() -> None:
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"k": rng.integers(0, 3, 5000), "b": rng.random(5000) < 0.5})
    cur = pd.DataFrame({"k": rng.integers(0, 3, 5000), "b": rng.random(5000) < 0.8})
    out = detect_drift(ref, cur).set_index("column")
    assert (out["method"] == "chi2").all()
    assert out.loc["b", "drifted"] and not out.loc["k", "drifted"]
    assert out.loc["b", "effect"] == pytest.approx(0.3, abs=0.03)


def test_null_share_change_schema_and_no_data() -> None:
    rng = np.random.default_rng(10)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "gone": 1.0, "empty": np.nan})
    cur = pd.DataFrame({"x": rng.normal(size=5000), "new": 1.0, "empty": np.nan})
    cur.loc[:1499, "x"] = np.nan
    out = detect_drift(ref, cur).set_index("column")
    assert out.loc["x", "method"] == "null_rate" and out.loc["x", "drifted"]
    assert out.loc["x", "effect"] == pytest.approx(0.3)
    assert out.loc["gone", "method"] == "schema" and out.loc["gone", "drifted"]
    assert out.loc["new", "method"] == "schema" and out.loc["new", "drifted"]
    assert out.loc["empty", "method"] == "no_data" and not out.loc["empty", "drifted"]
    assert (detect_drift(ref.iloc[:0], cur)["method"].isin(["no_data", "schema"])).all()


# --------------------------------------------------------------------------- helpers


def test_bh_adjust_matches_a_hand_computed_example() -> None:
    # sorted p: .01 .03 .04 .2 (m = 4) → .04, .06, .0533, .2 → monotone: .04, .0533, .0533, .2
    adjusted = bh_adjust(np.array([0.01, 0.04, 0.03, np.nan, 0.2]))
    np.testing.assert_allclose(adjusted, [0.04, 0.16 / 3, 0.16 / 3, np.nan, 0.2])


def test_robust_location_scale_floors_constant_series() -> None:
    x = np.c_[np.full(50, 10.0), noise(50, 11) * 2, np.full(50, np.nan)]
    x[0, 1] = 1e6  # an outlier must not move either statistic much
    loc, scale = robust_location_scale(x, axis=0)
    assert loc[0] == 10.0 and scale[0] == pytest.approx(1e-2)
    assert abs(loc[1]) < 0.6 and 1.4 < scale[1] < 2.8
    assert np.isnan(loc[2]) and np.isnan(scale[2])
