"""Expected hit rate@k from item scores calibrated to relevance probabilities, against the realised rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.model.estimate import (
    GradeCalibrator,
    estimate_hit_rate,
    estimate_ndcg,
    expected_hit_rate,
    expected_ndcg,
)
from rcaflows.model.metrics import ranking_arrays, ranking_units

K = 3


def ranked_lists(n_queries: int, seed: int, shift: float = 0.0, per: int = 10) -> pd.DataFrame:
    """Lists whose items are relevant independently with P = sigmoid(score - 2); ``shift`` moves every score.

    The score is what the model outputs and what relevance follows, so a shift in relevance is one
    the scores reflect. Relevant items get grade 1 or 2.
    """
    rng = np.random.default_rng(seed)
    query_level = np.repeat(rng.normal(0, 0.8, n_queries), per)
    score = query_level + rng.normal(0, 1.2, n_queries * per) + shift
    relevant = rng.random(len(score)) < 1 / (1 + np.exp(-(score - 2)))
    grade = np.where(relevant, 1 + (rng.random(len(score)) < 0.4), 0).astype(float)
    return pd.DataFrame(
        {"query": np.repeat([f"{seed}-{q}" for q in range(n_queries)], per), "score": score, "label": grade}
    )


def realised(view: pd.DataFrame) -> float:
    return float(ranking_units(view, K)[1].mean())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimate_is_within_three_standard_errors_of_the_realised_hit_rate(seed: int) -> None:
    ref = ranked_lists(4_000, 100 + seed)
    cur = ranked_lists(1_500, 200 + seed)
    est = estimate_hit_rate(ref, cur.drop(columns=["label"]), K)
    truth = realised(cur)
    assert est.queries == 1_500
    # the standard error is the realised rate's sampling SD under the calibrated model (about 0.01 here)
    assert 0.005 < est.se < 0.02
    assert abs(est.hit_rate - truth) < 3 * est.se, (est, truth)


def test_a_relevance_shift_the_scores_reflect_moves_the_estimate() -> None:
    ref = ranked_lists(4_000, 11)
    same = estimate_hit_rate(ref, ranked_lists(1_500, 12).drop(columns=["label"]), K)
    low = ranked_lists(1_500, 13, shift=-1.0)
    shifted = estimate_hit_rate(ref, low.drop(columns=["label"]), K)
    assert shifted.hit_rate < same.hit_rate - 0.05
    assert abs(shifted.hit_rate - realised(low)) < 3 * shifted.se
    assert abs(same.hit_rate - realised(ref)) < 0.03


def test_expected_hit_rate_on_a_hand_computed_case() -> None:
    # query 0: items p = 0.5, 0.2, 0.1 by score; query 1: one item p = 0.4
    p = np.array([0.1, 0.5, 0.2, 0.4])
    q = np.array([0, 0, 0, 1])
    s = np.array([1.0, 3.0, 2.0, 5.0])
    est = expected_hit_rate(p, q, s, 2)
    h0, a0 = 1 - 0.5 * 0.8, 1 - 0.5 * 0.8 * 0.9
    assert est.hit_rate == pytest.approx((h0 + 0.4) / (a0 + 0.4))
    assert est.expected_counted == pytest.approx(a0 + 0.4) and est.queries == 2
    # a certain hit in the top k: the query always counts and always hits
    assert expected_hit_rate(np.array([1.0, 0.0]), np.array([0, 0]), np.array([2.0, 1.0]), 1).hit_rate == 1.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ndcg_estimate_is_within_three_standard_errors_of_the_realised_ndcg(seed: int) -> None:
    """Graded relevance (1 or 2): each item's grade distribution is calibrated, draws scored as the realised NDCG."""
    ref = ranked_lists(4_000, 100 + seed)
    cur = ranked_lists(1_500, 200 + seed)
    est = estimate_ndcg(ref, cur.drop(columns=["label"]), K)
    truth = float(ranking_units(cur, K)[0].mean())
    assert est.queries == 1_500 and est.draws >= 20
    assert 0.004 < est.se < 0.02
    assert abs(est.ndcg - truth) < 3 * est.se, (est, truth)


def test_expected_ndcg_of_certain_grades_is_the_realised_ndcg() -> None:
    # grades known for sure (P(>= g) is 0 or 1): every draw is the realised log
    rng = np.random.default_rng(5)
    q = np.repeat(np.arange(50), 6)
    grade = rng.choice([0.0, 1.0, 3.0], size=len(q), p=[0.6, 0.3, 0.1])
    score = rng.normal(size=len(q)) + grade
    at_least = np.column_stack([grade >= 1, grade >= 3]).astype(float)
    est = expected_ndcg(at_least, np.array([1.0, 3.0]), q, score, K)
    assert est.ndcg == pytest.approx(float(ranking_arrays(q, grade, score, K)[0].mean()))
    assert est.se == 0.0


def test_grade_calibrator_nests_grades_and_refuses_continuous_relevance() -> None:
    ref = ranked_lists(2_000, 7)
    cal = GradeCalibrator.fit(ref["score"].to_numpy(), ref["label"].to_numpy())
    assert list(cal.grades) == [1.0, 2.0]
    p = cal(np.linspace(-4, 6, 50))
    assert (p[:, 1] <= p[:, 0]).all() and (np.diff(p[:, 0]) >= 0).all()
    continuous = np.random.default_rng(1).random(500)
    with pytest.raises(ValueError, match="500 distinct positive relevance grades; the NDCG estimate needs 1 to 10"):
        GradeCalibrator.fit(np.arange(500.0), continuous)


def test_missing_columns_are_named() -> None:
    ref = ranked_lists(100, 1)
    with pytest.raises(ValueError, match="current rows' score, query"):
        estimate_hit_rate(ref, ref.drop(columns=["query"]), K)
