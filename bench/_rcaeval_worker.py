"""Run RCAEval's own ``baro`` and ``nsigma`` (defaults) over wide CSV cases; meant for the RCAEval venv.

Usage: ``<venv>/bin/python bench/_rcaeval_worker.py MANIFEST.json OUT.json``.  The manifest lists
``{"name", "file", "inject_time"}``; the output maps each name to ``{"baro": [...], "nsigma": [...]}``
(column names, best first).  RCAEval 1.8 only imports its light methods on Python 3.10/3.12/3.14;
on other versions its package init imports torch-based methods, so the version probe is widened
before import (the methods themselves are untouched).
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd

warnings.filterwarnings("ignore")


def main(manifest: str, out: str) -> None:
    """Rank every case with baro and nsigma and write the column rankings as JSON."""
    import RCAEval.utility as ut

    ut.is_py310 = lambda: True  # type: ignore[attr-defined]
    from RCAEval.e2e import baro, nsigma

    with open(manifest) as fh:
        cases = json.load(fh)
    res = {}
    for c in cases:
        df = pd.read_csv(c["file"])
        res[c["name"]] = {
            "baro": list(baro(df, inject_time=c["inject_time"], dataset=c.get("dataset", "online-boutique"))["ranks"]),
            "nsigma": list(
                nsigma(df, inject_time=c["inject_time"], dataset=c.get("dataset", "online-boutique"))["ranks"]
            ),
        }
    with open(out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
