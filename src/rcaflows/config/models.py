"""Typed, documented config of one monitored AI system (one YAML file).

What to check is data here; how to compute it is code in ``rcaflows.detection`` and
``rcaflows.rca``. Every field carries a description, shown by ``rcaflows validate``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rcaflows.config.learning import LearningConfig
from rcaflows.mitigation.models import MitigationConfig
from rcaflows.timeutil import Duration
from rcaflows.vocab import IncidentType, Priority, Severity

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


ModelTask = Literal["binary", "multiclass", "regression", "ranking"]

#: Quality metrics per task (the first ones are the defaults watched when ``analysis.metrics`` is empty).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "recall", "precision", "f1"),
    "multiclass": ("accuracy", "macro_f1", "micro_f1", "min_class_recall", "calibration_error"),
    "regression": ("mae", "rmse", "bias", "interval_coverage"),
    "ranking": ("ndcg", "hit_rate"),
}


class PredictionLogConfig(_Model):
    """Where each role lives in a model's prediction log (defaults are the demo's columns).

    The log's time column is the source's ``timestamp`` (every source delivers it under that name).
    """

    id: str | None = Field(
        None, description="Column with the input id or hash: rows sharing it within a version should agree."
    )
    prediction: str = Field("prediction", description="Column with the predicted class or value.")
    score: str = Field(
        "score",
        description="Column with the model score: positive-class probability (binary), item score (ranking), "
        "or unused (regression, multiclass: see class_scores).",
    )
    label: str = Field("label", description="Column with the ground truth (NaN until it arrives).")
    label_time: str = Field("label_at", description="Column with the time the label arrived (NaT until then).")
    groups: list[str] = Field(
        default_factory=list,
        description="Group columns (protected attributes, segments) for fairness gaps and slices; empty means "
        "[group_column].",
    )
    version: str | None = Field(None, description="Column with the model version that served the row.")
    arm: str | None = Field(None, description="Column with the experiment arm of the row.")
    class_scores: dict[str, str] = Field(
        default_factory=dict,
        description="multiclass: class label -> column with its predicted probability (for calibration and "
        "estimated performance).",
    )
    interval_low: str | None = Field(None, description="regression: column with the prediction interval's low end.")
    interval_high: str | None = Field(None, description="regression: column with the prediction interval's high end.")
    query: str | None = Field(None, description="ranking: column with the query (list) id the item was ranked in.")
    attributions: dict[str, str] = Field(
        default_factory=dict, description="Feature -> column with its logged attribution (e.g. SHAP value)."
    )
    model: str | None = Field(
        None,
        description="Column naming the model that served the row, for a log shared by several models: the "
        "model's rows are those whose value equals its name.",
    )
    request_id: str | None = Field(None, description="Column with the request id, if logged.")
    user_id: str | None = Field(None, description="Column with the user id, if logged.")


class IndividualFairnessConfig(_Model):
    """Individual fairness: near-identical individuals of different protected groups should get the same outcome."""

    enabled: bool = Field(True, description="Run the individual-fairness check (not for ranking models).")
    tolerance: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Two rows are near-identical when the root-mean-square difference of their non-protected "
        "numeric features, in the reference window's robust standard deviations, is at most this, and every "
        "categorical feature and every other group column is equal.",
    )
    outcome_tolerance: float | None = Field(
        None,
        ge=0,
        description="Smallest difference of two outcomes that counts as different: regression predictions "
        "(None: 0.5 x the reference predictions' standard deviation); for a binary model a set value compares "
        "scores instead of predicted classes. Multiclass compares predicted classes.",
    )
    max_excess: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Largest tolerated excess of the different-outcome share of cross-group pairs over that of "
        "same-group pairs of the same rows.",
    )
    min_pairs: int = Field(100, ge=10, description="Fewer matched rows than this gives 'no_data'.")
    max_floor: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Near-identical rows of the same group that disagree more often than this mean the features do "
        "not determine the outcome, so pairs say nothing about the protected attribute: 'no_data'.",
    )
    max_rows: int = Field(
        50_000, ge=1_000, description="Rows searched per window (an even random sample, seeded, beyond this)."
    )


#: Every built-in quality metric name (a custom metric may not reuse one: checks are named by metric).
BUILTIN_METRICS = frozenset(m for names in TASK_METRICS.values() for m in names)
_FUNCTION_PATH = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"


class CustomMetricConfig(_Model):
    """A quality metric computed by the user's own function, judged against the reference like the built-in ones.

    The function gets the labelled rows of the model's log as a DataFrame with role-named columns
    (``prediction``, ``score``, ``label``, ``query``, ..., the features and group columns under their
    own names: :func:`rcaflows.model.model_view`).
    """

    name: Name = Field(description="Metric name (the check is '<name>_worse'); not a built-in metric's name.")
    function: str = Field(
        description="'package.module:callable', importable by the process that runs detection (installed or on "
        "PYTHONPATH). Without per_row it returns one number for the rows it gets; with per_row one number per "
        "row (NaN: the row does not count)."
    )
    per_row: bool = Field(
        False,
        description="The function returns one value per row and the metric is their mean: tested with Welch's t "
        "on the row values (cheap). Otherwise the standard error comes from a bootstrap of the rows (the "
        "function is called once per replicate).",
    )
    higher_is_better: bool = Field(True, description="Whether a larger value is better (False: an error or cost).")
    min_change: float | None = Field(
        None,
        ge=0,
        description="Smallest worsening that counts, in the metric's units; None: 10 % of the reference value "
        "(detectors.quality_degradation.min_drop when the reference is 0).",
    )

    @field_validator("function")
    @classmethod
    def _function_path(cls, v: str) -> str:
        import re

        if not re.fullmatch(_FUNCTION_PATH, v):
            raise ValueError(f"{v!r} is not an import path; expected 'package.module:callable'")
        return v


class ModelAnalysisConfig(_Model):
    """How the model's quality is judged and where the slice and version comparisons look."""

    metrics: list[str] = Field(
        default_factory=list,
        description="Quality metrics watched (see TASK_METRICS for each task's names); empty: the task's defaults "
        "(binary keeps detectors.quality_degradation.metrics).",
    )
    min_change: dict[str, float] = Field(
        default_factory=dict,
        description="Smallest change of a metric that counts (metric -> absolute change); unset metrics use "
        "detectors.quality_degradation.min_drop for rates, and 10 % of the reference value for errors.",
    )
    estimate: bool = Field(
        True,
        description="Estimate the quality of rows without labels yet: classifier accuracy from calibrated scores "
        "(CBPE), regression MAE from a model of the reference errors (DLE), ranking hit rate@k and NDCG@k from "
        "item scores calibrated to relevance probabilities; the estimate warns, it never fails a check on its own.",
    )
    slice_columns: list[str] = Field(
        default_factory=list,
        description="Columns whose 1- to max_order-way intersections the slice search tries; empty: the group "
        "columns plus the version and arm columns.",
    )
    max_order: int = Field(3, ge=1, le=3, description="Most columns intersected in one slice.")
    min_slice_rows: int = Field(100, ge=10, description="Slices with fewer labelled rows are not judged.")
    slice_fdr: float = Field(
        0.01, gt=0, lt=1, description="False-discovery rate (Benjamini-Hochberg) over every slice tried."
    )
    min_slice_lift: float = Field(
        0.05,
        ge=0,
        description="Smallest excess of a slice's error over the rest that counts (error-rate points, or "
        "relative excess of the mean loss for regression).",
    )
    ranking_k: int = Field(10, ge=1, description="ranking: cut-off of NDCG@k and hit rate@k.")
    individual_fairness: IndividualFairnessConfig = Field(
        default_factory=IndividualFairnessConfig,
        description="Near-identical individuals across protected groups (checked by the fairness detector).",
    )
    custom_metrics: list[CustomMetricConfig] = Field(
        default_factory=list,
        description="Quality metrics computed by the user's functions, for any task; each is tested against the "
        "reference window and reported as its own check.",
    )

    @model_validator(mode="after")
    def _custom_names(self) -> ModelAnalysisConfig:
        names = [m.name for m in self.custom_metrics]
        clash = sorted({n for n in names if n in BUILTIN_METRICS})
        if clash:
            raise ValueError(
                f"custom_metrics {clash} reuse built-in metric names; rename them (built-in: {sorted(BUILTIN_METRICS)})"
            )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"custom_metrics names {twice} are declared more than once; names must be unique")
        return self


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
    source: Name | None = Field(
        None,
        description="Source that delivers this model's prediction log (None: every source's predictions, or the "
        "rows 'log.model' assigns to it). With several models, each needs 'source' or 'log.model'.",
    )
    task: ModelTask = Field("binary", description="What the model predicts: binary, multiclass, regression, ranking.")
    log: PredictionLogConfig = Field(
        default_factory=PredictionLogConfig, description="Columns of the prediction log, by role."
    )
    analysis: ModelAnalysisConfig = Field(
        default_factory=ModelAnalysisConfig, description="Quality metrics, estimation and slice search settings."
    )
    training: TrainingConfig | None = Field(
        None, description="Training batches, the versions trained on them, their expectation suite and signals."
    )

    @model_validator(mode="after")
    def _known_metrics(self) -> ModelConfig:
        known = TASK_METRICS[self.task]
        bad = [m for m in self.analysis.metrics if m not in known]
        if bad:
            raise ValueError(
                f"model {self.name!r}: analysis.metrics {bad} are not {self.task} metrics; "
                f"expected some of {list(known)}"
            )
        return self


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


