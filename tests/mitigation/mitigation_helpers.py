"""Shared data of the mitigation tests: runbooks, an RCA result with a deploy hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.mitigation.models import MitigationConfig

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUNBOOKS: dict[str, Any] = {
    "runbooks": [
        {
            "name": "bad_model_deploy",
            "when": {"cause_kinds": ["deploy"], "components": ["fraud_model"]},
            "actions": [
                {
                    "name": "rollback_model",
                    "kind": "deployment",
                    "deployment": "model-ops/rollback",
                    "parameters": {"model": "{cause_component}", "to_version": "{previous_version}"},
                    "auto": ["critical"],
                },
                {"name": "tell_owners", "kind": "manual", "instructions": "Tell the owners of {component}."},
            ],
        }
    ],
    "watch": {"runs": 2, "auto_resolve": True},
}


def with_mitigation(cfg: SystemConfig, spec: dict[str, Any]) -> SystemConfig:
    """Return ``cfg`` with a ``mitigation:`` section validated from ``spec``."""
    return cfg.model_copy(update={"mitigation": MitigationConfig.model_validate(spec)})


DEPLOY_RCA: dict[str, Any] = {
    "hypotheses": [
        {
            "rank": 1,
            "component": "fraud_model",
            "kind": "deploy",
            "metric": "deploy",
            "confidence": 0.8,
            "supporting": ["fraud_model was deployed 12 min before the drop"],
        }
    ],
    "phases": [
        {
            "phase": "environmental",
            "findings": [
                {
                    "component": "fraud_model",
                    "kind": "deploy",
                    "details": {"change_time": "2026-03-01T11:00:00+00:00", "description": "model v12 -> v13"},
                }
            ],
        }
    ],
}


def hours(n: int) -> timedelta:
    return timedelta(hours=n)
