"""Custom quality metrics the tests name in ``model.analysis.custom_metrics`` (``custom_metric_fns:<name>``).

The test folder is on ``sys.path`` while pytest runs (rootdir-relative imports), so these import
by their module name, as a user's own package would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def abs_error(rows: pd.DataFrame) -> np.ndarray:
    """Return |prediction - label| per row: its mean is the MAE."""
    return np.abs(rows["prediction"].to_numpy(dtype=float) - rows["label"].to_numpy(dtype=float))


def fraud_amount_caught(rows: pd.DataFrame) -> float:
    """Return the share of the fraudulent amount the model flagged (the money the model saves)."""
    fraud = rows["label"].to_numpy(dtype=float) >= 0.5
    flagged = rows["prediction"].to_numpy(dtype=float) >= 0.5
    amount = rows["amount"].to_numpy(dtype=float)
    total = amount[fraud].sum()
    return float(amount[fraud & flagged].sum() / total) if total > 0 else float("nan")


def raises(rows: pd.DataFrame) -> float:
    """Look up a column the log does not have."""
    return float(rows["no_such_column"].mean())


def returns_text(rows: pd.DataFrame) -> str:
    """Return a string instead of a number."""
    return "fine"


def wrong_length(rows: pd.DataFrame) -> np.ndarray:
    """Return one value too few for a per-row metric."""
    return np.zeros(len(rows) - 1)


NOT_CALLABLE = 3
