"""Tabular sources: Parquet/CSV datasets (``parquet``, any fsspec path) and DuckDB queries (``duckdb``).

Both read only the window: the timestamp predicate and the column projection are pushed down
(pyarrow dataset filters prune Parquet row groups by their statistics; DuckDB pushes the WHERE
into its scans). Config (``sources[].options``)::

    kind: parquet
    options:
      path: s3://bucket/metrics/          # file, directory or glob; local or any fsspec URL
      format: parquet                     # or csv
      frame: metrics                      # metrics | predictions | changes | batch
      node: feature_store                 # lineage node, for frame: batch
      columns: {timestamp: ts, component: service, metric: name, value: val}   # engine <- source
      melt: {component: gateway, metrics: [latency_p95_ms, error_rate]}        # wide -> long
      storage_options: {anon: true}       # passed to fsspec

    kind: duckdb
    options:
      query: "SELECT * FROM read_parquet('logs/*.parquet')"   # or table: name
      database: warehouse.duckdb          # optional; opened read-only
      frame / node / columns / melt as above
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import CHANGE_COLUMNS, METRIC_COLUMNS, MonitoringData, check_frame
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.base import register

Frame = Literal["metrics", "predictions", "changes", "batch"]
_FRAMES: tuple[str, ...] = ("metrics", "predictions", "changes", "batch")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "metrics": METRIC_COLUMNS,
    "changes": CHANGE_COLUMNS,
    "predictions": ("timestamp",),
    "batch": ("timestamp",),
}


SERIES_KEYS = ("component", "metric", "timestamp")


def reject_repeats(df: pd.DataFrame, where: str) -> None:
    """Refuse a second metrics row for one series and time, as ``rcaflows score`` and ``rank`` do.

    Two values for one (component, metric, timestamp) are ambiguous (a double export, two
    sources overlapping): which one a detector saw would depend on row order. Aggregate upstream.

    Raises:
        DataError: naming the source, the first repeated series and time, and how many repeat.
    """
    if not set(SERIES_KEYS) <= set(df.columns) or len(df) < 2:
        return
    dup = df.duplicated(subset=list(SERIES_KEYS), keep="first").to_numpy()
    if dup.any():
        i = int(dup.nonzero()[0][0])
        row = df.iloc[i]
        raise DataError(
            f"{where}: row {i + 1}: component {row['component']!r}, metric {row['metric']!r} at "
            f"{row['timestamp']} appears more than once ({int(dup.sum())} repeated row(s)); "
            "expected one value per series and time: aggregate first"
        )


@dataclass(frozen=True)
class Melt:
    """Wide → long: one column per metric, the component fixed or taken from a column."""

    metrics: tuple[str, ...] = ()
    component: str | None = None


@dataclass(frozen=True)
class Mapping_:
    """What a table holds and how its columns map to the engine's."""

    frame: Frame = "metrics"
    node: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    melt: Melt | None = None

    def source(self, engine_col: str) -> str:
        """Return the source column that holds ``engine_col``."""
        return self.columns.get(engine_col, engine_col)

    def needed(self) -> list[str] | None:
        """Return the source columns to read (None: all of them)."""
        if self.frame != "metrics":
            return None
        if self.melt is None:
            return [self.source(c) for c in METRIC_COLUMNS]
        cols = [self.source("timestamp")]
        if self.melt.component is None:
            cols.append(self.source("component"))
        return cols + list(self.melt.metrics) if self.melt.metrics else None

    def to_engine(self, df: pd.DataFrame, where: str, start: datetime, end: datetime) -> MonitoringData:
        """Rename, melt and check the rows read; return them as the frame this table holds."""
        df = df.rename(columns={src: eng for eng, src in self.columns.items() if src != eng})
        ts = df["timestamp"]
        if not isinstance(ts.dtype, pd.DatetimeTZDtype):
            df = df.assign(timestamp=pd.to_datetime(ts, utc=True))
        if self.frame == "metrics" and self.melt is not None:
            ids = ["timestamp"] + (["component"] if self.melt.component is None else [])
            values = list(self.melt.metrics) or [c for c in df.columns if c not in ids]
            df = df.melt(id_vars=ids, value_vars=values, var_name="metric", value_name="value")
            if self.melt.component is not None:
                df["component"] = self.melt.component
            df = df[list(METRIC_COLUMNS)]
        df = df.sort_values("timestamp", kind="stable", ignore_index=True)
        numeric = ("value",) if self.frame == "metrics" else ()
        df = check_frame(df, _REQUIRED[self.frame], where, sorted_by_time=True, numeric=numeric)
        if self.frame == "metrics":
            reject_repeats(df, where)
            return MonitoringData(start=start, end=end, metrics=df)
        if self.frame == "changes":
            return MonitoringData(start=start, end=end, changes=df)
        if self.frame == "predictions":
            return MonitoringData(start=start, end=end, predictions=df)
        return MonitoringData(start=start, end=end, batches={str(self.node): df})


