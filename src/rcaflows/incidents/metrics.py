"""Response metrics from the audit log: MTTA, MTTR, counts, recurrence and escalations over a period.

Definitions (every time comes from the audit log, so the simulated demo's clock and a real one
are measured the same way):

* an incident is *in the period* when it was detected in ``[since, until)``;
* **time to acknowledge** = first ``acknowledge`` transition - the ``detected`` event (the
  incident's ``detected_at`` when the log has none); **MTTA** is its mean over acknowledged incidents;
* **time to resolve** = first ``resolve`` transition - the ``detected`` event; **MTTR** is its mean
  over resolved incidents, leaving out those resolved as ``duplicate`` (a merge says nothing
  about repair time);
* **recurrence rate** = share of the period's incidents whose fingerprint, or system and
  component, an earlier incident of the period already had;
* **escalations** = ``escalation`` events in the period, by step kind;
* **time to mitigate** = first ``mitigate`` transition - the ``detected`` event; **MTTM** is its
  mean over mitigated incidents; **fixes validated / regressed** count the watch verdicts after
  a fix (``validation`` events, :mod:`rcaflows.mitigation.watch`);
* **time to detect** = the ``detected`` event - the deviation's onset, which is the earliest
  ``onset`` of the failing checks the detector recorded on the incident (``details.onset``: the
  first failing evidence, located inside the window by change-point or sustained-shift search);
  **MTTD** is its mean over the incidents with a recorded onset, and **late detections** count those
  with a time to detect above the target (``learning.ttd_target``, default 1 h);
* **action items overdue** = open action items (of the system's incidents, whenever opened)
  whose due date is before ``until``;
* **false-positive rate per detector** = of the period's resolved incidents that a detector's
  failing checks raised (``details.checks``; an incident raised by two detectors counts for both),
  the share resolved as ``false_positive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.incidents.models import ActionItem, ActionItemStatus, EventKind, Incident, IncidentEvent
from rcaflows.timeutil import now_utc, utc


@dataclass(frozen=True)
class ResponseMetrics:
    """The response metrics of one period (durations in seconds; None when nothing to average)."""

    since: datetime
    until: datetime
    incidents: int
    acknowledged: int
    resolved: int
    mtta_s: float | None
    mttr_s: float | None
    median_tta_s: float | None
    median_ttr_s: float | None
    recurrence_rate: float | None
    recurring: int
    escalations: int
    incidents_escalated: int
    by_type: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    by_team: dict[str, int] = field(default_factory=dict)
    escalations_by_kind: dict[str, int] = field(default_factory=dict)
    mitigated: int = 0
    mttm_s: float | None = None
    fixes_validated: int = 0
    fixes_regressed: int = 0
    detected_with_onset: int = 0
    mttd_s: float | None = None
    median_ttd_s: float | None = None
    ttd_target_s: float | None = None
    late_detections: int = 0
    action_items_open: int = 0
    action_items_overdue: int = 0
    false_positive_rate_by_detector: dict[str, float] = field(default_factory=dict)
    resolved_by_detector: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = dict(vars(self))
        out["since"], out["until"] = self.since.isoformat(), self.until.isoformat()
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Return the metrics as long rows ``{metric, group, value}`` (for CSV and tables)."""
        rows: list[dict[str, Any]] = []
        for k in (
            "incidents",
            "acknowledged",
            "resolved",
            "mtta_s",
            "mttr_s",
            "median_tta_s",
            "median_ttr_s",
            "recurrence_rate",
            "recurring",
            "escalations",
            "incidents_escalated",
            "mitigated",
            "mttm_s",
            "fixes_validated",
            "fixes_regressed",
            "detected_with_onset",
            "mttd_s",
            "median_ttd_s",
            "ttd_target_s",
            "late_detections",
            "action_items_open",
            "action_items_overdue",
        ):
            rows.append({"metric": k, "group": "", "value": getattr(self, k)})
        for name, counts in (
            ("incidents_by_type", self.by_type),
            ("incidents_by_severity", self.by_severity),
            ("incidents_by_team", self.by_team),
            ("escalations_by_kind", self.escalations_by_kind),
            ("false_positive_rate_by_detector", self.false_positive_rate_by_detector),
            ("resolved_by_detector", self.resolved_by_detector),
        ):
            rows += [{"metric": name, "group": g, "value": v} for g, v in counts.items()]
        return rows


def _mean(s: pd.Series) -> float | None:
    return float(s.mean()) if len(s) else None


def _median(s: pd.Series) -> float | None:
    return float(s.median()) if len(s) else None


def _onset(details: dict[str, Any] | None) -> datetime | None:
    raw = (details or {}).get("onset")
    try:
        return utc(raw) if raw else None
    except (TypeError, ValueError):
        return None


def _detectors(details: dict[str, Any] | None) -> list[str]:
    checks = (details or {}).get("checks") or []
    return sorted({str(c["detector"]) for c in checks if isinstance(c, dict) and c.get("detector")})


def _action_items(session: Session, until: datetime, system: str | None) -> tuple[int, int]:
    """Return the open action items and those of them overdue at ``until``."""
    stmt = sa.select(ActionItem.due_at).where(ActionItem.status == ActionItemStatus.OPEN)
    if system is not None:
        stmt = stmt.join(Incident, Incident.id == ActionItem.incident_id).where(Incident.system == system)
    dues = list(session.scalars(stmt))
    return len(dues), sum(1 for d in dues if d is not None and utc(d) < until)


