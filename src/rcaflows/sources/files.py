"""The ``files`` source: a directory of CSV or Parquet files in the engine's formats.

Layout (each file optional, CSV or Parquet)::

    DIR/metrics.csv        timestamp, component, metric, value
    DIR/predictions.csv    timestamp, client_id, group, <features>, score, prediction, label, label_at
    DIR/changes.csv        timestamp, component, kind, description
    DIR/batches/<node>.csv timestamp, <columns>

Timestamps must carry a timezone (``2026-03-02T11:00:00Z``); files must be in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import (
    CHANGE_COLUMNS,
    METRIC_COLUMNS,
    MonitoringData,
    check_frame,
    empty_changes,
    empty_metrics,
)
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.base import register

_SUFFIXES = (".parquet", ".csv")


def _find(directory: Path, stem: str) -> Path | None:
    for suffix in _SUFFIXES:
        p = directory / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def _parse_times(df: pd.DataFrame, col: str, where: Path) -> pd.DataFrame:
    if col not in df.columns or isinstance(df[col].dtype, pd.DatetimeTZDtype):
        return df
    raw = df[col]
    try:
        parsed = pd.to_datetime(raw, format="ISO8601")
    except (ValueError, TypeError) as exc:
        bad = next((i for i, v in enumerate(raw) if not _parses(v)), None)
        where_row = f" at line {bad + 2} ({raw.iloc[bad]!r})" if bad is not None else ""
        raise DataError(f"{where}: field '{col}' is not an ISO timestamp{where_row}: {exc}") from None
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if parsed.notna().any():
            raise DataError(
                f"{where}: field '{col}' has timestamps without a timezone (e.g. {raw.iloc[0]!r}); "
                "expected UTC such as 2026-03-02T11:00:00Z"
            )
        parsed = parsed.dt.tz_localize("UTC")
    return df.assign(**{col: parsed.dt.tz_convert("UTC")})


def _parses(v: object) -> bool:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return True
    try:
        pd.Timestamp(str(v))
    except (ValueError, TypeError):
        return False
    return True


def read_frame(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file; unreadable or malformed files raise :class:`DataError`."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read file: {first}") from None


def _load(path: Path, required: tuple[str, ...], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    df = read_frame(path)
    df = _parse_times(df, "timestamp", path)
    if "label_at" in df.columns:
        df = _parse_times(df, "label_at", path)
    df = check_frame(df, required, str(path), sorted_by_time=True, numeric=numeric)
    if required == METRIC_COLUMNS:
        from rcaflows.sources.tabular import reject_repeats

        reject_repeats(df, str(path))  # one duplicate-row policy for every source and command
    return df


@dataclass
class FilesSource:
    """Read the frames of one system from a directory."""

    name: str
    directory: Path

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Read every file present and keep the rows in ``[start, end)``."""
        if not self.directory.is_dir():
            raise DataError(f"{self.directory}: source directory does not exist")
        p = _find(self.directory, "metrics")
        metrics = _load(p, METRIC_COLUMNS, numeric=("value",)) if p else empty_metrics()
        p = _find(self.directory, "predictions")
        predictions = _load(p, ("timestamp",)) if p else pd.DataFrame()
        p = _find(self.directory, "changes")
        changes = _load(p, CHANGE_COLUMNS) if p else empty_changes()
        batches = {}
        bdir = self.directory / "batches"
        if bdir.is_dir():
            for f in sorted(bdir.iterdir()):
                if f.suffix in _SUFFIXES:
                    batches[f.stem] = _load(f, ("timestamp",))
        data = MonitoringData(
            start=start, end=end, metrics=metrics, predictions=predictions, batches=batches, changes=changes
        )
        return data.slice(start, end)


def write_files(data: MonitoringData, directory: Path) -> list[Path]:
    """Write ``data`` in the layout :class:`FilesSource` reads (CSV, ISO timestamps); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []

    def put(df: pd.DataFrame, path: Path) -> None:
        out = df.copy()
        for col in out.columns:
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").where(out[col].notna(), None)
        tmp = path.with_suffix(path.suffix + ".tmp")
        out.to_csv(tmp, index=False)
        tmp.replace(path)
        written.append(path)

    put(data.metrics, directory / "metrics.csv")
    if not data.predictions.empty:
        put(data.predictions, directory / "predictions.csv")
    put(data.changes, directory / "changes.csv")
    if data.batches:
        (directory / "batches").mkdir(exist_ok=True)
        for node, frame in data.batches.items():
            put(frame, directory / "batches" / f"{node}.csv")
    return written


@register("files")
def _files(spec: SourceConfig, config: SystemConfig) -> FilesSource:
    unknown = set(spec.options) - {"directory"}
    if unknown:
        raise ConfigError(f"sources[{spec.name}].options: unknown option(s) {sorted(unknown)}; expected directory")
    directory = spec.options.get("directory")
    if not directory:
        raise ConfigError(f"sources[{spec.name}].options.directory: required for kind 'files'")
    return FilesSource(name=spec.name, directory=Path(str(directory)))
