"""What a post-mortem draft holds: timeline, response metrics, impact, causes, assessment, actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, Field

from rcaflows.impact import ImpactNumbers


class TimelineItem(BaseModel):
    """One moment of the incident, from the audit log or an RCA run."""

    at: datetime
    category: str = Field(description="detection, triage, escalation, notification, acknowledgement, rca, ...")
    actor: str
    summary: str


class ResponseMetrics(BaseModel):
    """Time to detect, acknowledge, mitigate and resolve, all measured from the audit log."""

    onset: datetime | None = Field(None, description="When the deviation began (the detector's onset).")
    detected_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    time_to_detect: timedelta | None = Field(None, description="onset → detection.")
    time_to_acknowledge: timedelta | None = Field(None, description="detection → first acknowledgement.")
    time_to_mitigate: timedelta | None = Field(None, description="detection → first mitigation.")
    time_to_resolve: timedelta | None = Field(None, description="detection → (current) resolution.")
    escalations: int = Field(0, description="Escalation steps that fired.")
    escalations_before_ack: int = Field(0, description="Escalation steps that fired before the acknowledgement.")
    notifications_sent: int = 0
    notifications_failed: int = Field(0, description="Channels whose last delivery failed.")
    reopened: int = 0


class Impact(BaseModel):
    """How long, how wide and how many predictions."""

    started_at: datetime
    ended_at: datetime | None
    duration: timedelta
    components: list[str] = Field(description="Components the detection grouped into the incident.")
    downstream: list[str] = Field(description="Lineage blast radius of the latest RCA run.")
    affected_predictions: int | None = Field(None, description="Predictions served in the impact window.")
    predictions_note: str = Field("", description="How the volume was counted, or why it could not be.")
    occurrences: int = 1
    numbers: ImpactNumbers | None = Field(None, description="Impact in numbers (requests, groups, cost) and how.")


class Cause(BaseModel):
    """A root-cause hypothesis of the latest RCA run."""

    rank: int
    component: str
    metric: str | None = None
    kind: str
    confidence: float
    status: str
    supporting: list[str] = Field(default_factory=list)
    contradicting: list[str] = Field(default_factory=list)


class RelatedIncident(BaseModel):
    """A similar past incident and why it is similar."""

    key: str
    reason: str = Field(description="fingerprint, component or root_cause.")
    detail: str
    state: str
    detected_at: datetime
    title: str


class ActionItemView(BaseModel):
    """An action item as the draft shows it."""

    id: int
    title: str
    owner: str
    due_at: datetime | None
    status: str
    source: str


class Postmortem(BaseModel):
    """The post-mortem draft of one incident."""

    key: str
    title: str
    system: str
    type: str
    severity: str
    priority: str
    team: str
    state: str
    resolution: str | None = Field(None, description="Resolution reason given when it was resolved.")
    summary: str
    metrics: ResponseMetrics
    impact: Impact
    timeline: list[TimelineItem]
    causes: list[Cause]
    rca_run_id: int | None = None
    rca_report: str | None = None
    failed_phases: list[str] = Field(default_factory=list)
    went_well: list[str]
    went_badly: list[str]
    related: list[RelatedIncident]
    actions: list[ActionItemView]
    generated_at: datetime
    postmortem_state: str = Field("draft", description="draft, review or published (rcaflows.postmortem.states).")
    human: dict[str, str] = Field(
        default_factory=dict, description="Human-written sections by name, kept verbatim across refreshes."
    )

    @property
    def postmortem_label(self) -> str:
        """Return the state as the documents show it ("draft", "in review", "published")."""
        return "in review" if self.postmortem_state == "review" else self.postmortem_state


class PostmortemPaths(NamedTuple):
    """Where a post-mortem draft was written: local paths, or URLs when ``rca.reports_dir`` is an fsspec URL."""

    markdown: Path | str
    html: Path | str