def response_metrics(
    session: Session,
    since: datetime,
    until: datetime | None = None,
    *,
    system: str | None = None,
    ttd_target: timedelta | None = None,
) -> ResponseMetrics:
    """Return the response metrics of the incidents detected in ``[since, until)`` (see the module docstring).

    ``ttd_target`` (default one hour, as ``learning.ttd_target``) sets which detections are late.
    """
    start, end = utc(since), utc(until) if until is not None else now_utc()
    target = ttd_target if ttd_target is not None else timedelta(hours=1)
    items_open, items_overdue = _action_items(session, end, system)
    stmt = sa.select(
        Incident.id,
        Incident.system,
        Incident.type,
        Incident.severity,
        Incident.team,
        Incident.component,
        Incident.fingerprint,
        Incident.detected_at,
        Incident.details,
    ).where(Incident.detected_at >= start, Incident.detected_at < end)
    if system is not None:
        stmt = stmt.where(Incident.system == system)
    inc = pd.DataFrame(
        session.execute(stmt).all(),
        columns=["id", "system", "type", "severity", "team", "component", "fingerprint", "detected_at", "details"],
    )
    if inc.empty:
        return ResponseMetrics(
            start,
            end,
            0,
            0,
            0,
            None,
            None,
            None,
            None,
            None,
            0,
            0,
            0,
            ttd_target_s=target.total_seconds(),
            action_items_open=items_open,
            action_items_overdue=items_overdue,
        )
    ev_rows = session.execute(
        sa.select(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.kind, IncidentEvent.payload)
        .where(
            IncidentEvent.incident_id.in_(inc["id"].tolist()),
            IncidentEvent.kind.in_(
                [EventKind.DETECTED, EventKind.TRANSITION, EventKind.ESCALATION, EventKind.VALIDATION]
            ),
        )
        .order_by(IncidentEvent.at, IncidentEvent.id)
    ).all()
    ev = pd.DataFrame(
        [
            (
                r[0],
                r[1],
                str(r[2]),
                (r[3] or {}).get("action"),
                (r[3] or {}).get("resolution"),
                (r[3] or {}).get("kind"),
                (r[3] or {}).get("step"),
            )
            for r in ev_rows
        ],
        columns=["id", "at", "kind", "action", "resolution", "step_kind", "step"],
    )
    ev["at"] = pd.to_datetime(ev["at"], utc=True)
    inc["detected_at"] = pd.to_datetime(inc["detected_at"], utc=True)
    first = inc.set_index("id")["detected_at"].rename("start")
    detected = ev[ev["kind"] == "detected"].groupby("id")["at"].min()
    first = detected.reindex(first.index).fillna(first)
    trans = ev[ev["kind"] == "transition"]
    acked = trans[trans["action"] == "acknowledge"].groupby("id")["at"].min()
    res = trans[trans["action"] == "resolve"].groupby("id").first()
    mitigated = trans[trans["action"] == "mitigate"].groupby("id")["at"].min()
    ttm = (mitigated - first.reindex(mitigated.index)).dt.total_seconds()
    verdicts = ev[ev["kind"] == "validation"]["step"]
    tta = (acked - first.reindex(acked.index)).dt.total_seconds()
    res_kept = res[res["resolution"] != "duplicate"]["at"]
    ttr = (res_kept - first.reindex(res_kept.index)).dt.total_seconds()
    # Recurrence: an earlier incident of the period with the same fingerprint or system+component.
    ordered = inc.sort_values(["detected_at", "id"])
    seen_fp = ordered.duplicated("fingerprint")
    seen_comp = ordered.duplicated(["system", "component"])
    recurring = int((seen_fp | seen_comp).sum())
    esc = ev[(ev["kind"] == "escalation") & (ev["at"] >= start) & (ev["at"] < end)]
    onsets = pd.to_datetime(pd.Series([_onset(d) for d in inc["details"]], index=inc["id"], dtype=object), utc=True)
    onsets = onsets.dropna()
    ttd = (first.reindex(onsets.index) - onsets).dt.total_seconds().clip(lower=0)
    # False positives per detector: the period's resolved incidents each detector raised.
    per_detector: dict[str, list[bool]] = {}
    for details in inc["details"]:
        why = ((details or {}).get("resolution") or {}).get("reason")  # the current resolution, if resolved
        if isinstance(why, str):
            for det in _detectors(details):
                per_detector.setdefault(det, []).append(why == "false_positive")

    def counts(col: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in inc[col].astype(str).value_counts().sort_index().items()}

    return ResponseMetrics(
        since=start,
        until=end,
        incidents=len(inc),
        acknowledged=len(acked),
        resolved=len(res),
        mtta_s=_mean(tta),
        mttr_s=_mean(ttr),
        median_tta_s=_median(tta),
        median_ttr_s=_median(ttr),
        recurrence_rate=recurring / len(inc),
        recurring=recurring,
        escalations=len(esc),
        incidents_escalated=int(esc["id"].nunique()),
        by_type=counts("type"),
        by_severity=counts("severity"),
        by_team=counts("team"),
        escalations_by_kind={
            str(k): int(v) for k, v in esc["step_kind"].fillna("?").value_counts().sort_index().items()
        },
        mitigated=len(mitigated),
        mttm_s=_mean(ttm),
        fixes_validated=int((verdicts == "validated").sum()),
        fixes_regressed=int((verdicts == "regressed").sum()),
        detected_with_onset=len(ttd),
        mttd_s=_mean(ttd),
        median_ttd_s=_median(ttd),
        ttd_target_s=target.total_seconds(),
        late_detections=int((ttd > target.total_seconds()).sum()),
        action_items_open=items_open,
        action_items_overdue=items_overdue,
        false_positive_rate_by_detector={d: sum(v) / len(v) for d, v in sorted(per_detector.items())},
        resolved_by_detector={d: len(v) for d, v in sorted(per_detector.items())},
    )
