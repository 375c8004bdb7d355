from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources import build_source, load_sources
from rcaflows.sources.changes import read_change_log, record_change

CFG = load_config()
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
EVENTS = [
    {"timestamp": "2026-03-02T10:05:00Z", "component": "scoring_api", "kind": "deploy", "description": "api v2"},
    {"timestamp": "2026-03-02T09:00:00+01:00", "component": "etl", "kind": "config", "description": "batch 500"},
    {"timestamp": "2026-03-02T12:00:00Z", "component": "feature_db", "kind": "infra", "description": "resize"},
]


def changes_source(**options: object):
    return build_source(SourceConfig(name="chg", kind="changes", options=dict(options)), CFG)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_log_formats_read_the_window(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"changes{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    elif suffix == ".json":
        path.write_text(json.dumps(EVENTS))
    else:
        path.write_text("timestamp,component,kind,description\n" + "".join(
            f"{e['timestamp']},{e['component']},{e['kind']},{e['description']}\n" for e in EVENTS
        ))  # fmt: skip
    data = changes_source(path=str(path)).load(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    # 09:00+01:00 is 08:00 UTC, outside the window; sorted by time
    assert data.changes["description"].tolist() == ["api v2"]
    assert str(data.changes["timestamp"].dt.tz) == "UTC"


def test_bad_rows_are_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(EVENTS[0]) + "\n" + json.dumps({**EVENTS[1], "component": ""}) + "\n")
    with pytest.raises(DataError, match=r"c.jsonl: line 2: field 'component' is required"):
        read_change_log(path)
    path.write_text(json.dumps({**EVENTS[0], "timestamp": "2026-03-02T10:00:00"}) + "\n")
    with pytest.raises(DataError, match="line 1: field 'timestamp' has no timezone"):
        read_change_log(path)
    csv = tmp_path / "c.csv"
    csv.write_text("timestamp,component,kind,description\n2026-03-02T10:00:00Z,api,rollout,x\n")
    with pytest.raises(DataError, match=r"c\.csv: line 2: field 'kind' is 'rollout'; expected one of deploy"):
        read_change_log(csv)


def test_webhook_table_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'changes.db'}"
    for e in EVENTS:
        record_change(url, e)
    with pytest.raises(DataError, match="field 'description' is required"):
        record_change(url, {**EVENTS[0], "description": None})
    src = changes_source(url=url, table="change_events")
    data = src.load(T0 - timedelta(hours=3), T0 + timedelta(hours=1))
    assert data.changes["description"].tolist() == ["batch 500", "api v2"]
    assert data.changes["timestamp"].tolist() == [
        datetime(2026, 3, 2, 8, tzinfo=UTC),
        datetime(2026, 3, 2, 10, 5, tzinfo=UTC),
    ]


def test_missing_table_is_reported_by_load_sources(tmp_path: Path) -> None:
    log = tmp_path / "c.jsonl"
    log.write_text(json.dumps(EVENTS[0]) + "\n")
    sources = [
        SourceConfig(name="hook", kind="changes", options={"url": f"sqlite:///{tmp_path / 'empty.db'}"}),
        SourceConfig(name="log", kind="changes", options={"path": str(log)}),
    ]
    data = load_sources(CFG.model_copy(update={"sources": sources}), T0, T0 + timedelta(hours=1))
    assert data.missing_sources == ("hook",) and len(data.changes) == 1


def test_config_needs_exactly_one_place() -> None:
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        changes_source()
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        changes_source(path="a.jsonl", url="sqlite://")
