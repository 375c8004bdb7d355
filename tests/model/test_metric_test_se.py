"""Each metric test reports the standard error of its change, consistent with its own p-value.

The quality detector widens that standard error by the reference's chunk-to-chunk spread, so it
must be the one the test used: for the z-tests, change / se gives back the p-value exactly; for
Welch's t-tests (thousands of rows) nearly; for RMSE it is the delta-method SE in RMSE units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from rcaflows.config.models import ModelConfig, PredictionLogConfig
from rcaflows.model.metrics import compare


def _model(task: str) -> ModelConfig:
    return ModelConfig(name="m", component="m", lineage_node="m", features=[], task=task, log=PredictionLogConfig())


def _binary(n: int, seed: int, flip: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    pred = np.where(rng.random(n) < flip, 1 - y, y)
    return pd.DataFrame({"label": y, "prediction": pred})


def _regression(n: int, seed: int, scale: float, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.gamma(4, 25, n)
    return pd.DataFrame({"label": y, "prediction": y + rng.normal(shift, scale, n)})


@pytest.mark.parametrize("metric", ["accuracy", "f1"])
def test_classifier_tests_carry_the_se_of_their_z(metric: str) -> None:
    t = compare(_binary(5_000, 1, 0.10), _binary(2_000, 2, 0.14), _model("binary"), metric)
    assert t.change > 0 and 0 < t.se < 0.05
    assert norm.sf(t.change / t.se) == pytest.approx(t.p_value, rel=1e-9)


@pytest.mark.parametrize("metric", ["mae", "bias"])
def test_welch_tests_carry_their_se(metric: str) -> None:
    t = compare(_regression(5_000, 3, 10, 0.0), _regression(2_000, 4, 11, 0.8), _model("regression"), metric)
    diff = t.current - t.reference
    p = norm.sf(abs(diff) / t.se) * (2 if metric == "bias" else 1)
    assert p == pytest.approx(t.p_value, rel=0.05)


def test_rmse_se_is_in_rmse_units() -> None:
    """Resampled windows' RMSE differences spread as the reported SE says (delta method)."""
    model = _model("regression")
    ref = _regression(4_000, 5, 10, 0.0)
    t = compare(ref, _regression(1_500, 6, 10, 0.0), model, "rmse")
    diffs = [compare(ref, _regression(1_500, 100 + i, 10, 0.0), model, "rmse").change for i in range(60)]
    # the reference is fixed here, so the spread is the current window's part of the SE
    cur_part = t.se * np.sqrt((1 / 1_500) / (1 / 4_000 + 1 / 1_500))
    assert np.std(diffs, ddof=1) == pytest.approx(cur_part, rel=0.35)
