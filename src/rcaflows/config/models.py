"""Typed, documented config of one monitored AI system (one YAML file).

What to check is data here; how to compute it is code in ``rcaflows.detection`` and
``rcaflows.rca``. Every field carries a description, shown by ``rcaflows validate``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rcaflows.timeutil import Duration
from rcaflows.vocab import IncidentType, Severity

NAME_MAX = 200
"""Longest name (system, component, metric, team, channel, ...): the incident store's name columns hold 200."""

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemInfo(_Model):
    name: Name = Field(description="Short name of the monitored system; scopes incident fingerprints.")
    description: str = Field("", description="One line on what the system does.")
    environment: str = Field("production", description="Deployment environment (production, staging, ...).")


class StoreConfig(_Model):
    url: str = Field(
        "sqlite:///rcaflows.db",
        description="SQLAlchemy URL of the incident store; RCAFLOWS_STORE_URL overrides it.",
    )


class ExecutionConfig(_Model):
    """Where the detection scan's tasks run: in-process threads or a Dask cluster."""

    task_runner: Literal["thread", "dask"] = Field(
        "thread",
        description="Prefect task runner of the sharded scan and the RCA phases: 'thread' (in-process) or 'dask'.",
    )
    dask_address: str | None = Field(
        None,
        description="Scheduler address of an existing Dask cluster (e.g. 'tcp://dask-scheduler:8786'); "
        "empty with task_runner 'dask' starts a LocalCluster for the run.",
    )
    dask_workers: int = Field(
        2, ge=1, le=1024, description="Workers of the LocalCluster started when no address is set."
    )
    shards: int = Field(
        1,
        ge=1,
        le=10_000,
        description="Metric shards of the hourly scan: the metric detectors run once per shard (one task each), "
        "the whole-frame detectors once; 1 runs the scan as a single task.",
    )


class SourceConfig(_Model):
    name: Name = Field(description="Name of this source, used in logs and reports.")
    kind: str = Field(
        description="Source implementation from the registry: demo, files, prometheus, parquet, duckdb or changes."
    )
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
    name: Name = Field(description="Component name as it appears in the metrics' 'component' column.")
    kind: ComponentKind = Field(description="What the component is.")
    team: Name | None = Field(None, description="Owning team (a name from 'teams').")
    depends_on: list[Name] = Field(
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
    component: Name = Field(description="Component the metric belongs to.")
    name: Name = Field(description="Metric name as in the metrics' 'metric' column.")
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
    name: Name = Field(description="Node name (dataset, job, model or consumer).")
    kind: LineageNodeKind = Field(description="What the node is.")
    component: Name | None = Field(None, description="Component whose metrics describe this node.")
    columns: list[str] = Field(
        default_factory=list,
        description="Columns or features this node produces (used to map drift to nodes).",
    )


class LineageConfig(_Model):
    openlineage: str | None = Field(
        None,
        description="OpenLineage run events (a JSON-lines file or a directory of .json events, relative to this "
        "config file) to read the lineage from; nodes and edges declared here are added to it, and a node "
        "declared here overrides the event stream's node of the same name.",
    )
    nodes: list[LineageNode] = Field(default_factory=list, description="Lineage nodes.")
    edges: list[tuple[str, str]] = Field(
        default_factory=list, description="Directed edges [upstream, downstream] between node names."
    )


class ModelConfig(_Model):
    name: Name = Field(description="Model name.")
    component: Name = Field(description="Component that serves the model.")
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
        0.1,
        ge=0,
        description=(
            "Practical-significance scale of drift: 0.1 means at the DriftRule bars (a share moved 0.02, "
            "a mean 0.05 sd, a tail x1.5, nulls 0.02, total variation 0.1); 0.2 doubles every bar."
        ),
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
    fdr_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="False-discovery rate across all checks of one run (Benjamini-Hochberg): a check with a "
        "p-value, or a robust z converted to one (normal tail), fails only when its effect passes the "
        "detector's threshold and its adjusted p is below this.",
    )


class AlertingConfig(_Model):
    """When a failing candidate becomes an incident: pending period and inhibition (``for:``-style)."""

    pending_failures: int = Field(
        1, ge=1, description="M: failing runs, out of the last N, before an incident opens (Prometheus 'for:')."
    )
    pending_runs: int = Field(1, ge=1, description="N: detection runs looked back over; M=N=1 opens at once.")
    inhibit: bool = Field(
        True,
        description="Let a data-pipeline, missing-data or data-quality incident suppress the model-quality "
        "and bias incidents it explains downstream in the lineage graph.",
    )
    group_window: Duration = Field(
        timedelta(minutes=10),
        description="Failing checks on the same or adjacent components (topology or lineage) whose onsets lie "
        "at most this far apart join one incident, whatever their types; a fault's signals start within "
        "minutes of each other, two independent faults usually do not.",
    )

    @model_validator(mode="after")
    def _m_within_n(self) -> AlertingConfig:
        if self.pending_failures > self.pending_runs:
            raise ValueError(
                f"pending_failures ({self.pending_failures}) must not exceed pending_runs ({self.pending_runs})"
            )
        return self


