from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import networkx as nx
import pytest

from rcaflows.config import load_config
from rcaflows.config.models import LineageConfig, LineageNode
from rcaflows.errors import DataError
from rcaflows.graph import system_graph
from rcaflows.sources.openlineage import (
    from_lineage_config,
    load_openlineage,
    to_lineage_config,
    write_events,
)

CFG = load_config()
DEMO_EVENTS = Path(str(files("rcaflows.demo") / "openlineage.jsonl"))


def plain(g: nx.DiGraph) -> tuple[dict, list]:
    return (
        {n: (a["kind"], a.get("component"), sorted(a.get("columns") or [])) for n, a in g.nodes(data=True)},
        sorted(g.edges),
    )


def test_bundled_openlineage_events_give_the_demo_lineage() -> None:
    ol = load_openlineage(DEMO_EVENTS)
    assert ol.warnings == []
    from_events = system_graph(CFG.model_copy(update={"lineage": to_lineage_config(ol.graph)})).lineage
    assert plain(from_events) == plain(system_graph(CFG).lineage)


def test_facets_are_node_attributes(tmp_path: Path) -> None:
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-02T10:00:00Z",
        "run": {"runId": "6a5b4e2c-0000-4000-8000-000000000001"},
        "job": {"namespace": "airflow", "name": "etl_features"},
        "inputs": [
            {
                "namespace": "s3://lake",
                "name": "raw_transactions",
                "facets": {"schema": {"fields": [{"name": "amount", "type": "double"}, {"name": "hour"}]}},
                "inputFacets": {
                    "dataQualityAssertions": {
                        "assertions": [{"assertion": "not_null", "success": False, "column": "amount"}]
                    }
                },
            }
        ],
        "outputs": [
            {
                "namespace": "s3://lake",
                "name": "feature_store",
                "outputFacets": {"outputStatistics": {"rowCount": 1234}},
            }
        ],
    }
    path = tmp_path / "events"
    path.mkdir()
    (path / "a.json").write_text(json.dumps(event))
    g = load_openlineage(path).graph
    assert sorted(g.edges) == [("etl_features", "feature_store"), ("raw_transactions", "etl_features")]
    raw, out, job = g.nodes["raw_transactions"], g.nodes["feature_store"], g.nodes["etl_features"]
    assert raw["columns"] == ["amount", "hour"] and raw["kind"] == "source" and raw["namespace"] == "s3://lake"
    assert raw["assertions"][0]["column"] == "amount" and raw["assertions"][0]["success"] is False
    assert out["row_count"] == 1234 and out["kind"] == "dataset"
    assert job["kind"] == "job" and job["openlineage_type"] == "job"


def test_bad_streams_warn_instead_of_crashing(tmp_path: Path) -> None:
    good = from_lineage_config(CFG.lineage)
    lines = [json.dumps(e) for e in good]
    lines.insert(1, json.dumps({**good[0], "eventType": "EXPLODED"}))
    lines.insert(2, "{not json")
    lines.insert(3, json.dumps({"eventType": "COMPLETE", "run": {"runId": "x"}, "job": {"name": "nameless"}}))
    lines.insert(
        4,
        json.dumps(
            {
                "eventType": "START",
                "run": {"runId": "y", "facets": {"parent": {"job": {"namespace": "airflow", "name": "ghost_dag"}}}},
                "job": {"namespace": "fraud", "name": "extra_job"},
                "inputs": [{"name": "no-namespace"}],
            }
        ),
    )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))
    ol = load_openlineage(path)
    text = "\n".join(ol.warnings)
    assert "unknown eventType 'EXPLODED'" in text
    assert f"{path}:3: not valid JSON" in text
    assert "job without namespace and name" in text and "input without namespace and name" in text
    assert "parent job airflow/ghost_dag appears in no event" in text
    assert {"raw_transactions", "fraud_model", "extra_job"} <= set(ol.graph.nodes)


def test_cycles_warn_and_refuse_conversion(tmp_path: Path) -> None:
    def run(job: str, i: str, o: str) -> dict:
        return {
            "eventType": "COMPLETE",
            "run": {"runId": job},
            "job": {"namespace": "n", "name": job},
            "inputs": [{"namespace": "n", "name": i}],
            "outputs": [{"namespace": "n", "name": o}],
        }

    path = write_events([run("j1", "a", "b"), run("j2", "b", "a")], tmp_path / "cycle.jsonl")
    ol = load_openlineage(path)
    assert any("cycle" in w for w in ol.warnings)
    with pytest.raises(DataError, match="lineage has a cycle"):
        to_lineage_config(ol.graph)


def test_same_name_in_two_namespaces_is_qualified(tmp_path: Path) -> None:
    ev = {
        "eventType": "COMPLETE",
        "run": {"runId": "r"},
        "job": {"namespace": "n", "name": "copy"},
        "inputs": [{"namespace": "pg://prod", "name": "orders"}],
        "outputs": [{"namespace": "s3://lake", "name": "orders"}],
    }
    g = load_openlineage(write_events([ev], tmp_path / "e.jsonl")).graph
    assert sorted(g.edges) == [("copy", "s3://lake/orders"), ("pg://prod/orders", "copy")]


def test_yaml_lineage_round_trips_through_events_with_synthetic_connectors(tmp_path: Path) -> None:
    lineage = LineageConfig(
        nodes=[
            LineageNode(name="a", kind="source", columns=["x"]),
            LineageNode(name="b", kind="dataset"),
            LineageNode(name="m", kind="model"),
            LineageNode(name="c", kind="consumer"),
            LineageNode(name="lonely", kind="dataset"),
        ],
        edges=[("a", "b"), ("b", "m"), ("m", "c")],
    )
    back = to_lineage_config(load_openlineage(write_events(from_lineage_config(lineage), tmp_path / "l.jsonl")).graph)
    assert sorted(back.edges) == sorted(lineage.edges)
    assert {n.name: (n.kind, n.columns) for n in back.nodes} == {n.name: (n.kind, n.columns) for n in lineage.nodes}
