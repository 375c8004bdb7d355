#!/usr/bin/env bash
# Create the competitor venv for bench/drift.py (evidently, nannyml, alibi-detect).
# They pin pandas/numpy versions that conflict with rcaflows' pandas 3 / numpy 2, so they live
# in their own venv; bench/drift.py runs them in a subprocess via $RCAFLOWS_BENCH_PYTHON.
# Usage: bash bench/setup_competitors.sh [/tmp/bench-venv]
set -euo pipefail
VENV="${1:-/tmp/bench-venv}"
PY="${PYTHON:-python3}"
"$PY" -m venv "$VENV"
# pip's global constraints file pins the main environment's versions; the competitors need their own.
export PIP_CONSTRAINT=""
"$VENV/bin/pip" install -q --upgrade pip
# The versions measured in the README; they pull numpy 1.26 / pandas 2.3 (hence the separate venv).
"$VENV/bin/pip" install -q "evidently==0.7.23" "nannyml==0.13.1" "alibi-detect==0.13.0" "pyarrow==17.0.0"
"$VENV/bin/python" -c "import evidently, nannyml, alibi_detect; print('evidently', evidently.__version__, '| nannyml', nannyml.__version__, '| alibi-detect', alibi_detect.__version__)"
echo "export RCAFLOWS_BENCH_PYTHON=$VENV/bin/python"
