"""Several models in one system: ``models:`` (``model:`` is the shorthand), unique names, rows told apart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from rcaflows.config import demo_config_path, load_config, parse_config
from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import SOURCE_COLUMN, MonitoringData
from rcaflows.errors import ConfigError
from rcaflows.model.log import model_view, rows_of
from rcaflows.sources import load_sources, register


def _raw() -> dict[str, Any]:
    return yaml.safe_load(demo_config_path().read_text())


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(yaml.safe_dump(raw, sort_keys=False), "sys.yaml")
    return err.value.problems


def _two(raw: dict[str, Any], **second: Any) -> dict[str, Any]:
    first = raw.pop("model")
    raw["models"] = [first, {**first, "name": "fraud_model_eu", **second}]
    return raw


def test_model_is_the_shorthand_of_a_one_model_list() -> None:
    cfg = load_config(demo_config_path())
    assert [m.name for m in cfg.models] == ["fraud_model"]
    raw = _raw()
    raw["models"] = [raw.pop("model")]
    assert parse_config(yaml.safe_dump(raw, sort_keys=False)).models == cfg.models
    raw = _raw()
    raw["model"] = None
    assert parse_config(yaml.safe_dump(raw, sort_keys=False)).models == []


def test_model_and_models_together_are_refused() -> None:
    raw = _raw()
    raw["models"] = [raw["model"]]
    (p,) = _problems(raw)
    assert "give 'model' (one model) or 'models' (a list), not both" in p


def test_several_models_need_unique_names_and_a_way_to_tell_their_rows_apart() -> None:
    raw = _two(_raw())
    first, second = _problems(raw)
    assert first.startswith("sys.yaml:") and "models[0]: model 'fraud_model' is one of 2: give it 'source'" in first
    assert "models[1]: model 'fraud_model_eu' is one of 2" in second and "'log.model'" in second
    raw = _two(_raw(), name="fraud_model", log={"model": "served_by"})
    raw["models"][0]["log"]["model"] = "served_by"
    (p,) = _problems(raw)
    assert "models[1].name: duplicate model name 'fraud_model'; names must be unique" in p
    raw = _two(_raw(), source="nowhere")
    raw["models"][0]["source"] = raw["sources"][0]["name"]
    text = yaml.safe_dump(raw, sort_keys=False)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "source: nowhere" in t)
    (p,) = _problems(raw)
    assert p.startswith(f"sys.yaml:{line}: models[1].source: unknown source 'nowhere'; expected one of"), p
    raw = _two(_raw())
    for m in raw["models"]:
        m["log"] = {**m["log"], "model": "served_by"}
    cfg = parse_config(yaml.safe_dump(raw, sort_keys=False))
    assert [m.name for m in cfg.models] == ["fraud_model", "fraud_model_eu"]


def test_problems_inside_the_shorthand_are_located_at_model() -> None:
    raw = _raw()
    raw["model"]["component"] = "ghost"
    text = yaml.safe_dump(raw, sort_keys=False)
    (p,) = _problems(raw)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "component: ghost" in t)
    assert p == f"sys.yaml:{line}: model.component: unknown component 'ghost'"
    raw = _raw()
    raw["model"]["tier"] = 7
    (p,) = _problems(raw)
    assert "model.tier:" in p and "models" not in p


def _log(n: int, start: pd.Timestamp, **cols: Any) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": start + pd.to_timedelta(range(n), unit="min"), **cols})


def test_rows_of_keeps_a_models_own_rows_by_source_or_by_column() -> None:
    cfg = load_config(demo_config_path())
    base = cfg.models[0]
    by_source = base.model_copy(update={"source": "eu"})
    by_column = base.model_copy(update={"log": base.log.model_copy(update={"model": "served_by"})})
    start = pd.Timestamp("2026-03-01", tz="UTC")
    frame = _log(6, start, score=[0.1] * 6, served_by=["fraud_model", "other"] * 3)
    frame[SOURCE_COLUMN] = ["eu", "eu", "us", "us", "eu", "us"]
    assert rows_of(frame, by_source).index.tolist() == [0, 1, 4]
    assert rows_of(frame, by_column).index.tolist() == [0, 2, 4]
    assert rows_of(frame, base) is frame  # one model, nothing to tell apart
    assert model_view(frame, by_source)["score"].size == 3


def test_each_source_tags_its_prediction_rows_when_a_model_names_its_source(tmp_path: Path) -> None:
    cfg = load_config(demo_config_path())
    start = pd.Timestamp("2026-03-01", tz="UTC")
    frames = {"us": _log(4, start, score=0.2), "eu": _log(3, start, score=0.9)}

    @register("test_preds_by_name")
    def _factory(spec: SourceConfig, config: SystemConfig) -> Any:
        class _Fixed:
            def load(self, s: Any, e: Any) -> MonitoringData:
                return MonitoringData(start=s, end=e, predictions=frames[spec.name])

        return _Fixed()

    us, eu = (cfg.models[0].model_copy(update={"name": n, "source": n}) for n in ("us", "eu"))
    sources = [SourceConfig(name=n, kind="test_preds_by_name") for n in ("us", "eu")]
    two = cfg.model_copy(update={"models": [us, eu], "sources": sources})
    data = load_sources(two, start, start + timedelta(hours=1))
    assert data.predictions[SOURCE_COLUMN].tolist() == ["us"] * 4 + ["eu"] * 3
    assert model_view(data.predictions, eu)["score"].tolist() == [0.9] * 3
    one = cfg.model_copy(update={"sources": sources})  # no model names a source: the frame is as read
    assert SOURCE_COLUMN not in load_sources(one, start, start + timedelta(hours=1)).predictions.columns
