from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rcaflows.cli import app
from rcaflows.config import load_config
from rcaflows.demo.export import export_demo_world

runner = CliRunner()


def test_export_writes_a_config_whose_sources_are_the_exported_files(tmp_path: Path) -> None:
    w = export_demo_world("dependency_timeout", tmp_path, prometheus_url="http://127.0.0.1:9")
    cfg = load_config(w.config)
    kinds = {s.name: s.kind for s in cfg.sources}
    assert kinds["prometheus"] == "prometheus" and kinds["prediction-log"] == "parquet"
    assert kinds["change-log"] == "changes" and kinds["batch-feature_store"] == "parquet"
    assert cfg.system.name.endswith("/dependency_timeout")
    assert {n.name for n in cfg.lineage.nodes} == {n.name for n in load_config().lineage.nodes}
    text = w.openmetrics.read_text()
    assert text.startswith("# TYPE ") and text.endswith("# EOF\n") and 'scenario="dependency_timeout"' in text


@pytest.mark.slow
def test_demo_from_prometheus_parquet_openlineage_matches_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: None, prometheus_binaries: None
) -> None:
    monkeypatch.chdir(tmp_path)
    outcomes = {}
    for mode in ("simulator", "prometheus"):
        monkeypatch.setenv("RCAFLOWS_STORE_URL", f"sqlite:///{tmp_path / f'{mode}.db'}")
        out = tmp_path / f"{mode}.json"
        res = runner.invoke(app, ["demo", "--scenario", "schema_change_nulls", "--sources", mode, "--json", str(out)])
        assert res.exit_code == 0, res.output
        outcomes[mode] = json.loads(out.read_text())[0]
    exported = tmp_path / "rcaflows-demo" / "exported" / "schema_change_nulls"
    assert (exported / "metrics.om").is_file() and (exported / "predictions.parquet").is_file()
    sim, prom = outcomes["simulator"], outcomes["prometheus"]
    assert prom["detected"] and prom["quiet"]
    assert prom["found_types"] == sim["found_types"] and prom["top_cause"] == sim["top_cause"]
    assert prom["top_cause"] == prom["root_cause"]


def test_openmetrics_timestamps_do_not_depend_on_the_datetime_unit(tmp_path: Path) -> None:
    import pandas as pd

    from rcaflows.demo.export import write_openmetrics

    ts = pd.date_range("2026-03-02T10:00:00Z", periods=3, freq="90s")
    frame = pd.DataFrame({"timestamp": ts, "component": "api", "metric": "lat", "value": [1.5, 0.1, float("nan")]})
    a = write_openmetrics(frame.assign(timestamp=ts.as_unit("us")), tmp_path / "us.om").read_text()
    b = write_openmetrics(frame.assign(timestamp=ts.as_unit("ns")), tmp_path / "ns.om").read_text()
    assert a == b
    assert 'lat{component="api"} 0.1 1772445690.000' in a and " NaN 1772445780.000" in a
