"""Load the datasets shipped in the nannyml wheel and run NannyML's realized and estimated performance.

Meant for the competitor venv (``bench/setup_competitors.sh``); ``bench/nannyml_datasets.py`` runs it.

Usage: ``<venv>/bin/python bench/_nannyml_datasets_worker.py OUTDIR [NAME ...]``. For each dataset it
writes ``OUTDIR/<name>_reference.parquet`` and ``OUTDIR/<name>_analysis.parquet`` (the analysis
period joined with its targets, so rcaflows can compute realized performance itself) and
``OUTDIR/<name>.json``: the dataset's spec (task, columns, chunk size) and, per chunk of both
periods, NannyML's realized metric (``PerformanceCalculator``) and its estimate before labels
(``CBPE`` for classifiers, ``DLE`` for regression), each with NannyML's own alert flag and
thresholds, and the seconds each took.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

warnings.filterwarnings("ignore")
# NannyML posts usage statistics by default; a benchmark has no business calling out (nor time to wait for it).
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

#: name -> loader, task, target, prediction, score column(s), metric compared, columns that are not features.
DATASETS: dict[str, dict[str, Any]] = {
    "car_loan": {
        "loader": "load_synthetic_car_loan_dataset",
        "task": "binary",
        "y_true": "repaid",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
    },
    "work_from_home": {
        "loader": "load_synthetic_binary_classification_dataset",
        "task": "binary",
        "y_true": "work_home_actual",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
    },
    "california_housing": {
        "loader": "load_modified_california_housing_dataset",
        "task": "binary",
        "y_true": "clf_target",
        "y_pred": "y_pred",
        "proba": "y_pred_proba",
    },
    "us_census_employment": {
        "loader": "load_us_census_ma_employment_data",
        "task": "binary",
        "y_true": "employed",
        "y_pred": "prediction",
        "proba": "predicted_probability",
    },
    "credit_card_multiclass": {
        "loader": "load_synthetic_multiclass_classification_dataset",
        "task": "multiclass",
        "y_true": "y_true",
        "y_pred": "y_pred",
        "proba": {
            "prepaid_card": "y_pred_proba_prepaid_card",
            "highstreet_card": "y_pred_proba_highstreet_card",
            "upmarket_card": "y_pred_proba_upmarket_card",
        },
    },
    "car_price_regression": {
        "loader": "load_synthetic_car_price_dataset",
        "task": "regression",
        "y_true": "y_true",
        "y_pred": "y_pred",
        "proba": None,
    },
}
#: Metric compared per task: the one both tools compute (rcaflows' CBPE estimates accuracy).
METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mae"}
PROBLEM = {"binary": "classification_binary", "multiclass": "classification_multiclass", "regression": "regression"}
NOT_FEATURES = {"id", "timestamp", "period", "year"}
#: Chunks of the reference period; the analysis period is cut with the same chunk size.
REFERENCE_CHUNKS = 10


def _chunks(df: pd.DataFrame, metric: str, estimated: bool) -> list[dict[str, Any]]:
    """Return one dict per chunk of a NannyML result frame."""
    out = []
    for _, row in df.iterrows():
        item = {
            "period": row[("chunk", "period")],
            "start": int(row[("chunk", "start_index")]),
            "end": int(row[("chunk", "end_index")]),
            "value": float(row[(metric, "value")]),
            "alert": bool(row[(metric, "alert")]),
            "lower": None if pd.isna(row[(metric, "lower_threshold")]) else float(row[(metric, "lower_threshold")]),
            "upper": None if pd.isna(row[(metric, "upper_threshold")]) else float(row[(metric, "upper_threshold")]),
        }
        if estimated and (metric, "realized") in df.columns:
            r = row[(metric, "realized")]
            item["realized"] = None if pd.isna(r) else float(r)
        out.append(item)
    return out


def run_one(name: str, outdir: Path) -> None:
    """Write one dataset's periods and NannyML's realized and estimated performance per chunk."""
    import nannyml as nml

    spec = DATASETS[name]
    ref, ana, targets = getattr(nml, spec["loader"])()
    ana = ana.merge(targets, on="id", how="left")
    task, y_true, y_pred, proba = spec["task"], spec["y_true"], spec["y_pred"], spec["proba"]
    score_cols = list(proba.values()) if isinstance(proba, dict) else [proba] if proba else []
    features = [c for c in ref.columns if c not in NOT_FEATURES | {y_true, y_pred, *score_cols}]
    chunk = len(ref) // REFERENCE_CHUNKS
    metric = METRIC[task]
    # the remainder rows join the last chunk: a 2-row chunk would say nothing but widen the reference range
    chunker = nml.chunk.SizeBasedChunker(chunk_size=chunk, incomplete="append")
    common: dict[str, Any] = {"y_true": y_true, "y_pred": y_pred, "chunker": chunker}
    if proba is not None:
        common["y_pred_proba"] = proba
    t0 = time.perf_counter()
    calc = nml.PerformanceCalculator(metrics=[metric], problem_type=PROBLEM[task], **common)
    calc.fit(ref)
    realized = calc.calculate(ana).to_df()
    t_realized = time.perf_counter() - t0
    t0 = time.perf_counter()
    if task == "regression":
        est = nml.DLE(metrics=[metric], feature_column_names=features, **common)  # regression only: no problem type
    else:
        est = nml.CBPE(metrics=[metric], problem_type=PROBLEM[task], **common)
    est.fit(ref)
    estimated = est.estimate(ana.drop(columns=[y_true])).to_df()
    t_estimated = time.perf_counter() - t0
    ref.to_parquet(outdir / f"{name}_reference.parquet", index=False)
    ana.to_parquet(outdir / f"{name}_analysis.parquet", index=False)
    result = {
        "name": name,
        "task": task,
        "metric": metric,
        "y_true": y_true,
        "y_pred": y_pred,
        "proba": proba,
        "features": features,
        "chunk_size": chunk,
        "rows": {"reference": len(ref), "analysis": len(ana)},
        "nannyml_version": nml.__version__,
        "estimator": "DLE" if task == "regression" else "CBPE",
        "realized": _chunks(realized, metric, estimated=False),
        "estimated": _chunks(estimated, metric, estimated=True),
        "seconds": {"realized": t_realized, "estimated": t_estimated},
    }
    (outdir / f"{name}.json").write_text(json.dumps(result, indent=1))


def main(argv: list[str]) -> None:
    """Run the named datasets (all by default) into OUTDIR."""
    outdir = Path(argv[0])
    outdir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or list(DATASETS):
        if name not in DATASETS:
            raise SystemExit(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
        run_one(name, outdir)


if __name__ == "__main__":
    main(sys.argv[1:])