class TeamConfig(_Model):
    name: Name = Field(description="Team name.")
    description: str = Field("", description="What the team owns.")
    channels: list[str] = Field(default_factory=list, description="Notification channels of the team.")
    escalation_policy: str | None = Field(None, description="Escalation policy name used for this team.")


class RouteMatch(_Model):
    type: list[IncidentType] = Field(default_factory=list, description="Incident types matched (empty: any).")
    subtype: list[str] = Field(default_factory=list, description="Subtypes matched (empty: any).")
    component: list[str] = Field(default_factory=list, description="Components matched (empty: any).")
    min_severity: Severity | None = Field(None, description="Match only at this severity or worse.")


class RouteRule(_Model):
    name: Name = Field(description="Rule name, shown when explaining a route.")
    match: RouteMatch = Field(default_factory=RouteMatch, description="Conditions; all must hold.")
    team: Name = Field(description="Team that gets the incident.")
    channels: list[str] = Field(default_factory=list, description="Extra channels besides the team's.")


class RoutingConfig(_Model):
    rules: list[RouteRule] = Field(default_factory=list, description="Rules in order; the first match wins.")
    default_team: Name = Field(description="Team used when no rule matches.")


class EscalationLevel(_Model):
    after: Duration = Field(description="Unacknowledged time (from detection) after which this level fires.")
    notify: list[str] = Field(description="Targets: channel names, or 'team:<name>' for a team's channels.")
    page: bool = Field(True, description="A page (never sent for 'suspected' incidents) rather than a notice.")


class EscalationPolicy(_Model):
    """How an incident escalates; copied onto the incident when it opens, so edits never reach open ones."""

    name: Name = Field(description="Policy name.")
    levels: list[EscalationLevel] = Field(
        default_factory=list, description="Time-based levels in order of 'after'; an acknowledgement cancels them."
    )
    page_at_once: Severity | None = Field(
        Severity.CRITICAL, description="At this severity or worse, page at once (None: never)."
    )
    immediate: list[str] = Field(
        default_factory=list, description="Targets of the immediate page (empty: the first level's targets)."
    )
    unresolved_after: Duration | None = Field(
        None, description="Unresolved time after which management is told (cancelled only by resolution)."
    )
    management: list[str] = Field(default_factory=list, description="Targets told when 'unresolved_after' passes.")
    coordinator_at: int | None = Field(
        None, ge=2, description="Components or teams involved at or above which a cross-team coordinator is called."
    )
    coordinator: list[str] = Field(default_factory=list, description="Targets of the cross-team coordinator call.")
    executive_for: list[Literal["compliance", "revenue"]] = Field(
        default_factory=list, description="Business impacts that send an executive notice at once."
    )
    executive: list[str] = Field(default_factory=list, description="Targets of the executive notice.")
    revenue_at: float = Field(
        0.9, ge=0, le=1, description="Business-impact factor at or above which an incident counts as revenue impact."
    )
    then: str | None = Field(
        None, description="Policy whose levels continue after this one's last level (must not form a cycle)."
    )


class ChannelKind(StrEnum):
    CONSOLE = "console"
    FILE = "file"
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


