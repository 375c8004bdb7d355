"""Root-cause analysis: the registered phases over one :class:`RcaContext`, merged into ranked hypotheses."""

from __future__ import annotations

from rcaflows.rca.base import run_phase, run_rca
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
from rcaflows.rca.registry import (
    PHASES,
    Phase,
    PhaseSettings,
    enabled_phases,
    get_phase,
    phase_settings,
    register_phase,
)
from rcaflows.rca.synthesis import load_rules, synthesize

__all__ = [
    "PHASES",
    "Finding",
    "Hypothesis",
    "HypothesisStatus",
    "Phase",
    "PhaseName",
    "PhaseResult",
    "PhaseSettings",
    "PhaseStatus",
    "RankedCause",
    "RcaContext",
    "RcaResult",
    "Symptom",
    "enabled_phases",
    "estimate_onset",
    "from_wide",
    "get_phase",
    "load_rules",
    "phase_settings",
    "rank_root_causes",
    "register_phase",
    "run_phase",
    "run_rca",
    "synthesize",
]