# --- training data and poisoning (issue 16 item 5): TrainingSignals, TrainingConfig -----------------


class TrainingSignals(_Model):
    """Label-noise and poisoning signals on each training batch, judged against the batches before it."""

    tolerance: float = Field(
        0.01,
        ge=0,
        description="Near-identical inputs: numeric features in the same cell of a grid this many robust standard "
        "deviations wide (MAD x 1.4826, pooled over the batches compared) and equal other features; 0: exact values.",
    )
    hash_column: str | None = Field(
        None, description="Column with an input hash: rows sharing it are near-identical (replaces the grid)."
    )
    label_tolerance: float = Field(
        0.0, ge=0, description="regression: two labels differ when they are further apart than this."
    )
    alpha: float = Field(
        0.001, gt=0, lt=1, description="Significance level of the one-sided two-proportion tests (per batch)."
    )
    min_conflict_increase: float = Field(
        0.02, gt=0, lt=1, description="Smallest rise of the conflicting-label share over earlier batches that fails."
    )
    min_flip_increase: float = Field(
        0.01, gt=0, lt=1, description="Smallest rise of the flipped-duplicate share over earlier batches that fails."
    )
    min_source_increase: float = Field(
        0.1, gt=0, lt=1, description="Smallest rise of one source's share of the batch over earlier batches that fails."
    )
    min_source_ratio: float = Field(
        2.0, gt=1, description="Smallest ratio of one source's share of the batch to its earlier share that fails."
    )
    min_rows: int = Field(50, ge=1, description="Batches with fewer rows are 'no_data' for the signals.")
    examples: int = Field(5, ge=1, le=100, description="Row ids quoted as examples in each failing check.")