class ChannelConfig(_Model):
    name: Name = Field(description="Channel name referenced by teams, rules and escalation levels.")
    kind: ChannelKind = Field(description="Transport.")
    url_env: str | None = Field(None, description="Environment variable holding the webhook URL (never the URL).")
    to: list[str] = Field(default_factory=list, description="Email recipients.")
    path: str | None = Field(None, description="File the 'file' channel appends to.")
    url_secret_block: str | None = Field(
        None, description="Prefect Secret block holding the webhook URL (used when url_env is unset or empty)."
    )
    token_env: str | None = Field(
        None,
        description="slack: environment variable holding a bot token; with it (and slack_channel) the first "
        "message is posted with chat.postMessage and later ones edit it with chat.update.",
    )
    api_url: str = Field("https://slack.com/api", description="slack: base URL of the Web API (chat.update).")
    slack_channel: str | None = Field(None, description="slack: channel id to post to with the bot token.")
    smtp_host: str | None = Field(None, description="email: SMTP server host.")
    smtp_port: int = Field(587, ge=1, le=65535, description="email: SMTP server port.")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="email: 'starttls' (the server must offer STARTTLS, else nothing is sent), 'ssl' (SMTPS, "
        "TLS from the first byte, usually port 465) or 'none' (plain text: only for a relay on a trusted network).",
    )
    smtp_plaintext_auth: bool = Field(
        False,
        description="email: with smtp_tls 'none', send the user name and password over plain text anyway "
        "(refused unless set: anyone on the path reads them).",
    )
    smtp_ca_file: str | None = Field(
        None, description="email: PEM file of the CA(s) that sign the SMTP server's certificate (default: system CAs)."
    )
    smtp_from: str | None = Field(None, description="email: sender address.")
    username_env: str | None = Field(None, description="email: environment variable holding the SMTP user name.")
    password_env: str | None = Field(None, description="email: environment variable holding the SMTP password.")
    password_secret_block: str | None = Field(
        None, description="email: Prefect Secret block holding the SMTP password (when password_env is unset)."
    )
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds one delivery attempt may take.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a failed delivery (transient errors only).")
    backoff: float = Field(
        1.0, ge=0, le=60, description="Seconds before the first retry; doubled each retry, capped at 30 s."
    )

    @model_validator(mode="after")
    def _transport_fields(self) -> ChannelConfig:
        kind = self.kind
        if kind is ChannelKind.FILE and not self.path:
            raise ValueError(f"channel {self.name!r}: kind 'file' needs 'path'")
        if kind is ChannelKind.WEBHOOK and not (self.url_env or self.url_secret_block):
            raise ValueError(f"channel {self.name!r}: kind 'webhook' needs 'url_env' or 'url_secret_block'")
        if kind is ChannelKind.SLACK and not (
            self.url_env or self.url_secret_block or (self.token_env and self.slack_channel)
        ):
            raise ValueError(
                f"channel {self.name!r}: kind 'slack' needs 'url_env' / 'url_secret_block' (incoming webhook) "
                "or 'token_env' with 'slack_channel' (Web API)"
            )
        if kind is ChannelKind.EMAIL:
            missing = [f for f in ("smtp_host", "smtp_from") if not getattr(self, f)] + ([] if self.to else ["to"])
            if missing:
                raise ValueError(f"channel {self.name!r}: kind 'email' needs {', '.join(missing)}")
            has_login = bool(self.username_env or self.password_env or self.password_secret_block)
            if self.smtp_tls == "none" and has_login and not self.smtp_plaintext_auth:
                raise ValueError(
                    f"channel {self.name!r}: smtp_tls 'none' would send the SMTP password in clear; use "
                    "'starttls' or 'ssl', or set smtp_plaintext_auth: true if the network is trusted"
                )
        return self


class ImpactWeights(_Model):
    """Weights of the four impact factors (each factor is in [0, 1]); only their ratios matter."""

    business: float = Field(0.25, ge=0, description="Model tier, and whether the model or a consumer is hit.")
    user: float = Field(0.25, ge=0, description="Share of user-facing entry points in the blast radius.")
    system: float = Field(0.25, ge=0, description="Number of components involved (saturates at full_system_at).")
    compliance: float = Field(0.25, ge=0, description="Regulatory exposure (incident types in compliance_types).")

    @model_validator(mode="after")
    def _some_weight(self) -> ImpactWeights:
        if self.business + self.user + self.system + self.compliance <= 0:
            raise ValueError("at least one impact weight must be positive")
        return self


def _default_impact_weights() -> dict[IncidentType, ImpactWeights]:
    t = IncidentType
    return {
        t.QUALITY_DEGRADATION: ImpactWeights(business=0.5, user=0.3, system=0.2, compliance=0.0),
        t.BIAS_FAIRNESS: ImpactWeights(business=0.2, user=0.2, system=0.1, compliance=0.5),
        t.PERFORMANCE_AVAILABILITY: ImpactWeights(business=0.3, user=0.5, system=0.2, compliance=0.0),
        t.DATA_QUALITY: ImpactWeights(business=0.3, user=0.2, system=0.5, compliance=0.0),
        t.SECURITY_ADVERSARIAL: ImpactWeights(business=0.4, user=0.3, system=0.3, compliance=0.0),
        t.INTEGRATION_DEPENDENCY: ImpactWeights(business=0.3, user=0.4, system=0.3, compliance=0.0),
    }


