"""rcaflows' quality detection chunk by chunk beside NannyML, on the datasets that ship in the nannyml wheel.

Usage::

    bash bench/setup_competitors.sh /tmp/bench-venv
    RCAFLOWS_BENCH_PYTHON=/tmp/bench-venv/bin/python python bench/nannyml_datasets.py [NAME ...]
    python bench/nannyml_datasets.py --data DIR [NAME ...]   # judge a worker's output again

NannyML stays out of rcaflows' dependencies: ``_nannyml_datasets_worker.py`` runs in the
competitor venv, loads each dataset (reference period, analysis period and the analysis targets),
runs NannyML's realized performance (``PerformanceCalculator``) and its estimate before labels
(``CBPE`` for classifiers, ``DLE`` for regression) with the reference cut into 10 chunks and the
analysis period cut with the same chunk size, and writes the periods to parquet.

rcaflows then judges every chunk with its own quality detector
(:class:`rcaflows.detection.detectors.quality.QualityDetector`), the chunk as the current window
and the reference period as the reference window (for a reference chunk: the other reference
chunks, so a chunk is never compared with itself):

* **flagged**: the detector's check of the compared metric (accuracy for classifiers, MAE for
  regression; the metric both tools compute) fails, with its defaults (min change 0.03 for rates,
  10 % of the reference for errors; p < 0.001);
* **degraded** (the truth the flags are scored against): the chunk's realized metric is worse
  than every reference chunk's (outside the reference chunks' range on the bad side);
* **estimate**: the chunk again with its labels withheld; the detector's estimated check carries
  the estimate (``details.estimated``): CBPE accuracy for the binary and multiclass models
  (``accuracy_drop_estimated``), the direct loss estimate of the MAE for the regression model
  (``mae_worse_estimated``, :class:`rcaflows.model.estimate.DirectLoss`).

Printed: one row per dataset; written: ``bench/results/nannyml_datasets.json`` (rows and chunks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import ModelAnalysisConfig, ModelConfig, PredictionLogConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.vocab import CheckStatus

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "nannyml_datasets.json"
WORKER = BENCH / "_nannyml_datasets_worker.py"
DATASETS = [
    "car_loan",
    "work_from_home",
    "california_housing",
    "us_census_employment",
    "credit_card_multiclass",
    "car_price_regression",
]
#: Rows of the synthetic clock: one second apart, labels arriving with the prediction.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOWER_IS_BETTER = {"mae"}


def _config(spec: dict[str, Any]) -> SystemConfig:
    """Return the demo system with the dataset's model declared (task, columns, the compared metric)."""
    base = load_config(demo_config_path())
    assert base.models
    proba = spec["proba"]
    log = PredictionLogConfig(
        prediction=spec["y_pred"],
        label=spec["y_true"],
        label_time="label_at",
        class_scores=proba if isinstance(proba, dict) else {},
        **({"score": proba} if isinstance(proba, str) else {}),
    )
    model = ModelConfig(
        name=spec["name"],
        component=base.models[0].component,
        lineage_node=base.models[0].lineage_node,
        features=spec["features"],
        task=spec["task"],
        label_delay=timedelta(seconds=1),
        log=log,
        analysis=ModelAnalysisConfig(metrics=[spec["metric"]]),
    )
    return base.model_copy(update={"models": [model]})


def _window(ref: pd.DataFrame, cur: pd.DataFrame, spec: dict[str, Any], hide_labels: bool) -> Window:
    """Return the reference rows then the chunk on a one-row-a-second clock (labels at once, or withheld)."""
    n_ref, n_cur = len(ref), len(cur)
    ts = pd.Series(pd.to_datetime(T0) + pd.to_timedelta(np.arange(n_ref + n_cur), unit="s"))
    ref = ref.assign(timestamp=ts.iloc[:n_ref].to_numpy(), label_at=ts.iloc[:n_ref].to_numpy())
    cur = cur.assign(timestamp=ts.iloc[n_ref:].to_numpy(), label_at=ts.iloc[n_ref:].to_numpy())
    if hide_labels:
        cur = cur.assign(**{spec["y_true"]: np.nan, "label_at": pd.NaT})
    split = T0 + timedelta(seconds=n_ref)
    end = split + timedelta(seconds=n_cur)
    return Window(
        reference=MonitoringData(start=T0, end=split, predictions=ref.reset_index(drop=True)),
        current=MonitoringData(start=split, end=end, predictions=cur.reset_index(drop=True)),
    )