class TrainingConfig(_Model):
    """Where a model's training batches are, which model version was trained on which, and their checks."""

    node: Name = Field(
        description="Lineage node of the training set (kind dataset, with an edge to the model's lineage node); "
        "its component, else its name, is the component of every training check."
    )
    path: str | None = Field(
        None,
        description="Glob of the batch files (CSV or Parquet; relative paths from the working directory, like a "
        "'files' source); each file is one batch named by its stem, unless batch_column is set. Unset: the rows "
        "the sources deliver for 'node' (window.batches[node]), split by batch_column.",
    )
    batch_column: str | None = Field(
        None, description="Column with the batch id (required without 'path'); a file may then hold several batches."
    )
    time_column: str = Field(
        "timestamp",
        description="Column with when each row landed; a batch landed at its latest value (else at its file's "
        "modification time). Batches are judged in the detection window they landed in, against the earlier ones.",
    )
    id_column: str | None = Field(
        None, description="Column with the row id quoted in the evidence (else the row number)."
    )
    label: str | None = Field(None, description="Label column of the training rows (default: model.log.label).")
    features: list[str] = Field(
        default_factory=list,
        description="Feature columns compared for near-identical inputs (default: model.features).",
    )
    source_column: str | None = Field(
        None, description="Column naming where each record came from (vendor, crawler, user), for the burst test."
    )
    versions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Model version (as in the prediction log's version column) -> the batch id(s) it was trained on; "
        "a single id may be written as a string.",
    )
    version_column: str | None = Field(
        None, description="Column of the training rows naming the model version trained on them (adds to 'versions')."
    )
    expectations: list[ExpectationSpec] = Field(
        default_factory=list,
        description="great-expectations suite run on each batch, as detectors.data_quality.expectations ('node' "
        "defaults to the training node).",
    )
    signals: TrainingSignals = Field(default_factory=TrainingSignals, description="Label-noise and poisoning signals.")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        out = dict(raw)
        versions = out.get("versions")
        if isinstance(versions, dict):  # a single batch id is the common case
            out["versions"] = {str(k): [v] if isinstance(v, str) else v for k, v in versions.items()}
        exps = out.get("expectations")
        if isinstance(exps, list) and "node" in out:
            out["expectations"] = [{"node": out["node"], **e} if isinstance(e, dict) else e for e in exps]
        return out

    @model_validator(mode="after")
    def _where(self) -> TrainingConfig:
        if self.path is None and self.batch_column is None:
            raise ValueError(
                f"training of node {self.node!r}: set 'path' (a glob of batch files) or 'batch_column' (to split the "
                "rows the sources deliver for the node into batches)"
            )
        other = [e.node for e in self.expectations if e.node != self.node]
        if other:
            raise ValueError(
                f"training.expectations name node {other[0]!r}; they check the training node {self.node!r}"
            )
        return self


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


