"""The shared vocabulary: incident types, severities, priorities, lifecycle states, check statuses.

Every enum is a ``StrEnum`` with a readable value, stored as text, so the database and the logs
stay legible.
"""

from __future__ import annotations

from enum import StrEnum


class IncidentType(StrEnum):
    """The six kinds of AI incident rcaflows detects."""

    QUALITY_DEGRADATION = "quality_degradation"
    BIAS_FAIRNESS = "bias_fairness"
    PERFORMANCE_AVAILABILITY = "performance_availability"
    DATA_QUALITY = "data_quality"
    SECURITY_ADVERSARIAL = "security_adversarial"
    INTEGRATION_DEPENDENCY = "integration_dependency"


class Severity(StrEnum):
    """Impact, ordered from worst to mildest."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Return 0 for critical up to 3 for low."""
        return list(Severity).index(self)


class Priority(StrEnum):
    """Urgency in business context: P1 (drop everything) to P5 (backlog)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class IncidentState(StrEnum):
    """Lifecycle states, in the order an incident normally passes through them."""

    DETECTED = "detected"
    TRIAGED = "triaged"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATES = frozenset(
    {
        IncidentState.DETECTED,
        IncidentState.TRIAGED,
        IncidentState.ACKNOWLEDGED,
        IncidentState.INVESTIGATING,
        IncidentState.MITIGATED,
    }
)


class CheckStatus(StrEnum):
    """Outcome of one detector check; ``no_data`` and ``late`` are distinct from ``ok``."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"
    LATE = "late"
