"""Run evidently, nannyml and alibi-detect drift detection on the npz data of bench/drift.py.

Runs inside the competitor venv (``$RCAFLOWS_BENCH_PYTHON``; see bench/setup_competitors.sh),
so it imports neither rcaflows nor the other bench modules. Usage::

    python competitors_drift.py DATA.npz OUT.json

Each library runs with its standard drift API and default settings; the time counts fitting
and computing the drift verdicts, not imports or loading the data.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd


def load(path: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Return the reference and current frames, numeric and categorical column names."""
    z = np.load(path, allow_pickle=False)
    num, cat = [str(c) for c in z["num_names"]], [str(c) for c in z["cat_names"]]

    def frame(side: str) -> pd.DataFrame:
        df = pd.DataFrame(z[f"{side}_num"], columns=num)
        for j, c in enumerate(cat):
            df[c] = z[f"{side}_cat"][:, j].astype(object)
        return df

    return frame("ref"), frame("cur"), num, cat


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, num: list[str], cat: list[str]) -> dict[str, bool]:
    """Evidently DataDriftPreset (legacy report API, which returns per-column verdicts)."""
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    report = Report(metrics=[DataDriftPreset()])
    report.run(
        reference_data=ref,
        current_data=cur,
        column_mapping=ColumnMapping(numerical_features=num, categorical_features=cat),
    )
    out: dict[str, bool] = {}
    for m in report.as_dict()["metrics"]:
        for col, res in (m.get("result", {}).get("drift_by_columns") or {}).items():
            out[col] = bool(res["drift_detected"])
    return out


def run_nannyml(ref: pd.DataFrame, cur: pd.DataFrame, num: list[str], cat: list[str]) -> dict[str, bool]:
    """NannyML UnivariateDriftCalculator with its defaults; a column drifts if any chunk alerts."""
    import nannyml as nml

    calc = nml.UnivariateDriftCalculator(column_names=num + cat, treat_as_categorical=cat)
    calc.fit(ref)
    res = calc.calculate(cur).filter(period="analysis").to_df()
    out: dict[str, bool] = {}
    for col in num + cat:
        alerts = [c for c in res.columns if c[0] == col and c[-1] == "alert"]
        out[col] = bool(res[alerts].to_numpy().any())
    return out


def run_alibi(ref: pd.DataFrame, cur: pd.DataFrame, num: list[str], cat: list[str]) -> dict[str, bool]:
    """alibi-detect TabularDrift (KS for numeric, chi-square for categorical), default p_val/correction."""
    from alibi_detect.cd import TabularDrift

    cols = num + cat
    codes = {c: {v: i for i, v in enumerate(sorted(set(ref[c]) | set(cur[c])))} for c in cat}

    def encode(df: pd.DataFrame) -> np.ndarray:
        x = df[num].to_numpy(dtype=np.float64)
        enc = [df[c].map(codes[c]).to_numpy(dtype=np.float64)[:, None] for c in cat]
        return np.hstack([x, *enc]) if enc else x

    x_ref, x_cur = encode(ref), encode(cur)
    cd = TabularDrift(x_ref, categories_per_feature={len(num) + j: None for j in range(len(cat))})
    pred = cd.predict(x_cur, drift_type="feature")
    return {c: bool(d) for c, d in zip(cols, np.asarray(pred["data"]["is_drift"]).ravel(), strict=True)}


RUNNERS = {
    "evidently": ("DataDriftPreset (defaults)", run_evidently, "evidently"),
    "nannyml": ("UnivariateDriftCalculator (defaults)", run_nannyml, "nannyml"),
    "alibi-detect": ("TabularDrift (defaults)", run_alibi, "alibi-detect"),
}


def main() -> int:
    """Run every library and write their verdicts and timings as JSON."""
    data, out_path = sys.argv[1], sys.argv[2]
    ref, cur, num, cat = load(data)
    results: list[dict[str, Any]] = []
    for lib, (api, fn, dist) in RUNNERS.items():
        entry: dict[str, Any] = {"library": f"{lib} {version(dist)}", "api": api}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c0, t0 = time.process_time(), time.perf_counter()
                entry["drifted"] = fn(ref, cur, num, cat)
                entry["seconds"] = time.perf_counter() - t0
                entry["cpu_s"] = time.process_time() - c0
        except Exception as exc:  # report the failure in the table instead of stopping the bench
            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results.append(entry)
    with open(out_path, "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
