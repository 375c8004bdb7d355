"""Smoke test of the benchmarks: every one runs at --quick sizes and yields sane rows (no timing asserts)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _runner():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_nab(root: Path) -> None:
    """Write a two-file corpus in the NAB layout (data/**/*.csv, labels/combined_windows.json)."""
    rng = np.random.default_rng(0)
    (root / "data" / "synthetic").mkdir(parents=True)
    windows = {}
    for k in range(2):
        ts = pd.date_range("2026-01-01", periods=3000, freq="5min")
        x = 50 + rng.normal(0, 1, len(ts))
        x[2000:] += 30  # a level shift the detector must catch
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": x}).to_csv(
            root / "data" / "synthetic" / f"s{k}.csv", index=False
        )
        windows[f"synthetic/s{k}.csv"] = [[str(ts[1900]), str(ts[2100])]]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def _tiny_tcpd(root: Path) -> None:
    """Write one series in the TCPD layout (datasets/<name>/<name>.json, annotations.json)."""
    x = np.r_[np.zeros(60), np.full(60, 5.0)] + np.random.default_rng(1).normal(0, 1, 120)
    (root / "datasets" / "step").mkdir(parents=True)
    data = {"name": "step", "n_obs": 120, "series": [{"label": "v", "type": "float", "raw": x.tolist()}]}
    (root / "datasets" / "step" / "step.json").write_text(json.dumps(data))
    (root / "annotations.json").write_text(json.dumps({"step": {"1": [60], "2": [61]}}))


def test_every_benchmark_runs_quick_and_reports_sane_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCAFLOWS_BENCH_PYTHON", raising=False)  # competitors need their own venv
    _tiny_nab(tmp_path / "nab")
    _tiny_tcpd(tmp_path / "tcpd")
    monkeypatch.setenv("RCAFLOWS_NAB_DIR", str(tmp_path / "nab"))
    monkeypatch.setenv("RCAFLOWS_TCPD_DIR", str(tmp_path / "tcpd"))
    run = _runner()
    assert {"detection_scan", "drift", "accuracy"} <= set(run.discover())
    out = tmp_path / "results.json"
    names = ["detection_scan", "drift", "accuracy"]
    assert run.main([*names, "--quick", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    by = {n: [r for r in rows if r["benchmark"] == n] for n in names}

    (scan,) = by["detection_scan"]
    assert scan["shift_table_s"] > 0 and scan["score_matrix_s"] > 0 and scan["floor_mean_std_cpu_s"] > 0
    assert scan["shift_table_peak_MiB"] > 0
    found, injected = scan["shifts_found"].split("/")
    assert found == injected and scan["false_alarms"] == 0

    (drift,) = by["drift"]
    assert drift["library"] == "rcaflows detect_drift" and drift["seconds"] > 0
    assert drift["false_alarms"] == "0/90" and drift["misses"] == "0/10"

    suites = {r["suite"]: r for r in by["accuracy"]}
    assert set(suites) == {"synthetic-anomaly (seeded)", "synthetic-cp (seeded)", "NAB (real)", "TCPD (real)"}
    for name in ("synthetic-anomaly (seeded)", "NAB (real)"):
        assert 0 < suites[name]["nab_standard"] <= 100
        assert 0 <= suites[name]["event_recall"] <= 1
    assert suites["NAB (real)"]["windows"] == 2 and suites["NAB (real)"]["event_recall"] == 1.0
    assert suites["TCPD (real)"]["f1_margin5"] == 1.0  # the step at 60 is found within the margin
    assert 0 <= suites["synthetic-cp (seeded)"]["f1_margin5"] <= 1
    assert 0 < suites["synthetic-cp (seeded)"]["covering"] <= 1
    assert str(BENCH) in sys.path  # the runner made bench/ importable for its modules
