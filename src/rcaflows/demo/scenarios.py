"""The demo's fault scenarios as data, with the ground truth each one must be scored against.

A :class:`Scenario` says what is injected (metric effects, change events and the parameters of
the row-level injections in :mod:`rcaflows.demo.simulator`); :class:`Truth` is what detection and
RCA are expected to find, one :class:`FaultTruth` per injected fault (``drift_and_deploy`` injects
two). Both are frozen and JSON-serializable.

The fraud model's training store receives the labelled transactions in batches exported every two
hours (:func:`training_batch_at`, :func:`training_batch_id`); a scenario whose cause is one of these
batches (``training_batch_lag``) names it in its truth.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rcaflows.graph import client_node
from rcaflows.vocab import IncidentType


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultTruth(_Frozen):
    """One injected fault: the incident types it must raise, its root cause and its onset."""

    incident_types: list[IncidentType] = Field(description="Incident types the fault must raise.")
    root_cause_component: str = Field(description="Component (or 'client:<id>') at fault.")
    root_cause_kind: str = Field(description="Kind of cause, e.g. 'deploy', 'schema_change', 'query_flood'.")
    root_cause_metric: str | None = Field(None, description="Metric or column that moves first at the root.")
    root_cause_terms: list[str] = Field(
        default_factory=list,
        description="What the top hypothesis's metric must name (the arm, slice or feature of a model-level "
        "cause) for the cause to count as ranked first; empty: the component alone.",
    )
    onset: datetime = Field(description="When the fault starts (UTC).")
    until: datetime | None = Field(None, description="When the fault is fixed (UTC); None while it persists.")


class Truth(_Frozen):
    """What a run over one scenario must find: its faults (types, root cause, onset) and distractors.

    The top-level type, root-cause and onset fields describe the scenario as a whole (for several
    faults: every type, no single root, the earliest onset); :attr:`faults` holds each fault's own
    truth, and each fault must open exactly one incident.
    """

    scenario: str = Field(description="Scenario name.")
    description: str = Field(description="One line on what goes wrong.")
    incident_types: list[IncidentType] = Field(
        default_factory=list, description="Incident types detection must raise (empty for no_fault)."
    )
    root_cause_component: str = Field("", description="Component (or 'client:<id>') at fault; '' for none.")
    root_cause_kind: str = Field("", description="Kind of cause, e.g. 'deploy', 'schema_change', 'query_flood'.")
    root_cause_metric: str | None = Field(None, description="Metric or column that moves first at the root.")
    onset: datetime | None = Field(None, description="When the fault starts (UTC); None for no_fault.")
    distractors: list[str] = Field(
        default_factory=list, description="Components that move loudly but are unrelated to the incident."
    )
    faults: list[FaultTruth] = Field(default_factory=list, description="Every injected fault (empty for no_fault).")

    def write(self, path: str | Path) -> Path:
        """Write the truth as indented JSON to ``path`` and return the path."""
        p = Path(path)
        p.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def read(cls, path: str | Path) -> Truth:
        """Read a truth written by :meth:`write`."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


class MetricEffect(_Frozen):
    """One injected change of one metric series, relative to the scenario's onset.

    ``mul`` multiplies the series, ``add`` adds to it, ``level`` moves it to ``value`` (keeping the
    background noise). The effect starts ``lag`` after onset (negative: before) and reaches full
    size over ``ramp``.
    """

    component: str = Field(description="Component of the metric.")
    metric: str = Field(description="Metric name.")
    op: Literal["mul", "add", "level"] = Field(description="How the effect applies.")
    value: float = Field(description="Factor (mul), increment (add) or target level (level).")
    lag: timedelta = Field(timedelta(0), description="Start relative to onset.")
    ramp: timedelta = Field(timedelta(minutes=1), description="Time to reach full size.")


