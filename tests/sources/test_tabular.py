from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import fsspec
import numpy as np
import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileSystem

from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources import build_source, load_sources
from rcaflows.sources.tabular import DuckDBSource, ParquetSource

CFG = load_config()
T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = 48
PER_HOUR = 360  # one sample every 10 s


class CountingFS(LocalFileSystem):
    """A local filesystem that counts the bytes read through it (to prove push-down)."""

    protocol = ("counting",)
    bytes_read: ClassVar[int] = 0

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        return super()._strip_protocol(str(path).removeprefix("counting://"))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        f = super()._open(path, mode, **kwargs)
        read = f.read

        def counted(*args: Any) -> bytes:
            out = read(*args)
            CountingFS.bytes_read += len(out)
            return out

        f.read = counted
        return f


fsspec.register_implementation("counting", CountingFS, clobber=True)


def metrics_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ts = pd.date_range(T0, periods=HOURS * PER_HOUR, freq="10s", tz="UTC")
    n = len(ts)
    return pd.DataFrame(
        {
            "ts": np.repeat(ts, 2),
            "service": np.tile(["api", "db"], n),
            "name": np.tile(["latency_ms", "cpu"], n),
            "val": rng.normal(100, 5, 2 * n),
            "unused_payload": rng.random(2 * n),
        }
    )


@pytest.fixture(scope="module")
def metrics_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pq") / "metrics.parquet"
    metrics_frame().to_parquet(path, index=False, row_group_size=2 * 2 * PER_HOUR)  # 2 h per row group
    return path


def parquet_source(path: str, **options: Any) -> ParquetSource:
    opts = {"path": path, "columns": {"timestamp": "ts", "component": "service", "metric": "name", "value": "val"}}
    src = build_source(SourceConfig(name="pq", kind="parquet", options={**opts, **options}), CFG)
    assert isinstance(src, ParquetSource)
    return src


def test_parquet_reads_the_window_with_mapped_columns(metrics_parquet: Path) -> None:
    start, end = T0 + timedelta(hours=10, minutes=30), T0 + timedelta(hours=11)
    got = parquet_source(str(metrics_parquet)).load(start, end).metrics
    src = metrics_frame()
    want = src[(src.ts >= start) & (src.ts < end)]
    assert list(got.columns) == ["timestamp", "component", "metric", "value"]
    assert got["value"].tolist() == want["val"].tolist()
    assert got.timestamp.min() == start and got.timestamp.max() == end - timedelta(seconds=10)


def test_predicate_and_column_pushdown_read_a_fraction_of_the_file(metrics_parquet: Path) -> None:
    size = metrics_parquet.stat().st_size
    src = parquet_source(f"counting://{metrics_parquet}")
    CountingFS.bytes_read = 0
    data = src.load(T0 + timedelta(hours=20), T0 + timedelta(hours=21))
    window_bytes = CountingFS.bytes_read
    assert len(data.metrics) == 2 * PER_HOUR
    CountingFS.bytes_read = 0
    src.load(T0, T0 + timedelta(hours=HOURS))
    full_bytes = CountingFS.bytes_read
    # predicate push-down: one hour touches one of 24 row groups (plus the footer)
    assert window_bytes < size / 4, (window_bytes, size)
    # column push-down: even the whole span skips the random (incompressible) payload column
    assert full_bytes < size * 0.85, (full_bytes, size)