@dataclass
class ParquetSource:
    """Read one Parquet or CSV dataset (file, directory or glob; local or fsspec) for a window."""

    name: str
    path: str
    mapping: Mapping_
    format: Literal["parquet", "csv"] = "parquet"
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    def _dataset(self) -> Any:
        import fsspec
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, root = fsspec.core.url_to_fs(self.path, **dict(self.storage_options))
        paths: str | list[str] = root
        if any(ch in root for ch in "*?["):
            paths = sorted(fs.glob(root))
            if not paths:
                raise DataError(f"{self.path}: no file matches")
        elif not fs.exists(root):
            raise DataError(f"{self.path}: file or directory not found")
        fmt: Any = self.format
        if self.format == "csv":
            ts_col = self.mapping.source("timestamp")
            fmt = ds.CsvFileFormat(
                convert_options=pacsv.ConvertOptions(column_types={ts_col: pa.timestamp("ns", "UTC")})
            )
        try:
            return ds.dataset(paths, format=fmt, filesystem=PyFileSystem(FSSpecHandler(fs)))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{self.path}: cannot open {self.format} dataset: {str(exc).splitlines()[0]}") from None

    def _check_schema(self, dataset: Any, columns: Sequence[str] | None) -> None:
        """Name the file and column of the first schema problem (footers only, no data read)."""
        import pyarrow as pa

        ts_col = self.mapping.source("timestamp")
        want = list(columns) if columns is not None else [ts_col]
        for frag in dataset.get_fragments():
            schema = frag.physical_schema
            for col in want:
                if schema.get_field_index(col) < 0:
                    raise DataError(
                        f"{frag.path}: missing column {col!r} (source {self.name}, frame {self.mapping.frame}); "
                        f"file has {', '.join(schema.names)}"
                    )
            ts_type = schema.field(ts_col).type
            if not pa.types.is_timestamp(ts_type):
                raise DataError(f"{frag.path}: column {ts_col!r} must be a timestamp, got {ts_type}")
            if self.mapping.frame == "metrics" and self.mapping.melt is None:
                vtype = schema.field(self.mapping.source("value")).type
                if not (pa.types.is_floating(vtype) or pa.types.is_integer(vtype)):
                    raise DataError(
                        f"{frag.path}: column {self.mapping.source('value')!r} must be numeric, got {vtype}"
                    )

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Read the rows of ``[start, end)``: timestamp filter and columns pushed into the scan."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        dataset = self._dataset()
        columns = self.mapping.needed()
        self._check_schema(dataset, columns)
        ts_col = self.mapping.source("timestamp")
        ts_type = dataset.schema.field(ts_col).type
        lo, hi = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
        if ts_type.tz is None:
            lo, hi = lo.tz_localize(None), hi.tz_localize(None)
        predicate = (ds.field(ts_col) >= pa.scalar(lo, type=ts_type)) & (ds.field(ts_col) < pa.scalar(hi, type=ts_type))
        try:
            table = dataset.to_table(columns=columns, filter=predicate)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise DataError(f"{self.path}: cannot read: {str(exc).splitlines()[0]}") from None
        return self.mapping.to_engine(table.to_pandas(), self.path, start, end)


