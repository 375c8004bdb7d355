"""The detector contract, the registry that finds detectors by name, and shared helpers.

A detector is any object with a ``name``, an ``incident_type`` and a ``run(window, config)`` method
that returns :class:`~rcaflows.detection.models.CheckResult` objects; ``@register`` adds one to
:data:`DETECTORS`, keyed by its name, so several detectors may raise one incident type. Two
optional class attributes complete the contract:

* ``scope``: ``"metrics"`` when every check looks at declared metric series only, so the sharded
  scan may run the detector per shard of components; ``"frames"`` (the default) when it needs the
  whole window (predictions, batches, changes, or metrics across components); ``"data"`` when it
  judges the loaded data itself (which series arrive, which sources could be read): the scan runs
  it once over the whole window after the FDR control (``rcaflows.pipeline.with_availability``).
* ``settings_model``: a pydantic model of the detector's settings, read from
  ``config.detectors.extra[<name>]`` (see :func:`detector_settings`), or from the typed block
  ``config.detectors.<name>`` when the config has one of that model (``detectors.availability``);
  without it the settings are the ``config.detectors.<incident type>`` block of the built-in detectors.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar, get_args, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel

import rcaflows.detection.stats  # noqa: F401  (first: anomaly and stats import each other)
from rcaflows.config.models import SystemConfig
from rcaflows.config.plugin_settings import validate_plugin_settings
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.anomaly import alarm_onset, score_matrix
from rcaflows.detection.models import CheckResult
from rcaflows.vocab import CheckStatus, IncidentType

#: What a detector reads: declared metric series only (may run per shard), whole frames, or the loaded data.
Scope = Literal["metrics", "frames", "data"]
METRICS: Scope = "metrics"
FRAMES: Scope = "frames"
DATA: Scope = "data"


@runtime_checkable
class Detector(Protocol):
    """A named check of one incident type; ``run`` never mutates its inputs.

    Optional class attributes: ``scope`` (:data:`Scope`, default ``"frames"``) and
    ``settings_model`` (a pydantic model of its ``config.detectors.extra[<name>]`` settings).
    """

    name: str
    incident_type: IncidentType

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return the checks of this detector over ``window``."""
        ...


#: Registered detectors, keyed by detector name.
DETECTORS: dict[str, Detector] = {}

T = TypeVar("T")


def register(cls: T) -> T:
    """Register a detector class (instantiated with no arguments) or instance under its name.

    Raises:
        TypeError: when the object is not a detector, its ``scope`` or ``settings_model`` is
            invalid, or another detector is registered under the same name.
        ValueError: when its ``incident_type`` is not an :class:`IncidentType`.
    """
    obj: Any = cls() if isinstance(cls, type) else cls
    if not isinstance(obj, Detector):
        raise TypeError(f"{cls!r} does not implement the Detector protocol (name, incident_type, run)")
    IncidentType(obj.incident_type)  # a ValueError names an unknown incident type
    scope = getattr(obj, "scope", FRAMES)
    if scope not in get_args(Scope):
        raise TypeError(f"detector {obj.name!r}: scope {scope!r} is not one of {list(get_args(Scope))}")
    model = getattr(obj, "settings_model", None)
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"detector {obj.name!r}: settings_model must be a pydantic model class, got {model!r}")
    old = DETECTORS.get(obj.name)
    # Re-registering the same class (a module reload builds a new class object) is fine.
    if old is not None and _qualname(type(old)) != _qualname(type(obj)):
        raise TypeError(f"detector name {obj.name!r} is already registered by {type(old).__qualname__}")
    DETECTORS[obj.name] = obj
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def detector_scope(det: Detector) -> Scope:
    """Return what ``det`` reads: ``"metrics"`` or ``"frames"`` (the default)."""
    scope: Scope = getattr(det, "scope", FRAMES)
    return scope


def detectors_of(incident_type: IncidentType | str) -> dict[str, Detector]:
    """Return the registered detectors that raise ``incident_type``, keyed by name."""
    return {k: d for k, d in DETECTORS.items() if str(d.incident_type) == str(incident_type)}


# --------------------------------------------------------------------------- shared helpers


def score_from_ratio(ratio: float) -> float:
    """Map ``statistic / threshold`` to a score in [0, 1]: 0.5 at the threshold, 0.75 at twice it."""
    if not math.isfinite(ratio):
        return 1.0 if ratio > 0 else 0.0
    return float(min(1.0, max(0.0, 1.0 - 0.5 ** max(ratio, 0.0))))


