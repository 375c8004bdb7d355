"""Custom quality metrics: the user's own functions, named in ``model.analysis.custom_metrics``.

A custom metric is a function ``package.module:callable`` of the labelled rows of the model's log,
read through :func:`rcaflows.model.model_view` (role-named columns: ``prediction``, ``score``,
``label``, ``query``, ..., features and group columns under their own names). Two forms:

* **per row** (``per_row: true``): it returns one number per row (NaN: the row does not count) and
  the metric is their mean. The test is the built-in means' Welch t-test on the row values
  (:func:`rcaflows.model.metrics.welch_test`), so it costs one call per window.
* **whole window**: it returns one number for the rows it is given. Its standard error comes from a
  bootstrap of the rows (``BOOTSTRAP`` resamples, seeded: the function is called once per resample)
  and the test is the confusion-matrix metrics' z-test (:func:`rcaflows.model.metrics.z_test`).

A function that cannot be imported, raises, or returns something other than numbers raises
:class:`~rcaflows.model.metrics.CustomMetricError` naming the metric's function and what was
expected; the quality detector turns that into a ``no_data`` check (reason ``invalid``) and the
rest of the analysis goes on. Any exception the user's code raises is caught for that reason.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.config.models import CustomMetricConfig, ModelConfig
from rcaflows.model.metrics import CustomMetricError, MetricTest, MetricUnavailable, welch_test, z_test

#: Bootstrap resamples of a whole-window custom metric (each calls the user's function once).
BOOTSTRAP = 200


def load(spec: CustomMetricConfig) -> Callable[[pd.DataFrame], Any]:
    """Return the callable ``spec.function`` names.

    Raises:
        CustomMetricError: when its module cannot be imported, the attribute is missing or not callable.
    """
    module_name, _, attr = spec.function.partition(":")
    where = f"custom metric {spec.name!r}: function '{spec.function}'"
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way while it runs
        raise CustomMetricError(
            f"{where} cannot be imported ({type(exc).__name__}: {exc}); expected an importable "
            "'package.module:callable' (installed, or on PYTHONPATH of the process that runs detection)"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CustomMetricError(f"{where}: {module_name!r} has no attribute {attr!r}; expected a callable there")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CustomMetricError(f"{where} is a {type(obj).__name__}, not a callable; expected a function of the rows")
    return obj


def _call(fn: Callable[[pd.DataFrame], Any], spec: CustomMetricConfig, rows: pd.DataFrame, *, copy: bool) -> Any:
    """Call the user's function on ``rows`` (a copy if ``copy``: it may write to them); name it if it raises."""
    try:
        return fn(rows.copy() if copy else rows)
    except Exception as exc:  # user code: any failure is the metric's, not the detector's
        form = "one number per row" if spec.per_row else "one number"
        raise CustomMetricError(
            f"custom metric {spec.name!r}: function '{spec.function}' raised {type(exc).__name__}: {exc}; expected "
            f"it to return {form} for the labelled rows (columns: {', '.join(map(str, rows.columns))})"
        ) from exc


def window_value(
    fn: Callable[[pd.DataFrame], Any], spec: CustomMetricConfig, rows: pd.DataFrame, *, copy: bool = True
) -> float:
    """Return a whole-window custom metric of ``rows`` (NaN when the function says it is undefined there).

    ``copy=False`` for rows nobody else reads (a bootstrap resample is a new frame already).
    """
    out = _call(fn, spec, rows, copy=copy)
    if isinstance(out, np.ndarray) and out.ndim == 0:
        out = out.item()
    if isinstance(out, bool | np.bool_) or not isinstance(out, Real | np.number):
        shown = f"{type(out).__name__} {out!r}"[:120]
        raise CustomMetricError(
            f"custom metric {spec.name!r}: function '{spec.function}' returned {shown}; expected one number "
            "for the rows it is given (or declare per_row: true for one number per row)"
        )
    v = float(out)
    if math.isinf(v):
        raise CustomMetricError(
            f"custom metric {spec.name!r}: function '{spec.function}' returned {v}; expected a finite number"
        )
    return v


