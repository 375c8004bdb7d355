"""Individual fairness: near-identical individuals across a protected attribute, on the prediction log.

An injected individual unfairness (the model shifts one group's outcome among otherwise identical
rows) fails the fairness detector's ``individual_fairness`` check for that column with example
pairs; a group-level base-rate difference with consistent individual treatment does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from tests.detection.detection_data import with_model

from rcaflows.config.models import (
    IndividualFairnessConfig,
    ModelAnalysisConfig,
    SystemConfig,
)
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.fairness import FairnessDetector
from rcaflows.detection.models import CheckResult
from rcaflows.model.individual import Outcomes, compare_windows, measure, robust_scale
from rcaflows.vocab import CheckStatus

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = END - timedelta(hours=7)
W = np.array([1.5, -1.0, 0.7, 0.4])
CLASSES = np.array(["billing", "tech", "sales"])


def _config(task: str, **analysis: object) -> SystemConfig:
    """Return a system whose model ``m`` of ``task`` has the protected column among its features."""
    return with_model(
        task,
        ["x0", "x1", "x2", "x3", "channel", "sex"],  # the protected column is a feature too
        ModelAnalysisConfig(individual_fairness=IndividualFairnessConfig(**analysis)),
        groups=["sex", "region"],
        request_id="request_id",
    )


def _frame(
    task: str, n: int, start: datetime, end: datetime, seed: int, *, base_shift: float = 0.0, unfair: float = 0.0
) -> pd.DataFrame:
    """Return a log whose model depends on the features only, plus ``unfair`` for group f.

    ``base_shift`` moves group f's features (so its base rate differs, treatment stays consistent).
    """
    rng = np.random.default_rng(seed)
    span = (end - start).total_seconds()
    ts = pd.Series(
        pd.to_datetime(np.sort(rng.uniform(0, span, n)), unit="s", utc=True)
        + (start - datetime(1970, 1, 1, tzinfo=UTC))
    )
    sex = rng.choice(["f", "m"], n)
    region = rng.choice(["north", "south"], n)
    channel = rng.choice(["web", "app"], n)
    x = rng.normal(size=(n, 4))
    x[:, 0] += np.where(sex == "f", base_shift, 0.0)
    fair = x @ W + (channel == "app") * 0.5
    logit = fair + np.where(sex == "f", unfair, 0.0)
    out = pd.DataFrame(
        {
            "timestamp": ts,
            **{f"x{i}": x[:, i] for i in range(4)},
            "channel": channel,
            "sex": sex,
            "region": region,
            "label_at": ts + pd.Timedelta(minutes=5),
            "request_id": [f"req-{seed}-{i}" for i in range(n)],
        }
    )
    if task == "binary":
        s = 1 / (1 + np.exp(-logit))
        out["score"], out["prediction"] = s, (s >= 0.5).astype(int)
        out["label"] = (rng.random(n) < 1 / (1 + np.exp(-fair))).astype(float)
    elif task == "multiclass":
        # three classes cut from the logit: an unfair shift moves group f across the cuts
        out["prediction"] = CLASSES[np.digitize(logit, [-1.0, 1.0])]
        out["label"] = CLASSES[np.digitize(fair + rng.normal(0, 0.5, n), [-1.0, 1.0])]
    else:
        out["prediction"] = 100 + 10 * logit
        out["label"] = 100 + 10 * fair + rng.normal(0, 5, n)
    return out


def _run(task: str, n: int = 6_000, ref_kw: dict | None = None, cur_kw: dict | None = None, **cfg: object):
    ref = _frame(task, 5 * n, START, SPLIT, 1, **(ref_kw or {}))
    cur = _frame(task, n, SPLIT, END, 2, **(cur_kw or {}))
    window = Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )
    checks = FairnessDetector().run(window, _config(task, **cfg))
    return {c.subtype: c for c in checks}, cur


def _individual(checks: dict[str, CheckResult]) -> tuple[CheckResult, CheckResult]:
    return checks["individual_fairness"], checks["individual_fairness[region]"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_injected_individual_unfairness_is_flagged_with_example_pairs(task: str) -> None:
    checks, cur = _run(task, cur_kw={"unfair": 1.0})
    sex, region = _individual(checks)
    assert sex.status == CheckStatus.FAIL, sex.message
    assert sex.details["excess"] > 0.1 and sex.details["ci_low"] > 0.05
    assert sex.details["rise_p"] < 1e-6
    # the column the outcomes do not depend on stays quiet
    assert region.status == CheckStatus.OK, region.message
    pairs = sex.details["example_pairs"]
    assert pairs
    rows = cur.set_index("request_id")
    for pair in pairs:
        a, b = rows.loc[pair["a"]], rows.loc[pair["b"]]
        assert {a["sex"], b["sex"]} == {"f", "m"} and pair["groups"] == [a["sex"], b["sex"]]
        assert a["channel"] == b["channel"] and a["region"] == b["region"]  # exact columns match
        assert a["prediction"] != b["prediction"]
        assert pair["distance"] <= 0.25
    if task != "multiclass":  # ordered outcomes: group f is the favoured side of the flips
        assert sex.details["by_group"]["f"]["favoured"] > 0.9
        assert sex.details["by_group"]["m"]["favoured"] < 0.1


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_base_rate_difference_with_consistent_treatment_is_not_flagged(task: str) -> None:
    # group f's features move (in the current window only, the harder case): its outcomes differ
    # as a group, but two near-identical people still get the same outcome whatever their sex
    checks, cur = _run(task, ref_kw={"base_shift": 0.5}, cur_kw={"base_shift": 1.5})
    sex, region = _individual(checks)
    assert sex.status == CheckStatus.OK, sex.message
    assert region.status == CheckStatus.OK, region.message
    assert sex.details["matched"] >= 500
    assert abs(sex.details["excess"]) < 0.03
    # the base-rate difference is real: group f's mean outcome is clearly above group m's
    mean = cur.assign(o=cur["prediction"].astype(float)).groupby("sex")["o"].mean()
    assert mean["f"] - mean["m"] > (0.2 if task == "binary" else 10)
    if task == "binary":
        assert checks["positive_rate_gap"].status == CheckStatus.FAIL


def test_pairs_match_exactly_on_categoricals_and_other_groups_and_count_as_defined() -> None:
    # four near-identical rows (x within 0.01) of two sexes, plus rows that differ only in a
    # categorical feature or in the other group column: those must never pair
    view = pd.DataFrame(
        {
            "x": [0.0, 0.01, 0.02, 0.03, 0.0, 0.0, 5.0, 5.01],
            "channel": ["web", "web", "web", "web", "app", "web", "web", "web"],
            "region": ["n", "n", "n", "n", "n", "s", "n", "n"],
            "sex": ["f", "m", "f", "m", "m", "m", "f", "f"],
            "prediction": [1, 0, 1, 0, 1, 1, 0, 0],
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    result = Outcomes(view["prediction"].to_numpy() >= 0.5, None, True)
    # the robust scale of a standard normal feature is ~1; here x is matched in units of 0.1
    normal = pd.DataFrame({"x": np.random.default_rng(0).normal(0, 2.0, 20_000)})
    assert robust_scale(normal, ["x"])["x"] == pytest.approx(2.0, rel=0.03)
    scale = {"x": 0.1}
    r = measure(
        view,
        "sex",
        features=["x", "channel", "sex"],
        groups=["sex", "region"],
        scale=scale,
        result=result,
        tolerance=0.5,
        max_rows=1_000,
    )
    # rows 10-13 each have a cross-sex twin (discordant) and a same-sex twin (concordant); row 14
    # (app) and row 15 (region s) have no partner; rows 16-17 are both f (no cross partner)
    assert r.matched == 4
    assert r.cross_discordant == 4 and r.same_discordant == 0
    assert r.rate == 1.0 and r.floor == 0.0 and r.excess == 1.0
    assert {p["a"] for p in r.examples} == {"10", "11", "12", "13"}
    assert all(p["b"] in {"10", "11", "12", "13"} for p in r.examples)
    assert r.by_group["f"]["favoured"] == 1.0 and r.by_group["m"]["favoured"] == 0.0


def test_too_few_pairs_and_missing_columns_are_named_and_ranking_is_skipped() -> None:
    checks, _ = _run("binary", n=300, tolerance=0.01)
    sex, _region = _individual(checks)
    assert sex.status == CheckStatus.NO_DATA and sex.details["reason"] == "insufficient"
    assert "need 100" in sex.message
    # the group gaps still run
    assert checks["fpr_gap"].status != CheckStatus.NO_DATA

    cfg = _config("binary")
    ref = _frame("binary", 3_000, START, SPLIT, 1).drop(columns=["x3"])
    cur = _frame("binary", 3_000, SPLIT, END, 2).drop(columns=["x3"])
    window = Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )
    sex = {c.subtype: c for c in FairnessDetector().run(window, cfg)}["individual_fairness"]
    assert sex.status == CheckStatus.OK
    assert "x3" in sex.details["log_problem"]

    off = {c.subtype for c in _run("binary", n=1_000, enabled=False)[0].values()}
    assert not any(s.startswith("individual") for s in off)


def test_outcomes_the_features_do_not_determine_are_not_judged() -> None:
    # predictions that are noise around the features: near-identical rows of one group disagree as
    # often as rows of two groups, so a pair says nothing about sex (no_data, not a verdict)
    ref = _frame("binary", 20_000, START, SPLIT, 1)
    cur = _frame("binary", 4_000, SPLIT, END, 2, unfair=1.0)
    rng = np.random.default_rng(5)
    for df in (ref, cur):
        df["prediction"] = (rng.random(len(df)) < 0.5).astype(int)
    window = Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )
    sex = {c.subtype: c for c in FairnessDetector().run(window, _config("binary"))}["individual_fairness"]
    assert sex.status == CheckStatus.NO_DATA and sex.details["same_rate"] > 0.4
    assert "do not determine the outcome" in sex.message


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "searched"), [(30_000, 1_000, 10_000), (30_000, 3_000, 15_000), (8_000, 1_000, 8_000)]
)
def test_the_reference_sample_is_sized_to_the_current_window(n_ref: int, n_cur: int, searched: int) -> None:
    # at most REFERENCE_PER_CURRENT reference rows per current row, never fewer than REFERENCE_MIN_ROWS
    model = _config("binary").models[0]
    assert model is not None
    ref = _frame("binary", n_ref, START, SPLIT, 1)
    cur = _frame("binary", n_cur, SPLIT, END, 2)
    first = compare_windows(ref, cur, model)[0]
    assert (first.reference.rows, first.current.rows) == (searched, n_cur)
