"""The incident store: incidents, their audit log and RCA runs, with a guarded lifecycle.

Data flow: detection builds a :class:`NewIncident` and calls :func:`open_or_touch` (dedup by
fingerprint against open incidents); people and flows move it with :func:`transition` /
:func:`triage`, which check :mod:`~rcaflows.incidents.lifecycle` and append one audit event each;
RCA flows record :class:`RcaRun` rows. Every call takes a session from :meth:`Store.session`,
one transaction per unit of work.
"""

from __future__ import annotations

from rcaflows.incidents.db import Store, mask_url
from rcaflows.incidents.lifecycle import TRANSITIONS, Action, Transition, allowed_actions, check
from rcaflows.incidents.models import (
    Base,
    EventKind,
    Incident,
    IncidentEvent,
    RcaRun,
    RcaStatus,
    incident_key,
)
from rcaflows.incidents.service import (
    NewIncident,
    code_version,
    events,
    fingerprint_for,
    finish_rca_run,
    get_incident,
    get_rca_run,
    incident_dict,
    list_incidents,
    open_or_touch,
    rca_runs,
    record_event,
    start_rca_run,
    transition,
    triage,
)

__all__ = [
    "TRANSITIONS",
    "Action",
    "Base",
    "EventKind",
    "Incident",
    "IncidentEvent",
    "NewIncident",
    "RcaRun",
    "RcaStatus",
    "Store",
    "Transition",
    "allowed_actions",
    "check",
    "code_version",
    "events",
    "fingerprint_for",
    "finish_rca_run",
    "get_incident",
    "get_rca_run",
    "incident_dict",
    "incident_key",
    "list_incidents",
    "mask_url",
    "open_or_touch",
    "rca_runs",
    "record_event",
    "start_rca_run",
    "transition",
    "triage",
]