def score_from_p(p: float | None, alpha: float) -> float:
    """Map a p-value to a score: 0.5 at ``alpha``, rising with ``-log10(p)``."""
    if p is None or not math.isfinite(p):
        return 0.0
    return score_from_ratio(-math.log10(max(p, 1e-300)) / -math.log10(alpha))


def finite(x: Any) -> float | None:
    """Return ``x`` as a float, or None when it is missing or not finite (JSON-safe evidence)."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def to_datetime(ts: Any) -> datetime | None:
    """Return a pandas/numpy timestamp as an aware datetime, or None for NaT."""
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    if pd.isna(t):
        return None
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return t.floor("us").to_pydatetime()


def ts_array(ts: pd.Series | np.ndarray) -> np.ndarray:
    """Return timestamps as naive-UTC ``datetime64`` (a tz-aware ``to_numpy()`` is a slow object array)."""
    if isinstance(ts, pd.Series):
        if isinstance(ts.dtype, pd.DatetimeTZDtype):
            return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        return ts.to_numpy()
    arr = np.asarray(ts)
    if arr.dtype == object and len(arr):
        return pd.DatetimeIndex(arr).tz_convert("UTC").tz_localize(None).to_numpy()
    return arr


def fmt_num(x: float | None, unit: str = "") -> str:
    """Render a number compactly with its unit ("412 ms", "0.21 %", "1.3k req/min")."""
    if x is None or not math.isfinite(x):
        return "n/a"
    ax = abs(x)
    if ax >= 10000:
        s = f"{x / 1000:.1f}k"
    elif ax >= 100:
        s = f"{x:.0f}"
    elif ax >= 1:
        s = f"{x:.3g}"
    else:
        s = f"{x:.2g}"
    if not unit:
        return s
    return f"{s} {unit}" if unit != "%" else f"{s} %"


def fmt_change(rel: float | None) -> str:
    """Render a relative change as "+157 %"."""
    if rel is None or not math.isfinite(rel):
        return "new"
    return f"{rel * 100:+.0f} %"


class CheckFactory:
    """Build :class:`CheckResult` objects pre-filled with a detector's name, type and window."""

    def __init__(self, name: str, incident_type: IncidentType, data: MonitoringData) -> None:
        self.name = name
        self.incident_type = incident_type
        self.window_start = data.start
        self.window_end = data.end

    def __call__(self, **kwargs: Any) -> CheckResult:
        for key in ("statistic", "baseline", "threshold", "p_value"):
            if key in kwargs:
                kwargs[key] = finite(kwargs[key])
        kwargs.setdefault("window_start", self.window_start)
        kwargs.setdefault("window_end", self.window_end)
        return CheckResult(detector=self.name, incident_type=self.incident_type, **kwargs)

    def no_data(
        self, component: str, subtype: str, message: str, *, reason: str = "missing", **kwargs: Any
    ) -> CheckResult:
        """Return a ``no_data`` check; ``reason``: ``missing`` (no input) or ``insufficient`` (too few)."""
        kwargs.setdefault("check", "input")
        kwargs["details"] = {"reason": reason, **kwargs.get("details", {})}
        return self(component=component, subtype=subtype, status=CheckStatus.NO_DATA, message=message, **kwargs)


def seasonal_reference(
    reference: pd.DataFrame,
    current_start: datetime,
    current_end: datetime,
    *,
    min_rows: int = 200,
    reference_start: datetime | None = None,
) -> pd.DataFrame:
    """Return the reference rows at the same clock time as the current span on earlier days.

    Features such as the transaction hour, and most traffic mixes, follow the time of day; comparing
    an hour with a whole day flags that as drift. Falls back to the whole reference when it covers
    less than a day (from ``reference_start``, else its first row, to ``current_start``) or the
    same-time rows are fewer than ``min_rows`` (sparse data). When the reference covers a day but
    holds no row at that clock time (a fixed fault's span was left out of it), the empty slot is
    returned: there is nothing to compare the hour with, and the whole day would be the wrong thing.
    """
    if reference.empty or "timestamp" not in reference.columns:
        return reference
    ts = reference["timestamp"]
    first = pd.Timestamp(reference_start) if reference_start is not None else ts.min()
    span_days = (pd.Timestamp(current_start) - first) / timedelta(days=1)
    if span_days < 0.95:
        return reference
    mask = np.zeros(len(reference), dtype=bool)
    for k in range(1, int(span_days) + 2):
        lo, hi = current_start - timedelta(days=k), current_end - timedelta(days=k)
        mask |= ((ts >= lo) & (ts < hi)).to_numpy()
    if mask.sum() == 0 and reference_start is not None:
        return reference.iloc[0:0]
    if mask.sum() < min_rows:
        return reference
    return reference.loc[mask]


