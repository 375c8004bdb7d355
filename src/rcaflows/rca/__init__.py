"""Root-cause analysis: five phases over one :class:`RcaContext`, merged into ranked hypotheses."""

from __future__ import annotations

from rcaflows.rca.base import PHASES, Phase, run_phase, run_rca
from rcaflows.rca.context import RcaContext, estimate_onset
from rcaflows.rca.evaluation import from_wide
from rcaflows.rca.models import (
    Finding,
    Hypothesis,
    HypothesisStatus,
    PhaseName,
    PhaseResult,
    PhaseStatus,
    RankedCause,
    RcaResult,
    Symptom,
)
from rcaflows.rca.ranking import rank_root_causes
from rcaflows.rca.synthesis import load_rules, synthesize

__all__ = [
    "PHASES",
    "Finding",
    "Hypothesis",
    "HypothesisStatus",
    "Phase",
    "PhaseName",
    "PhaseResult",
    "PhaseStatus",
    "RankedCause",
    "RcaContext",
    "RcaResult",
    "Symptom",
    "estimate_onset",
    "from_wide",
    "load_rules",
    "rank_root_causes",
    "run_phase",
    "run_rca",
    "synthesize",
]
