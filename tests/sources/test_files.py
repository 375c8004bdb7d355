from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig
from rcaflows.data import MonitoringData
from rcaflows.errors import DataError
from rcaflows.sources import load_sources
from rcaflows.sources.files import FilesSource, write_files

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def sample() -> MonitoringData:
    ts = pd.date_range(T0, periods=120, freq="1min", tz="UTC")
    metrics = pd.DataFrame(
        {
            "timestamp": np.repeat(ts, 2),
            "component": ["api", "db"] * 120,
            "metric": ["latency_ms", "cpu"] * 120,
            "value": np.arange(240, dtype=float),
        }
    )
    changes = pd.DataFrame({"timestamp": [ts[30]], "component": ["api"], "kind": ["deploy"], "description": ["api v2"]})
    preds = pd.DataFrame(
        {
            "timestamp": ts,
            "client_id": "c-1",
            "group": "A",
            "score": 0.1,
            "prediction": 0,
            "label": np.nan,
            "label_at": pd.Series(pd.NaT, index=range(120), dtype="datetime64[ns, UTC]"),
        }
    )
    batch = pd.DataFrame({"timestamp": ts, "amount": 1.0})
    return MonitoringData(
        start=T0,
        end=T0 + timedelta(hours=2),
        metrics=metrics,
        predictions=preds,
        batches={"raw": batch},
        changes=changes,
    )


def test_round_trip_keeps_rows_and_slices_the_window(tmp_path: Path) -> None:
    write_files(sample(), tmp_path)
    got = FilesSource("files", tmp_path).load(T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))
    assert len(got.metrics) == 120
    assert got.metrics["timestamp"].min() == pd.Timestamp(T0 + timedelta(minutes=30))
    assert str(got.metrics["timestamp"].dt.tz) == "UTC"
    assert list(got.changes["description"]) == ["api v2"]
    assert len(got.batches["raw"]) == 60
    assert got.predictions["label_at"].isna().all()


def test_naive_timestamps_are_refused_with_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("timestamp,component,metric,value\n2026-03-02 10:00:00,api,cpu,1\n")
    with pytest.raises(DataError, match=r"metrics.csv: field 'timestamp' has timestamps without a timezone"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))


def test_out_of_order_rows_are_named(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text(
        "timestamp,component,metric,value\n2026-03-02T10:01:00Z,api,cpu,1\n2026-03-02T10:00:00Z,api,cpu,2\n"
    )
    with pytest.raises(DataError, match=r"metrics.csv: field 'timestamp' out of order at row 2"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))


def test_bad_values_and_columns(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("timestamp,component,value\n2026-03-02T10:00:00Z,api,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) metric"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))
    (tmp_path / "metrics.csv").write_text("timestamp,component,metric,value\n2026-03-02T10:00:00Z,api,cpu,high\n")
    with pytest.raises(DataError, match=r"field 'value' must be numeric"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))
    (tmp_path / "metrics.csv").write_text("timestamp,component,metric,value\nyesterday,api,cpu,1\n")
    with pytest.raises(DataError, match=r"field 'timestamp' is not an ISO timestamp at line 2"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))
    (tmp_path / "metrics.csv").unlink()
    (tmp_path / "metrics.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"metrics.parquet: cannot read file"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))


def test_a_failing_source_is_named_and_the_others_still_load(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_files(sample(), good)
    bad.mkdir()
    (bad / "metrics.csv").write_text("timestamp,component,metric,value\n2026-03-02 10:00,api,cpu,1\n")
    cfg = load_config().model_copy(
        update={
            "sources": [
                SourceConfig(name="good", kind="files", options={"directory": str(good)}),
                SourceConfig(name="bad", kind="files", options={"directory": str(bad)}),
            ]
        }
    )
    data = load_sources(cfg, T0, T0 + timedelta(hours=2))
    assert data.missing_sources == ("bad",)
    assert len(data.metrics) == 240
    only_bad = cfg.model_copy(update={"sources": cfg.sources[1:]})
    with pytest.raises(DataError, match="without a timezone"):
        load_sources(only_bad, T0, T0 + timedelta(hours=2))


def test_repeated_series_rows_are_refused_like_score_and_rank(tmp_path: Path) -> None:
    write_files(sample(), tmp_path)
    metrics = tmp_path / "metrics.csv"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([*lines[:10], lines[9], *lines[10:]]) + "\n")  # one row twice, still in order
    with pytest.raises(DataError, match=r"metrics.csv: row 10: component .* appears more than once"):
        FilesSource("f", tmp_path).load(T0, T0 + timedelta(hours=1))
