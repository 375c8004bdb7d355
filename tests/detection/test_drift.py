"""Tests of detect_drift: the practical-significance rule, its tests, and bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from rcaflows.detection.drift import DriftRule, detect_drift
from rcaflows.errors import DataError

CONTRACT = ["column", "method", "statistic", "p_value", "effect", "drifted", "n_reference", "n_current"]
N = 100_000


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def zero_inflated(g: np.random.Generator, n: int, zero: float) -> np.ndarray:
    return np.where(g.random(n) < zero, 0.0, 1.0 + g.poisson(8.0, n))


def levels(g: np.random.Generator, n: int, k: int, p: np.ndarray | None = None) -> np.ndarray:
    if p is None:
        p = 1.0 / np.arange(1, k + 1)
        p /= p.sum()
    return np.array([f"L{j:03d}" for j in range(k)], dtype=object)[g.choice(k, n, p=p)]


def moved(k: int, src: int, dst: int, points: float) -> np.ndarray:
    """Return Zipf shares over ``k`` levels with ``points`` of share moved from ``src`` to ``dst``."""
    p = 1.0 / np.arange(1, k + 1)
    p /= p.sum()
    p[src] -= points
    p[dst] += points
    return p


def mixed(n: int, seed: int) -> pd.DataFrame:
    """Return unchanged-column material: Gaussian, heavy tails, zero-inflated, NaNs, 200 levels, bool."""
    g = rng(seed)
    nan_col = g.lognormal(1.0, 0.7, n)
    nan_col[g.random(n) < 0.2] = np.nan
    cat = levels(g, n, 200).astype(object)
    cat[g.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "gauss": g.normal(40.0, 3.0, n),
            "student_t2": g.standard_t(2, n),
            "lognormal": g.lognormal(2.0, 1.2, n),
            "pareto_1_1": 1.0 + g.pareto(1.1, n),
            "zero_inflated": zero_inflated(g, n, 0.7),
            "with_nans": nan_col,
            "poisson": g.poisson(1.0, n).astype(float),
            "cat200": cat,
            "cat5": levels(g, n, 5),
            "flag": g.random(n) < 0.3,
        }
    )


# --------------------------------------------------------------------------- each shifted kind is kept

Shift = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]

SHIFTS: dict[str, Shift] = {
    "mean_0.1_sd": lambda g, n: (g.normal(5, 2, n), g.normal(5 + 0.2, 2, n)),
    "sd_x1.15": lambda g, n: (g.normal(5, 2, n), g.normal(5, 2 * 1.15, n)),
    "upper_tail_x2": lambda g, n: (
        g.lognormal(1, 1, n),
        (lambda x: np.where(x > np.quantile(x, 0.95), 2 * x, x))(g.lognormal(1, 1, n)),
    ),
    "lower_tail_x2_student": lambda g, n: (
        g.standard_t(3, n),
        (lambda x: np.where(x < np.quantile(x, 0.05), 2 * x, x))(g.standard_t(3, n)),
    ),
    "zero_share_-4_points": lambda g, n: (zero_inflated(g, n, 0.6), zero_inflated(g, n, 0.56)),
    "null_share_+3_points": lambda g, n: (
        np.where(g.random(n) < 0.05, np.nan, g.normal(size=n)),
        np.where(g.random(n) < 0.08, np.nan, g.normal(size=n)),
    ),
    "share_3_points_of_20": lambda g, n: (levels(g, n, 20), levels(g, n, 20, moved(20, 0, 5, 0.03))),
    "share_6_points_of_5": lambda g, n: (levels(g, n, 5), levels(g, n, 5, moved(5, 0, 1, 0.06))),
    "share_5_points_of_200": lambda g, n: (levels(g, n, 200), levels(g, n, 200, moved(200, 0, 10, 0.05))),
    "new_level_3_percent": lambda g, n: (
        levels(g, n, 200),
        np.where(g.random(n) < 0.03, "NEW", levels(g, n, 200)).astype(object),
    ),
    "bool_share_3_points": lambda g, n: (g.random(n) < 0.30, g.random(n) < 0.33),
}


@pytest.mark.parametrize("kind", list(SHIFTS))
def test_each_subtle_shift_is_kept_at_100k_rows(kind: str) -> None:
    g = rng(1)
    ref_x, cur_x = SHIFTS[kind](g, N)
    base = mixed(N, seed=2)
    ref = base.assign(x=ref_x)
    cur = mixed(N, seed=3).assign(x=cur_x)
    out = detect_drift(ref, cur).set_index("column")
    assert out.loc["x", "drifted"], out.loc["x"].to_dict()
    assert out.loc["x", "effect"] >= 0.1
    assert not out.drop(index="x")["drifted"].any(), out[out["drifted"]]


# --------------------------------------------------------------------------- unchanged columns stay quiet


@pytest.mark.parametrize(("n", "seed"), [(N, 10), (N, 20), (1_000, 30), (1_000, 40), (300, 50)])
def test_unchanged_mixed_type_columns_are_not_flagged(n: int, seed: int) -> None:
    out = detect_drift(mixed(n, seed), mixed(n, seed + 1))
    assert not out["drifted"].any(), out[out["drifted"]]
    assert set(CONTRACT) <= set(out.columns)


def test_significant_but_trivial_changes_are_not_drift() -> None:
    g = rng(4)
    ref = pd.DataFrame({"x": g.normal(size=N), "c": levels(g, N, 5), "z": zero_inflated(g, N, 0.6)})
    cur = pd.DataFrame(
        {
            "x": g.normal(0.03, 1.0, N),  # a mean moving 0.03 sd
            "c": levels(g, N, 5, moved(5, 0, 1, 0.008)),  # a share moving under a point
            "z": zero_inflated(g, N, 0.588),  # the zero share moving 1.2 points
        }
    )
    out = detect_drift(ref, cur, max_rows=N).set_index("column")
    assert (out["p_value"] < 0.001).all()  # significant …
    assert not out["drifted"].any()  # … but under every bar
    assert (out["effect"] < 0.1).all()


def test_min_effect_scales_every_bar() -> None:
    g = rng(5)
    ref = pd.DataFrame({"x": g.normal(size=N)})
    cur = pd.DataFrame({"x": g.normal(0.08, 1.0, N)})  # 0.08 sd: 1.6x the mean bar
    at_default = detect_drift(ref, cur).iloc[0]
    assert at_default["drifted"] and 0.13 < at_default["effect"] < 0.2
    assert not detect_drift(ref, cur, min_effect=0.2).iloc[0]["drifted"]
    assert not detect_drift(ref, cur, rule=DriftRule(share=0.04, mean_sd=0.1)).iloc[0]["drifted"]


# --------------------------------------------------------------------------- what the rows say


def test_sizes_and_reasons_match_a_direct_computation() -> None:
    g = rng(6)
    ref = pd.DataFrame({"c": levels(g, 20_000, 5), "x": g.normal(10, 2, 20_000)})
    cur = pd.DataFrame({"c": levels(g, 20_000, 5, moved(5, 0, 3, 0.1)), "x": g.normal(11, 2, 20_000)})
    out = detect_drift(ref, cur).set_index("column")
    shares = pd.concat([ref["c"].value_counts(normalize=True), cur["c"].value_counts(normalize=True)], axis=1)
    moves = (shares.iloc[:, 1] - shares.iloc[:, 0]).abs()
    assert out.loc["c", "aspect"] == "share"
    assert out.loc["c", "size"] == pytest.approx(moves.max())
    assert repr(moves.idxmax()) in out.loc["c", "reason"]
    assert out.loc["c", "effect"] == pytest.approx(0.1 * moves.max() / 0.02)
    assert out.loc["x", "method"] in {"mean", "quantile_share"} and out.loc["x", "p_value"] < 1e-100
    # for a Gaussian the share and mean bars meet (0.02 across the median ~ 0.05 sd); raise one
    x = detect_drift(ref[["x"]], cur[["x"]], rule=DriftRule(share=1.0)).iloc[0]
    assert x["aspect"] == "mean"
    assert x["size"] == pytest.approx(abs(cur["x"].mean() - ref["x"].mean()) / ref["x"].std())


def test_tail_stretch_is_reported_as_a_tail() -> None:
    g = rng(7)
    x = 1.0 + g.pareto(1.5, N)
    y = 1.0 + g.pareto(1.5, N)
    y = np.where(y > np.quantile(y, 0.95), 2 * y, y)
    # the tail alone keeps it: share and mean bars out of reach
    rule = DriftRule(share=1.0, mean_sd=100.0)
    out = detect_drift(pd.DataFrame({"x": x}), pd.DataFrame({"x": y}), rule=rule).iloc[0]
    assert out["drifted"] and out["aspect"] == "tail"
    assert out["size"] == pytest.approx(2.0, rel=0.15)
    assert "upper tail" in out["reason"]


def test_categorical_with_thousands_of_levels() -> None:
    g = rng(8)
    ref = pd.DataFrame({"user": g.integers(0, 5000, 50_000).astype(str)})
    cur_same = pd.DataFrame({"user": g.integers(0, 5000, 50_000).astype(str)})
    cur_moved = pd.DataFrame({"user": g.integers(2500, 7500, 50_000).astype(str)})
    same = detect_drift(ref, cur_same).iloc[0]
    gone = detect_drift(ref, cur_moved).iloc[0]
    assert same["method"] in {"chi2", "level_share"} and not same["drifted"]
    assert gone["drifted"] and gone["aspect"] == "total_variation" and gone["size"] > 0.5


def test_few_valued_numeric_and_bool_columns_are_categorical() -> None:
    g = rng(9)
    ref = pd.DataFrame({"k": g.integers(0, 3, 5000), "b": g.random(5000) < 0.5})
    cur = pd.DataFrame({"k": g.integers(0, 3, 5000), "b": g.random(5000) < 0.8})
    out = detect_drift(ref, cur).set_index("column")
    assert out["method"].isin(["chi2", "level_share"]).all()
    assert out.loc["b", "drifted"] and not out.loc["k", "drifted"]
    assert out.loc["b", "size"] == pytest.approx(0.3, abs=0.03)


def test_category_and_arrow_string_and_object_columns_agree() -> None:
    g = rng(11)
    a, b = levels(g, 20_000, 30), levels(g, 20_000, 30, moved(30, 0, 2, 0.05))
    results = [
        detect_drift(pd.DataFrame({"c": pd.Series(a, dtype=dt)}), pd.DataFrame({"c": pd.Series(b, dtype=dt)})).iloc[0]
        for dt in ("object", "category", "str")
    ]
    for r in results:
        assert r["drifted"] and r["size"] == pytest.approx(results[0]["size"])
        assert r["statistic"] == pytest.approx(results[0]["statistic"])


@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
def test_datetimes_are_compared_as_numbers(tz: str | None) -> None:
    t = pd.Series(pd.date_range("2026-01-01", periods=5000, freq="min", tz=tz))
    t[::10] = pd.NaT
    out = detect_drift(pd.DataFrame({"t": t}), pd.DataFrame({"t": t + pd.Timedelta("3D")})).iloc[0]
    assert out["drifted"] and out["method"] != "schema" and out["n_current"] == 4500
    same = detect_drift(pd.DataFrame({"t": t}), pd.DataFrame({"t": t})).iloc[0]
    assert not same["drifted"]


def test_unhashable_values_are_compared_as_text() -> None:
    ref = pd.DataFrame({"tags": pd.Series([["a"], ["b"]] * 500, dtype=object)})
    cur = pd.DataFrame({"tags": pd.Series([["a"]] * 1000, dtype=object)})
    out = detect_drift(ref, cur).iloc[0]
    assert out["drifted"] and out["size"] == pytest.approx(0.5) and "['a']" in out["reason"]


def test_reexport_from_stats_is_the_same_function() -> None:
    from rcaflows.detection import stats

    assert stats.detect_drift is detect_drift


# --------------------------------------------------------------------------- nulls, schema, bad input


def test_null_share_change_schema_and_no_data() -> None:
    g = rng(10)
    ref = pd.DataFrame({"x": g.normal(size=5000), "gone": 1.0, "empty": np.nan})
    cur = pd.DataFrame({"x": g.normal(size=5000), "new": 1.0, "empty": np.nan})
    cur.loc[:1499, "x"] = np.nan
    out = detect_drift(ref, cur).set_index("column")
    assert out.loc["x", "method"] == "null_rate" and out.loc["x", "drifted"]
    assert out.loc["x", "size"] == pytest.approx(0.3)
    assert out.loc["x", "n_current"] == 3500
    assert out.loc["gone", "method"] == "schema" and out.loc["gone", "drifted"]
    assert out.loc["new", "method"] == "schema" and out.loc["new", "drifted"]
    assert out.loc["empty", "method"] == "no_data" and not out.loc["empty", "drifted"]


def test_infinities_count_as_nulls() -> None:
    g = rng(12)
    x = g.normal(size=5000)
    y = g.normal(size=5000)
    y[:500] = np.inf
    out = detect_drift(pd.DataFrame({"x": x}), pd.DataFrame({"x": y})).iloc[0]
    assert out["n_current"] == 4500 and out["method"] == "null_rate" and out["drifted"]


def test_empty_frames_give_no_data_rows() -> None:
    g = rng(13)
    full = pd.DataFrame({"x": g.normal(size=100), "c": levels(g, 100, 3)})
    for ref, cur in ((full.iloc[:0], full), (full, full.iloc[:0]), (full.iloc[:0], full.iloc[:0])):
        out = detect_drift(ref, cur)
        assert list(out["method"]) == ["no_data", "no_data"] and not out["drifted"].any()
    empty = detect_drift(pd.DataFrame(), pd.DataFrame())
    assert empty.empty and set(CONTRACT) <= set(empty.columns)


def test_all_nan_columns() -> None:
    g = rng(14)
    ref = pd.DataFrame({"a": g.normal(size=1000), "b": np.nan, "c": levels(g, 1000, 4)})
    cur = pd.DataFrame({"a": np.nan, "b": np.nan, "c": pd.Series([None] * 1000, dtype=object)})
    out = detect_drift(ref, cur).set_index("column")
    # a column that went entirely missing is a null-share drift, not a dtype change
    assert out.loc["a", "method"] == "null_rate" and out.loc["a", "drifted"] and out.loc["a", "n_current"] == 0
    assert out.loc["b", "method"] == "no_data" and not out.loc["b", "drifted"]
    assert out.loc["c", "drifted"] and out.loc["c", "method"] == "null_rate" and "null" in out.loc["c", "reason"]


def test_mismatched_dtypes_are_a_schema_change() -> None:
    g = rng(15)
    ref = pd.DataFrame({"x": g.normal(size=1000), "n": g.integers(0, 100, 1000), "f": g.normal(size=1000)})
    cur = pd.DataFrame(
        {"x": g.normal(size=1000).astype(str), "n": g.integers(0, 100, 1000).astype(float), "f": g.normal(size=1000)}
    )
    out = detect_drift(ref, cur).set_index("column")
    assert out.loc["x", "method"] == "schema" and out.loc["x", "drifted"]
    assert "numeric (float64) in reference, categorical" in out.loc["x", "reason"]
    assert out.loc["n", "method"] != "schema" and not out.loc["n", "drifted"]  # int vs float: both numeric
    assert not out.loc["f", "drifted"]


def test_bad_input_is_a_data_error() -> None:
    ok = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(DataError, match="reference must be a pandas DataFrame"):
        detect_drift(ok["x"], ok)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"duplicate column names \['x'\]"):
        detect_drift(ok, pd.concat([ok, ok], axis=1))
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] are in neither frame"):
        detect_drift(ok, ok, columns=["x", "nope"])