class AvailabilityDetector(_Model):
    """Data that stops arriving: a series silent for longer than its own cadence allows (an ``absent()`` rule)."""

    enabled: bool = Field(True, description="Open a data-availability incident when a component or source goes silent.")
    grace: Duration = Field(
        timedelta(minutes=15),
        description="Shortest silence that counts, whatever a series' cadence: a series is silent when its last "
        "point is older than max(grace, cadence_multiple x its median inter-arrival in the reference window).",
    )
    cadence_multiple: float = Field(
        3.0, ge=1, le=1000, description="k: missed points (in units of a series' learned cadence) before it is silent."
    )
    min_points: int = Field(
        3, ge=2, description="Reference points a series needs before its cadence is learned and its silence watched."
    )
    resolve_on_return: bool = Field(
        True, description="Resolve a data-availability incident once every series of its component or source reports."
    )

    @model_validator(mode="after")
    def _grace_positive(self) -> AvailabilityDetector:
        if self.grace <= timedelta(0):
            raise ValueError(f"grace must be a positive duration such as '15m', got {self.grace}")
        if self.grace > timedelta(days=30):
            raise ValueError(f"grace {self.grace} is longer than 30 days; no window reads that far back")
        return self


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
    availability: AvailabilityDetector = Field(
        default_factory=AvailabilityDetector,
        description="Silent components and sources, and sources that cannot be read (data availability).",
    )
    extra: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings of detectors outside the blocks above, keyed by detector name; each entry is "
        "validated by that detector's own settings_model when it runs (see docs/architecture.md).",
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
    """Names of the built-in notifiers; a channel's ``kind`` may name any notifier in the registry."""

    CONSOLE = "console"
    FILE = "file"
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