def judge_chunk(config: SystemConfig, spec: dict[str, Any], ref: pd.DataFrame, chunk: pd.DataFrame) -> dict[str, Any]:
    """Return the detector's verdict on one chunk: status and value of the metric check, and the estimate."""
    det = QualityDetector()
    metric = spec["metric"]
    checks = det.run(_window(ref, chunk, spec, hide_labels=False), config)
    judged = [c for c in checks if c.subtype == f"{metric}_worse"]
    # a chunk too small to judge gets one no_data check instead (and no realized value of ours)
    check = judged[0] if judged else checks[0]
    out: dict[str, Any] = {
        "status": str(check.status),
        "realized": check.statistic if judged else None,
        "p": check.p_value,
    }
    est = [c for c in det.run(_window(ref, chunk, spec, hide_labels=True), config) if c.details.get("estimated")]
    out["estimate"] = est[0].statistic if est else None
    return out


def _load(outdir: Path, name: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    spec = json.loads((outdir / f"{name}.json").read_text())
    ref = pd.read_parquet(outdir / f"{name}_reference.parquet")
    ana = pd.read_parquet(outdir / f"{name}_analysis.parquet")
    # categoricals as plain values; booleans and text features stay as they are
    for df in (ref, ana):
        for c in df.columns:
            if isinstance(df[c].dtype, pd.CategoricalDtype):
                df[c] = df[c].astype(str)
    return spec, ref, ana


def evaluate(outdir: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return one dataset's summary row and its per-chunk rows."""
    spec, ref, ana = _load(outdir, name)
    config = _config(spec)
    metric, size = spec["metric"], spec["chunk_size"]
    nml_real = {(c["period"], c["start"]): c for c in spec["realized"]}
    nml_est = {(c["period"], c["start"]): c for c in spec["estimated"]}
    chunks: list[dict[str, Any]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for period, frame in (("reference", ref), ("analysis", ana)):
        starts = [s for (p, s) in nml_real if p == period]
        for start in sorted(starts):
            end = nml_real[(period, start)]["end"] + 1
            chunk = frame.iloc[start:end]
            base = ref.drop(index=ref.index[start:end]) if period == "reference" else ref
            verdict = judge_chunk(config, spec, base, chunk)
            chunks.append(
                {
                    "dataset": name,
                    "period": period,
                    "start": start,
                    "rows": len(chunk),
                    "realized": (
                        verdict["realized"] if verdict["realized"] is not None else nml_real[(period, start)]["value"]
                    ),
                    "nannyml_realized": nml_real[(period, start)]["value"],
                    "rcaflows_status": verdict["status"],
                    "rcaflows_p": verdict["p"],
                    "nannyml_alert": nml_real[(period, start)]["alert"],
                    "rcaflows_estimate": verdict["estimate"],
                    "nannyml_estimate": nml_est[(period, start)]["value"],
                    "nannyml_estimate_alert": nml_est[(period, start)]["alert"],
                }
            )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    ref_vals = [c["realized"] for c in chunks if c["period"] == "reference"]
    worst = max(ref_vals) if metric in LOWER_IS_BETTER else min(ref_vals)
    for c in chunks:
        c["degraded"] = c["period"] == "analysis" and (
            c["realized"] > worst if metric in LOWER_IS_BETTER else c["realized"] < worst
        )
        c["flagged"] = c["rcaflows_status"] == str(CheckStatus.FAIL)
    ana_c = [c for c in chunks if c["period"] == "analysis"]
    ref_c = [c for c in chunks if c["period"] == "reference"]
    degraded = {c["start"] // size for c in ana_c if c["degraded"]}
    flagged = {c["start"] // size for c in ana_c if c["flagged"]}
    warned = {c["start"] // size for c in ana_c if c["rcaflows_status"] == str(CheckStatus.WARN)}
    nml_alerts = {c["start"] // size for c in ana_c if c["nannyml_alert"]}
    realized = np.array([c["realized"] for c in ana_c], float)
    ours = [c["rcaflows_estimate"] for c in ana_c]
    theirs = np.array([c["nannyml_estimate"] for c in ana_c], float)
    mae_ours = float(np.mean(np.abs(np.array(ours, float) - realized))) if None not in ours else None
    row = {
        "dataset": name,
        "task": spec["task"],
        "metric": metric,
        "chunk_rows": size,
        "chunks_ref/ana": f"{len(ref_c)}/{len(ana_c)}",
        "degraded": _idx(degraded),
        "rcaflows_flagged": _idx(flagged),
        "rcaflows_warned": _idx(warned),
        "hits": f"{len(flagged & degraded)}/{len(degraded)}",
        "false_flags_ana": len(flagged - degraded),
        "false_flags_ref": sum(c["flagged"] for c in ref_c),
        "nannyml_alerts": _idx(nml_alerts),
        "nannyml_alerts_ref": sum(c["nannyml_alert"] for c in ref_c),
        "rcaflows_estimator": "DLE (detector)" if spec["task"] == "regression" else "CBPE (detector)",
        "est_mae_rcaflows": round(mae_ours, 4) if mae_ours is not None else "none",
        "nannyml_estimator": spec["estimator"],
        "est_mae_nannyml": round(float(np.mean(np.abs(theirs - realized))), 4),
        "realized_agrees": bool(np.allclose(realized, [c["nannyml_realized"] for c in ana_c], atol=1e-9)),
        "rcaflows_s": round(seconds, 2),
        "rcaflows_cpu_s": round(cpu, 2),
        "nannyml_s": round(spec["seconds"]["realized"] + spec["seconds"]["estimated"], 2),
    }
    return row, chunks


def _idx(chunks: set[int]) -> str:
    """Return analysis chunk numbers as a compact list (``-`` when none)."""
    return ",".join(str(i) for i in sorted(chunks)) or "-"


def compare(names: list[str], data: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the worker in the competitor venv, then rcaflows on every chunk; return summary and chunk rows.

    ``data``: a folder the worker already wrote (``--data DIR``), to judge again without re-running NannyML.
    """
    if data is not None:
        rows, chunks = [], []
        for name in names:
            row, ch = evaluate(data, name)
            rows.append(row)
            chunks += ch
        return rows, chunks
    py = os.environ.get("RCAFLOWS_BENCH_PYTHON", "")
    if not py:
        raise SystemExit(
            "the nannyml datasets ship only in the nannyml wheel: build the competitor venv "
            "(bash bench/setup_competitors.sh /tmp/bench-venv) and set RCAFLOWS_BENCH_PYTHON"
        )
    rows, chunks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([py, str(WORKER), tmp, *names], check=True, stdout=subprocess.DEVNULL)
        for name in names:
            row, ch = evaluate(Path(tmp), name)
            rows.append(row)
            chunks += ch
    return rows, chunks


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per dataset (quick: California housing only); empty without the competitor venv."""
    if not os.environ.get("RCAFLOWS_BENCH_PYTHON"):
        print("nannyml_datasets: not run (set RCAFLOWS_BENCH_PYTHON, see bench/setup_competitors.sh)", file=sys.stderr)
        return []
    rows, _ = compare(["california_housing"] if quick else DATASETS)
    return rows


def main(argv: list[str]) -> None:
    """Print the table and write rows and chunks to bench/results/nannyml_datasets.json."""
    data = None
    if "--data" in argv:
        i = argv.index("--data")
        data = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    names = argv or DATASETS
    rows, chunks = compare(names, data)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    table = pd.DataFrame(rows, columns=cols).astype(str)
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(table.to_string(index=False))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "chunks": chunks}, indent=1, default=str))
    print(f"written: {RESULTS.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
