"""rcaflows: incident detection, triage and root-cause analysis for production AI systems.

The engine (this package) is plain Python; the Prefect flows that orchestrate it live in the
top-level ``flows`` package.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
