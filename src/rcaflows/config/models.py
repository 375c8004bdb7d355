"""Typed, documented config of one monitored AI system (one YAML file).

What to check is data here; how to compute it is code in ``rcaflows.detection`` and
``rcaflows.rca``. Every field carries a description, shown by ``rcaflows validate``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rcaflows.timeutil import Duration
from rcaflows.vocab import IncidentType, Severity


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemInfo(_Model):
    name: str = Field(description="Short name of the monitored system; scopes incident fingerprints.")
    description: str = Field("", description="One line on what the system does.")
    environment: str = Field("production", description="Deployment environment (production, staging, ...).")


class StoreConfig(_Model):
    url: str = Field(
        "sqlite:///rcaflows.db",
        description="SQLAlchemy URL of the incident store; RCAFLOWS_STORE_URL overrides it.",
    )


class SourceConfig(_Model):
    name: str = Field(description="Name of this source, used in logs and reports.")
    kind: str = Field(description="Source implementation from the registry: 'demo' or 'files'.")
    options: dict[str, Any] = Field(default_factory=dict, description="Options passed to the source.")
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed read before the source is skipped.")


class WindowConfig(_Model):
    current: Duration = Field(timedelta(hours=1), description="Span under test in each detection run.")
    baseline: Duration = Field(
        timedelta(days=1), description="Known-normal span right before the current one, used as reference."
    )
    schedule: str = Field("0 * * * *", description="Cron schedule of the detection deployment (UTC).")


class ComponentKind(StrEnum):
    SERVICE = "service"
    MODEL = "model"
    DEPENDENCY = "dependency"
    PIPELINE = "pipeline"
    DATASTORE = "datastore"
    CONSUMER = "consumer"


class ComponentConfig(_Model):
    name: str = Field(description="Component name as it appears in the metrics' 'component' column.")
    kind: ComponentKind = Field(description="What the component is.")
    team: str | None = Field(None, description="Owning team (a name from 'teams').")
    depends_on: list[str] = Field(
        default_factory=list, description="Components this one calls or reads from (topology edges)."
    )


class MetricKind(StrEnum):
    LATENCY = "latency"
    ERROR_RATE = "error_rate"
    THROUGHPUT = "throughput"
    CPU = "cpu"
    MEMORY = "memory"
    NULL_RATE = "null_rate"
    ROW_COUNT = "row_count"
    FRESHNESS = "freshness"
    TIMEOUT_RATE = "timeout_rate"
    OTHER = "other"


class MetricSpec(_Model):
    component: str = Field(description="Component the metric belongs to.")
    name: str = Field(description="Metric name as in the metrics' 'metric' column.")
    kind: MetricKind = Field(description="What the metric measures; detectors select metrics by kind.")
    higher_is_worse: bool = Field(True, description="True when a rise is bad (latency); False for throughput.")
    unit: str = Field("", description="Unit shown in reports (ms, %, rows, s).")


class LineageNodeKind(StrEnum):
    SOURCE = "source"
    JOB = "job"
    DATASET = "dataset"
    MODEL = "model"
    SERVING = "serving"
    CONSUMER = "consumer"


class LineageNode(_Model):
    name: str = Field(description="Node name (dataset, job, model or consumer).")
    kind: LineageNodeKind = Field(description="What the node is.")
    component: str | None = Field(None, description="Component whose metrics describe this node.")
    columns: list[str] = Field(
        default_factory=list,
        description="Columns or features this node produces (used to map drift to nodes).",
    )


class LineageConfig(_Model):
    nodes: list[LineageNode] = Field(default_factory=list, description="Lineage nodes.")
    edges: list[tuple[str, str]] = Field(
        default_factory=list, description="Directed edges [upstream, downstream] between node names."
    )


class ModelConfig(_Model):
    name: str = Field(description="Model name.")
    component: str = Field(description="Component that serves the model.")
    lineage_node: str = Field(description="Lineage node of the model.")
    features: list[str] = Field(description="Feature columns in the prediction log.")
    group_column: str = Field("group", description="Prediction-log column holding the protected group.")
    client_column: str = Field("client_id", description="Prediction-log column holding the calling client.")
    threshold: float = Field(0.5, ge=0, le=1, description="Score threshold that turns a score into a positive.")
    label_delay: Duration = Field(
        timedelta(minutes=30), description="How long ground-truth labels take to arrive after a prediction."
    )
    tier: int = Field(1, ge=1, le=3, description="Business tier: 1 = revenue-critical, 3 = best effort.")


class QualityDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    metrics: list[Literal["accuracy", "precision", "recall"]] = Field(
        default_factory=lambda: list[Literal["accuracy", "precision", "recall"]](["accuracy", "recall"]),
        description="Quality metrics compared with the baseline.",
    )
    min_drop: float = Field(0.03, ge=0, le=1, description="Smallest absolute drop that counts as degradation.")
    alpha: float = Field(0.001, gt=0, lt=1, description="Significance level of the one-sided two-proportion test.")
    min_labels: int = Field(200, ge=1, description="Fewer labelled rows than this gives 'no_data'.")


class FairnessDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    max_gap: float = Field(0.05, gt=0, lt=1, description="Largest tolerated gap between groups (absolute).")
    min_group_size: int = Field(100, ge=1, description="Groups smaller than this in the window are not judged.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of the gap's interval.")


class PerformanceDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    kinds: list[MetricKind] = Field(
        default_factory=lambda: [
            MetricKind.LATENCY,
            MetricKind.ERROR_RATE,
            MetricKind.THROUGHPUT,
            MetricKind.CPU,
            MetricKind.MEMORY,
        ],
        description="Metric kinds this detector watches.",
    )
    z_threshold: float = Field(6.0, gt=0, description="Robust z-score (median/MAD) that fails a check.")
    min_relative_change: float = Field(0.25, ge=0, description="Smallest relative change that fails a check.")
    sustain: Duration = Field(timedelta(minutes=10), description="How long a shift must last to count.")
    slo_availability: float = Field(0.999, gt=0, lt=1, description="Availability SLO behind the burn-rate check.")
    burn_rate: float = Field(14.4, gt=0, description="Burn rate that fails (1h and 5m windows both above it).")


class ExpectationSpec(_Model):
    node: str = Field(description="Lineage node whose batch the expectation checks.")
    column: str | None = Field(None, description="Column checked (None for table-level expectations).")
    expectation: Literal["not_null", "between", "of_type", "in_set", "row_count_between", "columns_match"] = Field(
        description="What to expect."
    )
    min: float | None = Field(None, description="Lower bound (between, row_count_between).")
    max: float | None = Field(None, description="Upper bound (between, row_count_between).")
    mostly: float = Field(0.99, gt=0, le=1, description="Share of rows that must pass.")
    values: list[Any] = Field(default_factory=list, description="Allowed values (in_set) or columns (columns_match).")
    type_: str | None = Field(None, alias="type", description="Expected dtype name (of_type).")


class DataQualityDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    expectations: list[ExpectationSpec] = Field(
        default_factory=list, description="great-expectations checks on incoming batches."
    )
    drift_nodes: list[str] = Field(
        default_factory=list, description="Lineage nodes whose batches are tested for distribution drift."
    )
    drift_alpha: float = Field(0.001, gt=0, lt=1, description="False-discovery rate across drift tests.")
    drift_min_effect: float = Field(
        0.1, ge=0, description="Smallest effect (Wasserstein/std or total variation) that counts as drift."
    )
    kinds: list[MetricKind] = Field(
        default_factory=lambda: [MetricKind.NULL_RATE, MetricKind.ROW_COUNT, MetricKind.FRESHNESS],
        description="Pipeline metric kinds this detector watches.",
    )
    z_threshold: float = Field(6.0, gt=0, description="Robust z-score that fails a pipeline-metric check.")
    min_relative_change: float = Field(0.25, ge=0, description="Smallest relative change that fails a check.")


class SecurityDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    ood_z: float = Field(6.0, gt=0, description="Robust z of any feature beyond which an input is out-of-distribution.")
    max_ood_rate: float = Field(0.05, gt=0, lt=1, description="OOD input share that fails the check.")
    client_share: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of all traffic from one client that fails when it was far lower before.",
    )
    client_ratio: float = Field(5.0, gt=1, description="Rise of one client's volume vs its baseline that fails.")
    confidence_effect: float = Field(
        0.15, gt=0, lt=1, description="Kolmogorov-Smirnov distance of prediction confidences that fails."
    )


class IntegrationDetector(_Model):
    enabled: bool = Field(True, description="Run this detector.")
    kinds: list[MetricKind] = Field(
        default_factory=lambda: [
            MetricKind.TIMEOUT_RATE,
            MetricKind.ERROR_RATE,
            MetricKind.LATENCY,
            MetricKind.FRESHNESS,
        ],
        description="Metric kinds watched on components of kind 'dependency'.",
    )
    z_threshold: float = Field(6.0, gt=0, description="Robust z-score that fails a check.")
    min_relative_change: float = Field(0.25, ge=0, description="Smallest relative change that fails a check.")
    sustain: Duration = Field(timedelta(minutes=10), description="How long a shift must last to count.")


class DetectorsConfig(_Model):
    quality_degradation: QualityDetector = Field(default_factory=QualityDetector, description="Model quality.")
    bias_fairness: FairnessDetector = Field(default_factory=FairnessDetector, description="Fairness gaps.")
    performance_availability: PerformanceDetector = Field(
        default_factory=PerformanceDetector, description="Latency, errors, throughput and SLO burn."
    )
    data_quality: DataQualityDetector = Field(
        default_factory=DataQualityDetector, description="Expectations, pipeline health and drift."
    )
    security_adversarial: SecurityDetector = Field(
        default_factory=SecurityDetector, description="OOD inputs, query floods, confidence shifts."
    )
    integration_dependency: IntegrationDetector = Field(
        default_factory=IntegrationDetector, description="Upstream/downstream dependency health."
    )


class TeamConfig(_Model):
    name: str = Field(description="Team name.")
    description: str = Field("", description="What the team owns.")
    channels: list[str] = Field(default_factory=list, description="Notification channels of the team.")
    escalation_policy: str | None = Field(None, description="Escalation policy name used for this team.")


class RouteMatch(_Model):
    type: list[IncidentType] = Field(default_factory=list, description="Incident types matched (empty: any).")
    subtype: list[str] = Field(default_factory=list, description="Subtypes matched (empty: any).")
    component: list[str] = Field(default_factory=list, description="Components matched (empty: any).")
    min_severity: Severity | None = Field(None, description="Match only at this severity or worse.")


class RouteRule(_Model):
    name: str = Field(description="Rule name, shown when explaining a route.")
    match: RouteMatch = Field(default_factory=RouteMatch, description="Conditions; all must hold.")
    team: str = Field(description="Team that gets the incident.")
    channels: list[str] = Field(default_factory=list, description="Extra channels besides the team's.")


class RoutingConfig(_Model):
    rules: list[RouteRule] = Field(default_factory=list, description="Rules in order; the first match wins.")
    default_team: str = Field(description="Team used when no rule matches.")


class EscalationLevel(_Model):
    after: Duration = Field(description="Unacknowledged time after which this level fires.")
    notify: list[str] = Field(description="Channels notified at this level.")


class EscalationPolicy(_Model):
    name: str = Field(description="Policy name.")
    levels: list[EscalationLevel] = Field(description="Levels in order of 'after'.")


class ChannelKind(StrEnum):
    CONSOLE = "console"
    FILE = "file"
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


class ChannelConfig(_Model):
    name: str = Field(description="Channel name referenced by teams, rules and escalation levels.")
    kind: ChannelKind = Field(description="Transport.")
    url_env: str | None = Field(None, description="Environment variable holding the webhook URL (never the URL).")
    to: list[str] = Field(default_factory=list, description="Email recipients.")
    path: str | None = Field(None, description="File the 'file' channel appends to.")


class SeverityConfig(_Model):
    default: dict[IncidentType, Severity] = Field(
        default_factory=lambda: {
            IncidentType.QUALITY_DEGRADATION: Severity.HIGH,
            IncidentType.BIAS_FAIRNESS: Severity.HIGH,
            IncidentType.PERFORMANCE_AVAILABILITY: Severity.HIGH,
            IncidentType.DATA_QUALITY: Severity.MEDIUM,
            IncidentType.SECURITY_ADVERSARIAL: Severity.HIGH,
            IncidentType.INTEGRATION_DEPENDENCY: Severity.MEDIUM,
        },
        description="Severity of a failing check per incident type before magnitude adjusts it.",
    )
    escalate_at_score: float = Field(
        0.9, ge=0, le=1, description="Check score at or above which severity is raised one step."
    )


class RcaConfig(_Model):
    mode: Literal["subflow", "event", "off"] = Field(
        "subflow",
        description="How detection starts RCA: in-process subflow, a Prefect event for an automation, or not at all.",
    )
    lookback: Duration = Field(timedelta(hours=6), description="History before detection the RCA reads.")
    change_window: Duration = Field(
        timedelta(hours=2), description="How far before the onset a change event can explain it."
    )
    top_k: int = Field(5, ge=1, le=50, description="Hypotheses kept in the report.")
    reports_dir: str = Field("rcaflows-reports", description="Directory the HTML and Markdown reports go to.")


class SystemConfig(_Model):
    """One monitored AI system."""

    system: SystemInfo = Field(description="What is monitored.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Incident store.")
    sources: list[SourceConfig] = Field(description="Where monitoring data comes from.")
    window: WindowConfig = Field(default_factory=WindowConfig, description="Detection window and schedule.")
    components: list[ComponentConfig] = Field(description="Components and their dependencies (topology).")
    metrics: list[MetricSpec] = Field(default_factory=list, description="Known metrics and what they measure.")
    lineage: LineageConfig = Field(default_factory=LineageConfig, description="Data lineage graph.")
    model: ModelConfig | None = Field(None, description="The model under monitoring, if any.")
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig, description="Detector settings.")
    severity: SeverityConfig = Field(default_factory=SeverityConfig, description="Severity defaults.")
    teams: list[TeamConfig] = Field(description="Teams that receive incidents.")
    routing: RoutingConfig = Field(description="Routing rules.")
    escalation: list[EscalationPolicy] = Field(default_factory=list, description="Escalation policies.")
    notifications: list[ChannelConfig] = Field(default_factory=list, description="Notification channels.")
    rca: RcaConfig = Field(default_factory=RcaConfig, description="Root-cause analysis settings.")

    def component(self, name: str) -> ComponentConfig | None:
        """Return the component called ``name``, if declared."""
        return next((c for c in self.components if c.name == name), None)

    def metric_spec(self, component: str, metric: str) -> MetricSpec | None:
        """Return the spec of a metric, if declared."""
        return next((m for m in self.metrics if m.component == component and m.name == metric), None)
