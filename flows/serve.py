"""Serve every rcaflows deployment from one process (no work pool, no worker).

``serve()`` registers the same deployments as ``prefect.yaml``:

* ``detection/hourly``   - cron from the config's ``window.schedule``;
* ``rca/on-demand``      - by hand from the UI (typed form), or from the ``rcaflows.incident.detected``
  event through a :class:`~prefect.events.DeploymentEventTrigger` (config ``rca.mode: event``);
* ``escalation/every-5-minutes``, ``postmortem/on-demand``, ``mitigate/approve`` and
  ``action-reminders/daily`` (:data:`OPTIONAL_DEPLOYMENTS`, which the config does not parametrize
  beyond its path).
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from prefect import Flow
from prefect import serve as prefect_serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger

from flows.common import config_ref
from flows.detection import detection
from flows.rca import rca
from rcaflows.config import load_config

INCIDENT_EVENT = "rcaflows.incident.detected"
#: the reaper re-queued the RCA of an incident whose run died or overran (flows/reap.py)
REQUEUED_EVENT = "rcaflows.incident.rca-requeued"

#: (module, flow attribute, deployment name, schedule interval in seconds or None, description)
OPTIONAL_DEPLOYMENTS: tuple[tuple[str, str, str, int | None, str], ...] = (
    ("flows.escalation", "escalation", "every-5-minutes", 300, "Escalate unacknowledged incidents"),
    ("flows.postmortem", "postmortem", "on-demand", None, "Draft the postmortem of a resolved incident"),
    ("flows.mitigate", "mitigate", "approve", None, "Propose runbook actions, wait for approval in the UI, run them"),
    ("flows.postmortem", "action_reminders", "daily", 86400, "Remind the owners of overdue action items"),
)


#: the rca parameters the trigger fills from the event (single expressions arrive typed, nulls as None)
RCA_EVENT_PARAMETERS: dict[str, Any] = {
    "incident": "{{ event.resource['rcaflows.incident.id'] }}",
    "config": "{{ event.payload.config }}",
}


def rca_trigger() -> DeploymentEventTrigger:
    """Return the trigger that starts ``rca/on-demand`` from a detection event in event mode.

    Detection labels every event with ``rcaflows.rca.mode``; matching on ``event`` means an
    incident investigated by the in-process subflow is never investigated a second time.
    """
    return DeploymentEventTrigger(
        name="rca-on-incident-detected",
        description="Start the RCA of an incident that detection opened with rca.mode = event",
        expect={INCIDENT_EVENT, REQUEUED_EVENT},
        match={"prefect.resource.id": "rcaflows.incident.*", "rcaflows.rca.mode": "event"},
        parameters=RCA_EVENT_PARAMETERS,
    )


def deployments(config: str | None = None) -> list[RunnerDeployment]:
    """Return the deployments ``serve()`` runs, built for the config at ``config`` (default ``$RCAFLOWS_CONFIG``)."""
    cfg = load_config(config)
    # A given config is pinned (absolute, so any working directory reads it); without one, each run
    # reads $RCAFLOWS_CONFIG and an RCA reloads the config its incident was detected with.
    params = {"config": config_ref(config)} if config else {}
    # to_deployment is dispatched sync here; its annotation also admits the async variant.
    out = [
        cast(
            RunnerDeployment,
            detection.to_deployment(
                name="hourly",
                cron=cfg.window.schedule,
                parameters=params,
                tags=["rcaflows", "detection"],
                description=f"Hourly detection on {cfg.system.name}",
            ),
        ),
        cast(
            RunnerDeployment,
            rca.to_deployment(
                name="on-demand",
                parameters=params,
                tags=["rcaflows", "rca"],
                triggers=[rca_trigger()],
                description=f"Root-cause analysis on {cfg.system.name}, by hand or by event",
            ),
        ),
    ]
    for module, attr, name, interval, description in OPTIONAL_DEPLOYMENTS:
        fl = getattr(importlib.import_module(module), attr)
        if not isinstance(fl, Flow):
            raise TypeError(f"{module}.{attr} is not a Prefect flow (got {type(fl).__name__})")
        accepted = set(fl.parameters.properties)
        out.append(
            cast(
                RunnerDeployment,
                fl.to_deployment(
                    name=name,
                    interval=interval,
                    parameters={k: v for k, v in params.items() if k in accepted},
                    tags=["rcaflows", attr],
                    description=f"{description} on {cfg.system.name}",
                ),
            )
        )
    return out


#: Seconds between the runner's polls for due runs (Prefect's default, 10 s, is most of an event-triggered
#: RCA's start delay; one poll is a single cheap API query).
POLL_SECONDS = 2.0


def serve(config: str | None = None, limit: int = 4, poll_seconds: float = POLL_SECONDS) -> None:
    """Serve hourly detection, on-demand / event-driven RCA, escalation and postmortem until interrupted."""
    prefect_serve(*deployments(config), limit=limit, query_seconds=poll_seconds)
