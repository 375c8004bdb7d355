"""Source connectors: the contract, the registry and the built-in kinds.

Kinds: ``demo``, ``files``, ``prometheus``, ``parquet`` (Parquet/CSV, any fsspec path), ``duckdb``,
``changes``. Lineage from OpenLineage is in :mod:`rcaflows.sources.openlineage`; existing
great-expectations results are read by :mod:`rcaflows.sources.gx_results`.
"""

from __future__ import annotations

from rcaflows.sources.base import SOURCE_KINDS, Source, build_source, load_sources, merge, read_source, register
from rcaflows.sources.changes import record_change
from rcaflows.sources.openlineage import from_lineage_config, load_openlineage, to_lineage_config

__all__ = [
    "SOURCE_KINDS",
    "Source",
    "build_source",
    "from_lineage_config",
    "load_openlineage",
    "load_sources",
    "merge",
    "read_source",
    "record_change",
    "register",
    "to_lineage_config",
]
