"""Source connectors: the contract, the registry and the built-in kinds (demo, files)."""

from __future__ import annotations

from rcaflows.sources.base import SOURCE_KINDS, Source, build_source, load_sources, merge, register

__all__ = ["SOURCE_KINDS", "Source", "build_source", "load_sources", "merge", "register"]
