from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.sources.conftest import BASIC_PASSWORD, BASIC_USER, SLICE_END, SLICE_START, known_metrics

from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig
from rcaflows.data import MonitoringData
from rcaflows.demo.export import free_port
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources import build_source, load_sources
from rcaflows.sources.files import write_files
from rcaflows.sources.prometheus import PrometheusSource

CFG = load_config()
ALL_SERIES = {"query": '{job="demo"}', "metric_label": "__name__", "component_label": "component"}


def source(url: str, queries: list[dict] | None = None, retries: int = 0, **options: object) -> PrometheusSource:
    spec = SourceConfig(
        name="prom",
        kind="prometheus",
        retries=retries,
        options={"url": url, "step": "60s", "backoff": 0.01, "queries": queries or [ALL_SERIES], **options},
    )
    src = build_source(spec, CFG)
    assert isinstance(src, PrometheusSource)
    return src


def test_values_round_trip_exactly(prometheus_url: str) -> None:
    data = source(prometheus_url).load(SLICE_START, SLICE_END)
    pd.testing.assert_frame_equal(data.metrics, known_metrics(), check_exact=True, check_dtype=False)


def test_one_query_per_metric_with_label_mapping(prometheus_url: str) -> None:
    queries = [
        {
            "query": 'latency_p95_ms{component="gateway"}',
            "metric": "gw_latency",
            "component": "edge",
            "kind": "latency",
        },
        {"query": "max by (component) (cpu_util)", "metric": "cpu_util", "component_label": "component"},
    ]
    got = source(prometheus_url, queries).load(SLICE_START, SLICE_END).metrics
    want = known_metrics()
    gw = want[(want.component == "gateway") & (want.metric == "latency_p95_ms")]
    mine = got[got.metric == "gw_latency"]
    assert set(mine.component) == {"edge"}
    assert mine["value"].tolist() == gw["value"].tolist()
    assert sorted(got[got.metric == "cpu_util"].component.unique()) == sorted(
        want[want.metric == "cpu_util"].component.unique()
    )


def test_long_ranges_are_split_without_gaps_or_overlap(prometheus_url: str) -> None:
    src = source(prometheus_url, max_points=37)
    chunks = src.chunks(SLICE_START, SLICE_END)
    assert len(chunks) == -(-360 // 37)  # 360 one-minute points
    assert all(b[0] - a[1] == 60 for a, b in itertools.pairwise(chunks))
    assert chunks[0][0] == SLICE_START.timestamp() and chunks[-1][1] == SLICE_END.timestamp() - 60
    data = src.load(SLICE_START, SLICE_END)
    assert src.requests_sent == len(chunks)
    pd.testing.assert_frame_equal(data.metrics, known_metrics(), check_exact=True, check_dtype=False)


def test_unaligned_window_keeps_half_open_bounds(prometheus_url: str) -> None:
    start, end = SLICE_START + timedelta(seconds=30), SLICE_START + timedelta(minutes=10)
    got = source(prometheus_url).load(start, end).metrics
    assert got.timestamp.min() == SLICE_START + timedelta(minutes=1)
    assert got.timestamp.max() == end - timedelta(minutes=1)


def test_max_points_above_prometheus_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_points"):
        source("http://127.0.0.1:1", max_points=11_001)


def test_bad_promql_names_the_query(prometheus_url: str) -> None:
    bad = [{"query": "rate(cpu_util[", "metric": "cpu", "component_label": "component"}]
    with pytest.raises(DataError, match=r"query 'cpu' \(rate\(cpu_util\[\).*bad_data"):
        source(prometheus_url, bad, retries=3).load(SLICE_START, SLICE_END)


def test_series_without_component_label_is_a_data_error(prometheus_url: str) -> None:
    q = [{"query": "sum(cpu_util)", "metric": "cpu", "component_label": "component"}]
    with pytest.raises(DataError, match="has no label 'component'"):
        source(prometheus_url, q).load(SLICE_START, SLICE_END)


def test_basic_auth_from_environment(prometheus_basic_auth_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"basic": {"username_env": "T_PROM_USER", "password_env": "T_PROM_PASS"}}
    src = source(prometheus_basic_auth_url, auth=auth)
    with pytest.raises(ConfigError, match="T_PROM_USER is not set"):
        src.load(SLICE_START, SLICE_END)
    monkeypatch.setenv("T_PROM_USER", BASIC_USER)
    monkeypatch.setenv("T_PROM_PASS", "wrong")
    with pytest.raises(DataError, match="refused the credentials"):
        src.load(SLICE_START, SLICE_END)
    monkeypatch.setenv("T_PROM_PASS", BASIC_PASSWORD)
    pd.testing.assert_frame_equal(
        src.load(SLICE_START, SLICE_END).metrics, known_metrics(), check_exact=True, check_dtype=False
    )


def test_bearer_token_header_sent(http_server, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "component": "api"}, "values": [[SLICE_START.timestamp(), "1.5"]]}
    ]}}  # fmt: skip
    rec = http_server(200, json.dumps(body).encode(), 0.0)
    monkeypatch.setenv("T_PROM_TOKEN", "s3cret")
    data = source(rec.url, auth={"bearer_env": "T_PROM_TOKEN"}).load(SLICE_START, SLICE_END)
    assert rec.headers[0]["Authorization"] == "Bearer s3cret"
    assert data.metrics["value"].tolist() == [1.5]