class SeverityConfig(_Model):
    """Severity = check score x weighted mean of the impact factors, cut at the thresholds."""

    weights: dict[IncidentType, ImpactWeights] = Field(
        default_factory=_default_impact_weights,
        description="Impact-factor weights per incident type; a type left out weighs the factors equally.",
    )
    critical_at: float = Field(0.7, gt=0, le=1, description="Impact at or above which severity is critical.")
    high_at: float = Field(0.45, gt=0, le=1, description="Impact at or above which severity is high.")
    medium_at: float = Field(0.2, gt=0, le=1, description="Impact at or above which severity is medium (else low).")
    business_by_tier: list[float] = Field(
        default_factory=lambda: [1.0, 0.6, 0.3],
        min_length=3,
        max_length=3,
        description="Business factor of a model of tier 1, 2, 3 (halved when neither model nor consumer is hit).",
    )
    full_system_at: int = Field(4, ge=1, description="Components involved at which the system factor reaches 1.")
    compliance_types: list[IncidentType] = Field(
        default_factory=lambda: [IncidentType.BIAS_FAIRNESS],
        description="Incident types with compliance exposure (compliance factor 1, else 0).",
    )
    suspected_below: float = Field(
        0.6, ge=0, le=1, description="Check score below which an incident is only 'suspected' and never pages."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SeverityConfig:
        if not self.critical_at > self.high_at > self.medium_at:
            raise ValueError("thresholds must satisfy critical_at > high_at > medium_at")
        return self


class UrgencyWeights(_Model):
    """Weights of the four urgency factors (each in [0, 1])."""

    tier: float = Field(0.25, ge=0, description="Model business tier (tier 1 = 1, tier 2 = 0.5, tier 3 = 0).")
    traffic: float = Field(0.25, ge=0, description="Share of user-facing traffic affected (the user factor).")
    sla: float = Field(0.25, ge=0, description="1 when an SLA/SLO is at stake (sla_types or an 'slo_burn' check).")
    time: float = Field(0.25, ge=0, description="Time sensitivity of the incident type.")


def _default_time_sensitivity() -> dict[IncidentType, float]:
    t = IncidentType
    return {
        t.QUALITY_DEGRADATION: 0.5,
        t.BIAS_FAIRNESS: 0.3,
        t.PERFORMANCE_AVAILABILITY: 1.0,
        t.DATA_QUALITY: 0.5,
        t.SECURITY_ADVERSARIAL: 1.0,
        t.INTEGRATION_DEPENDENCY: 0.7,
    }


class PriorityConfig(_Model):
    """Priority = severity rank + 0/1/2 steps for high/medium/low urgency, P1..P5."""

    weights: UrgencyWeights = Field(default_factory=UrgencyWeights, description="Urgency-factor weights.")
    sla_types: list[IncidentType] = Field(
        default_factory=lambda: [IncidentType.PERFORMANCE_AVAILABILITY, IncidentType.INTEGRATION_DEPENDENCY],
        description="Incident types that put an SLA at stake.",
    )
    time_sensitivity: dict[IncidentType, float] = Field(
        default_factory=_default_time_sensitivity, description="Time sensitivity per incident type in [0, 1]."
    )
    high_urgency_at: float = Field(0.6, ge=0, le=1, description="Urgency at or above which severity maps 1:1.")
    medium_urgency_at: float = Field(0.3, ge=0, le=1, description="Urgency at or above which priority drops one step.")


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
    severity: SeverityConfig = Field(default_factory=SeverityConfig, description="Impact weights and thresholds.")
    priority: PriorityConfig = Field(default_factory=PriorityConfig, description="Urgency weights and cuts.")
    teams: list[TeamConfig] = Field(description="Teams that receive incidents.")
    routing: RoutingConfig = Field(description="Routing rules.")
    escalation: list[EscalationPolicy] = Field(default_factory=list, description="Escalation policies.")
    notifications: list[ChannelConfig] = Field(default_factory=list, description="Notification channels.")
    rca: RcaConfig = Field(default_factory=RcaConfig, description="Root-cause analysis settings.")
    alerting: AlertingConfig = Field(
        default_factory=AlertingConfig, description="Pending period and inhibition before incidents open."
    )
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="Task runner (threads or Dask) and metric sharding of the scan."
    )

    def component(self, name: str) -> ComponentConfig | None:
        """Return the component called ``name``, if declared."""
        return next((c for c in self.components if c.name == name), None)

    def metric_spec(self, component: str, metric: str) -> MetricSpec | None:
        """Return the spec of a metric, if declared."""
        return next((m for m in self.metrics if m.component == component and m.name == metric), None)