class ChannelConfig(_Model):
    name: Name = Field(description="Channel name referenced by teams, rules and escalation levels.")
    kind: Name = Field(
        description="Notifier, by its registered name: console, file, slack, webhook, email, pagerduty or a "
        "plugin's (checked against the notifier registry by 'rcaflows validate' and at delivery)."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings of a notifier that has its own settings model (e.g. pagerduty: routing_key_env), "
        "validated by that model; console, file, slack, webhook and email take theirs as the fields below.",
    )
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

    @field_validator("kind")
    @classmethod
    def _builtin_kind(cls, kind: str) -> str:
        """Keep the built-in names as :class:`ChannelKind` members, so they compare and print as before."""
        return ChannelKind(kind) if kind in ChannelKind._value2member_map_ else kind

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


class RcaRunPolicy(_Model):
    """How long one RCA run may take, and what happens to a run that died or overran."""

    time_limit: Duration = Field(
        timedelta(minutes=30),
        description="Longest an RCA run may take; a run still 'running' after this is marked failed by the "
        "reaper (every detection run, and 'rcaflows db reap') and its incident goes back to 'triaged'.",
    )
    max_attempts: int = Field(
        2, ge=1, le=10, description="RCA runs per incident, the first included, before a failed one is not re-queued."
    )

    @model_validator(mode="after")
    def _limit_positive(self) -> RcaRunPolicy:
        if self.time_limit <= timedelta(0):
            raise ValueError(f"time_limit must be a positive duration such as '30m', got {self.time_limit}")
        return self


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
    reports_dir: str = Field(
        "rcaflows-reports",
        description="Where the HTML and Markdown reports are written: a local directory, or any fsspec URL "
        "(file://…, s3://bucket/rca, memory://…; the backend's package must be installed).",
    )
    reports_base_url: str | None = Field(
        None,
        description="URL people open the reports under (e.g. https://reports.example/rca): links in artifacts, "
        "messages and the incident board are this plus the report's file name; unset = the file:// or fsspec URL "
        "of the report. $RCAFLOWS_REPORT_BASE_URL overrides it.",
    )
    runs: RcaRunPolicy = Field(
        default_factory=RcaRunPolicy, description="Time limit of one RCA run and re-queueing of runs that died."
    )
    phases: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings per RCA phase, keyed by phase name: 'enabled', 'weight' (in the synthesis) and the "
        "phase's own settings, validated by its settings_model when an RCA runs; a name no phase is registered "
        "under is an error (see docs/rca.md).",
    )


class ImpactConfig(_Model):
    """Per-system figures that turn an incident's counts into a business cost (issue 15)."""

    currency: str = Field("EUR", description="Currency of the cost figures (shown, never converted).")
    cost_per_failed_request: float = Field(0.0, ge=0, description="Cost of one request that failed.")
    cost_per_slow_request: float = Field(0.0, ge=0, description="Cost of one request served slower than the SLO.")
    cost_per_wrong_decision: float = Field(
        0.0, ge=0, description="Cost of one wrong model decision (an excess error or an excess biased decision)."
    )
    cost_per_downtime_minute: float = Field(
        0.0, ge=0, description="Cost of one minute in which the entry point's error rate passed 'downtime_error_rate'."
    )
    latency_slo_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Latency SLO (p95, ms) per component; a request counts as slow in a minute in which an involved "
        "component with an SLO breached it.",
    )
    downtime_error_rate: float = Field(
        5.0, gt=0, le=100, description="Error rate (percent) of the entry point from which a minute counts as downtime."
    )
    baseline: Duration = Field(
        timedelta(hours=6), description="Span before the onset read as normal (error rate, positive rates, nulls)."
    )


