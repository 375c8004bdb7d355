"""Typed results of detection: one :class:`CheckResult` per check a detector runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rcaflows.vocab import CheckStatus, IncidentType


class CheckResult(BaseModel):
    """The outcome of one check, with the evidence behind it."""

    model_config = ConfigDict(frozen=True)

    detector: str = Field(description="Name of the detector that ran the check.")
    check: str = Field(description="What was checked, e.g. 'robust_shift', 'two_proportion', 'expect_not_null'.")
    incident_type: IncidentType = Field(description="Incident type a failure of this check opens.")
    subtype: str = Field(description="Finer kind, e.g. 'latency', 'accuracy_drop', 'fpr_gap', 'null_rate'.")
    component: str = Field(description="Component the check is about.")
    metric: str | None = Field(None, description="Metric, column or quantity checked.")
    status: CheckStatus = Field(description="ok | warn | fail | no_data | late.")
    statistic: float | None = Field(None, description="Observed value in the current window.")
    baseline: float | None = Field(None, description="Expected value from the reference window.")
    threshold: float | None = Field(None, description="Threshold the statistic was compared with.")
    p_value: float | None = Field(None, description="p-value where a test was run.")
    score: float = Field(0.0, ge=0, le=1, description="Anomaly score in [0, 1]; near 1 is page-worthy.")
    onset: datetime | None = Field(None, description="When the deviation started, if located.")
    window_start: datetime | None = Field(None, description="Start of the current window.")
    window_end: datetime | None = Field(None, description="End of the current window.")
    message: str = Field("", description="One readable sentence of evidence.")
    details: dict[str, Any] = Field(default_factory=dict, description="Further evidence, JSON-serializable.")

    @property
    def failed(self) -> bool:
        """Return True for a failing check."""
        return self.status == CheckStatus.FAIL
