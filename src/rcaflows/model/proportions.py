"""The pooled two-proportion z-test, written once for every share compared across two windows.

Accuracy, error and positive rates (the quality detector), a group's false-positive rate (the RCA's
model-behaviour phase) and the shares of flipped or conflicting labels (the poisoning signals) are
all judged with it. It sits in the model layer so that the model metrics below detection can use it
too (see docs/rca.md).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: Floor of the pooled variance: equal shares of 0 or 1 give z = 0, not 0 / 0.
MIN_VARIANCE = 1e-12

A = TypeVar("A", float, np.ndarray)


def two_proportion_z(k_ref: A, n_ref: A, k_cur: A, n_cur: A) -> A:
    """Return the pooled z of the current share ``k_cur / n_cur`` against ``k_ref / n_ref`` (> 0: it rose).

    Works elementwise on numpy arrays as on scalars; the counts must be positive.
    """
    p_ref, p_cur = k_ref / n_ref, k_cur / n_cur
    pooled = (k_ref + k_cur) / (n_ref + n_cur)
    se = np.sqrt(np.maximum(pooled * (1 - pooled), MIN_VARIANCE) * (1 / n_ref + 1 / n_cur))
    z: A = (p_cur - p_ref) / se
    return z
