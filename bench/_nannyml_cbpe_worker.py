"""Run NannyML's CBPE (defaults, accuracy) on the CSVs of bench/cbpe.py; meant for the competitor venv.

Usage: ``<venv>/bin/python bench/_nannyml_cbpe_worker.py REFERENCE.csv ANALYSIS.csv CHUNK_SIZE OUT.json``;
writes the estimated accuracy of each analysis chunk (in order) as a JSON list.
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd

warnings.filterwarnings("ignore")


def main(ref_path: str, ana_path: str, chunk: str, out: str) -> None:
    """Fit CBPE on the reference and write the analysis chunks' estimated accuracy."""
    import nannyml as nml

    ref, ana = pd.read_csv(ref_path), pd.read_csv(ana_path)
    est = nml.CBPE(
        y_pred_proba="score",
        y_pred="prediction",
        y_true="label",
        metrics=["accuracy"],
        chunk_size=int(chunk),
        problem_type="classification_binary",
    )
    est.fit(ref)
    df = est.estimate(ana.drop(columns=["label"])).filter(period="analysis").to_df()
    with open(out, "w") as fh:
        json.dump([float(v) for v in df[("accuracy", "value")]], fh)


if __name__ == "__main__":
    main(*sys.argv[1:5])
