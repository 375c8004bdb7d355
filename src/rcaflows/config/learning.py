"""Settings learned from the incident history (issue 14): per-check threshold overrides and the detection target.

``rcaflows tune`` proposes :class:`CheckTuning` entries from the incidents resolved as
``false_positive`` or ``duplicate`` and writes them under ``learning.checks`` with ``--write``;
:mod:`rcaflows.detection.tuning` applies them to every detection run (the hourly flow, the
backtest, the demo). ``learning.ttd_target`` is the detection delay above which a post-mortem asks
for a better check. Only pydantic and the time types are imported here: the config models import it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rcaflows.timeutil import Duration

__all__ = ["CheckTuning", "LearningConfig"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckTuning(BaseModel):
    """A stricter threshold for one check: a failing check it matches fails only past these bars.

    A check matches when its detector and component are these and, where given, its check name
    and metric too. The bars read the evidence the check recorded: ``robust_z`` and
    ``relative_change`` (robust-shift checks) and ``p_value`` (tests); a bar the check has no
    evidence for does not hold it back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    detector: str = Field(min_length=1, description="Detector that runs the check, e.g. 'performance'.")
    component: str = Field(min_length=1, description="Component the check watches.")
    check: str | None = Field(None, description="Check name within the detector, e.g. 'robust_shift' (None: any).")
    metric: str | None = Field(None, description="Metric or column the check watches (None: any).")
    z_threshold: float | None = Field(
        None,
        gt=0,
        description="Robust z (|details.robust_z|) the check must reach to fail (per check).",
    )
    min_relative_change: float | None = Field(
        None, ge=0, description="Relative change (|details.relative_change|) the check must reach to fail."
    )
    alpha: float | None = Field(None, gt=0, lt=1, description="p-value the check must fall below to fail.")
    reason: str = Field("", description="Why (written by 'rcaflows tune': the incidents it learned from).")

    @model_validator(mode="after")
    def _some_bar(self) -> CheckTuning:
        if self.z_threshold is None and self.min_relative_change is None and self.alpha is None:
            raise ValueError(
                f"check tuning of {self.detector}/{self.component}: give at least one of z_threshold, "
                "min_relative_change or alpha"
            )
        return self

    def key(self) -> str:
        """Return ``detector/check/component/metric`` (``*`` for an unset part)."""
        return "/".join((self.detector, self.check or "*", self.component, self.metric or "*"))


class LearningConfig(_Model):
    """What the incident history taught: per-check tuning and how fast detection must be."""

    ttd_target: Duration = Field(
        timedelta(hours=1),
        description="Longest acceptable time to detect (deviation onset → incident opened); a post-mortem of an "
        "incident detected later gets an 'add a check' action item and 'rcaflows metrics' counts it as late.",
    )
    checks: list[CheckTuning] = Field(
        default_factory=list,
        description="Per-check threshold overrides (written by 'rcaflows tune --write'); applied after the "
        "detectors' own thresholds and the FDR control, before failing checks are grouped into incidents.",
    )

    @model_validator(mode="after")
    def _positive_target(self) -> LearningConfig:
        if self.ttd_target <= timedelta(0):
            raise ValueError(f"ttd_target must be a positive duration such as '1h', got {self.ttd_target}")
        return self