class ChangeSpec(_Frozen):
    """A change event the scenario adds to the change log, relative to onset."""

    component: str = Field(description="Component changed.")
    kind: Literal["deploy", "config", "infra", "schema"] = Field(description="Kind of change.")
    description: str = Field(description="What changed.")
    offset: timedelta = Field(timedelta(0), description="Time of the change relative to onset.")


class Part(_Frozen):
    """One fault of a multi-fault scenario: a single-fault scenario injected with its own onset."""

    scenario: str = Field(description="Name of the single-fault scenario in SCENARIOS.")
    onset_before_end: timedelta = Field(description="How long before the end of the data this fault starts.")
    duration: timedelta | None = Field(
        None, description="How long the fault lasts until it is fixed (None: it persists)."
    )


class Scenario(_Frozen):
    """One demo scenario: what is injected and the ground truth of it.

    A scenario with ``parts`` injects several single-fault scenarios, each at its own onset and
    with its own random stream; its own effects, changes and params are unused.
    """

    name: str = Field(description="Scenario name, the key in SCENARIOS.")
    description: str = Field(description="One line on what goes wrong.")
    incident_types: list[IncidentType] = Field(default_factory=list, description="Types detection must raise.")
    root_cause_component: str = Field("", description="Component at fault ('' for none).")
    root_cause_kind: str = Field("", description="Kind of cause.")
    root_cause_metric: str | None = Field(None, description="Metric or column that moves first at the root.")
    root_cause_terms: tuple[str, ...] = Field(
        (),
        description="What the top hypothesis's metric must name (an arm, slice or feature) for the cause to "
        "count as ranked first; empty: the component alone.",
    )
    onset_before_end: timedelta | None = Field(
        timedelta(minutes=45),
        description="How long before the end of the data the fault starts (None: no fault).",
    )
    distractors: list[str] = Field(default_factory=list, description="Loud but unrelated components.")
    effects: tuple[MetricEffect, ...] = Field((), description="Injected metric effects.")
    changes: tuple[ChangeSpec, ...] = Field((), description="Change events the scenario adds.")
    params: dict[str, float] = Field(
        default_factory=dict, description="Parameters of the row-level injections (shares, rates, shifts)."
    )
    parts: tuple[Part, ...] = Field((), description="Single-fault scenarios injected together (multi-fault only).")
    training_batch_lag: timedelta | None = Field(
        None,
        description="The cause is the training batch exported at least this long before onset (the one the "
        "retrain behind the fault picked up): its id is the truth's root-cause metric and term.",
    )

    def cause_batch(self, onset: datetime) -> str | None:
        """Return the id of the training batch at fault for this onset (None: the cause is no batch)."""
        lag = self.training_batch_lag
        return None if lag is None else training_batch_id(training_batch_at(onset - lag))

    def cause_at(self, onset: datetime) -> tuple[str | None, list[str]]:
        """Return the root-cause metric and terms of this fault at ``onset`` (a batch's id names both)."""
        batch = self.cause_batch(onset)
        return (batch, [batch]) if batch is not None else (self.root_cause_metric, list(self.root_cause_terms))

    def faults(self, end: datetime) -> list[tuple[Scenario, datetime]]:
        """Return each injected single-fault scenario with its onset for data ending at ``end``."""
        if self.parts:
            return [(SCENARIOS[p.scenario], end - p.onset_before_end) for p in self.parts]
        return [] if self.onset_before_end is None else [(self, end - self.onset_before_end)]

    def fault_ends(self, end: datetime) -> list[datetime | None]:
        """Return when each fault of :meth:`faults` is fixed (None: it persists to the end of the data)."""
        if self.parts:
            return [None if p.duration is None else end - p.onset_before_end + p.duration for p in self.parts]
        return [None for _ in self.faults(end)]

    def onset(self, end: datetime) -> datetime | None:
        """Return the (earliest) fault's onset for data ending at ``end``."""
        onsets = [t for _, t in self.faults(end)]
        return min(onsets) if onsets else None

    def truth(self, end: datetime) -> Truth:
        """Return the ground truth of this scenario for data ending at ``end``."""
        faults = [
            FaultTruth(
                incident_types=list(s.incident_types),
                root_cause_component=s.root_cause_component,
                root_cause_kind=s.root_cause_kind,
                root_cause_metric=s.cause_at(onset)[0],
                root_cause_terms=s.cause_at(onset)[1],
                onset=onset,
                until=until,
            )
            for (s, onset), until in zip(self.faults(end), self.fault_ends(end), strict=True)
        ]
        onset = self.onset(end)
        return Truth(
            scenario=self.name,
            description=self.description,
            incident_types=list(dict.fromkeys(t for f in faults for t in f.incident_types)),
            root_cause_component=self.root_cause_component,
            root_cause_kind=self.root_cause_kind,
            root_cause_metric=self.root_cause_metric if onset is None else self.cause_at(onset)[0],
            onset=onset,
            distractors=list(self.distractors),
            faults=faults,
        )


