"""Integration and dependency health: external dependencies' timeouts, errors and latency; stale pipelines."""

from __future__ import annotations

from rcaflows.config.models import ComponentKind, MetricKind, MetricSpec, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, register
from rcaflows.detection.models import CheckResult
from rcaflows.detection.robust import window_shift_checks
from rcaflows.vocab import CheckStatus, IncidentType


def dependency_specs(config: SystemConfig, kinds: list[MetricKind]) -> list[MetricSpec]:
    """Return specs of ``kinds`` on dependencies, plus freshness of pipelines."""
    out = []
    for spec in config.metrics:
        comp = config.component(spec.component)
        if comp is None:
            continue
        if (comp.kind == ComponentKind.DEPENDENCY and spec.kind in kinds) or (
            comp.kind == ComponentKind.PIPELINE and spec.kind == MetricKind.FRESHNESS and MetricKind.FRESHNESS in kinds
        ):
            out.append(spec)
    return out


@register
class IntegrationDetector:
    """Robust shifts on dependency metrics; a pipeline whose freshness shifts is reported ``late``."""

    name = "integration"
    incident_type = IncidentType.INTEGRATION_DEPENDENCY
    scope = "metrics"  # each check reads declared metric series only: runs per shard

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per dependency metric and per pipeline freshness metric."""
        s = config.detectors.integration_dependency
        make = CheckFactory(self.name, self.incident_type, window.current)
        specs = dependency_specs(config, s.kinds)
        return window_shift_checks(
            window,
            specs,
            make,
            z_threshold=s.z_threshold,
            min_relative_change=s.min_relative_change,
            sustain=s.sustain,
            fail_status={str(MetricKind.FRESHNESS): CheckStatus.LATE},
        )
