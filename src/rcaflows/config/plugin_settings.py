"""Validate a plug-in's own settings (a detector's, an RCA phase's) with a clear error naming the field.

Detectors read ``detectors.extra.<name>`` and RCA phases ``rca.phases.<name>`` through their own
pydantic ``settings_model``; both registries validate through :func:`validate_plugin_settings`, so
a bad entry reads the same wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rcaflows.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def validate_plugin_settings(model: type[M], raw: Mapping[str, Any], field: str, owner: str) -> M:
    """Return ``raw`` validated by ``model``.

    Args:
        model: the plug-in's settings model.
        raw: its entry in the config (``{}`` when absent: the model's defaults).
        field: where the entry sits in the config, e.g. ``detectors.extra.row_limit``.
        owner: what the settings belong to, e.g. ``detector 'row_limit'``.

    Raises:
        ConfigError: ``<field>.<setting>: <what is wrong> (settings of <owner>, model <Model>)``, for
            the first problem.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f".{p}" for p in first["loc"])
        raise ConfigError(f"{field}{where}: {first['msg']} (settings of {owner}, model {model.__name__})") from None
