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
  a fix (``validation`` events, :mod:`rcaflows.mitigation.watch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.incidents.models import EventKind, Incident, IncidentEvent
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
        ):
            rows.append({"metric": k, "group": "", "value": getattr(self, k)})
        for name, counts in (
            ("incidents_by_type", self.by_type),
            ("incidents_by_severity", self.by_severity),
            ("incidents_by_team", self.by_team),
            ("escalations_by_kind", self.escalations_by_kind),
        ):
            rows += [{"metric": name, "group": g, "value": v} for g, v in counts.items()]
        return rows


def _mean(s: pd.Series) -> float | None:
    return float(s.mean()) if len(s) else None


def _median(s: pd.Series) -> float | None:
    return float(s.median()) if len(s) else None


def response_metrics(
    session: Session, since: datetime, until: datetime | None = None, *, system: str | None = None
) -> ResponseMetrics:
    """Return the response metrics of the incidents detected in ``[since, until)`` (see the module docstring)."""
    start, end = utc(since), utc(until) if until is not None else now_utc()
    stmt = sa.select(
        Incident.id,
        Incident.system,
        Incident.type,
        Incident.severity,
        Incident.team,
        Incident.component,
        Incident.fingerprint,
        Incident.detected_at,
    ).where(Incident.detected_at >= start, Incident.detected_at < end)
    if system is not None:
        stmt = stmt.where(Incident.system == system)
    inc = pd.DataFrame(
        session.execute(stmt).all(),
        columns=["id", "system", "type", "severity", "team", "component", "fingerprint", "detected_at"],
    )
    if inc.empty:
        return ResponseMetrics(start, end, 0, 0, 0, None, None, None, None, None, 0, 0, 0)
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
    )
