#!/usr/bin/env bash
# Create the RCAEval venv for bench/rca_eval.py (BARO and NSigma baselines).
# RCAEval's extras pin numpy<2 / old pandas, so it lives in its own venv; only what its baro and
# nsigma code paths import is installed (its package init imports requests and tqdm).
# Usage: bash bench/setup_rcaeval.sh [/tmp/rcaeval-venv]
set -euo pipefail
VENV="${1:-/tmp/rcaeval-venv}"
PY="${PYTHON:-python3}"
"$PY" -m venv "$VENV"
export PIP_CONSTRAINT=""
"$VENV/bin/pip" install -q "RCAEval==1.8.1" numpy pandas scikit-learn requests tqdm
"$VENV/bin/python" -c "import RCAEval.utility as u; u.is_py310 = lambda: True; from RCAEval.e2e import baro, nsigma; print('RCAEval baro/nsigma OK')"
echo "export RCAEVAL_PYTHON=$VENV/bin/python"
