"""Closing the loop: runbooks that propose mitigations, approval, execution and validation of the fix.

Data flow: the top RCA hypothesis of an incident is matched against the runbooks
(:mod:`.runbooks`, packaged defaults in ``rca/rules.yaml`` plus the system's ``mitigation:``
section); each matched action is recorded as a proposal (:mod:`.service`), approved (by the
``mitigate`` flow's Prefect UI form, ``rcaflows incidents mitigate``, or ``auto`` for a severity),
run once (:mod:`.executors`: a Prefect deployment, a webhook, or a manual step), and the
incident then enters a watch period (:mod:`.watch`) in which every detection run re-checks the
fingerprint that opened it: re-opened if it fails again, validated (and resolved) after N clean runs.

Only the specs are re-exported here, so the system config can embed them without importing the
store or Prefect; import the service, executors and watch from their modules.
"""

from __future__ import annotations

from rcaflows.mitigation.models import (
    TEMPLATE_FIELDS,
    ActionKind,
    MitigationConfig,
    Runbook,
    RunbookAction,
    RunbookMatch,
    WatchPolicy,
)

__all__ = [
    "TEMPLATE_FIELDS",
    "ActionKind",
    "MitigationConfig",
    "Runbook",
    "RunbookAction",
    "RunbookMatch",
    "WatchPolicy",
]
