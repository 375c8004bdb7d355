"""An incident's impact in numbers: requests and predictions affected, users, duration and cost.

Counted from the monitoring data over the incident's window (onset to resolution, or to ``at``):

* **requests**: scored requests (prediction-log rows) of every model whose request path (its
  component, what calls it and what it calls) holds an involved component or that an involved
  component feeds; with several models, each model's rows are its own
  (:func:`rcaflows.model.log.rows_of`), and the model-side counts below are summed over the
  models hit (the groups named ``<model>:<group>``);
* **failed**: per minute, requests x the entry point's error rate *above* its pre-onset median;
* **slow**: requests served in minutes in which an involved component breached its latency SLO
  (``impact.latency_slo_ms``; the data has a per-minute p95, not per-request latencies);
* **degraded**: predictions made with a model feature missing, above the pre-onset share;
* **by group**: predictions per protected group with positive rates now and before the onset;
* **wrong decisions**: excess positive decisions of each group (bias), else excess errors on
  labelled rows, else excess positive decisions (other model-affecting incidents);
* **cost**: each count x its per-system figure in ``impact`` (failed, slow, wrong, downtime minute).

Every number carries the sentence that says how it was computed (:attr:`ImpactNumbers.method`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from rcaflows.config.models import MetricKind, ModelConfig, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.errors import RcaflowsError
from rcaflows.graph import client_id, is_client, system_graph
from rcaflows.incidents import Incident
from rcaflows.model.log import rows_of
from rcaflows.timeutil import format_duration
from rcaflows.vocab import IncidentType

__all__ = [
    "CostLine",
    "GroupImpact",
    "ImpactNumbers",
    "affected_predictions",
    "compute_impact",
    "impact_of",
    "impact_window",
]

MAX_WINDOW = timedelta(days=7)
MIN_LABELLED = 200  # labelled rows from which an error rate is compared (the quality detector's default)
_MIN = pd.Timedelta(minutes=1)


class GroupImpact(BaseModel):
    """Predictions of one protected group in the window, and its positive rate now and before."""

    group: str
    predictions: int = Field(description="Predictions made for the group since the onset.")
    share: float = Field(description="The group's share of the window's predictions.")
    positive_rate: float | None = Field(None, description="Share flagged positive since the onset.")
    baseline_positive_rate: float | None = Field(None, description="Share flagged positive before the onset.")
    excess_positives: int = Field(0, description="Positives above the baseline rate (0 when not above).")


class CostLine(BaseModel):
    """One term of the business cost: a count times its per-system unit cost."""

    what: str
    count: float
    unit_cost: float
    amount: float


class ImpactNumbers(BaseModel):
    """An incident's impact in numbers, with how each was computed."""

    incident: str = Field(description="Incident key.")
    window_start: datetime = Field(description="Onset (or one detection window before detection).")
    window_end: datetime = Field(description="Resolution, or the time of the computation.")
    duration: timedelta = Field(description="window_end - window_start.")
    requests: int | None = Field(None, description="Scored requests in the window on the affected path.")
    failed_requests: int | None = Field(None, description="Requests failed above the normal error rate.")
    slow_requests: int | None = Field(None, description="Requests served in minutes that breached the latency SLO.")
    degraded_predictions: int | None = Field(None, description="Predictions made with a missing model feature.")
    predictions_since_onset: int | None = Field(None, description="Predictions made by the affected model.")
    by_group: list[GroupImpact] = Field(default_factory=list, description="Per protected group (model incidents).")
    wrong_decisions: int | None = Field(None, description="Decisions estimated wrong because of the incident.")
    attacker_requests: int | None = Field(None, description="Requests from the client(s) at fault.")
    clients_affected: int | None = Field(None, description="Distinct clients with an affected request.")
    downtime_minutes: int = Field(0, description="Minutes the entry point's error rate passed the downtime rate.")
    cost: list[CostLine] = Field(default_factory=list, description="Cost terms.")
    total_cost: float = Field(0.0, description="Sum of the cost terms.")
    currency: str = Field("EUR")
    method: list[str] = Field(default_factory=list, description="How each number was computed.")
    notes: list[str] = Field(default_factory=list, description="What could not be counted, and why.")

    def headline(self) -> str:
        """Return the one-sentence summary the executive update and the status page lead with."""
        parts: list[str] = []
        if self.failed_requests:
            parts.append(f"{self.failed_requests:,} failed requests")
        if self.slow_requests:
            parts.append(f"{self.slow_requests:,} requests slower than the SLO")
        if self.degraded_predictions:
            parts.append(f"{self.degraded_predictions:,} predictions made with missing inputs")
        if self.wrong_decisions:
            parts.append(f"~{self.wrong_decisions:,} wrong decisions")
        if self.attacker_requests:
            parts.append(f"{self.attacker_requests:,} requests from the abusive client")
        if not parts and self.predictions_since_onset:
            parts.append(f"{self.predictions_since_onset:,} predictions made since the onset")
        if not parts and self.requests:
            parts.append(f"{self.requests:,} requests in the window, none measurably failed or slow")
        users = f" for {self.clients_affected:,} clients" if self.clients_affected else ""
        cost = f"; estimated cost {self.total_cost:,.2f} {self.currency}" if self.total_cost else ""
        mins = max(int(self.duration.total_seconds() // 60), 0)
        what = ", ".join(parts) if parts else "no measurable effect on requests or predictions"
        return f"{what}{users} over {mins} min{cost}."


def impact_window(incident: Incident, config: SystemConfig, at: datetime | None = None) -> tuple[datetime, datetime]:
    """Return ``[onset, end)``: end is the resolution, else ``at`` (default last seen); at most 7 days."""
    raw = (incident.details or {}).get("onset")
    start = pd.Timestamp(raw).to_pydatetime() if raw else incident.detected_at - config.window.current
    end = incident.resolved_at or at or max(incident.last_seen_at, incident.detected_at)
    end = max(end, start)
    return start, min(end, start + MAX_WINDOW)


def _request_path(config: SystemConfig, model: ModelConfig) -> set[str]:
    """Return the components a request to ``model`` passes through: its own, its callers and its dependencies."""
    g = system_graph(config).topology
    root = model.component
    if root not in g:
        return {root}
    return {root} | nx.ancestors(g, root) | nx.descendants(g, root)


def _feeds_model(config: SystemConfig, model: ModelConfig, components: set[str]) -> bool:
    """Return whether an involved component's lineage node lies upstream of (or is) ``model``'s node."""
    g = system_graph(config).lineage
    node = model.lineage_node
    up = (nx.ancestors(g, node) if node in g else set()) | {node}
    return any(n.component in components for n in config.lineage.nodes if n.name in up)


def _rows_of(preds: pd.DataFrame, models: list[ModelConfig]) -> pd.DataFrame:
    """Return the rows of ``preds`` that any of ``models`` served, in their order."""
    if len(models) == 1:
        return rows_of(preds, models[0])
    keep = np.zeros(len(preds), dtype=bool)
    for m in models:
        keep |= preds.index.isin(rows_of(preds, m).index)
    return preds.loc[keep]


def _entry_order(config: SystemConfig, comps: list[str]) -> list[str]:
    """Return ``comps`` entry point first: the one with the most transitive dependencies."""
    g = system_graph(config).topology  # edges dependency -> caller: a node's ancestors are its dependencies
    return sorted(comps, key=lambda c: (-(len(nx.ancestors(g, c)) if c in g else 0), c))


def _per_minute(data: MonitoringData, component: str, metric: str, minutes: pd.DatetimeIndex) -> np.ndarray:
    """Return the metric's mean per minute on ``minutes`` (NaN where no sample)."""
    m = data.metrics
    sel = m[(m["component"] == component) & (m["metric"] == metric)]
    if sel.empty:
        return np.full(len(minutes), np.nan)
    s = sel.groupby(sel["timestamp"].dt.floor("min"))["value"].mean()
    return s.reindex(minutes).to_numpy(dtype=float)


def _rate(flags: pd.Series) -> float | None:
    return float(flags.mean()) if len(flags) else None


def compute_impact(
    config: SystemConfig,
    data: MonitoringData,
    *,
    key: str,
    itype: IncidentType,
    components: list[str],
    start: datetime,
    end: datetime,
) -> ImpactNumbers:
    """Return the impact of an incident on ``components`` from ``start`` to ``end`` counted in ``data``.

    ``data`` must cover ``[start - impact.baseline, end)``; the part before ``start`` is the normal reference.
    """
    ic = config.impact
    comps = set(components)
    out = ImpactNumbers(incident=key, window_start=start, window_end=end, duration=end - start, currency=ic.currency)
    method, notes = out.method, out.notes
    ts0, ts1 = pd.Timestamp(start), pd.Timestamp(end)
    base0 = ts0 - pd.Timedelta(ic.baseline)
    preds = data.predictions
    if preds.empty or "timestamp" not in preds:
        notes.append("no prediction log in the sources: requests and predictions are not counted")
        return out
    client_parts = sorted(client_id(c) for c in comps if is_client(c))
    # the models whose own component is involved or fed, and those whose request path holds one
    hit = [m for m in config.models if m.component in comps or _feeds_model(config, m, comps)]
    path = [m for m in config.models if comps & _request_path(config, m)]
    on_path, model_hit = bool(path), bool(hit)
    if not (on_path or model_hit or client_parts):
        out.requests = 0
        method.append("requests: 0, no involved component is on the request path or feeds a model")
        return out
    # a client may call any model: its rows are looked for in every model's log
    served = [m for m in config.models if m in hit or m in path] or list(config.models)
    several = len(config.models) > 1
    preds = _rows_of(preds, served)
    if several:
        method.append(f"models: {', '.join(m.name for m in served)} (each model's own prediction rows)")
    now = preds[(preds["timestamp"] >= ts0) & (preds["timestamp"] < ts1)]
    before = preds[(preds["timestamp"] >= base0) & (preds["timestamp"] < ts0)]
    out.requests = len(now)
    method.append(
        f"requests: {len(now):,} prediction-log rows from {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC "
        "(each scored request writes one)"
    )
    affected = pd.Series(False, index=now.index)
    minutes = pd.date_range(ts0.floor("min"), ts1.ceil("min"), freq="min", inclusive="left")
    per_min = now.groupby(now["timestamp"].dt.floor("min")).size().reindex(minutes, fill_value=0).to_numpy()
    row_min = now["timestamp"].dt.floor("min")
    base_minutes = pd.date_range(base0.floor("min"), ts0.floor("min"), freq="min", inclusive="left")
    specs = {(m.component, m.name): m for m in config.metrics}
    # failed: the entry point's error rate above its normal median, times the requests of each minute
    err = [
        c
        for c in _entry_order(config, sorted(comps))
        if any(s.kind is MetricKind.ERROR_RATE and s.component == c for s in specs.values())
    ]
    if err:
        comp = err[0]
        name = next(s.name for s in specs.values() if s.kind is MetricKind.ERROR_RATE and s.component == comp)
        rate = _per_minute(data, comp, name, minutes)
        base_rate = float(np.nanmedian(_per_minute(data, comp, name, base_minutes))) if len(base_minutes) else 0.0
        base_rate = 0.0 if np.isnan(base_rate) else base_rate
        excess = np.clip(np.nan_to_num(rate - base_rate), 0, 100) / 100.0
        out.failed_requests = round(float((per_min * excess).sum()))
        out.downtime_minutes = int((np.nan_to_num(rate) >= ic.downtime_error_rate).sum())
        bad_minutes = set(minutes[excess * per_min >= 0.5])
        affected |= row_min.isin(bad_minutes)
        method.append(
            f"failed: per minute, requests x ({comp}.{name} - its pre-onset median {base_rate:.2f} %), summed; "
            f"downtime: minutes with {comp}.{name} >= {ic.downtime_error_rate:g} %"
        )
    # slow: requests in minutes in which an involved component breached its latency SLO
    slo = {c: v for c, v in ic.latency_slo_ms.items() if c in comps}
    if slo:
        breach = np.zeros(len(minutes), dtype=bool)
        for comp, limit in sorted(slo.items()):
            for s in specs.values():
                if s.component == comp and s.kind is MetricKind.LATENCY:
                    breach |= np.nan_to_num(_per_minute(data, comp, s.name, minutes)) > limit
        out.slow_requests = int(per_min[breach].sum())
        affected |= row_min.isin(set(minutes[breach]))
        method.append(
            "slow: requests in the minutes in which "
            + ", ".join(f"{c} p95 > {v:g} ms" for c, v in sorted(slo.items()))
            + f" ({int(breach.sum())} min); the data has a per-minute p95, not each request's latency"
        )
    elif on_path and itype in (IncidentType.PERFORMANCE_AVAILABILITY, IncidentType.INTEGRATION_DEPENDENCY):
        notes.append("slow requests not counted: set impact.latency_slo_ms for the involved components")
    degraded = [m for m in served if m in hit or m in path]
    counts = [c for m in degraded if (c := _degraded(m, now, before, several)) is not None]
    if counts:
        out.degraded_predictions = sum(n for n, _, _ in counts)
        for n, miss, line in counts:
            if n:
                affected |= miss.reindex(affected.index, fill_value=False)
            method.append(line)
    if model_hit and itype is not IncidentType.PERFORMANCE_AVAILABILITY:
        wrong: list[int] = []
        for m in hit:
            rows_now, rows_before = _rows_of(now, [m]), _rows_of(before, [m])
            out.predictions_since_onset = (out.predictions_since_onset or 0) + len(rows_now)
            n_wrong, flagged = _model_decisions(m, rows_now, rows_before, itype, out, method, several, ic.baseline)
            if n_wrong is not None:
                wrong.append(n_wrong)
            affected |= flagged.reindex(affected.index, fill_value=False)
        if wrong:
            out.wrong_decisions = sum(wrong)
    clients = [m.client_column for m in served if m.client_column in preds.columns]
    clients = list(dict.fromkeys(clients))
    if client_parts and clients:
        mine = pd.Series(False, index=now.index)
        for col in clients:
            mine |= now[col].astype(str).isin(client_parts)
        out.attacker_requests = int(mine.sum())
        affected &= ~mine
        method.append(f"attacker requests: rows whose {' or '.join(clients)} is {', '.join(client_parts)}")
    if clients:
        ids = pd.concat([now.loc[affected, c].dropna().astype(str) for c in clients])
        out.clients_affected = int(ids.nunique())
        method.append(f"clients: distinct {' or '.join(clients)} among the affected requests")
    lines = [
        ("failed requests", out.failed_requests or 0, ic.cost_per_failed_request),
        ("slow requests", out.slow_requests or 0, ic.cost_per_slow_request),
        ("wrong decisions", out.wrong_decisions or 0, ic.cost_per_wrong_decision),
        ("downtime minutes", out.downtime_minutes, ic.cost_per_downtime_minute),
    ]
    out.cost = [CostLine(what=w, count=n, unit_cost=u, amount=round(n * u, 2)) for w, n, u in lines if n and u]
    out.total_cost = round(sum(c.amount for c in out.cost), 2)
    if out.cost:
        method.append(
            "cost: " + " + ".join(f"{c.count:,.0f} {c.what} x {c.unit_cost:g}" for c in out.cost) + f" {ic.currency}"
        )
    return out


def _degraded(
    model: ModelConfig, now: pd.DataFrame, before: pd.DataFrame, several: bool
) -> tuple[int, pd.Series, str] | None:
    """Return ``model``'s predictions made with a missing feature above the pre-onset share, the rows, and how."""
    feats = [f for f in model.features if f in now.columns]
    if not feats:
        return None
    now, before = _rows_of(now, [model]), _rows_of(before, [model])
    miss_now = now[feats].isna().any(axis=1)
    base_share = float(before[feats].isna().any(axis=1).mean()) if len(before) else 0.0
    n = max(int(miss_now.sum()) - round(base_share * len(now)), 0)
    who = f"{model.name}: " if several else ""
    line = (
        f"degraded: {who}predictions with a missing feature ({int(miss_now.sum()):,}) minus the pre-onset share "
        f"({base_share:.2%}) of the {len(now):,}"
    )
    return n, miss_now, line


def _model_decisions(
    model: ModelConfig,
    now: pd.DataFrame,
    before: pd.DataFrame,
    itype: IncidentType,
    out: ImpactNumbers,
    method: list[str],
    several: bool,
    baseline: timedelta,
) -> tuple[int | None, pd.Series]:
    """Add ``model``'s groups to ``out.by_group``; return its wrong decisions and the rows they flag.

    Groups are named ``<model>:<group>`` when the system has several models.
    """
    who = f"{model.name}: " if several else ""
    flagged = pd.Series(False, index=now.index)
    pos_col = "prediction" if "prediction" in now.columns else None
    gcol = model.group_column if model.group_column in now.columns else None
    groups: list[GroupImpact] = []
    if gcol is not None:
        for g, rows in now.groupby(gcol, sort=True):
            brows = before[before[gcol] == g] if gcol in before.columns else before.iloc[:0]
            pr = _rate(rows[pos_col] == 1) if pos_col else None
            br = _rate(brows[pos_col] == 1) if pos_col and len(brows) else None
            extra = round((pr - br) * len(rows)) if pr is not None and br is not None else 0
            groups.append(
                GroupImpact(
                    group=f"{model.name}:{g}" if several else str(g),
                    predictions=len(rows),
                    share=len(rows) / max(len(now), 1),
                    positive_rate=pr,
                    baseline_positive_rate=br,
                    excess_positives=max(extra, 0),
                )
            )
        out.by_group += groups
        method.append(
            f"by group: {who}predictions per '{gcol}' since the onset, positive rate now vs the "
            f"{format_duration(baseline)} before the onset"
        )
    labelled = now[now["label"].notna()] if "label" in now else now.iloc[:0]
    blabelled = before[before["label"].notna()] if "label" in before else before.iloc[:0]
    if itype is IncidentType.BIAS_FAIRNESS and groups:
        worst = max(groups, key=lambda g: g.excess_positives)
        if worst.excess_positives and gcol is not None:
            name = worst.group.removeprefix(f"{model.name}:") if several else worst.group
            flagged = (now[gcol].astype(str) == name) & (now[pos_col] == 1 if pos_col else True)
        method.append(f"wrong decisions: {who}positives of each group above its pre-onset positive rate, summed")
        return sum(g.excess_positives for g in groups), flagged
    if pos_col and len(labelled) >= MIN_LABELLED and len(blabelled) >= MIN_LABELLED:
        e_now = float((labelled[pos_col] != labelled["label"]).mean())
        e_base = float((blabelled[pos_col] != blabelled["label"]).mean())
        method.append(
            f"wrong decisions: {who}(error rate {e_now:.2%} on the {len(labelled):,} labelled rows - {e_base:.2%} "
            f"before) x {len(now):,} predictions"
        )
        return max(round((e_now - e_base) * len(now)), 0), flagged
    if pos_col and len(before):
        p_now = float((now[pos_col] == 1).mean()) if len(now) else 0.0
        p_base = float((before[pos_col] == 1).mean())
        method.append(
            f"wrong decisions: {who}positives above the pre-onset positive rate ({p_now:.2%} vs {p_base:.2%}); "
            "too few labels to count errors"
        )
        return max(round((p_now - p_base) * len(now)), 0), flagged
    return None, flagged


def impact_of(
    config: SystemConfig, incident: Incident, *, at: datetime | None = None, data: MonitoringData | None = None
) -> ImpactNumbers:
    """Return an incident's impact, reading the configured sources unless ``data`` is given.

    An unreadable source gives numbers of ``None`` with the reason in ``notes``, never an exception.
    """
    start, end = impact_window(incident, config, at)
    details: dict[str, Any] = incident.details or {}
    components = sorted({incident.component, *(details.get("components") or [])})
    if data is None:
        from rcaflows.sources import load_sources

        try:
            data = load_sources(config, start - config.impact.baseline, end)
        except RcaflowsError as exc:
            out = ImpactNumbers(incident=incident.key, window_start=start, window_end=end, duration=end - start)
            out.notes.append(f"monitoring data unreadable: {exc}")
            return out
    return compute_impact(
        config, data, key=incident.key, itype=incident.type, components=components, start=start, end=end
    )


def affected_predictions(numbers: ImpactNumbers) -> tuple[int | None, str]:
    """Return the predictions the incident affected and how they were counted (the post-mortem's one figure).

    A model incident affects every prediction since the onset; a serving incident the failed, slow
    and degraded ones (their sum, at most the requests: a request both slow and failed counts once).
    """
    if numbers.predictions_since_onset is not None:
        return numbers.predictions_since_onset, "predictions made by the affected model since the onset"
    if numbers.requests is None:
        return None, "; ".join(numbers.notes) or "not counted"
    parts = {
        "failed": numbers.failed_requests,
        "slow": numbers.slow_requests,
        "degraded": numbers.degraded_predictions,
    }
    total = min(sum(v or 0 for v in parts.values()), numbers.requests)
    shown = ", ".join(f"{v:,} {k}" for k, v in parts.items() if v)
    return total, f"requests failed, slower than the SLO or degraded ({shown or 'none'}) of {numbers.requests:,} served"
