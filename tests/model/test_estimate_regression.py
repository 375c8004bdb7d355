"""Regression loss estimated before labels: nearest reference rows' errors follow a covariate shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.model.estimate import NeighbourLoss


def _world(n: int, seed: int, centre: float) -> pd.DataFrame:
    """Return a model view whose error grows with |x| (heteroscedastic), and a categorical that doubles it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(centre, 1.0, n)
    shop = rng.choice(["a", "b"], n)
    noise = (0.5 + np.abs(x)) * np.where(shop == "b", 2.0, 1.0)
    pred = 3 * x
    return pd.DataFrame({"x": x, "shop": shop, "prediction": pred, "label": pred + rng.normal(0, 1, n) * noise})


def test_estimated_mae_follows_a_shift_into_a_region_of_larger_errors() -> None:
    est = NeighbourLoss.fit(_world(30_000, 0, 0.0), ["x", "shop"])
    for centre in (0.0, 1.5, 3.0):  # inputs move to where the model errs more: MAE rises
        cur = _world(10_000, 1, centre)
        realised = float(np.abs(cur["label"] - cur["prediction"]).mean())
        got = est.estimate(cur.drop(columns=["label"]))
        assert got.mae == pytest.approx(realised, rel=0.05), (centre, got, realised)
        assert got.rmse >= got.mae
    # a shift in the categorical alone is seen too (one-hot neighbours)
    only_b = _world(10_000, 2, 0.0).query("shop == 'b'")
    realised_b = float(np.abs(only_b["label"] - only_b["prediction"]).mean())
    assert est.estimate(only_b).mae == pytest.approx(realised_b, rel=0.05)


def test_missing_columns_and_too_few_rows_are_named() -> None:
    ref = _world(100, 0, 0.0)
    with pytest.raises(ValueError, match="label"):
        NeighbourLoss.fit(ref.drop(columns=["label"]), ["x"])
    with pytest.raises(ValueError, match="at least 10"):
        NeighbourLoss.fit(ref.head(5), ["x"])
