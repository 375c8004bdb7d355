"""The bundled example systems under ``examples/``: their folders and their data generators."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_generator(name: str) -> ModuleType:
    """Return ``examples/<name>/generate.py`` as a module (the examples are scripts, not a package)."""
    path = EXAMPLES / name / "generate.py"
    spec = importlib.util.spec_from_file_location(f"{name}_generate", path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
