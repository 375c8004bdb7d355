"""Plan and record RCA runs over the incident store (engine side of the ``rca`` flow)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from rcaflows.config.loader import config_fingerprint
from rcaflows.config.models import ComponentKind, MetricKind, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.detection.models import CheckResult
from rcaflows.errors import DataError
from rcaflows.graph import is_client
from rcaflows.incidents import Store, get_incident
from rcaflows.rca.models import Symptom
from rcaflows.timeutil import utc
from rcaflows.vocab import IncidentType


class RcaPlan(BaseModel):
    """What one RCA run investigates and over which span."""

    incident_key: str | None = Field(None, description="Incident under investigation; None for ad-hoc runs.")
    incident_id: int | None = None
    title: str
    symptom: Symptom
    start: datetime
    end: datetime
    checks: list[CheckResult] = Field(default_factory=list)
    origin: dict[str, Any] = Field(default_factory=dict, description="How to reload the data (config, scenario).")


def plan_for_incident(store: Store, config: SystemConfig, ref: str | int) -> RcaPlan:
    """Plan an RCA of a stored incident: its symptom and the lookback span before detection."""
    with store.session() as s:
        inc = get_incident(s, ref)
        details = dict(inc.details or {})
        detected = inc.detected_at
        # The incident is named after its root-ward component; the RCA explains its symptom.
        sym = details.get("symptom") or {"component": inc.component, "metric": inc.metric}
        symptom = Symptom(
            component=sym["component"],
            metric=sym["metric"],
            incident_type=str(inc.type),
            detected_at=detected,
            # Detection locates onsets per check and coarsely; the RCA estimates the symptom's own.
            onset=None,
        )
        checks = [CheckResult.model_validate(c) for c in details.get("checks", [])]
        # Detection stamps detected_at at the end of its window; read up to there.
        return RcaPlan(
            incident_key=inc.key,
            incident_id=inc.id,
            title=inc.title,
            symptom=symptom,
            start=detected - config.rca.lookback,
            end=detected,
            checks=checks,
            origin=details.get("origin", {}),
        )


_KIND_TYPES = {
    MetricKind.NULL_RATE: IncidentType.DATA_QUALITY,
    MetricKind.ROW_COUNT: IncidentType.DATA_QUALITY,
    MetricKind.FRESHNESS: IncidentType.DATA_QUALITY,
    MetricKind.TIMEOUT_RATE: IncidentType.INTEGRATION_DEPENDENCY,
}
_MODEL_METRIC_TYPES = {
    "accuracy": IncidentType.QUALITY_DEGRADATION,
    "precision": IncidentType.QUALITY_DEGRADATION,
    "recall": IncidentType.QUALITY_DEGRADATION,
}


def infer_incident_type(config: SystemConfig, component: str, metric: str) -> IncidentType:
    """Return the incident type an ad-hoc symptom most likely belongs to, from the metric's kind."""
    if metric in _MODEL_METRIC_TYPES:
        return _MODEL_METRIC_TYPES[metric]
    if "gap" in metric:
        return IncidentType.BIAS_FAIRNESS
    if is_client(component):
        return IncidentType.SECURITY_ADVERSARIAL
    spec = config.metric_spec(component, metric)
    comp = config.component(component)
    if comp is not None and comp.kind == ComponentKind.DEPENDENCY:
        return IncidentType.INTEGRATION_DEPENDENCY
    if spec is not None and spec.kind in _KIND_TYPES:
        return _KIND_TYPES[spec.kind]
    if any(metric in m.features for m in config.models):
        return IncidentType.DATA_QUALITY
    return IncidentType.PERFORMANCE_AVAILABILITY


def plan_for_metric(
    config: SystemConfig,
    component: str,
    metric: str,
    end: datetime,
    start: datetime | None = None,
    incident_type: IncidentType | None = None,
) -> RcaPlan:
    """Plan an ad-hoc RCA of one metric over ``[start, end)`` (``start`` defaults to the lookback)."""
    end = utc(end)
    start = utc(start) if start is not None else end - config.rca.lookback
    if start >= end:
        raise DataError(f"rca window: start {start.isoformat()} is not before end {end.isoformat()}")
    if end - start < timedelta(minutes=30):
        raise DataError("rca window: needs at least 30 minutes of data to tell normal from abnormal")
    return RcaPlan(
        title=f"Ad-hoc RCA of {component}/{metric}",
        symptom=Symptom(
            component=component,
            metric=metric,
            detected_at=end,
            incident_type=str(incident_type or infer_incident_type(config, component, metric)),
        ),
        start=start,
        end=end,
    )


def inputs_fingerprint(plan: RcaPlan, config: SystemConfig, data: MonitoringData) -> str:
    """Return a stable hash of what an RCA run read: plan, config and every data frame."""
    h = hashlib.sha256()
    h.update(plan.model_dump_json(exclude={"origin"}).encode())
    h.update(config_fingerprint(config).encode())
    frames = [data.metrics, data.predictions, data.changes, *[data.batches[k] for k in sorted(data.batches)]]
    for df in frames:
        if not df.empty:
            h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]
