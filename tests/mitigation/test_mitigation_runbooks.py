"""Runbooks as data: schema validation with file:line errors, defaults vs system overrides, matching, templates."""

from __future__ import annotations

from typing import ClassVar

import pytest
from mitigation_helpers import DEPLOY_RCA, with_mitigation

from rcaflows.config import parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.errors import ConfigError
from rcaflows.mitigation.runbooks import (
    TemplateError,
    default_runbooks,
    filled,
    hypothesis_of,
    parse_runbooks,
    runbooks_for,
    select,
)


def test_packaged_defaults_load_and_cover_the_cause_kinds() -> None:
    books = default_runbooks()
    assert [b.name for b in books] == ["roll_back_deploy", "fix_upstream_data", "contain_client"]
    kinds = {k for b in books for k in b.when.cause_kinds}
    assert {"deploy", "schema_change", "client_flood"} <= kinds


def test_bad_runbook_reports_file_line_and_field() -> None:
    text = """runbooks:
  - name: r1
    actions:
      - name: a1
        kind: deployment
        parameters: {x: "{no_such_field}"}
        deployment: flow/dep
      - name: a2
        kind: teleport
"""
    with pytest.raises(ConfigError) as err:
        parse_runbooks(text, "rules.yaml")
    problems = err.value.problems
    assert any(p.startswith("rules.yaml:4: runbooks[0].actions[0]: ") and "{no_such_field}" in p for p in problems)
    assert any(p.startswith("rules.yaml:9: runbooks[0].actions[1].kind: ") for p in problems)


def test_system_config_runbooks_are_validated_with_lines(demo_cfg: SystemConfig) -> None:
    from pathlib import Path

    from rcaflows.config.loader import demo_config_path

    text = Path(demo_config_path()).read_text()
    text += """
mitigation:
  runbooks:
    - name: rb
      actions:
        - name: hook
          kind: webhook
          url: ftp://nope
"""
    line = text.splitlines().index("        - name: hook") + 1
    with pytest.raises(ConfigError) as err:
        parse_config(text, "system.yaml", base_dir=Path(demo_config_path()).parent)
    assert any(
        p.startswith(f"system.yaml:{line}: mitigation.runbooks[0].actions[0]: ") and "http" in p
        for p in err.value.problems
    )


def test_system_runbook_replaces_a_default_and_comes_first(demo_cfg: SystemConfig) -> None:
    own = {
        "name": "roll_back_deploy",
        "when": {"cause_kinds": ["deploy"]},
        "actions": [{"name": "x", "kind": "manual", "instructions": "do it"}],
    }
    cfg = with_mitigation(demo_cfg, {"runbooks": [own], "disable": ["contain_client"]})
    books = runbooks_for(cfg)
    assert [b.name for b in books] == ["roll_back_deploy", "fix_upstream_data"]
    assert books[0].actions[0].name == "x"
    with pytest.raises(ConfigError, match="unknown default runbook"):
        runbooks_for(with_mitigation(demo_cfg, {"disable": ["nope"]}))
    assert runbooks_for(with_mitigation(demo_cfg, {"use_defaults": False})) == []


class _Inc:
    key, system, component, metric, type, subtype, severity, team = (
        "INC-0001",
        "fraud-scoring",
        "scoring_api",
        "precision",
        "quality_degradation",
        "accuracy_drop",
        "high",
        "ml",
    )
    details: ClassVar[dict[str, str]] = {}


def test_hypothesis_fields_and_matching(cfg: SystemConfig) -> None:
    hyp = hypothesis_of(cfg, _Inc(), DEPLOY_RCA)
    assert hyp.fields["cause_kind"] == "deploy"
    assert hyp.fields["previous_version"] == "v12" and hyp.fields["model_version"] == "v13"
    assert hyp.fields["change_id"] == "fraud_model:deploy@2026-03-01T11:00:00+00:00"
    book = select(runbooks_for(cfg), hyp)
    assert book is not None and book.name == "bad_model_deploy"
    assert filled(book.actions[0], hyp.fields)["parameters"] == {"model": "fraud_model", "to_version": "v12"}
    # no RCA: the system runbook needs cause kind deploy, no default matches either
    assert select(runbooks_for(cfg), hypothesis_of(cfg, _Inc(), None)) is None


def test_missing_field_is_a_clear_template_error(cfg: SystemConfig) -> None:
    rca = {**DEPLOY_RCA, "phases": []}  # no change event: no previous_version
    hyp = hypothesis_of(cfg, _Inc(), rca)
    book = select(runbooks_for(cfg), hyp)
    assert book is not None
    with pytest.raises(TemplateError, match=r"action rollback_model.to_version: \{previous_version\} is not known"):
        filled(book.actions[0], hyp.fields)
