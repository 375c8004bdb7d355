"""Validate a plug-in's own settings (a detector's, an RCA phase's, a notifier's) with errors naming the field.

Detectors read ``detectors.extra.<name>``, RCA phases ``rca.phases.<name>`` and notifiers
``notifications[].settings`` through their own pydantic ``settings_model``; all three are checked by
:func:`plugin_settings_problems`, so a bad entry reads the same wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rcaflows.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def plugin_settings_problems(model: type[BaseModel], raw: Mapping[str, Any], field: str, owner: str) -> list[str]:
    """Return one line per problem of ``raw`` against ``model`` (empty when it validates).

    Each line reads ``<field>.<setting>: <what is wrong> (settings of <owner>, model <Model>)``; a
    missing setting and an unknown one (listing the model's settings) get their own wording.
    """
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            where = "".join(f".{p}" for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "missing":
                msg = "required setting is missing"
            elif err["type"] == "extra_forbidden":
                msg = f"unknown setting; {model.__name__} has {', '.join(model.model_fields)}"
            out.append(f"{field}{where}: {msg} (settings of {owner}, model {model.__name__})")
        return out
    return []


def validate_plugin_settings(model: type[M], raw: Mapping[str, Any], field: str, owner: str) -> M:
    """Return ``raw`` validated by ``model``.

    Args:
        model: the plug-in's settings model.
        raw: its entry in the config (``{}`` when absent: the model's defaults).
        field: where the entry sits in the config, e.g. ``detectors.extra.row_limit``.
        owner: what the settings belong to, e.g. ``detector 'row_limit'``.

    Raises:
        ConfigError: every problem, each as :func:`plugin_settings_problems` words it.
    """
    problems = plugin_settings_problems(model, raw, field, owner)
    if problems:
        raise ConfigError("; ".join(problems))
    return model.model_validate(raw)
