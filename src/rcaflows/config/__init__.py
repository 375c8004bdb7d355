"""System config: typed models and the YAML loader."""

from __future__ import annotations

from rcaflows.config.loader import (
    STORE_URL_ENV,
    config_fingerprint,
    demo_config_path,
    load_config,
    parse_config,
)
from rcaflows.config.models import SystemConfig

__all__ = [
    "STORE_URL_ENV",
    "SystemConfig",
    "config_fingerprint",
    "demo_config_path",
    "load_config",
    "parse_config",
]
