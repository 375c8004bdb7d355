"""The quality detector estimates a ranking model's hit rate@k and NDCG@k before labels arrive, marked as estimated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from detection_data import with_model

from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.detection.models import CheckResult
from rcaflows.model.metrics import ranking_units
from rcaflows.vocab import CheckStatus

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = END - timedelta(hours=7)
K = 3


def _config(estimate: bool = True) -> SystemConfig:
    base = with_model("ranking", ["x"], score="item_score", label="clicked", label_time="click_at", query="qid")
    assert base.models
    analysis = {"ranking_k": K, "estimate": estimate}
    model = ModelConfig.model_validate({**base.models[0].model_dump(), "analysis": analysis})
    return base.model_copy(update={"models": [model]})


def _lists(
    n_q: int,
    start: datetime,
    end: datetime,
    seed: int,
    *,
    shift: float = 0.0,
    item_sd: float = 1.2,
    labelled: bool = True,
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Ranked lists of 10 items, relevant independently with P = sigmoid(score - 2) (see test_estimate_ranking).

    ``shift`` moves every score (relevance follows); ``item_sd`` is the spread of the scores within
    a list (small: a list's items look alike and its ranking is little better than chance).
    Returns the log and the realised (hit rate@3, NDCG@3).
    """
    rng = np.random.default_rng(seed)
    per = 10
    score = np.repeat(rng.normal(0, 0.8, n_q), per) + rng.normal(0, item_sd, n_q * per) + shift
    rel = (rng.random(len(score)) < 1 / (1 + np.exp(-(score - 2)))).astype(float)
    offs = np.repeat(np.sort(rng.uniform(0, (end - start).total_seconds(), n_q)), per)
    ts = pd.Series(pd.Timestamp(start) + pd.to_timedelta(offs, unit="s"))
    frame = pd.DataFrame(
        {
            "timestamp": ts,
            "x": 0.0,
            "qid": np.repeat([f"{seed}-{q}" for q in range(n_q)], per),
            "item_score": score,
            "clicked": rel,
            "click_at": ts + pd.Timedelta(minutes=5),
        }
    )
    view = frame.rename(columns={"qid": "query", "item_score": "score", "clicked": "label"})
    ndcg, hit = ranking_units(view, K)
    if not labelled:
        frame["clicked"] = np.nan
        frame["click_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return frame, (float(hit.mean()), float(ndcg.mean()))


def _estimates(ref: pd.DataFrame, cur: pd.DataFrame, config: SystemConfig | None = None) -> dict[str, CheckResult]:
    window = Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )
    checks = QualityDetector().run(window, config or _config())
    return {c.metric: c for c in checks if c.details.get("estimated")}


def test_the_hit_rate_estimate_tracks_a_relevance_shift_the_scores_reflect() -> None:
    ref, _ = _lists(4_000, START, SPLIT, 1)
    cur, (truth, _) = _lists(1_000, SPLIT, END, 2, labelled=False)
    same = _estimates(ref, cur)["hit_rate"]
    assert same.subtype == "hit_rate_worse_estimated" and same.check == "cbpe"
    assert same.status == CheckStatus.OK and same.p_value is None  # out of the run's FDR family
    assert same.details["n_current"] == 1_000 and same.details["task"] == "ranking"
    assert abs(same.statistic - truth) < 0.04  # about 3 standard errors of 1,000 lists
    assert abs(same.statistic - same.baseline) < 0.03

    low, (truth_low, _) = _lists(2_000, SPLIT, END, 3, shift=-1.5, labelled=False)
    worse = _estimates(ref, low)["hit_rate"]
    assert worse.status == CheckStatus.WARN  # an estimate warns; it never fails on its own
    assert worse.statistic < same.statistic - 0.05 and worse.statistic < worse.baseline - 0.05
    assert abs(worse.statistic - truth_low) < 0.04
    assert "estimated hit_rate" in worse.message and "on 2000 lists still without labels" in worse.message


def test_the_ndcg_estimate_follows_lists_whose_items_look_alike() -> None:
    """Items of a list scored alike are ranked by little more than chance: realised NDCG and its estimate fall."""
    ref, _ = _lists(4_000, START, SPLIT, 1)
    cur, (_, truth) = _lists(1_000, SPLIT, END, 2, labelled=False)
    same = _estimates(ref, cur)["ndcg"]
    assert same.subtype == "ndcg_worse_estimated" and same.check == "cbpe" and same.p_value is None
    assert same.status == CheckStatus.OK
    assert abs(same.statistic - truth) < 0.035  # about 3 standard errors of 1,000 lists

    alike, (_, truth_alike) = _lists(2_000, SPLIT, END, 3, shift=0.9, item_sd=0.4, labelled=False)
    worse = _estimates(ref, alike)["ndcg"]
    assert truth_alike < truth - 0.05  # the realised NDCG did fall
    assert worse.status == CheckStatus.WARN and worse.statistic < worse.baseline - 0.05
    assert abs(worse.statistic - truth_alike) < 0.035


def test_no_estimate_when_disabled() -> None:
    ref, _ = _lists(1_000, START, SPLIT, 1)
    cur, _ = _lists(300, SPLIT, END, 2, labelled=False)
    assert _estimates(ref, cur, _config(estimate=False)) == {}
