"""Attribution drift and prediction consistency from logged columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rcaflows.model.behaviour import attribution_shifts, consistency, significant_rise


def _attr(n: int, seed: int, w: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"shap_{f}": rng.normal(0, 1, n) * wt for f, wt in w.items()})


def test_the_feature_whose_attribution_share_moved_comes_first() -> None:
    cols = {f: f"shap_{f}" for f in ("price", "promo", "temp")}
    ref = _attr(5000, 1, {"price": 1.0, "promo": 0.5, "temp": 0.5})
    same = _attr(2000, 2, {"price": 1.0, "promo": 0.5, "temp": 0.5})
    moved = _attr(2000, 3, {"price": 1.0, "promo": 1.5, "temp": 0.5})
    quiet = attribution_shifts(ref, same, cols)
    assert quiet[0].change < 0.03 and quiet[0].p_value > 1e-3
    top = attribution_shifts(ref, moved, cols)[0]
    assert top.feature == "promo" and top.change > 0.2 and top.p_value < 1e-6
    assert top.share_reference == abs(ref["shap_promo"]).mean() / abs(ref).mean().sum()
    assert attribution_shifts(ref, moved, {"x": "missing_col"}) == []


def test_consistency_counts_ids_with_differing_predictions_per_version() -> None:
    view = pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c", "d", "d", "e", "e"],
            "version": ["v1", "v1", "v1", "v1", "v1", "v1", "v2", "v1", "v1"],
            "prediction": [1.0, 1.0, 2.0, 2.5, 3.0, 1.0, 2.0, 0.1000000001, 0.1],
        }
    )
    c = consistency(view)
    # a: same; b: differs; c: single; d: one row per version; e: equal after rounding
    assert (c.repeated, c.inconsistent, c.examples) == (3, 1, ["b"])
    assert consistency(view.drop(columns="version")).inconsistent == 2  # d differs across versions


def test_significant_rise() -> None:
    assert significant_rise(40, 1000, 10, 1000) < 1e-4
    assert significant_rise(10, 1000, 10, 1000) > 0.4