class PersonConfig(_Model):
    """Someone who can be on call, and how to reach them."""

    name: Name = Field(description="Person's name, as the schedules, overrides and calendars write it.")
    contacts: list[str] = Field(
        default_factory=list, description="Declared channel names that reach this person, tried all at once."
    )
    email: str | None = Field(
        None, description="Address that replaces the recipients of the person's 'email' channels when paging them."
    )
    manager: Name | None = Field(None, description="Person paged at the 'manager' escalation level of their team.")


class RotationLayer(_Model):
    """One rotation: members take turns, one shift each; a later layer wins where it covers the time."""

    name: Name = Field(description="Layer name, shown by 'rcaflows oncall'.")
    role: Literal["primary", "secondary"] = Field("primary", description="Escalation role this layer fills.")
    members: list[Name] = Field(min_length=1, description="People in turn order (names from 'oncall.people').")
    rotation: Literal["daily", "weekly"] = Field("weekly", description="Shift length unit (an rrule frequency).")
    every: int = Field(1, ge=1, le=52, description="Shift length in units of 'rotation' (2 weekly = fortnightly).")
    start: datetime = Field(
        description="First hand-off, wall-clock in the schedule's time zone (e.g. 2026-01-05T09:00); shifts hand off "
        "at this local time."
    )
    restrict: tuple[str, str] | None = Field(
        None,
        description="Local hours [from, to) the layer covers each day, e.g. ['08:00', '20:00'] (follow-the-sun); "
        "from > to wraps midnight; None covers the whole day.",
    )


class OverrideConfig(_Model):
    """A one-off replacement: ``person`` is on call instead of the layers from ``start`` to ``end``."""

    person: Name = Field(description="Who takes over (a name from 'oncall.people').")
    start: datetime = Field(description="Start (with offset, or wall-clock in the schedule's time zone).")
    end: datetime = Field(description="End (exclusive).")
    role: Literal["primary", "secondary"] = Field("primary", description="Role taken over.")
    reason: str = Field("", description="Why (shown by 'rcaflows oncall').")


class ScheduleConfig(_Model):
    """A team's on-call schedule: rotation layers, overrides (inline or from an iCalendar file), fallback."""

    team: Name = Field(description="Team this schedule serves (a name from 'teams').")
    timezone: str = Field("UTC", description="IANA time zone the layers' hand-off times are written in.")
    layers: list[RotationLayer] = Field(default_factory=list, description="Rotation layers, lowest precedence first.")
    overrides: list[OverrideConfig] = Field(default_factory=list, description="Overrides; they win over every layer.")
    ical: str | None = Field(
        None,
        description="iCalendar file (relative to the config file's directory or absolute) whose events are overrides: "
        "SUMMARY names the person, CATEGORIES 'secondary' takes the secondary role; RRULEs are expanded.",
    )
    manager: Name | None = Field(None, description="Person paged at the 'manager' level (default: primary's manager).")
    fallback: list[str] = Field(
        default_factory=list,
        description="Targets paged when nobody is on call (channel names or 'team:<name>'; empty: the team's "
        "channels).",
    )

    @model_validator(mode="after")
    def _known_zone(self) -> ScheduleConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"schedule of team {self.team!r}: unknown time zone {self.timezone!r}; use an IANA name such as "
                "'Europe/Berlin' or 'UTC'"
            ) from None
        return self


