from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rcaflows.config import demo_config_path, load_config, parse_config
from rcaflows.errors import ConfigError
from rcaflows.graph import system_graph


def demo_text() -> str:
    return demo_config_path().read_text()


def test_bundled_demo_config_is_valid() -> None:
    cfg = load_config()
    assert cfg.system.name == "fraud-scoring"
    assert cfg.models and len(cfg.models[0].features) == 8
    assert cfg.window.current.total_seconds() == 3600


def test_graphs_follow_the_config() -> None:
    cfg = load_config()
    topo = system_graph(cfg).topology  # edges upstream -> downstream: the dependency, then its caller
    assert topo.has_edge("geo_api", "scoring_api")
    assert not topo.has_edge("scoring_api", "geo_api")
    lin = system_graph(cfg).lineage
    assert "raw_merchants" in lin.pred["etl_features"]
    assert lin.nodes["feature_store"]["component"] == "feature_store"


def test_every_problem_is_reported_with_line_and_path(tmp_path: Path) -> None:
    raw = yaml.safe_load(demo_text())
    raw["components"][1]["depends_on"].append("ghost_service")  # unknown component
    raw["routing"]["default_team"] = "nobody"  # unknown team
    raw["window"]["current"] = "ten minutes"  # bad duration
    raw["teams"][0]["colour"] = "red"  # unknown field
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    # Schema errors come first and stop cross-reference checks; both kinds name file, line, field.
    assert any("window.current" in p and "duration" in p for p in problems)
    assert any("teams[0].colour" in p and "unknown field" in p for p in problems)
    for p in problems:
        assert p.startswith(f"{path}:")
        assert p.split(":")[1].isdigit()


def test_cross_reference_problems_are_all_listed() -> None:
    raw = yaml.safe_load(demo_text())
    raw["components"][1]["depends_on"].append("ghost_service")
    raw["routing"]["default_team"] = "nobody"
    raw["lineage"]["edges"].append(["chargeback_service", "raw_transactions"])  # closes a cycle
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw, sort_keys=False), "sys.yaml")
    text = "\n".join(info.value.problems)
    assert "components[1].depends_on[3]: unknown component 'ghost_service'" in text
    assert "routing.default_team: unknown team 'nobody'" in text
    assert "lineage has a cycle" in text
    assert len(info.value.problems) == 3


def test_line_numbers_point_at_the_field() -> None:
    text = demo_text().replace("  baseline: 1d", "  baseline: yesterday")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "baseline: yesterday" in row)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    assert info.value.problems == [
        f"x.yaml:{line}: window.baseline: Value error, "
        "expected a duration such as '30s', '15m', '1h' or '7d', got 'yesterday'"
    ]


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML: expected"):
        parse_config("system:\n  name: [unclosed\n", "bad.yaml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config("- just\n- a list\n", "list.yaml")


def test_store_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCAFLOWS_STORE_URL", "postgresql://u@db/rcaflows")
    assert load_config().store.url == "postgresql://u@db/rcaflows"


def test_every_field_has_a_description() -> None:
    from pydantic import BaseModel

    from rcaflows.config import models

    missing = []
    for name in dir(models):
        obj = getattr(models, name)
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == models.__name__:
            missing += [f"{name}.{f}" for f, info in obj.model_fields.items() if not info.description]
    assert missing == []


def test_lineage_can_come_from_openlineage_events(tmp_path: Path) -> None:
    import shutil

    import networkx as nx

    shutil.copy(demo_config_path().parent / "openlineage.jsonl", tmp_path / "events.jsonl")
    raw = yaml.safe_load(demo_text())
    declared = raw["lineage"]
    raw["lineage"] = {"openlineage": "events.jsonl"}  # relative to the config file
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    from_events = system_graph(load_config(path)).lineage
    from_yaml = system_graph(load_config()).lineage
    assert set(from_events.edges) == set(from_yaml.edges) == {tuple(e) for e in declared["edges"]}
    assert nx.get_node_attributes(from_events, "component") == nx.get_node_attributes(from_yaml, "component")
    raw["lineage"] = {"openlineage": "missing.jsonl"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError, match=r"lineage.openlineage: .*missing.jsonl does not exist"):
        load_config(path)


def _problems(tmp_path: Path, raw: dict, name: str = "bad.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return exc.value.problems


def test_topology_cycles_and_self_dependencies_are_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(demo_text())
    names = [c["name"] for c in raw["components"]]
    raw["components"][0]["depends_on"] = [*raw["components"][0].get("depends_on", []), names[0]]  # itself
    probs = _problems(tmp_path, raw)
    assert any("components[0].depends_on" in p and "depends on itself" in p for p in probs), probs
    raw = yaml.safe_load(demo_text())
    cfg = load_config(demo_config_path())
    a, b = next((c.name, d) for c in cfg.components for d in c.depends_on)  # a -> b; add b -> a
    i = next(i for i, c in enumerate(raw["components"]) if c["name"] == b)
    raw["components"][i]["depends_on"] = [*raw["components"][i].get("depends_on", []), a]
    (p,) = _problems(tmp_path, raw)
    assert p.startswith(f"{tmp_path / 'bad.yaml'}:") and "cycle" in p and a in p and b in p


def test_names_longer_than_the_store_holds_are_refused_at_validation(tmp_path: Path) -> None:
    from rcaflows.config.models import NAME_MAX
    from rcaflows.incidents.models import Incident

    name_columns = ("system", "component", "metric", "team", "subtype")
    assert {Incident.__table__.c[c].type.length for c in name_columns} == {NAME_MAX}  # one limit everywhere
    raw = yaml.safe_load(demo_text())
    long = "c" * (NAME_MAX + 1)
    raw["system"]["name"] = long
    probs = _problems(tmp_path, raw)
    assert probs == [f"{tmp_path / 'bad.yaml'}:2: system.name: String should have at most 200 characters"]
    raw["system"]["name"] = "s" * NAME_MAX  # exactly the limit is fine
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert load_config(path).system.name == "s" * NAME_MAX


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(demo_text().replace("fraud-scoring", "fraud-scöring", 1).encode("latin-1", "replace"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (p,) = exc.value.problems
    assert p.startswith(f"{path}:") and "not UTF-8" in p


def test_a_training_node_must_be_declared_and_upstream_of_the_model(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "poisoned_training" / "system.yaml"
    raw = yaml.safe_load(example.read_text())
    assert load_config(example).models  # the example itself is valid
    node, model_node = raw["model"]["training"]["node"], raw["model"]["lineage_node"]
    raw["lineage"]["edges"] = [e for e in raw["lineage"]["edges"] if e[0] != node]
    (p,) = _problems(tmp_path, raw)
    assert "model.training.node" in p and f"not upstream of the model's node {model_node!r}" in p, p
    raw["model"]["training"]["node"] = "nowhere"
    (p,) = _problems(tmp_path, raw)
    assert "model.training.node: unknown lineage node 'nowhere'" in p, p
