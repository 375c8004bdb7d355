"""Typed results of root-cause analysis: phase findings, hypotheses and ranked causes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PhaseName(StrEnum):
    """Names of the five built-in RCA phases, for code that refers to one of them.

    Not the list of phases: the registry (:data:`rcaflows.rca.PHASES`) is keyed by plain names, and
    results store the name as a string, so a phase registered under any other name is as valid.
    """

    STATISTICAL = "statistical"
    COMPONENT = "component"
    LINEAGE = "lineage"
    MODEL_BEHAVIOUR = "model_behaviour"
    ENVIRONMENTAL = "environmental"


class PhaseStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class HypothesisStatus(StrEnum):
    SUPPORTED = "supported"
    WEAK = "weak"
    REFUTED = "refuted"


class Finding(BaseModel):
    """One piece of evidence a phase found about one candidate cause."""

    model_config = ConfigDict(frozen=True)

    phase: str = Field(description="Name of the phase that produced the finding.")
    component: str = Field(description="Candidate component (or client / lineage-mapped component).")
    metric: str | None = Field(None, description="Metric, feature or change the finding is about.")
    kind: str = Field(description="What was found, e.g. 'metric_shift', 'upstream_null_rate', 'deploy'.")
    score: float = Field(ge=0, le=1, description="Strength of the finding in [0, 1].")
    onset: datetime | None = Field(None, description="When the candidate started to deviate.")
    evidence: list[str] = Field(default_factory=list, description="Readable sentences for the candidate.")
    contradicting: list[str] = Field(
        default_factory=list, description="Sentences the same phase found against the candidate."
    )
    details: dict[str, Any] = Field(default_factory=dict, description="Numbers behind the evidence.")
    supports: bool = Field(True, description="False when the finding argues against the candidate.")


class PhaseResult(BaseModel):
    """Everything one phase produced, or why it failed."""

    phase: str = Field(description="Name of the phase (a key of the phase registry when it ran).")
    status: PhaseStatus
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = Field(None, description="Why the phase failed or was skipped.")
    seconds: float = Field(0.0, description="Wall time of the phase.")
    summary: str = Field("", description="One line on what the phase concluded.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Phase-level results, e.g. the lineage phase's 'blast_radius'."
    )


class Hypothesis(BaseModel):
    """One ranked root-cause hypothesis with supporting and contradicting evidence."""

    rank: int
    component: str
    metric: str | None = None
    kind: str = Field(description="Dominant kind of evidence, e.g. 'deploy', 'upstream_null_rate'.")
    score: float = Field(description="Synthesis score (higher ranks first).")
    confidence: float = Field(ge=0, le=1, description="Calibrated probability this is the root cause.")
    status: HypothesisStatus
    onset: datetime | None = None
    phases: list[str] = Field(default_factory=list, description="Names of the phases that support it.")
    supporting: list[str] = Field(default_factory=list, description="Evidence for, one sentence each.")
    contradicting: list[str] = Field(default_factory=list, description="Evidence against.")
    rules: list[str] = Field(default_factory=list, description="Domain rules that fired.")


class RankedCause(BaseModel):
    """Public result of :func:`rcaflows.rca.rank_root_causes`."""

    component: str
    metric: str
    score: float
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list)
    onset: datetime | None = None


class Symptom(BaseModel):
    """What the incident is about: the component/metric that alerted and when."""

    component: str
    metric: str | None = None
    incident_type: str
    detected_at: datetime
    onset: datetime | None = None


class RcaResult(BaseModel):
    """The outcome of one RCA run."""

    symptom: Symptom
    phases: list[PhaseResult]
    hypotheses: list[Hypothesis]
    blast_radius: list[str] = Field(default_factory=list, description="Downstream nodes affected.")
    next_steps: list[str] = Field(default_factory=list)
    window_start: datetime
    window_end: datetime

    @property
    def top(self) -> Hypothesis | None:
        """Return the best hypothesis, if any."""
        return self.hypotheses[0] if self.hypotheses else None