@dataclass
class DuckDBSource:
    """Run a DuckDB query for a window; the timestamp predicate is pushed into the query's scans."""

    name: str
    relation: str
    mapping: Mapping_
    database: str | None = None

    def sql(self) -> str:
        """Return the windowed SQL (parameters: start, end)."""
        cols = self.mapping.needed()
        proj = ", ".join(f'"{c}"' for c in cols) if cols else "*"
        ts = self.mapping.source("timestamp")
        return f'SELECT {proj} FROM ({self.relation}) AS src WHERE "{ts}" >= $start AND "{ts}" < $end ORDER BY "{ts}"'

    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect(self.database or ":memory:", read_only=self.database is not None)
        con.execute("SET TimeZone = 'UTC'")
        return con

    def explain(self, start: datetime, end: datetime) -> str:
        """Return DuckDB's physical plan of the windowed query (shows the pushed-down filters)."""
        with self._connect() as con:
            rows = con.execute("EXPLAIN " + self.sql(), {"start": start, "end": end}).fetchall()
        return "\n".join(str(r[-1]) for r in rows)

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Run the query over ``[start, end)`` and return the mapped frame."""
        import duckdb

        where = f"{self.name}: duckdb query {self.relation!r}"
        try:
            with self._connect() as con:
                df = con.execute(self.sql(), {"start": start, "end": end}).df()
        except duckdb.Error as exc:
            raise DataError(f"{where}: {str(exc).splitlines()[0]}") from None
        return self.mapping.to_engine(df, where, start, end)


def _mapping(opts: dict[str, Any], where: str) -> Mapping_:
    frame = opts.get("frame", "metrics")
    if frame not in _FRAMES:
        raise ConfigError(f"{where}.frame: {frame!r} is not one of {', '.join(_FRAMES)}")
    node = opts.get("node")
    if frame == "batch" and not node:
        raise ConfigError(f"{where}.node: required for frame 'batch' (the lineage node the rows landed in)")
    columns = opts.get("columns") or {}
    if not isinstance(columns, dict):
        raise ConfigError(f"{where}.columns: expected a mapping engine column -> source column")
    melt = None
    if opts.get("melt") is not None:
        raw = opts["melt"]
        if frame != "metrics" or not isinstance(raw, dict) or set(raw) - {"metrics", "component"}:
            raise ConfigError(f"{where}.melt: expected {{metrics: [columns], component: name}} on frame 'metrics'")
        melt = Melt(metrics=tuple(raw.get("metrics") or ()), component=raw.get("component"))
    return Mapping_(frame=frame, node=node, columns={str(k): str(v) for k, v in columns.items()}, melt=melt)


_MAPPING_KEYS = {"frame", "node", "columns", "melt"}


def _check_keys(opts: dict[str, Any], extra: set[str], where: str) -> None:
    unknown = set(opts) - _MAPPING_KEYS - extra
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; expected {sorted(_MAPPING_KEYS | extra)}")


@register("parquet")
def _parquet(spec: SourceConfig, config: SystemConfig) -> ParquetSource:
    where = f"sources[{spec.name}].options"
    opts = dict(spec.options)
    _check_keys(opts, {"path", "format", "storage_options"}, where)
    if not opts.get("path"):
        raise ConfigError(f"{where}.path: required (file, directory or glob; local or fsspec URL)")
    fmt = opts.get("format", "parquet")
    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"{where}.format: {fmt!r} is not one of parquet, csv")
    return ParquetSource(
        name=spec.name,
        path=str(opts["path"]),
        mapping=_mapping(opts, where),
        format=fmt,
        storage_options=dict(opts.get("storage_options") or {}),
    )


@register("duckdb")
def _duckdb(spec: SourceConfig, config: SystemConfig) -> DuckDBSource:
    where = f"sources[{spec.name}].options"
    opts = dict(spec.options)
    _check_keys(opts, {"query", "table", "database"}, where)
    if (opts.get("query") is None) == (opts.get("table") is None):
        raise ConfigError(f"{where}: give exactly one of 'query' (SQL) or 'table' (a table name)")
    relation = str(opts["query"]) if opts.get("query") else f'SELECT * FROM "{opts["table"]}"'
    return DuckDBSource(name=spec.name, relation=relation, mapping=_mapping(opts, where), database=opts.get("database"))