class RolesConfig(_Model):
    """Incident roles assigned from the on-call schedules, and responders added from the RCA (issue 15)."""

    priorities: list[Priority] = Field(
        default_factory=lambda: [Priority.P1, Priority.P2],
        description="Priorities that get an incident commander and a communications lead.",
    )
    comms_team: Name | None = Field(
        None,
        description="Team whose on-call primary is the communications lead (None: the owning team's secondary).",
    )
    responders_from_rca: bool = Field(
        True, description="Add the team owning the RCA's top-ranked component as a responder, with the reason."
    )
    on_other_team: Literal["responder", "reassign"] = Field(
        "responder",
        description="When the RCA's top cause belongs to another team (confidence >= min_confidence): 'responder' "
        "adds that team as a responder; 'reassign' hands the incident to it (audited), tells the old team why and "
        "pages the new one.",
    )
    min_confidence: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Confidence of the top hypothesis from which its team is added as a responder (or gets the "
        "incident, see on_other_team).",
    )
    inconclusive_below: float = Field(
        0.3,
        ge=0,
        le=1,
        description="An RCA whose top hypothesis has less confidence than this is inconclusive: it escalates to "
        "'specialists'.",
    )
    specialists: list[str] = Field(
        default_factory=list,
        description="Who an inconclusive RCA escalates to: channel names, 'team:<name>' or 'oncall:<team>'.",
    )


class VendorConfig(_Model):
    """An external provider behind some components: who to contact, what it promised, how to escalate."""

    name: Name = Field(description="Vendor name, e.g. 'GeoCoder Inc.'.")
    components: list[Name] = Field(description="Components this vendor provides (external dependencies).")
    contact: str = Field(description="Where a ticket goes: a support e-mail address or a portal URL.")
    sla_response: Duration = Field(
        timedelta(hours=4), description="Response time the vendor's SLA promises for a ticket."
    )
    escalation: list[str] = Field(
        default_factory=list, description="The vendor's escalation path in order (account manager, duty line, ...)."
    )
    review_channel: str | None = Field(
        None, description="Declared channel the ticket draft goes to for review (None: recorded on the incident only)."
    )


class OnCallConfig(_Model):
    """People and schedules: routing resolves a team to whoever is on call at that moment."""

    people: list[PersonConfig] = Field(default_factory=list, description="People who can be on call.")
    schedules: list[ScheduleConfig] = Field(default_factory=list, description="One schedule per team.")
    check_horizon: Duration = Field(
        timedelta(days=28), description="How far ahead 'rcaflows validate' looks for gaps in each schedule."
    )
    roles: RolesConfig = Field(default_factory=RolesConfig, description="Commander, comms lead and responders.")


class AudienceConfig(_Model):
    """Who gets which message about an incident, where, and how often."""

    name: Name = Field(description="Audience name, e.g. 'technical', 'executive', 'status'.")
    kind: Literal["technical", "executive", "status"] = Field(description="Which message this audience gets.")
    template: str | None = Field(
        None, description="Jinja template: a name under templates/ or an absolute path (default: <kind>.md.j2)."
    )
    channels: list[str] = Field(default_factory=list, description="Declared channel names the message goes to.")
    cadence: Duration = Field(timedelta(hours=1), description="Longest time between two updates of an open incident.")
    min_severity: Severity = Field(Severity.LOW, description="Tell this audience only at this severity or worse.")


class RegulatoryRule(_Model):
    """An external obligation: when it applies, a draft notice goes for review with its computed deadline."""

    name: Name = Field(description="Rule name, e.g. 'gdpr-art33'.")
    obligation: str = Field(description="What the law asks, e.g. 'Notify the supervisory authority (GDPR Art. 33)'.")
    authority: str = Field("", description="Who is notified.")
    types: list[IncidentType] = Field(default_factory=list, description="Incident types it applies to (empty: any).")
    personal_data: bool = Field(
        False, description="Applies only when the incident touches a component in 'communication.personal_data'."
    )
    high_risk_ai: bool = Field(
        False, description="Applies only when the system is a high-risk AI system ('communication.high_risk_ai')."
    )
    min_severity: Severity = Field(Severity.LOW, description="Applies only at this severity or worse.")
    deadline: Duration | None = Field(None, description="Time from detection by which the notice is due (required).")
    channels: list[str] = Field(default_factory=list, description="Where the draft goes for review (e.g. the DPO).")
    template: str = Field(
        "regulatory.md.j2", description="Jinja template of the draft: a name under templates/ or an absolute path."
    )