def test_wide_table_is_melted(tmp_path: Path) -> None:
    ts = pd.date_range(T0, periods=10, freq="1min", tz="UTC")
    wide = pd.DataFrame({"time": ts, "latency_ms": np.arange(10.0), "cpu": np.arange(10.0) * 2, "note": "x"})
    wide.to_parquet(tmp_path / "wide.parquet")
    opts = {"columns": {"timestamp": "time"}, "melt": {"component": "api", "metrics": ["latency_ms", "cpu"]}}
    got = parquet_source(str(tmp_path / "wide.parquet"), **opts).load(T0, T0 + timedelta(minutes=5)).metrics
    assert len(got) == 10 and set(got.component) == {"api"}
    assert got[got.metric == "cpu"]["value"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_csv_over_fsspec_and_batch_frame(tmp_path: Path) -> None:
    ts = pd.date_range(T0, periods=6, freq="10min", tz="UTC")
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "amount": [1, 2, 3, 4, 5, 6]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    spec = SourceConfig(
        name="b",
        kind="parquet",
        options={"path": f"file://{tmp_path}/*.csv", "format": "csv", "frame": "batch", "node": "raw_transactions"},
    )
    data = build_source(spec, CFG).load(T0 + timedelta(minutes=10), T0 + timedelta(minutes=40))
    assert data.batches["raw_transactions"]["amount"].tolist() == [2, 3, 4]


def test_wrong_schema_names_file_and_column(tmp_path: Path) -> None:
    good = metrics_frame().head(10)
    good.to_parquet(tmp_path / "a.parquet")
    good.rename(columns={"val": "value_ms"}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: missing column 'val'.*value_ms"):
        parquet_source(str(tmp_path)).load(T0, T0 + timedelta(hours=1))
    good.assign(ts=good.ts.astype(str)).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: column 'ts' must be a timestamp"):
        parquet_source(str(tmp_path)).load(T0, T0 + timedelta(hours=1))


def test_missing_path_fails_in_load_sources_and_is_reported(tmp_path: Path, metrics_parquet: Path) -> None:
    opts = {"columns": {"timestamp": "ts", "component": "service", "metric": "name", "value": "val"}}
    sources = [
        SourceConfig(name="gone", kind="parquet", options={"path": str(tmp_path / "nope.parquet"), **opts}),
        SourceConfig(name="pq", kind="parquet", options={"path": str(metrics_parquet), **opts}),
    ]
    data = load_sources(CFG.model_copy(update={"sources": sources}), T0, T0 + timedelta(hours=1))
    assert data.missing_sources == ("gone",) and len(data.metrics) == 2 * PER_HOUR


def test_duckdb_query_pushes_the_window_into_the_parquet_scan(metrics_parquet: Path) -> None:
    spec = SourceConfig(
        name="duck",
        kind="duckdb",
        options={
            "query": f"SELECT ts, service, name, val FROM read_parquet('{metrics_parquet}')",
            "columns": {"timestamp": "ts", "component": "service", "metric": "name", "value": "val"},
        },
    )
    src = build_source(spec, CFG)
    assert isinstance(src, DuckDBSource)
    start, end = T0 + timedelta(hours=5), T0 + timedelta(hours=6)
    got = src.load(start, end).metrics
    want = metrics_frame()
    want = want[(want.ts >= start) & (want.ts < end)]
    assert got["value"].tolist() == want["val"].tolist()
    plan = src.explain(start, end)
    scan = plan[plan.index("PARQUET_SCAN") if "PARQUET_SCAN" in plan else plan.index("READ_PARQUET") :]
    assert "ts>=" in scan.replace(" ", "") and "Filters" in scan, plan


def test_duckdb_table_in_a_database_file(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE changes AS SELECT TIMESTAMPTZ '2026-03-01 00:30:00+00' AS timestamp, 'api' AS component, "
            "'deploy' AS kind, 'api v2' AS description"
        )
    spec = SourceConfig(name="d", kind="duckdb", options={"table": "changes", "database": str(db), "frame": "changes"})
    data = build_source(spec, CFG).load(T0, T0 + timedelta(hours=1))
    assert data.changes["description"].tolist() == ["api v2"]
    bad = SourceConfig(name="d", kind="duckdb", options={"query": "SELECT * FROM nowhere", "frame": "changes"})
    with pytest.raises(DataError, match=r"duckdb query 'SELECT \* FROM nowhere'.*nowhere"):
        build_source(bad, CFG).load(T0, T0 + timedelta(hours=1))


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"options\.node: required"):
        build_source(SourceConfig(name="x", kind="parquet", options={"path": "a", "frame": "batch"}), CFG)
    with pytest.raises(ConfigError, match="unknown option"):
        build_source(SourceConfig(name="x", kind="parquet", options={"path": "a", "where": "1"}), CFG)
    with pytest.raises(ConfigError, match="exactly one of 'query'"):
        build_source(SourceConfig(name="x", kind="duckdb", options={}), CFG)


def test_repeated_series_rows_are_refused_like_score_and_rank(tmp_path: Path) -> None:
    frame = metrics_frame().iloc[:400]
    doubled = pd.concat([frame, frame.iloc[[7]]]).sort_values("ts", kind="stable")
    path = tmp_path / "dup.parquet"
    doubled.to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"metric 'cpu' at 2026-.* appears more than once \(1 repeated row"):
        parquet_source(str(path)).load(T0, T0 + pd.Timedelta(hours=1))
    ok = tmp_path / "ok.parquet"
    frame.to_parquet(ok, index=False)
    assert len(parquet_source(str(ok)).load(T0, T0 + pd.Timedelta(hours=1)).metrics) == 400
