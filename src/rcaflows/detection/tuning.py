"""Apply the per-check tuning learned from the incident history (``learning.checks``) to a run's checks.

A failing check that a :class:`~rcaflows.config.learning.CheckTuning` matches is held back to
``warn`` (like a check the FDR control demotes) unless its recorded evidence passes every bar the
rule sets. It runs in :func:`rcaflows.pipeline.open_incidents`, the one step the hourly flow, the
backtest and the demo share, after the detectors' thresholds and the FDR control and before the
failing checks are grouped: a held-back check neither opens an incident nor joins one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rcaflows.config.learning import CheckTuning
from rcaflows.detection.models import CheckResult
from rcaflows.vocab import CheckStatus

__all__ = ["apply_check_tuning", "check_key", "matches", "passes"]


def check_key(check: CheckResult | dict[str, Any]) -> str:
    """Return ``detector/check/component/metric`` of a check or of its stored JSON form."""
    get = check.get if isinstance(check, dict) else lambda k: getattr(check, k, None)
    return "/".join(str(get(k) or "*") for k in ("detector", "check", "component", "metric"))


def matches(rule: CheckTuning, check: CheckResult) -> bool:
    """Return whether ``rule`` is about ``check``."""
    return (
        rule.detector == check.detector
        and rule.component == check.component
        and (rule.check is None or rule.check == check.check)
        and (rule.metric is None or rule.metric == check.metric)
    )


def _evidence(check: CheckResult, name: str) -> float | None:
    raw = check.p_value if name == "p_value" else (check.details or {}).get(name)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(float(raw)):
        return None
    return abs(float(raw)) if name != "p_value" else float(raw)


def passes(rule: CheckTuning, check: CheckResult) -> tuple[bool, str]:
    """Return whether the check's evidence clears every bar of ``rule``, and the first bar it missed."""
    z = _evidence(check, "robust_z")
    if rule.z_threshold is not None and z is not None and z < rule.z_threshold:
        return False, f"robust z {z:.3g} < tuned {rule.z_threshold:g}"
    rel = _evidence(check, "relative_change")
    if rule.min_relative_change is not None and rel is not None and rel < rule.min_relative_change:
        return False, f"relative change {rel:.3g} < tuned {rule.min_relative_change:g}"
    p = _evidence(check, "p_value")
    if rule.alpha is not None and p is not None and p >= rule.alpha:
        return False, f"p {p:.3g} >= tuned {rule.alpha:g}"
    return True, ""


def apply_check_tuning(checks: Sequence[CheckResult], rules: Sequence[CheckTuning]) -> tuple[list[CheckResult], int]:
    """Return the checks with the failing ones that miss a matching rule's bar held back to ``warn``, and how many.

    A held-back check keeps its evidence and gets ``details['tuned'] = {rule, why}``.
    """
    if not rules:
        return list(checks), 0
    out: list[CheckResult] = []
    held = 0
    for c in checks:
        if c.status != CheckStatus.FAIL:
            out.append(c)
            continue
        why = next(
            ((r, reason) for r in rules if matches(r, c) for ok, reason in [passes(r, c)] if not ok),
            None,
        )
        if why is None:
            out.append(c)
            continue
        held += 1
        rule, reason = why
        out.append(
            c.model_copy(
                update={
                    "status": CheckStatus.WARN,
                    "score": min(c.score, 0.49),
                    "details": {**c.details, "tuned": {"rule": rule.key(), "why": reason}},
                    "message": f"{c.message} [held back by learning.checks: {reason}]",
                }
            )
        )
    return out, held