class StatusPageConfig(_Model):
    """The static status page (HTML and a JSON feed) rendered for the user audience."""

    directory: str | None = Field(None, description="Directory index.html and status.json go to (None: none).")
    title: str = Field("Service status", description="Page title.")
    public_components: dict[str, str] = Field(
        default_factory=dict, description="Component -> public name; other components are never shown to users."
    )
    workaround: str = Field("", description="Default workaround shown while an incident is open.")
    expected_resolution: Duration = Field(
        timedelta(hours=4), description="Expected time to resolve from detection, shown until a better estimate exists."
    )


class CommunicationConfig(_Model):
    """Messages per audience, regulatory notices and the status page."""

    audiences: list[AudienceConfig] = Field(default_factory=list, description="Audiences and their channels.")
    regulatory: list[RegulatoryRule] = Field(default_factory=list, description="External or regulatory obligations.")
    personal_data: list[str] = Field(
        default_factory=list, description="Components or lineage nodes that hold personal data."
    )
    high_risk_ai: bool = Field(False, description="The system is a high-risk AI system (EU AI Act Annex III).")
    status_page: StatusPageConfig = Field(default_factory=StatusPageConfig, description="The user status page.")
    decision_needed: dict[Severity, str] = Field(
        default_factory=dict, description="What the executive update asks for, per severity (e.g. approve a rollback)."
    )


class SystemConfig(_Model):
    """One monitored AI system."""

    system: SystemInfo = Field(description="What is monitored.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Incident store.")
    sources: list[SourceConfig] = Field(description="Where monitoring data comes from.")
    window: WindowConfig = Field(default_factory=WindowConfig, description="Detection window and schedule.")
    components: list[ComponentConfig] = Field(description="Components and their dependencies (topology).")
    metrics: list[MetricSpec] = Field(default_factory=list, description="Known metrics and what they measure.")
    lineage: LineageConfig = Field(default_factory=LineageConfig, description="Data lineage graph.")
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="The models under monitoring (several share one system); 'model:' is the shorthand for one.",
    )
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
    vendors: list[VendorConfig] = Field(
        default_factory=list, description="External providers: contacts, SLAs and escalation paths (ticket drafts)."
    )
    impact: ImpactConfig = Field(
        default_factory=ImpactConfig, description="Cost figures and SLOs behind the impact in numbers."
    )
    oncall: OnCallConfig = Field(default_factory=OnCallConfig, description="People, rotations and overrides.")
    communication: CommunicationConfig = Field(
        default_factory=CommunicationConfig, description="Audiences, regulatory notices and the status page."
    )
    mitigation: MitigationConfig = Field(
        default_factory=MitigationConfig, description="Runbooks (mitigation actions) and the watch period after a fix."
    )
    learning: LearningConfig = Field(
        default_factory=LearningConfig, description="Per-check tuning from the incident history and the TTD target."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_model(cls, data: Any) -> Any:
        """Accept ``model:`` (one model, or null) as the shorthand of ``models: [...]``."""
        if isinstance(data, dict) and "model" in data:
            if "models" in data:
                raise ValueError("give 'model' (one model) or 'models' (a list), not both")
            data = dict(data)
            one = data.pop("model")
            data["models"] = [] if one is None else [one]
        return data

    def component(self, name: str) -> ComponentConfig | None:
        """Return the component called ``name``, if declared."""
        return next((c for c in self.components if c.name == name), None)

    def metric_spec(self, component: str, metric: str) -> MetricSpec | None:
        """Return the spec of a metric, if declared."""
        return next((m for m in self.metrics if m.component == component and m.name == metric), None)
