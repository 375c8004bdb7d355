"""The source contract over every registered kind: the window's rows in checked frames, unknown options refused.

Each kind is built from a minimal valid spec over data written by the test (or, for ``prometheus``,
the real local server of ``conftest.py``); the data always reaches beyond the window on both sides,
so a source that does not cut at ``[start, end)`` fails.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.sources.conftest import SLICE_END, SLICE_START

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import SourceConfig
from rcaflows.data import CHANGE_COLUMNS, METRIC_COLUMNS, PREDICTION_COLUMNS, MonitoringData, check_frame
from rcaflows.demo import simulate
from rcaflows.errors import ConfigError
from rcaflows.sources import SOURCE_KINDS, build_source
from rcaflows.sources.files import write_files

# The built-in kinds register on import; build_source imports them lazily, the parametrization needs them now.
for _module in ("changes", "demo", "files", "prometheus", "tabular"):
    importlib.import_module(f"rcaflows.sources.{_module}")

CFG = load_config(demo_config_path())
#: The loaded window: two hours in the middle of the six the written data (and the test Prometheus) hold.
START = SLICE_START + timedelta(hours=2)
END = SLICE_START + timedelta(hours=4)
#: Change events before, inside (two) and after the window.
CHANGE_TIMES = (SLICE_START + timedelta(minutes=30), START, END - timedelta(minutes=1), END)


def _world() -> MonitoringData:
    data = simulate("no_fault", seed=7).data.slice(SLICE_START, SLICE_END)
    changes = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(CHANGE_TIMES),
            "component": "scoring_api",
            "kind": "deploy",
            "description": [f"release {i}" for i in range(len(CHANGE_TIMES))],
        }
    )
    return MonitoringData(
        start=data.start,
        end=data.end,
        metrics=data.metrics,
        predictions=data.predictions,
        batches=data.batches,
        changes=changes,
    )


WORLD = _world()


def _files(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    write_files(WORLD, tmp / "files")
    return {"directory": str(tmp / "files")}


def _parquet(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    WORLD.metrics.to_parquet(tmp / "metrics.parquet")
    return {"path": str(tmp / "metrics.parquet")}


def _duckdb(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    WORLD.metrics.to_parquet(tmp / "metrics.parquet")
    return {"query": f"SELECT * FROM read_parquet('{tmp / 'metrics.parquet'}')"}


def _changes(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    log = tmp / "changes.jsonl"
    rows = WORLD.changes.assign(timestamp=WORLD.changes["timestamp"].map(lambda t: t.isoformat()))
    log.write_text("".join(json.dumps(r) + "\n" for r in rows.to_dict("records")))
    return {"path": str(log)}


def _demo(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"scenario": "no_fault", "seed": 7}


def _prometheus(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    url = request.getfixturevalue("prometheus_url")  # a real local server; skipped without the binaries
    query = {"query": '{job="demo"}', "metric_label": "__name__", "component_label": "component"}
    return {"url": url, "step": "60s", "backoff": 0.01, "queries": [query]}


#: A minimal valid spec per kind; a newly registered kind fails the coverage test until it has one.
SPECS: dict[str, Callable[[Path, pytest.FixtureRequest], dict[str, Any]]] = {
    "files": _files,
    "parquet": _parquet,
    "duckdb": _duckdb,
    "changes": _changes,
    "demo": _demo,
    "prometheus": _prometheus,
}
#: Options valid without any data behind them: enough to build the source, not to read it.
STATIC_OPTIONS: dict[str, dict[str, Any]] = {
    "files": {"directory": "/nonexistent"},
    "parquet": {"path": "/nonexistent.parquet"},
    "duckdb": {"table": "metrics"},
    "changes": {"path": "/nonexistent.jsonl"},
    "demo": {},
    "prometheus": {"url": "http://127.0.0.1:1", "queries": [{"query": "up", "metric": "up", "component": "x"}]},
}


def _frames(data: MonitoringData) -> dict[str, pd.DataFrame]:
    out = {"metrics": data.metrics, "predictions": data.predictions, "changes": data.changes}
    out.update({f"batches[{node}]": frame for node, frame in data.batches.items()})
    return out


def test_every_registered_kind_has_a_contract_case() -> None:
    assert set(SOURCE_KINDS) == set(SPECS) == set(STATIC_OPTIONS)


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_a_source_returns_checked_frames_of_its_window_only(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = build_source(SourceConfig(name=f"{kind}_src", kind=kind, options=SPECS[kind](tmp_path, request)), CFG)
    data = source.load(START, END)
    assert isinstance(data, MonitoringData)
    assert (data.start, data.end) == (START, END)
    assert any(not f.empty for f in _frames(data).values()), f"{kind} returned nothing for a window its data covers"
    check_frame(data.metrics, METRIC_COLUMNS, f"{kind}.metrics", numeric=("value",))
    check_frame(data.changes, CHANGE_COLUMNS, f"{kind}.changes")
    if not data.predictions.empty:
        check_frame(data.predictions, PREDICTION_COLUMNS, f"{kind}.predictions")
    for name, frame in _frames(data).items():
        if frame.empty:
            continue
        ts = check_frame(frame, ("timestamp",), f"{kind}.{name}")["timestamp"]
        outside = frame.loc[(ts < START) | (ts >= END), "timestamp"]
        assert outside.empty, f"{kind}.{name}: {len(outside)} row(s) outside [{START}, {END}), e.g. {outside.iloc[0]}"


def test_the_window_cut_is_half_open(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    got = build_source(SourceConfig(name="log", kind="changes", options=_changes(tmp_path, request)), CFG)
    times = list(got.load(START, END).changes["timestamp"])
    assert times == [pd.Timestamp(START), pd.Timestamp(END - timedelta(minutes=1))]


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_an_unknown_option_is_a_config_error_naming_it(kind: str) -> None:
    options = {**STATIC_OPTIONS[kind], "bogus_option": 1}
    with pytest.raises(ConfigError, match="bogus_option"):
        build_source(SourceConfig(name=f"{kind}_src", kind=kind, options=options), CFG)


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_the_static_options_build(kind: str) -> None:
    source = build_source(SourceConfig(name=f"{kind}_src", kind=kind, options=STATIC_OPTIONS[kind]), CFG)
    assert source.name == f"{kind}_src" and callable(source.load)
