"""The ``escalation`` flow, scheduled every few minutes: lapse expired acks, fire due steps, page, update audiences.

The engine is :func:`rcaflows.triage.escalation.escalate_due`; firing (step ``pending`` -> ``fired``
plus one ``escalation`` audit event) commits before any delivery, and a delivery failure is
recorded by the notifier, never undoing the escalation.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from flows.common import publish_board, resolve_config, store_for
from rcaflows.config import SystemConfig
from rcaflows.notify.audiences import communicate_due
from rcaflows.timeutil import now_utc, utc
from rcaflows.triage.escalation import FiredStep, escalate_due
from rcaflows.triage.oncall import page_dispatch


@task(name="fire-due-steps", cache_policy=NONE)
def fire_due(cfg: SystemConfig, at: datetime) -> list[FiredStep]:
    """Lapse expired acknowledgements and fire every due escalation step (recorded, not yet delivered)."""
    log = get_run_logger()
    fired = escalate_due(store_for(cfg), cfg, at, dispatch=False)
    for f in fired:
        log.info("escalated %s level %d (%s): %s -> %s", f.incident, f.level, f.kind, f.reason, ", ".join(f.channels))
    return fired


@task(name="notify-escalation", cache_policy=NONE)
def notify(cfg: SystemConfig, step: FiredStep, at: datetime) -> int:
    """Deliver one fired step (paging the people on call for ``oncall:`` targets); return the deliveries."""
    if not step.channels:
        return 0
    results = page_dispatch(at)(
        store_for(cfg),
        step.incident_id,
        step.channels,
        f"escalation level {step.level}: {step.reason}",
        "escalation",
        config=cfg,
        force=True,  # the incident may be unchanged since its last message; the escalation must still go out
    )
    return len(results)


@task(name="audience-updates", cache_policy=NONE)
def audience_updates(cfg: SystemConfig, at: datetime) -> int:
    """Send each audience the status updates whose cadence is due on open incidents; return how many went out."""
    sent = communicate_due(store_for(cfg), cfg, at=at)
    for u in sent:
        get_run_logger().info("%s update for %s (%s): %s", u.audience, u.incident, u.channel, u.why)
    return len(sent)


@flow(name="escalation")
def escalation(config: str | None = None, at: datetime | None = None, deliver: bool = True) -> list[dict[str, Any]]:
    """Apply the escalation policies copied onto open incidents: fire due steps and notify their targets.

    Args:
        config: System config path (default: ``$RCAFLOWS_CONFIG``).
        at: Time to escalate at (default now; the demo passes simulated time).
        deliver: Hand fired steps to the notification layer.
    """
    cfg = resolve_config(config)
    when = utc(at) if at is not None else now_utc()
    fired = fire_due(cfg, when)
    if deliver:
        for step in fired:
            notify(cfg, step, when)
        audience_updates(cfg, when)
    rows = [{k: (", ".join(v) if isinstance(v, list) else v) for k, v in asdict(f).items()} for f in fired]
    if rows:
        create_table_artifact(key="escalations", table=rows, description=f"Escalations fired at {when.isoformat()}")
    publish_board(cfg, when)
    return rows
