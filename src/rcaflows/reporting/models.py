"""What a report shows besides the RCA result: the incident it explains, and where it was written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rcaflows.impact import ImpactNumbers
from rcaflows.rca.models import Symptom
from rcaflows.vocab import IncidentState, IncidentType, Priority, Severity

AD_HOC_KEY = "ad-hoc"
_UNSET = frozenset({"", "-", "—"})


class TimelineEntry(BaseModel):
    """One line of the incident timeline, usually one audit-log event."""

    model_config = ConfigDict(frozen=True)

    at: datetime = Field(description="When it happened (aware UTC).")
    kind: str = Field(description="Event kind, e.g. 'detected', 'transition', 'rca_completed'.")
    actor: str = Field(description="Who or what did it, e.g. 'system', 'alice'.")
    summary: str = Field(description="One readable sentence.")


class IncidentSummary(BaseModel):
    """The incident facts a report shows; decoupled from the store so ad-hoc RCA runs render too."""

    key: str = Field(description="Readable key, e.g. 'INC-0042', or 'ad-hoc' for a run without incident.")
    title: str = Field(description="One-line title of the incident.")
    type: IncidentType = Field(description="Incident type.")
    subtype: str | None = Field(default=None, description="Detector-specific subtype, e.g. 'latency_p99'.")
    severity: Severity | None = Field(default=None, description="Impact; None before triage / ad hoc.")
    priority: Priority | None = Field(default=None, description="Urgency; None before triage / ad hoc.")
    team: str | None = Field(default=None, description="Owning team.")
    state: IncidentState | None = Field(default=None, description="Lifecycle state at render time.")
    component: str = Field(description="Component that alerted.")
    metric: str | None = Field(default=None, description="Metric that alerted.")
    detected_at: datetime = Field(description="When the incident was detected (aware UTC).")
    system: str = Field(description="Name of the monitored system.")
    occurrences: int = Field(default=1, ge=1, description="Times the detector fired for it.")
    timeline: list[TimelineEntry] = Field(default_factory=list, description="Events, oldest first.")
    impact: ImpactNumbers | None = Field(
        default=None, description="Impact in numbers (requests, predictions, groups, cost) and how it was computed."
    )

    @field_validator("subtype", "severity", "priority", "team", "state", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """Read the blanks ``""``, ``"-"`` and ``"—"`` as "not set", e.g. for ad-hoc runs."""
        return None if isinstance(value, str) and value.strip() in _UNSET else value

    @classmethod
    def ad_hoc(cls, symptom: Symptom, system: str, title: str | None = None) -> IncidentSummary:
        """Return a summary for an RCA run started from a symptom rather than a stored incident."""
        what = f"{symptom.component} / {symptom.metric}" if symptom.metric else symptom.component
        return cls(
            key=AD_HOC_KEY,
            title=title or f"Ad-hoc RCA of {what}",
            type=IncidentType(symptom.incident_type),
            component=symptom.component,
            metric=symptom.metric,
            detected_at=symptom.detected_at,
            system=system,
        )


class Plot(BaseModel):
    """One static plot of the report: an inline image with a caption and a text alternative."""

    model_config = ConfigDict(frozen=True)

    caption: str = Field(description="Short caption shown under the image.")
    alt: str = Field(description="Text alternative: what the plot shows, in words.")
    uri: str = Field(description="Base64 image data URI, e.g. 'data:image/png;base64,...'.")


class ReportPaths(BaseModel):
    """Where :func:`rcaflows.reporting.write_report` wrote the two renderings of one report."""

    model_config = ConfigDict(frozen=True)

    html: Path = Field(description="Self-contained HTML report.")
    markdown: Path = Field(description="Markdown twin of the HTML report.")
