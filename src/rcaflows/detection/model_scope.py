"""Checks of one model among several: which model a check is about, and keys that never collide.

A system may monitor several models (``config.models``); the model detectors run once per model
on that model's rows (:func:`rcaflows.model.log.rows_of`). A check is keyed by
``detector/check/component/metric`` (:func:`rcaflows.detection.tuning.check_key`) and an incident
by its type and component, so a model's checks on its own component stay apart from another
model's as long as the components differ, and a single-model system's keys do not change.

Two models' checks could still meet on one component: when both models declare the same
component (one serving process hosting two models), or on a component no model owns (a
``client:<id>`` that calls both, the ``clients`` placeholder). There the check's metric carries
the model's name, ``<metric>[model=<name>]`` (the bracket form of ``fpr[group=X]``), and
:func:`split_metric` reads it back. Every model check also names its model in
``details["model"]``, and with several models its message starts with the name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.detection.models import CheckResult

__all__ = ["MODEL_KEY", "for_model", "model_metric", "models_at", "split_metric"]

#: Key of the model's name in a check's details.
MODEL_KEY = "model"
_QUALIFIED = re.compile(r"^(?P<metric>.*)\[model=(?P<model>[^\]]+)\]$")


def models_at(config: SystemConfig, component: str) -> list[ModelConfig]:
    """Return the models whose component is ``component``, in config order."""
    return [m for m in config.models if m.component == component]


def _exclusive(config: SystemConfig, model: ModelConfig, component: str) -> bool:
    """Return whether a check of ``model`` on ``component`` cannot meet another model's check there."""
    if len(config.models) < 2:
        return True
    return component == model.component and len(models_at(config, component)) == 1


def model_metric(config: SystemConfig, model: ModelConfig, component: str, metric: str | None) -> str | None:
    """Return the metric a check of ``model`` on ``component`` carries: qualified where models meet."""
    if _exclusive(config, model, component):
        return metric
    return f"{metric or 'checks'}[model={model.name}]"


def split_metric(metric: str | None) -> tuple[str | None, str | None]:
    """Return ``(metric, model)`` of a possibly qualified metric (model None when unqualified)."""
    if metric is None:
        return None, None
    m = _QUALIFIED.match(metric)
    return (m["metric"], m["model"]) if m else (metric, None)


def for_model(checks: Iterable[CheckResult], model: ModelConfig, config: SystemConfig) -> list[CheckResult]:
    """Return ``checks`` of ``model`` with its name in their details and their metric qualified where needed."""
    out = []
    for c in checks:
        update: dict[str, object] = {"details": {**c.details, MODEL_KEY: model.name}}
        metric = model_metric(config, model, c.component, c.metric)
        if metric != c.metric:
            update["metric"] = metric
        if len(config.models) > 1 and model.name not in c.message:
            update["message"] = f"{model.name}: {c.message}"
        out.append(c.model_copy(update=update))
    return out
