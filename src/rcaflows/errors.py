"""The one exception hierarchy of rcaflows.

::

    RcaflowsError
    ├── ConfigError                  a system config is missing, malformed or inconsistent
    │   └── TemplateError            a runbook parameter template does not render (mitigation.runbooks)
    ├── DataError                    a data file or frame is unreadable or breaks its contract
    │   └── EmptyWindowError         a detection/RCA window holds no data
    ├── StoreError                   the incident store refused an operation
    │   ├── NotFoundError            no incident / RCA run with that id
    │   ├── TransitionError          a lifecycle transition not allowed from the current state
    │   ├── StoreDisconnectedError   the database went away (incidents.db)
    │   ├── StoreCommitUnknownError  the connection dropped during COMMIT (incidents.db)
    │   └── MitigationError          a runbook action cannot be proposed, approved or run (mitigation.service)
    ├── NotifyError                  a channel is unknown or misconfigured (notify.models)
    │   └── DeliveryError            a message could not be delivered
    └── RcaTimeLimitError            an RCA run overran rca.runs.time_limit (incidents.reaper)

The subclasses outside this module live beside the code that raises them.
Every message says what was wrong, where (file, line, field) and what was expected.
"""

from __future__ import annotations


class RcaflowsError(Exception):
    """Base class of every error rcaflows raises on purpose."""


class ConfigError(RcaflowsError):
    """A config file is missing, malformed, or fails validation.

    ``problems`` holds one line per problem, each ``file:line: field.path: what is expected``.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


class DataError(RcaflowsError):
    """A data file or frame is unreadable, malformed, or breaks the engine's contract."""


class EmptyWindowError(DataError):
    """A detection or RCA window holds no data."""


class StoreError(RcaflowsError):
    """The incident store refused an operation."""


class NotFoundError(StoreError):
    """No incident or RCA run with the given id."""


class TransitionError(StoreError):
    """A lifecycle transition is not allowed from the incident's current state."""
