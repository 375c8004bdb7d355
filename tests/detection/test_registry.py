"""The detector registry: a new detector is one class plus ``register``, with no engine or config edit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from detection_data import CURRENT, split
from pydantic import BaseModel, ConfigDict, Field

from rcaflows import pipeline
from rcaflows.config.models import DetectorsConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DETECTORS, CheckFactory, CheckResult, detector_settings, register, run_detection
from rcaflows.detection.engine import metric_detectors, whole_frame_detectors
from rcaflows.errors import ConfigError
from rcaflows.vocab import CheckStatus, IncidentType

PERF = IncidentType.PERFORMANCE_AVAILABILITY


class _SeriesCount:
    """A metrics-scope detector of the built-in performance type: one ok check per component it saw."""

    name = "series_count"
    incident_type = PERF
    scope = "metrics"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        make = CheckFactory(self.name, self.incident_type, window.current)
        counts = window.current.metrics.groupby("component").size()
        return [
            make(check="series_count", subtype="series", component=str(comp), status=CheckStatus.OK, statistic=n)
            for comp, n in counts.items()
        ]


class _LimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the detector.")
    limit: float = Field(1.0, gt=0, description="Reported as the check's threshold.")


class _Limit:
    """A frames-scope detector with its own settings model, read from ``detectors.extra.limit``."""

    name = "limit"
    incident_type = IncidentType.DATA_QUALITY
    settings_model = _LimitSettings

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        s = detector_settings(config, self)
        make = CheckFactory(self.name, self.incident_type, window.current)
        return [make(check="limit", subtype="limit", component="model", status=CheckStatus.OK, threshold=s.limit)]


@pytest.fixture()
def registered() -> Iterator[None]:
    """Register the two test detectors, and remove them afterwards."""
    register(_SeriesCount)
    register(_Limit)
    try:
        yield
    finally:
        DETECTORS.pop(_SeriesCount.name, None)
        DETECTORS.pop(_Limit.name, None)


def _with_extra(config: SystemConfig, extra: dict[str, dict[str, object]]) -> SystemConfig:
    detectors = DetectorsConfig.model_validate({**config.detectors.model_dump(by_alias=True), "extra": extra})
    return config.model_copy(update={"detectors": detectors})


def test_a_registered_detector_runs_beside_the_builtin_of_its_type(
    registered: None, config: SystemConfig, normal_data: MonitoringData
) -> None:
    report = run_detection(config, split(normal_data))
    by_detector = {c.detector for c in report.checks if c.incident_type == PERF}
    assert {"performance", "series_count"} <= by_detector
    counted = {c.component for c in report.checks if c.detector == "series_count"}
    assert counted == set(normal_data.metrics["component"])
    assert not report.errors
    assert {"series_count", "limit"} <= set(report.seconds)


def test_scope_decides_where_the_sharded_scan_runs_a_detector(
    registered: None, config: SystemConfig, normal_data: MonitoringData
) -> None:
    assert "series_count" in metric_detectors() and "series_count" not in whole_frame_detectors()
    assert "limit" in whole_frame_detectors() and "limit" not in metric_detectors()
    assert {"performance", "integration"} <= set(metric_detectors())

    def counted(c: SystemConfig) -> list[tuple[str, float | None]]:
        report = pipeline.scan(c, normal_data, CURRENT)
        return sorted((x.component, x.statistic) for x in report.checks if x.detector == "series_count")

    sharded = config.model_copy(update={"execution": config.execution.model_copy(update={"shards": 3})})
    one_pass = counted(config)
    assert one_pass and counted(sharded) == one_pass
    limit = [x for x in pipeline.scan(sharded, normal_data, CURRENT).checks if x.detector == "limit"]
    assert len(limit) == 1  # a frames-scope detector runs once, not once per shard


def test_a_detector_reads_its_settings_from_detectors_extra(
    registered: None, config: SystemConfig, normal_data: MonitoringData
) -> None:
    window = split(normal_data)
    (default,) = [c for c in run_detection(config, window).checks if c.detector == "limit"]
    assert default.threshold == 1.0
    (tuned,) = [
        c for c in run_detection(_with_extra(config, {"limit": {"limit": 7}}), window).checks if c.detector == "limit"
    ]
    assert tuned.threshold == 7.0
    off = run_detection(_with_extra(config, {"limit": {"enabled": False}}), window)
    assert "limit" not in off.seconds and not [c for c in off.checks if c.detector == "limit"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"limit": -1}, "detectors.extra.limit.limit"), ({"limt": 2}, "detectors.extra.limit.limt")],
)
def test_invalid_extra_settings_are_a_config_error_naming_the_field(
    registered: None, config: SystemConfig, normal_data: MonitoringData, settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        run_detection(_with_extra(config, {"limit": settings}), split(normal_data))


def test_builtin_detectors_keep_their_incident_type_blocks(config: SystemConfig) -> None:
    assert detector_settings(config, DETECTORS["performance"]) is config.detectors.performance_availability
    assert detector_settings(config, PERF) is config.detectors.performance_availability


def test_register_rejects_a_bad_scope_and_a_taken_name() -> None:
    class BadScope(_SeriesCount):
        name = "bad_scope"
        scope = "rows"

    class Impostor(_SeriesCount):
        name = "performance"

    with pytest.raises(TypeError, match="scope 'rows'"):
        register(BadScope)
    with pytest.raises(TypeError, match="'performance' is already registered"):
        register(Impostor)
    assert "bad_scope" not in DETECTORS and type(DETECTORS["performance"]).__name__ == "PerformanceDetector"


def test_a_detector_without_scope_defaults_to_whole_frames(config: SystemConfig) -> None:
    class Plain:
        name = "plain"
        incident_type = IncidentType.QUALITY_DEGRADATION

        def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
            return []

    register(Plain)
    try:
        assert "plain" in whole_frame_detectors() and "plain" not in metric_detectors()
    finally:
        DETECTORS.pop("plain")