#: The training store's export schedule: a batch of the transactions labelled since the last export
#: lands every TRAINING_EXPORT_EVERY, at TRAINING_EXPORT_AT past the even UTC hours.
TRAINING_EXPORT_EVERY = timedelta(hours=2)
TRAINING_EXPORT_AT = timedelta(minutes=30)


def training_batch_at(t: datetime) -> datetime:
    """Return the latest training-batch export at or before ``t`` (timezone-aware)."""
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    k = (t - day - TRAINING_EXPORT_AT) // TRAINING_EXPORT_EVERY
    return day + TRAINING_EXPORT_AT + k * TRAINING_EXPORT_EVERY


def training_batch_id(export: datetime) -> str:
    """Return the id of the training batch exported at ``export`` (``lbl-YYYYMMDDTHHMM``)."""
    return f"lbl-{export:%Y%m%dT%H%M}"


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def _fx(
    component: str,
    metric: str,
    op: Literal["mul", "add", "level"],
    value: float,
    lag: float = 0,
    ramp: float = 1,
) -> MetricEffect:
    return MetricEffect(component=component, metric=metric, op=op, value=value, lag=_m(lag), ramp=_m(ramp))


_T = IncidentType

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="schema_change_nulls",
            description="Merchant feed v3 renames risk_score to risk_rating; merchant_risk arrives null "
            "and the model's zero-imputation reads it as 'unrated merchant'.",
            incident_types=[_T.DATA_QUALITY, _T.QUALITY_DEGRADATION],
            root_cause_component="merchant_ingest",
            root_cause_kind="schema_change",
            root_cause_metric="null_rate",
            effects=(
                _fx("merchant_ingest", "null_rate", "level", 60.0),
                _fx("etl", "null_rate", "level", 58.0, lag=1, ramp=2),
            ),
            changes=(
                ChangeSpec(
                    component="merchant_ingest",
                    kind="schema",
                    description="merchant feed v3 renames risk_score → risk_rating",
                ),
            ),
            # share of merchant rows in v3 format / of served rows with merchant_risk null; minutes
            # from onset until the ETL passes the nulls on to the feature store
            params={"v3_share": 0.6, "null_share": 0.6, "feature_lag_min": 2.0},
        ),
        Scenario(
            name="deploy_latency",
            description="scoring-api v2.14.0 deploy slows every request: p95 latency x2.5, CPU +25 points.",
            incident_types=[_T.PERFORMANCE_AVAILABILITY],
            root_cause_component="scoring_api",
            root_cause_kind="deploy",
            root_cause_metric="latency_p95_ms",
            effects=(
                _fx("scoring_api", "latency_p95_ms", "mul", 2.5),
                _fx("scoring_api", "cpu_util", "add", 25.0),
                _fx("gateway", "latency_p95_ms", "mul", 2.2, lag=1, ramp=2),
            ),
            changes=(ChangeSpec(component="scoring_api", kind="deploy", description="scoring-api v2.14.0"),),
        ),
        Scenario(
            name="drifting_source",
            description="txn_ingest starts delivering amounts in cents for most rows; scores drift up.",
            incident_types=[_T.DATA_QUALITY],
            root_cause_component="txn_ingest",
            root_cause_kind="source_drift",
            root_cause_metric="amount",
            params={"cents_share": 0.6, "factor": 100.0},
        ),
        Scenario(
            name="retrain_bias",
            description="fraud-model v5 retrained on Q1 data flags group B: its false-positive rate "
            "rises from ~3 % to ~20 %.",
            incident_types=[_T.BIAS_FAIRNESS],
            root_cause_component="fraud_model",
            root_cause_kind="retrain",
            root_cause_metric="fpr_gap",
            changes=(
                ChangeSpec(component="fraud_model", kind="deploy", description="fraud-model v5 retrained on Q1 data"),
            ),
            params={"group_b_logit_shift": 2.4},
        ),
        Scenario(
            name="canary_slice_regression",
            description="fraud-model v6 goes out as a canary on half the traffic; it over-flags German "
            "transactions only, so v6 x country=DE carries the accuracy drop while v5 and v6 elsewhere are fine.",
            incident_types=[_T.QUALITY_DEGRADATION],
            root_cause_component="fraud_model",
            root_cause_kind="canary",
            root_cause_metric="error_rate[country=DE,model_version=v6-canary]",
            changes=(
                ChangeSpec(
                    component="fraud_model", kind="deploy", description="fraud-model v6 canary on 50 % of traffic"
                ),
            ),
            # share of traffic the canary serves; logit added to its German rows (legit ones turn positive)
            params={"canary_share": 0.5, "logit_shift": 7.0},
        ),
        Scenario(
            name="arm_hurts_group",
            description="The A/B experiment's treatment arm (half the requests, split by a hash of the request) "
            "switches to a new score calibration that over-flags group B; control and group A are untouched. "
            "The switch is made in the experiment platform, not in the change log: only the log's arm column "
            "shows it.",
            incident_types=[_T.BIAS_FAIRNESS],
            root_cause_component="fraud_model",
            root_cause_kind="experiment_arm",
            root_cause_metric="error_rate[group=B,experiment_arm=treatment]",
            root_cause_terms=("experiment_arm=treatment", "group=B"),
            # logit added to the treatment arm's group-B rows (legit ones turn positive far more often)
            params={"logit_shift": 3.0},
        ),
        Scenario(
            name="attribution_shift",
            description="An unversioned weight push to fraud-model v5 (same version tag, not in the change log) "
            "makes it lean on merchant_risk: its coefficient x1.5, every other one x0.65. No input drifts and "
            "accuracy holds so far; only the logged SHAP values show the model uses merchant_risk differently.",
            incident_types=[_T.QUALITY_DEGRADATION],
            root_cause_component="fraud_model",
            root_cause_kind="attribution_shift",
            root_cause_metric="merchant_risk",
            root_cause_terms=("merchant_risk",),
            # factors on the coefficients from onset: merchant_risk's, and every other feature's
            params={"merchant_risk_weight": 1.5, "other_weight": 0.65},
        ),
        Scenario(
            name="poisoned_retrain",
            description="A bulk upload slips ~630 copies of recent legitimate young-account transactions, relabelled "
            "as fraud, into the training store's latest batch; the periodic retrain picks the batch up and "
            "fraud-model v6 goes live at onset, leaning on account age and over-flagging young accounts, so its "
            "accuracy drops. The batch landed before the detection window: only the version -> training batch "
            "link reaches it.",
            incident_types=[_T.QUALITY_DEGRADATION],
            root_cause_component="training_store",
            root_cause_kind="training_batch",
            training_batch_lag=_m(30),
            changes=(
                ChangeSpec(
                    component="fraud_model",
                    kind="deploy",
                    description="fraud-model v6 (periodic retrain on the latest labelled batch)",
                ),
            ),
            # share of the poisoned batch that is flipped copies; the accounts copied (younger than this many
            # days, labelled legitimate); what v6 learned from them: the factor on account_age_days' coefficient
            params={"poison_share": 0.12, "young_days": 365.0, "account_age_weight": 3.5},
        ),
        Scenario(
            name="query_flood",
            description="A new client c-0666 floods the API with probing inputs far outside the "
            "training range, scored near 0.5.",
            incident_types=[_T.SECURITY_ADVERSARIAL],
            root_cause_component=client_node("c-0666"),
            root_cause_kind="query_flood",
            root_cause_metric="requests_per_min",
            effects=(
                _fx("gateway", "latency_p95_ms", "mul", 1.4, lag=1, ramp=2),
                _fx("scoring_api", "latency_p95_ms", "mul", 1.5, lag=1, ramp=2),
                _fx("scoring_api", "cpu_util", "add", 20.0, lag=1, ramp=2),
                _fx("fraud_model", "inference_ms", "mul", 1.2, lag=1, ramp=2),
            ),
            params={"requests_per_min": 90.0},
        ),
        Scenario(
            name="dependency_timeout",
            description="geo_api times out on ~30 % of calls; scoring_api errors and slows, "
            "geo_distance_km goes missing.",
            incident_types=[_T.INTEGRATION_DEPENDENCY],
            root_cause_component="geo_api",
            root_cause_kind="dependency_timeout",
            root_cause_metric="timeout_rate",
            effects=(
                _fx("geo_api", "timeout_rate", "level", 30.0),
                _fx("geo_api", "latency_p95_ms", "mul", 4.0),
                _fx("geo_api", "error_rate", "mul", 3.0),
                _fx("scoring_api", "error_rate", "level", 7.0, lag=1, ramp=2),
                _fx("scoring_api", "latency_p95_ms", "mul", 1.8, lag=2, ramp=2),
                _fx("gateway", "error_rate", "level", 6.5, lag=2, ramp=2),
                _fx("gateway", "latency_p95_ms", "mul", 1.8, lag=3, ramp=2),
            ),
            params={"timeout_share": 0.3},
        ),
        Scenario(
            name="distractor_cpu",
            description="feature_db saturates (CPU ~95 %, connections x3) and slows the feature store; "
            "a loud reporting_batch job and a dashboard deploy are unrelated.",
            incident_types=[_T.PERFORMANCE_AVAILABILITY],
            root_cause_component="feature_db",
            root_cause_kind="resource_saturation",
            root_cause_metric="cpu_util",
            distractors=["reporting_batch", "alerts_dashboard"],
            effects=(
                _fx("feature_db", "cpu_util", "level", 95.0),
                _fx("feature_db", "connections", "mul", 3.0),
                _fx("feature_store", "latency_p95_ms", "mul", 3.0, lag=1),
                _fx("scoring_api", "latency_p95_ms", "mul", 1.9, lag=2, ramp=2),
                _fx("gateway", "latency_p95_ms", "mul", 1.7, lag=3, ramp=2),
                _fx("reporting_batch", "cpu_util", "level", 98.0, lag=-10),
                _fx("reporting_batch", "memory_util", "level", 97.0, lag=-10),
            ),
            changes=(
                ChangeSpec(
                    component="alerts_dashboard",
                    kind="deploy",
                    description="alerts-dashboard v3.8 (new fraud heatmap)",
                    offset=_m(-5),
                ),
            ),
        ),
        Scenario(
            name="drift_and_deploy",
            description="Two independent faults in one hour: txn_ingest starts sending amounts in cents "
            "(50 min before detection) and, 25 min later, the slow scoring-api v2.14.0 deploy; the model "
            "they touch sits next to the API, so only their onsets keep them apart: two incidents.",
            onset_before_end=None,
            parts=(
                Part(scenario="drifting_source", onset_before_end=_m(50)),
                Part(scenario="deploy_latency", onset_before_end=_m(25)),
            ),
        ),
        Scenario(
            name="no_fault",
            description="Normal operation with the usual benign changes.",
            onset_before_end=None,
        ),
    )
}
