"""Performance and availability: latency, errors, throughput, CPU and memory of services, plus SLO burn."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from rcaflows.config.models import ComponentKind, MetricKind, MetricSpec, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, fmt_num, register, score_from_ratio
from rcaflows.detection.models import CheckResult
from rcaflows.detection.robust import window_shift_checks
from rcaflows.vocab import CheckStatus, IncidentType

_EXCLUDED_KINDS = {ComponentKind.DEPENDENCY, ComponentKind.PIPELINE}
#: The two windows of the multi-window burn-rate alert (Google SRE workbook, ch. 5).
BURN_WINDOWS = (timedelta(hours=1), timedelta(minutes=5))


def watched_specs(config: SystemConfig, kinds: list[MetricKind]) -> list[MetricSpec]:
    """Return the metric specs of ``kinds`` on components that are not dependencies or pipelines."""
    out = []
    for spec in config.metrics:
        comp = config.component(spec.component)
        if spec.kind in kinds and (comp is None or comp.kind not in _EXCLUDED_KINDS):
            out.append(spec)
    return out


def as_fraction(values: np.ndarray, unit: str) -> np.ndarray:
    """Return error rates as fractions (values in '%' are divided by 100)."""
    return values / 100.0 if unit == "%" else values


@register
class PerformanceDetector:
    """Sustained robust shifts of service metrics and the multi-window SLO burn rate."""

    name = "performance"
    incident_type = IncidentType.PERFORMANCE_AVAILABILITY
    scope = "metrics"  # each check reads declared metric series only: runs per shard

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one shift check per watched metric and one burn-rate check per error-rate metric."""
        s = config.detectors.performance_availability
        make = CheckFactory(self.name, self.incident_type, window.current)
        specs = watched_specs(config, s.kinds)
        if not specs:
            return []
        checks = window_shift_checks(
            window, specs, make, z_threshold=s.z_threshold, min_relative_change=s.min_relative_change, sustain=s.sustain
        )
        checks += self._burn_rate(window, specs, make, s.slo_availability, s.burn_rate)
        return checks

    def _burn_rate(
        self, window: Window, specs: list[MetricSpec], make: CheckFactory, slo: float, burn: float
    ) -> list[CheckResult]:
        out: list[CheckResult] = []
        budget = 1.0 - slo
        m = window.current.metrics
        end = pd.Timestamp(window.current.end)
        for spec in (s for s in specs if s.kind == MetricKind.ERROR_RATE):
            sel = m[(m["component"] == spec.component) & (m["metric"] == spec.name)]
            rates = []
            for w in BURN_WINDOWS:
                v = sel.loc[sel["timestamp"] >= end - w, "value"].to_numpy(dtype=float)
                v = as_fraction(v[~np.isnan(v)], spec.unit)
                rates.append(float(v.mean()) / budget if len(v) else np.nan)
            long_b, short_b = rates
            if np.isnan(long_b) or np.isnan(short_b):
                msg = f"{spec.component} {spec.name}: no samples"
                out.append(make.no_data(spec.component, "slo_burn", msg, check="slo_burn_rate", metric=spec.name))
                continue
            worst = min(long_b, short_b)
            status = CheckStatus.OK
            if worst >= burn:
                status = CheckStatus.FAIL
            elif worst >= burn / 2:
                status = CheckStatus.WARN
            score = score_from_ratio(worst / burn)
            out.append(
                make(
                    check="slo_burn_rate",
                    subtype="slo_burn",
                    component=spec.component,
                    metric=spec.name,
                    status=status,
                    statistic=worst,
                    baseline=1.0,
                    threshold=burn,
                    score=max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49),
                    message=(
                        f"{spec.component} {spec.name} burns the {slo:.3%} availability budget "
                        f"{long_b:.1f}x over 1 h and {short_b:.1f}x over 5 min (fails at {fmt_num(burn)}x)"
                    ),
                    details={
                        "burn_1h": long_b,
                        "burn_5m": short_b,
                        "slo_availability": slo,
                        "headline": f"burn rate {worst:.1f}x",
                    },
                )
            )
        return out