def detector_settings(config: SystemConfig, detector: Detector | IncidentType) -> Any:
    """Return a detector's settings: its ``settings_model`` over ``detectors.extra[name]``, else its type's block.

    A detector whose model types a block of the config named after it (``detectors.availability``)
    reads that block.

    Args:
        config: the monitored system.
        detector: a detector, or an incident type for the built-in ``config.detectors.<type>`` block.

    Raises:
        ConfigError: when the ``extra`` settings of the detector do not validate against its model.
        AttributeError: when an incident type has no built-in block.
    """
    if isinstance(detector, str):  # IncidentType is a StrEnum
        return getattr(config.detectors, str(detector))
    model = getattr(detector, "settings_model", None)
    if model is None:
        return getattr(config.detectors, str(detector.incident_type))
    block = getattr(config.detectors, detector.name, None)
    if isinstance(block, model):  # a typed block of its own name, validated with the config
        return block
    raw = config.detectors.extra.get(detector.name, {})
    return validate_plugin_settings(model, raw, f"detectors.extra.{detector.name}", f"detector {detector.name!r}")


def rate_onset(
    ref_ts: pd.Series | np.ndarray,
    ref_x: np.ndarray,
    cur_ts: pd.Series | np.ndarray,
    cur_x: np.ndarray,
    *,
    min_rows: int = 30,
) -> datetime | None:
    """Return when the per-bucket mean of a per-row quantity moved to its current level, or None.

    Detectors that judge rows (outcomes, OOD flags, a client's requests, unexpected values) date
    their failures with the same scorer and onset estimator as the metric checks: the rows of
    both windows are averaged per bucket of whole minutes (an empty bucket is missing), the
    bucket series is scored by :func:`~rcaflows.detection.anomaly.score_matrix`, and
    :func:`~rcaflows.detection.anomaly.alarm_onset` finds the start of the current episode (in
    the reference too, when it began before the current window), from the reference mean to the
    current one. A bucket is as many
    minutes as hold ``min_rows`` reference rows on average (at most an hour), so a rate of
    0/1 outcomes is a rate, not a coin toss per minute. None when the scorer did not alarm: a
    per-row rate that only drifted has no moment its change became news.
    """
    tr, tc = _ns_array(ref_ts), _ns_array(cur_ts)
    xr, xc = np.asarray(ref_x, dtype=float), np.asarray(cur_x, dtype=float)
    keep_r, keep_c = np.isfinite(xr), np.isfinite(xc)
    tr, xr, tc, xc = tr[keep_r], xr[keep_r], tc[keep_c], xc[keep_c]
    if len(xc) == 0 or len(xr) == 0:
        return None
    minute = 60_000_000_000
    span = max(int(tr.max() - tr.min()), minute)
    step = minute * int(np.clip(np.ceil(min_rows * span / minute / len(xr)), 1, 60))
    t0 = int(min(tr.min() if len(tr) else tc.min(), tc.min())) // step * step
    idx = (np.concatenate([tr, tc]) - t0) // step
    n = int(idx.max()) + 1
    count = np.bincount(idx, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        series = np.bincount(idx, weights=np.concatenate([xr, xc]), minlength=n) / count
    baseline, current = float(xr.mean()), float(xc.mean())
    if baseline == current:
        return None
    column = series[:, None]
    # Searched from the reference's start, as the metric checks do: an episode that began before
    # this window (the signal already on when it opened) is dated where it began, so a continuing
    # fault's signals keep the onset of their first run and group with its other signals.
    rows, alarmed = alarm_onset(score_matrix(column), column, np.array([baseline]), np.array([current]), since=0)
    if rows[0] < 0 or not alarmed[0]:
        return None
    return to_datetime(t0 + int(rows[0]) * step)


def _ns_array(ts: pd.Series | np.ndarray) -> np.ndarray:
    """Return timestamps as int64 ns since the epoch (UTC)."""
    return np.asarray(ts_array(ts)).astype("datetime64[ns]").view(np.int64)
