"""The model benchmarks run at --quick sizes and their rows say what they measured (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_behaviour_bench_finds_its_injected_slice() -> None:
    (row,) = _module("model_behaviour").run(quick=True)
    assert row["top_finding"] == "version_regression error_rate[region=r3,version=v2]"
    assert row["slices_tried"] > 100 and row["labelled_rows"] > 1000 and row["phase_s"] > 0


def test_cbpe_bench_estimates_close_to_realised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCAFLOWS_BENCH_PYTHON", raising=False)
    (row,) = _module("cbpe").run(quick=True)
    assert row["estimator"] == "rcaflows CBPE" and row["chunks"] == 7
    assert row["mae_vs_realised"] < 0.03