def test_server_down_retries_then_data_error() -> None:
    src = source(f"http://127.0.0.1:{free_port()}", retries=2)
    with pytest.raises(DataError, match=r"cannot reach Prometheus .*3 attempt"):
        src.load(SLICE_START, SLICE_END)
    assert src.requests_sent == 3


def test_5xx_is_retried(http_server) -> None:
    rec = http_server(503, b"Service Unavailable", 0.0)
    with pytest.raises(DataError, match="HTTP 503"):
        source(rec.url, retries=2).load(SLICE_START, SLICE_END)
    assert len(rec.paths) == 3 and all(p.startswith("/api/v1/query_range") for p in rec.paths)


def test_partial_data_warning_is_a_data_error(http_server) -> None:
    body = {
        "status": "success",
        "warnings": ["remote read failed: store-2"],
        "data": {"resultType": "matrix", "result": []},
    }
    rec = http_server(200, json.dumps(body).encode(), 0.0)
    with pytest.raises(DataError, match=r"partial data.*store-2"):
        source(rec.url).load(SLICE_START, SLICE_END)


def test_slow_server_times_out(http_server) -> None:
    rec = http_server(200, b"{}", 2.0)
    src = source(rec.url, retries=1, timeout="0.2s")
    with pytest.raises(DataError, match=r"did not answer within 0.2 s \(2 attempt"):
        src.load(SLICE_START, SLICE_END)
    assert src.requests_sent == 2


def test_load_sources_continues_without_a_down_prometheus(tmp_path: Path) -> None:
    extra = pd.DataFrame(
        {"timestamp": [SLICE_START], "component": ["gateway"], "metric": ["error_rate"], "value": [0.5]}
    )
    write_files(MonitoringData(start=SLICE_START, end=SLICE_END, metrics=extra), tmp_path)
    sources = [
        SourceConfig(
            name="prom-down",
            kind="prometheus",
            retries=1,
            options={"url": f"http://127.0.0.1:{free_port()}", "backoff": 0.01, "queries": [ALL_SERIES]},
        ),
        SourceConfig(name="files", kind="files", options={"directory": str(tmp_path)}),
    ]
    data = load_sources(CFG.model_copy(update={"sources": sources}), SLICE_START, SLICE_END)
    assert data.missing_sources == ("prom-down",)
    assert data.metrics["value"].tolist() == [0.5]