def row_values(fn: Callable[[pd.DataFrame], Any], spec: CustomMetricConfig, rows: pd.DataFrame) -> np.ndarray:
    """Return a per-row custom metric's values on ``rows``, the rows it leaves NaN dropped."""
    out = _call(fn, spec, rows, copy=True)
    where = f"custom metric {spec.name!r}: function '{spec.function}'"
    try:
        v = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        shown = f"{type(out).__name__} {out!r}"[:120]
        raise CustomMetricError(f"{where} returned {shown}; expected one number per row") from None
    if v.shape != (len(rows),):
        raise CustomMetricError(
            f"{where} returned shape {v.shape} for {len(rows)} rows; "
            "expected one number per row, as per_row: true declares"
        )
    if np.isinf(v).any():
        raise CustomMetricError(f"{where} returned an infinite value; expected finite numbers or NaN (row not counted)")
    return v[~np.isnan(v)]


def bootstrap_se(fn: Callable[[pd.DataFrame], Any], spec: CustomMetricConfig, rows: pd.DataFrame, seed: int) -> float:
    """Return the standard deviation of the metric over ``BOOTSTRAP`` resamples of ``rows`` (with replacement).

    The rows-level counterpart of the confusion-matrix metrics' multinomial redraw of cells.
    Resamples on which the metric is undefined (NaN) are left out.
    """
    rng = np.random.default_rng(seed)
    n = len(rows)
    vals = np.array([window_value(fn, spec, rows.iloc[rng.integers(0, n, n)], copy=False) for _ in range(BOOTSTRAP)])
    vals = vals[np.isfinite(vals)]
    return float(vals.std(ddof=1)) if len(vals) > 1 else 0.0


def custom_value(view: pd.DataFrame, spec: CustomMetricConfig) -> tuple[float, int]:
    """Return (value, number of rows counted) of a custom metric on labelled rows."""
    fn = load(spec)
    if spec.per_row:
        u = row_values(fn, spec, view)
        if len(u) == 0:
            raise MetricUnavailable(f"{spec.name}: no row counted")
        return float(u.mean()), len(u)
    v = window_value(fn, spec, view)
    if math.isnan(v):
        raise MetricUnavailable(f"{spec.name}: function '{spec.function}' returned NaN on these rows")
    return v, len(view)


def compare_custom(reference: pd.DataFrame, current: pd.DataFrame, spec: CustomMetricConfig) -> MetricTest:
    """Test whether a custom metric is worse on ``current`` than on ``reference`` (labelled views).

    Called by :func:`rcaflows.model.metrics.compare` for a custom metric's name. ``current is
    reference`` (a chunk's own sampling variance) bootstraps once.

    Raises:
        CustomMetricError: when the function fails (import, exception, non-numbers).
        MetricUnavailable: when a window has fewer than two counted rows or the metric is undefined.
    """
    fn = load(spec)
    worse_sign = -1.0 if spec.higher_is_better else 1.0
    if spec.per_row:
        ur = row_values(fn, spec, reference)
        uc = ur if current is reference else row_values(fn, spec, current)
        if len(ur) < 2 or len(uc) < 2:
            raise MetricUnavailable(f"{spec.name}: too few rows counted ({len(ur)} reference, {len(uc)} current)")
        return welch_test(spec.name, ur, uc, worse_sign)
    if len(reference) < 2 or len(current) < 2:
        raise MetricUnavailable(f"{spec.name}: too few rows ({len(reference)} reference, {len(current)} current)")
    vr = window_value(fn, spec, reference)
    vc = vr if current is reference else window_value(fn, spec, current)
    if math.isnan(vr) or math.isnan(vc):
        raise MetricUnavailable(f"{spec.name}: function '{spec.function}' returned NaN (reference {vr}, current {vc})")
    se_r = bootstrap_se(fn, spec, reference, 1)
    se_c = se_r if current is reference else bootstrap_se(fn, spec, current, 2)
    return z_test(spec.name, vr, vc, se_r, se_c, len(reference), len(current), worse_sign)


def import_problems(model: ModelConfig) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (field path under the model, problem) for each custom metric whose function cannot be loaded."""
    for i, spec in enumerate(model.analysis.custom_metrics):
        try:
            load(spec)
        except CustomMetricError as exc:
            yield ("analysis", "custom_metrics", i, "function"), str(exc)
