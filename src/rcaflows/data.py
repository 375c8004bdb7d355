"""The monitoring data a detection or RCA run sees, and the checks every frame must pass.

Frames (all timestamps timezone-aware UTC):

* ``metrics``: long format ``timestamp, component, metric, value``; one row per sample.
* ``predictions``: one row per scored request: ``timestamp`` plus the columns the model's
  ``log:`` declaration names (defaults, the demo's: ``client_id, group, <features…>, score,
  prediction, label, label_at``; ``label``/``label_at`` are NaN/NaT until the delayed ground
  truth arrives). Read it through :func:`rcaflows.model.model_view`, which puts each declared
  column under its role name, never by the default names.
* ``batches``: per lineage node, the rows that landed there (``timestamp`` plus its columns).
* ``changes``: ``timestamp, component, kind, description`` for deploys, config and
  infrastructure changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from rcaflows.errors import DataError

METRIC_COLUMNS = ("timestamp", "component", "metric", "value")
CHANGE_COLUMNS = ("timestamp", "component", "kind", "description")
#: The default prediction-log columns (``model.log`` declares others; see :mod:`rcaflows.model.log`).
PREDICTION_COLUMNS = ("timestamp", "client_id", "group", "score", "prediction", "label", "label_at")
#: Column naming the source each prediction row came from, added when a model names its ``source``.
SOURCE_COLUMN = "_source"


def empty_metrics() -> pd.DataFrame:
    """Return an empty metrics frame with the right columns and dtypes."""
    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            "component": pd.Series([], dtype=object),
            "metric": pd.Series([], dtype=object),
            "value": pd.Series([], dtype=float),
        }
    )


def empty_changes() -> pd.DataFrame:
    """Return an empty change-event frame."""
    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            "component": pd.Series([], dtype=object),
            "kind": pd.Series([], dtype=object),
            "description": pd.Series([], dtype=object),
        }
    )


def check_frame(
    df: pd.DataFrame,
    required: tuple[str, ...],
    where: str,
    *,
    sorted_by_time: bool = False,
    numeric: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Check a frame's contract; raise :class:`DataError` naming ``where`` and the field.

    Args:
        df: the frame to check.
        required: columns that must be present; ``timestamp`` must be timezone-aware.
        where: the file or source the frame came from, used in every message.
        sorted_by_time: also require timestamps in non-decreasing order.
        numeric: columns that must hold numbers.

    Returns:
        ``df`` with ``timestamp`` converted to UTC.
    """
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}; expected columns {', '.join(required)}")
    if "timestamp" in required:
        ts = df["timestamp"]
        if not isinstance(ts.dtype, pd.DatetimeTZDtype):
            raise DataError(
                f"{where}: field 'timestamp' must be timezone-aware datetimes (e.g. 2026-01-01T00:00:00Z), "
                f"got dtype {ts.dtype}"
            )
        if ts.isna().any():
            row = int(ts.isna().to_numpy().nonzero()[0][0])
            raise DataError(f"{where}: field 'timestamp' is empty at row {row + 1}")
        if str(ts.dt.tz) != "UTC":
            df = df.assign(timestamp=ts.dt.tz_convert("UTC"))
        if sorted_by_time and len(df) > 1:
            values = df["timestamp"].to_numpy()
            bad = (values[1:] < values[:-1]).nonzero()[0]
            if len(bad):
                row = int(bad[0]) + 2
                raise DataError(
                    f"{where}: field 'timestamp' out of order at row {row} "
                    f"({df['timestamp'].iloc[row - 1]} after {df['timestamp'].iloc[row - 2]}); "
                    "expected non-decreasing timestamps"
                )
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise DataError(f"{where}: field '{col}' must be numeric, got dtype {df[col].dtype}")
    return df


@dataclass(frozen=True)
class MonitoringData:
    """Everything a run sees of a monitored system over ``[start, end)``."""

    start: datetime
    end: datetime
    metrics: pd.DataFrame = field(default_factory=empty_metrics)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    batches: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    changes: pd.DataFrame = field(default_factory=empty_changes)
    #: names of sources that failed to load; the report says which were missing
    missing_sources: tuple[str, ...] = ()
    #: per source read, the components its metrics and predictions came from (data availability)
    source_components: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: per source that could not be read, the error it raised
    source_errors: Mapping[str, str] = field(default_factory=dict)

    def slice(self, start: datetime, end: datetime) -> MonitoringData:
        """Return the rows with ``start <= timestamp < end`` of every frame."""

        def cut(df: pd.DataFrame) -> pd.DataFrame:
            if df.empty or "timestamp" not in df.columns:
                return df
            ts = df["timestamp"]
            if ts.is_monotonic_increasing:  # the sources' usual order: two binary searches, no row copy
                lo, hi = ts.searchsorted(pd.Timestamp(start)), ts.searchsorted(pd.Timestamp(end))
                return df.iloc[int(lo) : int(hi)]
            return df.loc[(ts >= start) & (ts < end)]

        return MonitoringData(
            start=start,
            end=end,
            metrics=cut(self.metrics),
            predictions=cut(self.predictions),
            batches={k: cut(v) for k, v in self.batches.items()},
            changes=cut(self.changes),
            missing_sources=self.missing_sources,
            source_components=self.source_components,
            source_errors=self.source_errors,
        )

    def without(self, spans: Sequence[tuple[datetime, datetime]]) -> MonitoringData:
        """Return the data without the rows of every frame (but the change log) in any ``[t0, t1)`` of ``spans``."""
        if not spans:
            return self

        def drop(df: pd.DataFrame) -> pd.DataFrame:
            if df.empty or "timestamp" not in df.columns:
                return df
            ts = df["timestamp"]
            hit = pd.Series(False, index=df.index)
            for t0, t1 in spans:
                hit |= (ts >= t0) & (ts < t1)
            return df.loc[~hit] if hit.any() else df

        return replace(
            self,
            metrics=drop(self.metrics),
            predictions=drop(self.predictions),
            batches={k: drop(v) for k, v in self.batches.items()},
        )

    def is_empty(self) -> bool:
        """Return True when no frame holds a row."""
        return self.metrics.empty and self.predictions.empty and all(b.empty for b in self.batches.values())

    def series(self, component: str, metric: str) -> pd.Series:
        """Return one metric series indexed by timestamp (empty if absent)."""
        m = self.metrics
        sel = m[(m["component"] == component) & (m["metric"] == metric)]
        return pd.Series(sel["value"].to_numpy(), index=pd.DatetimeIndex(sel["timestamp"]), name=metric)

    def wide_metrics(self) -> pd.DataFrame:
        """Return metrics pivoted to one column per ``(component, metric)`` on a shared time index."""
        if self.metrics.empty:
            return pd.DataFrame()
        return self.metrics.pivot_table(
            index="timestamp", columns=["component", "metric"], values="value", aggfunc="mean"
        ).sort_index()


@dataclass(frozen=True)
class Window:
    """A detection window: the current span under test and the reference span before it."""

    reference: MonitoringData
    current: MonitoringData

    @classmethod
    def split(cls, data: MonitoringData, current_start: datetime) -> Window:
        """Split loaded data into reference ``[start, current_start)`` and current ``[current_start, end)``."""
        return cls(
            reference=data.slice(data.start, current_start),
            current=data.slice(current_start, data.end),
        )
