"""The ``postmortem`` flow: draft the post-mortem of a resolved incident and update its notifications.

Run it when an incident resolves (``rcaflows postmortem INC-0042`` does the same without Prefect),
or from the ``postmortem/on-resolve`` deployment, triggered by the ``rcaflows.incident.resolved`` event.
The ``action-reminders`` flow (``rcaflows actions remind`` without Prefect) reminds the owners of
overdue action items; deploy it on a daily schedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run

from flows.common import resolve_config, store_for
from rcaflows.config import SystemConfig
from rcaflows.incidents import get_incident
from rcaflows.notify import notify_incident_changed
from rcaflows.postmortem import remind_overdue, render_markdown, write_postmortem


def _run_name() -> str:
    params = flow_run.parameters or {}
    return f"postmortem/{params.get('incident')}/{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _config_for(incident: str, config: str | None) -> SystemConfig:
    """Return the given config, or (given none) the one the incident was detected with (its recorded origin).

    With no ``config``, ``$RCAFLOWS_CONFIG`` names the store to find the incident in.
    """
    cfg = resolve_config(config)
    if config is None:
        with store_for(cfg).session(readonly=True) as s:
            origin = (get_incident(s, incident).details or {}).get("origin") or {}
        if origin.get("config"):
            cfg = resolve_config(origin["config"])
    return cfg


@task(name="draft-postmortem", retries=1, retry_delay_seconds=2, cache_policy=NONE)
def draft(cfg: SystemConfig, incident: str, count_predictions: bool) -> dict[str, Any]:
    """Build and write the draft (links, action items, affected predictions) and publish it as artifacts."""
    pm, paths = write_postmortem(
        store_for(cfg), incident, cfg.rca.reports_dir, config=cfg, count_predictions=count_predictions
    )
    key = pm.key.lower()
    create_markdown_artifact(
        markdown=render_markdown(pm),  # what was written, also when rca.reports_dir is an object-storage URL
        key=f"postmortem-{key}",
        description=f"Post-mortem of {pm.key}",
    )
    create_table_artifact(
        table=[a.model_dump(mode="json") for a in pm.actions] or [{"action": "none"}],
        key=f"postmortem-{key}-actions",
        description=f"Action items of {pm.key}",
    )
    m = pm.metrics
    return {
        "incident": pm.key,
        "state": pm.state,
        "markdown": str(paths.markdown),
        "html": str(paths.html),
        "time_to_detect_s": m.time_to_detect.total_seconds() if m.time_to_detect else None,
        "time_to_acknowledge_s": m.time_to_acknowledge.total_seconds() if m.time_to_acknowledge else None,
        "time_to_mitigate_s": m.time_to_mitigate.total_seconds() if m.time_to_mitigate else None,
        "time_to_resolve_s": m.time_to_resolve.total_seconds() if m.time_to_resolve else None,
        "affected_predictions": pm.impact.affected_predictions,
        "related": sorted({r.key for r in pm.related}),
        "actions": len(pm.actions),
        "timeline": len(pm.timeline),
        "postmortem_state": pm.postmortem_state,
    }


@task(name="notify-postmortem", retries=2, retry_delay_seconds=[1, 5], cache_policy=NONE)
def notify(cfg: SystemConfig, incident: str) -> list[dict[str, Any]]:
    """Update the incident's messages (a resolution edits them to resolved); failures are recorded."""
    results = notify_incident_changed(
        store_for(cfg), incident, config=cfg, reason="post-mortem drafted", actor="postmortem"
    )
    return [r.model_dump(mode="json") for r in results]


@flow(
    name="postmortem",
    flow_run_name=_run_name,
    description="Draft the post-mortem of a resolved incident: timeline, MTTA/MTTR, impact, causes, action items.",
)
def postmortem(incident: str, config: str | None = None, count_predictions: bool = True) -> dict[str, Any]:
    """Draft (or refresh) the post-mortem of ``incident`` and return its metrics and paths.

    Args:
        incident: incident key or id, e.g. ``INC-0042``.
        config: system config path; defaults to the one the incident was detected with.
        count_predictions: read the prediction logs to count the predictions served during the impact.
    """
    log = get_run_logger()
    cfg = _config_for(incident, config)
    out = draft(cfg, incident, count_predictions)
    state = notify(cfg, incident, return_state=True)
    if not state.is_completed():
        log.error("notifications failed: %s", state.message)
    log.info("post-mortem of %s: %s", out["incident"], out["markdown"])
    return out


@flow(
    name="action-reminders",
    description="Remind the owners of overdue post-mortem action items through the notification channels.",
)
def action_reminders(config: str | None = None, every_hours: float = 24.0) -> list[dict[str, Any]]:
    """Send the due reminders and return them; a failed delivery is logged (and recorded on the incident).

    Args:
        config: system config path (default ``$RCAFLOWS_CONFIG``).
        every_hours: remind an item again only after this many hours.
    """
    from datetime import timedelta

    log = get_run_logger()
    cfg = resolve_config(config)
    sent = remind_overdue(store_for(cfg), cfg, every=timedelta(hours=every_hours))
    for r in sent:
        if not r.ok:
            log.error("reminder of action item %s (%s) to %s failed: %s", r.item, r.incident, r.owner, r.error)
    return [r.model_dump(mode="json") for r in sent]
